"""Street edits in a what-if (issue 17): each kind of edit against an independent networkx computation on a
small hand-made network, and a footbridge on the default area against a recount."""

from __future__ import annotations

import time
import tomllib
from dataclasses import replace
from itertools import pairwise
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pyproj
import pytest
import shapely

from conftest import reference_distances
from planner import columns as col
from planner.access import nearest_facility, point_distances
from planner.area import StudyArea
from planner.errors import ConfigError
from planner.network import Snap, WalkNetwork
from planner.pipeline import run
from planner.scenario import what_if
from planner.street_edits import AddLink, CloseLink, StreetEdits, apply_edits

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0  # UTM 51N, near Shanghai
SPEED = 75.0  # metres per minute (4.5 km/h)

# Streets in local metres: (way id, points). A and B are two parallel streets 60 m apart (a canal between
# them) joined only by C at the west end; D and E make a loop south of A; G is a dead end nobody uses.
STREETS = [
    (100, [(0, 0), (100, 0), (200, 0), (300, 0), (400, 0)]),  # A
    (200, [(0, 60), (100, 60), (200, 60), (300, 60), (400, 60)]),  # B
    (300, [(0, 0), (0, 60)]),  # C
    (400, [(400, 0), (400, -100)]),  # D
    (500, [(100, 0), (100, -100), (400, -100)]),  # E
    (600, [(0, 60), (-100, 60)]),  # G
]
FACILITIES = [(350.0, 65.0), (30.0, -20.0)]
RESIDENTS = [(44.0, -3.0), (140.0, 2.0), (262.0, -1.0), (338.0, 4.0), (395.0, -45.0), (233.0, -97.0), (67.0, 57.0)]
# (off-centre: a resident moved off a closed street never lies as near to two others)


def _to_lonlat(x, y):
    t = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    return t.transform(np.asarray(x, float) + X0, np.asarray(y, float) + Y0)


def _lonlat(p):
    lon, lat = _to_lonlat([p[0]], [p[1]])
    return float(lon[0]), float(lat[0])


@pytest.fixture(scope="module")
def net() -> WalkNetwork:
    keys: dict[tuple[float, float], int] = {}
    u, v, way = [], [], []
    for way_id, pts in STREETS:
        for p, q in pairwise(pts):
            a, b = (keys.setdefault(tuple(map(float, r)), len(keys)) for r in (p, q))
            u.append(a)
            v.append(b)
            way.append(way_id)
    xy = np.array(list(keys), dtype=float)
    lon, lat = _to_lonlat(xy[:, 0], xy[:, 1])
    u_, v_ = np.array(u, np.int32), np.array(v, np.int32)
    return WalkNetwork(
        x=xy[:, 0] + X0,
        y=xy[:, 1] + Y0,
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        osmid=np.arange(len(xy), dtype=np.int64) + 1,
        u=u_,
        v=v_,
        length=np.hypot(*(xy[u_] - xy[v_]).T),
        crs=CRS,
        meta={"edge_way_id": np.array(way, np.int64)},
    )


def _seg_snap(p, segs):
    """Brute force: the nearest segment to p, the foot of the perpendicular and the distance."""
    best = None
    q = np.array(p, float)
    for i, (p0, p1, _) in enumerate(segs):
        a, b = np.array(p0, float), np.array(p1, float)
        d = b - a
        t = float(np.clip(np.dot(q - a, d) / np.dot(d, d), 0, 1))
        foot = a + t * d
        dist = float(np.hypot(*(q - foot)))
        if best is None or dist < best[2] - 1e-9:
            best = (i, tuple(foot), dist)
    return best


def reference_minutes(closed_ways=(), closed_segments=(), links=()) -> np.ndarray:
    """Independent: networkx on the streets as drawn, with links added (splitting the streets where they end)
    and streets removed; facilities and residents on their nearest remaining street (not a link)."""
    segs = [
        (p, q, float(np.hypot(q[0] - p[0], q[1] - p[1])))
        for way_id, pts in STREETS
        if way_id not in closed_ways
        for p, q in pairwise(pts)
        if (p, q) not in closed_segments
    ]
    g = nx.MultiGraph()  # a link may run beside a street between the same two points
    marks: dict[int, list[tuple[float, object]]] = {}
    stubs = []
    for kind, pts in (("f", FACILITIES), ("p", RESIDENTS)):
        for j, p in enumerate(pts):
            i, foot, dist = _seg_snap(p, segs)
            marks.setdefault(i, []).append((float(np.hypot(foot[0] - segs[i][0][0], foot[1] - segs[i][0][1])), foot))
            stubs.append(((kind, j), foot, dist))
    for p, q, _ in links:
        for end in (p, q):
            i, foot, dist = _seg_snap(end, segs)
            assert dist < 1e-9  # links are drawn ending on streets here
            marks.setdefault(i, []).append((float(np.hypot(foot[0] - segs[i][0][0], foot[1] - segs[i][0][1])), foot))
    key = lambda p: (round(p[0], 6), round(p[1], 6))  # noqa: E731
    for i, (a, b, length) in enumerate(segs):
        chain = [(0.0, a), *sorted(marks.get(i, [])), (length, b)]
        for (s0, p), (s1, q) in pairwise(chain):
            if key(p) != key(q):
                g.add_edge(key(p), key(q), w=s1 - s0)
    for p, q, w in links:
        g.add_edge(key(p), key(q), w=w)
    for name, foot, dist in stubs:
        g.add_edge(name, key(foot), w=dist)
    dist = nx.multi_source_dijkstra_path_length(g, [("f", j) for j in range(len(FACILITIES))], weight="w")
    return np.array([dist.get(("p", j), np.inf) for j in range(len(RESIDENTS))]) / SPEED


def planner_minutes(net: WalkNetwork, edits: StreetEdits | None) -> np.ndarray:
    """Residents' minutes to the nearest facility as what_if measures them on the edited network."""
    f = np.array(FACILITIES) + np.array([X0, Y0])
    r = np.array(RESIDENTS) + np.array([X0, Y0])
    fs, rs = net.snap_xy(f[:, 0], f[:, 1]), net.snap_xy(r[:, 0], r[:, 1])
    fe, ft, fo, re, rt, ro, on = fs.edge, fs.t, fs.offset_m, rs.edge, rs.t, rs.offset_m, net
    if edits is not None:
        edited = apply_edits(net, edits)
        on = edited.network
        fe, ft, fo = edited.remap(fe, ft, fo, *net.unproject(f[:, 0], f[:, 1]))
        re, rt, ro = edited.remap(re, rt, ro, *net.unproject(r[:, 0], r[:, 1]))
    near = nearest_facility(on, fe, ft, fo)
    return point_distances(on, near, Snap(re, rt, ro, r[:, 0], r[:, 1]))[0] / SPEED


def _link(p, q, length=None):
    return AddLink(shapely.LineString([_lonlat(p), _lonlat(q)]), length)


def test_no_edit_matches_the_reference(net):
    np.testing.assert_allclose(planner_minutes(net, None), reference_minutes(), atol=1e-6)


def test_add_link_matches_networkx(net):
    bridge = ((250.0, 0.0), (250.0, 60.0))  # mid-street at both ends: A and B are split
    edits = StreetEdits((_link(*bridge),))
    got, want = planner_minutes(net, edits), reference_minutes(links=[(*bridge, 60.0)])
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert (got < planner_minutes(net, None) - 1).sum() >= 2  # the bridge shortens walks across the canal
    # a given length counts instead of the drawn one; two links splitting one street at several points
    two = StreetEdits((_link((150.0, 0.0), (150.0, 60.0), 90.0), _link((320.0, 0.0), (330.0, 60.0))))
    want2 = reference_minutes(
        links=[((150.0, 0.0), (150.0, 60.0), 90.0), ((320.0, 0.0), (330.0, 60.0), np.hypot(10, 60))]
    )
    np.testing.assert_allclose(planner_minutes(net, two), want2, atol=1e-6)


def test_close_by_point_matches_networkx(net):
    # close C (the only way across): the resident at the west end of B walks to the facility on B
    edits = StreetEdits.parse(close_links=[_lonlat((2.0, 30.0))])
    got = planner_minutes(net, edits)
    np.testing.assert_allclose(got, reference_minutes(closed_ways=[300]), atol=1e-6)
    assert got[6] > planner_minutes(net, None)[6] + 1
    # closed with a bridge elsewhere: the bridge is the only crossing
    both = StreetEdits.parse(add_links=[[_lonlat((250.0, 0.0)), _lonlat((250.0, 60.0))]], close_links=edits.close_links)
    want = reference_minutes(closed_ways=[300], links=[((250.0, 0.0), (250.0, 60.0), 60.0)])
    np.testing.assert_allclose(planner_minutes(net, both), want, atol=1e-6)


def test_close_by_way_id_moves_residents_to_the_nearest_open_street(net):
    edits = StreetEdits.parse(close_links=[500, "way/400"])  # E and D: the resident on E goes to A, on D to A
    got = planner_minutes(net, edits)
    np.testing.assert_allclose(got, reference_minutes(closed_ways=[400, 500]), atol=1e-6)
    edited = apply_edits(net, edits)
    assert edited.network.n_edges == net.n_edges - 3 and edited.closed.sum() == 3
    r = np.array(RESIDENTS[5:6]) + np.array([X0, Y0])
    snap = net.snap_xy(r[:, 0], r[:, 1])
    e, _, off = edited.remap(snap.edge, snap.t, snap.offset_m, *net.unproject(r[:, 0], r[:, 1]))
    assert off[0] == pytest.approx(97.0, abs=1e-6)  # straight north onto A
    assert edited.network.meta["edge_way_id"][e[0]] == 100


def test_random_edits_match_networkx(net):
    """Links between random points of open streets (drawn or given lengths) with random closures."""
    rng = np.random.default_rng(17)
    segments = [(way, p, q) for way, pts in STREETS for p, q in pairwise(pts)]
    for _ in range(25):
        shut = [segments[k] for k in rng.choice(len(segments), rng.integers(0, 3), replace=False)]
        ways = [w for w in (300, 400, 500, 600) if rng.random() < 0.15]
        open_ = [sg for sg in segments if sg not in shut and sg[0] not in ways]
        links = []
        for _ in range(rng.integers(1, 4)):
            ends = []
            for k in rng.choice(len(open_), 2, replace=False):
                _, p, q = open_[k]
                f = float(rng.choice([0.0, rng.uniform(0.05, 0.95), 1.0]))
                ends.append((p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1])))
            drawn = float(np.hypot(ends[1][0] - ends[0][0], ends[1][1] - ends[0][1]))
            if drawn < 1:
                continue
            given = float(rng.uniform(0.5, 3) * drawn) if rng.random() < 0.3 else None
            links.append((*ends, given if given is not None else drawn, given))
        edits = StreetEdits.parse(
            add_links=[_link(p, q, given) for p, q, _, given in links],
            close_links=[_lonlat(((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)) for _, p, q in shut] + ways,
        )
        want = reference_minutes(
            closed_ways=ways, closed_segments={(p, q) for _, p, q in shut}, links=[(p, q, w) for p, q, w, _ in links]
        )
        got = planner_minutes(net, edits)
        assert np.allclose(got, want, atol=1e-6), (shut, ways, links, got, want)


def test_edits_that_change_nothing(net):
    before = planner_minutes(net, None)
    # a parallel path longer than the street it doubles, and closing a dead end nobody walks
    detour = StreetEdits((_link((100.0, 0.0), (200.0, 0.0), 150.0),))
    np.testing.assert_allclose(planner_minutes(net, detour), before, atol=1e-9)
    np.testing.assert_allclose(reference_minutes(links=[((100.0, 0.0), (200.0, 0.0), 150.0)]), before, atol=1e-6)
    dead_end = StreetEdits.parse(close_links=[600])
    np.testing.assert_allclose(planner_minutes(net, dead_end), before, atol=1e-9)


def test_the_base_network_is_not_changed(net):
    arrays = {k: getattr(net, k).copy() for k in ("x", "y", "u", "v", "length")}
    way = net.meta["edge_way_id"].copy()
    edited = apply_edits(net, StreetEdits.parse(add_links=[[_lonlat((250, 0)), _lonlat((250, 60))]], close_links=[500]))
    for k, a in arrays.items():
        np.testing.assert_array_equal(getattr(net, k), a)
    np.testing.assert_array_equal(net.meta["edge_way_id"], way)
    new = edited.network
    assert new.n_nodes == net.n_nodes + 3 and new.n_edges == net.n_edges - 2 - 2 + 4 + 2  # E closed, A and B split
    np.testing.assert_array_equal(new.x[: net.n_nodes], net.x)  # old nodes keep their index
    assert new.total_km == pytest.approx(net.total_km - 0.4 + 0.06)  # E closed (400 m), the bridge added (60 m)
    assert (new.meta["edge_way_id"][edited.link_edges[0]] < 0).all() and len(new.meta["edge_way_id"]) == new.n_edges
    assert new.csr.shape == (new.n_nodes, new.n_nodes)
    assert new.to_networkx().number_of_edges() == new.n_edges


def test_edits_are_checked(net):
    with pytest.raises(ConfigError, match="no street within"):
        apply_edits(net, StreetEdits.parse(close_links=[_lonlat((200.0, 400.0))]))
    with pytest.raises(ConfigError, match="OSM way 999"):
        apply_edits(net, StreetEdits.parse(close_links=[999]))
    with pytest.raises(ConfigError, match="from every open street"):
        apply_edits(net, StreetEdits((_link((0.0, 0.0), (200.0, 900.0)),)))
    with pytest.raises(ConfigError, match="same point"):
        apply_edits(net, StreetEdits((_link((200.0, 1.0), (200.0, -1.0)),)))
    with pytest.raises(ConfigError, match="close_links\\[0\\]"):
        StreetEdits.parse(close_links=["Main Street"])
    with pytest.raises(ConfigError, match="add_links\\[0\\]"):
        StreetEdits.parse(add_links=[{"from": {"lon": 500, "lat": 0}, "to": {"lon": 1, "lat": 1}}])
    api = StreetEdits.parse(
        add_links=[{"from": {"lon": 121.4, "lat": 31.2}, "to": {"lon": 121.41, "lat": 31.2}, "length_m": 80}],
        close_links=[{"lon": 121.4, "lat": 31.2}, {"way_id": 5}],
    )
    assert api.add_links[0].length_m == 80 and api.close_links == (CloseLink((121.4, 31.2)), CloseLink(way_id=5))
    scenario_file = tomllib.loads(  # a scenario file as the command line would read it
        "close_links = [123, { lon = 121.4, lat = 31.2 }, { way_id = 7 }]\n"
        '[[add_links]]\nfrom = [121.4, 31.2]\nto = { lon = 121.41, lat = 31.2 }\nname = "侧门"\n'
    )
    parsed = StreetEdits.parse(scenario_file["add_links"], scenario_file["close_links"])
    assert parsed.labels() == [
        "add_links[0] (侧门)",
        "close_links[0] (way 123)",
        "close_links[1] (121.400000, 31.200000)",
        "close_links[2] (way 7)",
    ]


# ---------------------------------------------------------------- what_if on plans


@pytest.fixture(scope="module")
def small_plan(yangpu_plan):
    return yangpu_plan  # one per session (conftest)


def test_what_if_says_when_edits_change_nothing(small_plan):
    net = small_plan.network
    deg = np.bincount(net.u, minlength=net.n_nodes) + np.bincount(net.v, minlength=net.n_nodes)
    e = int(np.flatnonzero(net.length > 40)[0])
    a, b = int(net.u[e]), int(net.v[e])
    # a link doubling a street at twice its length changes nobody's walk (proved from the searches)
    link = {"from": {"lon": net.lon[a], "lat": net.lat[a]}, "to": {"lon": net.lon[b], "lat": net.lat[b]}}
    link["length_m"] = 2 * float(net.length[e])
    s = what_if(small_plan, add_links=[link])
    assert s.minutes_changed == 0 and s.edit_effects[0].residents == 0
    fid = small_plan.facilities["facility_id"].iloc[0]
    with_closure = what_if(small_plan, add_links=[link], close=[fid])  # judged with the facility closed too
    assert with_closure.minutes_changed > 0 and with_closure.edit_effects[0].proved
    assert with_closure.edit_effects[0].residents == 0 and with_closure.notes_en == s.notes_en[:1]
    assert "这条连线不改变任何居民的步行时间" in s.notes[0] and "changes no resident's minutes" in s.notes_en[0]
    assert s.plan.network is not net and s.base.network is net and net.n_edges == s.base.network.n_edges
    assert all(v == 0 for per in s.change.values() for c in per.values() for v in c.values())
    # a dead end with nobody on it, closed
    dead = int(np.flatnonzero(deg == 1)[0])
    k = int(np.flatnonzero((net.u == dead) | (net.v == dead))[0])
    res_edges = set(small_plan.residents["edge"]) | set(small_plan.facilities["edge"])
    if k not in res_edges:
        mid = ((net.lon[net.u[k]] + net.lon[net.v[k]]) / 2, (net.lat[net.u[k]] + net.lat[net.v[k]]) / 2)
        s2 = what_if(small_plan, close_links=[mid])
        assert s2.edit_effects[0].residents == 0 and "关闭这段街道" in s2.notes[0]
    with pytest.raises(ConfigError, match="need a street network"):
        what_if(replace(small_plan, network=None), add_links=[link])


def test_what_if_edits_with_facility_changes(small_plan):
    net = small_plan.network
    fid = small_plan.facilities["facility_id"].iloc[0]
    way = int(net.meta["edge_way_id"][len(net.u) // 2])
    s = what_if(small_plan, close=[fid], close_links=[way])
    assert s.closed == (fid,) and fid not in set(s.plan.facilities["facility_id"])
    assert s.streets is not None and s.streets.closed.sum() == (net.meta["edge_way_id"] == way).sum()
    res, was = s.plan.residents, s.base.residents
    assert res["edge"].max() < s.plan.network.n_edges
    moved = s.streets.closed[was["edge"].to_numpy()]  # they were on the closed way: now on another street
    new_way = s.plan.network.meta["edge_way_id"][res["edge"].to_numpy()[moved]]
    assert (new_way != way).all() and (
        res["offset_m"].to_numpy()[moved] >= was["offset_m"].to_numpy()[moved] - 1e-6
    ).all()
    assert set(s.service_change) <= {r.key for r in small_plan.rules.services}
    layer = s.changed_minutes()
    assert len(layer) == s.minutes_changed and layer.crs == "EPSG:4326"


# ---------------------------------------------------------------- the default area


# a footbridge over a gap in the default area's streets: 79 m straight, 2.2 km round by the streets
BRIDGE = ((121.4402879, 31.2567142), (121.4394984, 31.2564847))


def test_footbridge_gains_residents_and_the_gain_is_a_recount(default_plan):
    plan = default_plan
    net = plan.network
    ends = net.snap(np.array([p[0] for p in BRIDGE]), np.array([p[1] for p in BRIDGE]))
    node = np.where(ends.t < 0.5, net.u[ends.edge], net.v[ends.edge])  # the bridge joins these two nodes
    assert (np.hypot(net.x[node] - ends.x, net.y[node] - ends.y) < 0.01).all()
    link = {"from": dict(zip(("lon", "lat"), BRIDGE[0])), "to": dict(zip(("lon", "lat"), BRIDGE[1]))}
    what_if(plan, add_links=[link])  # warm the network's caches (edge tree) as a running service has them
    t0 = time.perf_counter()
    s = what_if(plan, add_links=[link])
    seconds = time.perf_counter() - t0
    assert seconds < 2.0, seconds  # about 0.2 s on the default area (2 shared cores)
    gained = s.service_change["health"]["adult"]["gain_people"]
    assert gained > 0 and s.edit_effects[0].residents > 0 and not s.notes

    # recount: networkx on the base streets plus one edge between the two nodes, from the health centres
    health = plan.access.services["health"]
    res = plan.residents
    length = float(np.hypot(*np.diff(np.c_[net.x[node], net.y[node]], axis=0)[0]))
    plus = SimpleNamespace(
        u=np.append(net.u, node[0]), v=np.append(net.v, node[1]), length=np.append(net.length, length)
    )
    ref = reference_distances(
        plus,
        health.edge,
        health.t,
        health.offset_m,
        res["edge"].to_numpy(),
        res["t"].to_numpy(),
        res["offset_m"].to_numpy(),
        cutoff=15 * 75.0 + 1,
    )
    prof = plan.rules.profile("adult")
    now = ref / prof.metres_per_minute <= plan.rules.service("health").minutes
    was = res[col.service_minutes("health", "adult")].to_numpy(float) <= plan.rules.service("health").minutes
    pop = res["population"].to_numpy(float)
    assert gained == pytest.approx(pop[now & ~was].sum(), abs=1)
    assert s.service_change["health"]["adult"]["loss_people"] == 0 == pop[was & ~now].sum()
    units = s.unit_change
    assert units is not None
    rows = units[(units["kind"] == "service") & (units["key"] == "health") & (units["profile"] == "adult")]
    assert rows["gain_people"].sum() == pytest.approx(gained, abs=len(rows))  # 街道 figures add up


def _gap(net: WalkNetwork) -> tuple[int, int]:
    """Two nodes under 80 m apart but far apart by the streets (a gap a footbridge would close)."""
    from scipy.sparse import csgraph
    from scipy.spatial import cKDTree

    pairs = cKDTree(np.c_[net.x, net.y]).query_pairs(80, output_type="ndarray")
    pairs = pairs[np.random.default_rng(0).permutation(len(pairs))[:400]]
    d = csgraph.dijkstra(net.csr, indices=pairs[:, 0], limit=5000)[np.arange(len(pairs)), pairs[:, 1]]
    straight = np.hypot(net.x[pairs[:, 0]] - net.x[pairs[:, 1]], net.y[pairs[:, 0]] - net.y[pairs[:, 1]])
    best = int(np.argmax(np.where(np.isfinite(d), d - straight, 0)))
    return int(pairs[best, 0]), int(pairs[best, 1])


def test_each_edit_is_judged_with_the_others_in_place(small_plan):
    net = small_plan.network
    a, b = _gap(net)
    bridge = {"from": {"lon": net.lon[a], "lat": net.lat[a]}, "to": {"lon": net.lon[b], "lat": net.lat[b]}}
    alone = what_if(small_plan, add_links=[bridge])
    if not alone.minutes_changed:
        pytest.skip("no gap on this extract changes a resident's walk")
    assert alone.edit_effects[0].residents == alone.minutes_changed and not alone.edit_effects[0].proved
    assert alone.edit_effects[0].people == pytest.approx(
        alone.changed_minutes()["population"].sum(), abs=1
    )  # the layer holds exactly those residents
    twin = {"type": "LineString", "coordinates": [[net.lon[b], net.lat[b]], [net.lon[a], net.lat[a]]]}
    both = what_if(small_plan, add_links=[bridge, twin])
    # the same walks as one bridge; each bridge alone adds nothing to the other, and says so
    np.testing.assert_allclose(
        both.plan.residents.filter(like="minutes_").to_numpy(float),
        alone.plan.residents.filter(like="minutes_").to_numpy(float),
        atol=1e-9,
    )
    assert [e.residents for e in both.edit_effects] == [0, 0] and len(both.notes) == 2
    assert both.minutes_changed == alone.minutes_changed


def test_proofs_that_an_edit_changes_nothing_agree_with_leaving_it_out(small_plan, monkeypatch):
    from planner import scenario

    net = small_plan.network
    rng = np.random.default_rng(3)
    a, b = _gap(net)
    nodes = rng.choice(net.n_nodes, 6, replace=False)
    links = [{"from": {"lon": net.lon[a], "lat": net.lat[a]}, "to": {"lon": net.lon[b], "lat": net.lat[b]}}]
    links += [  # between random nodes, some far longer than the streets between them
        {"from": {"lon": net.lon[p], "lat": net.lat[p]}, "to": {"lon": net.lon[q], "lat": net.lat[q]}, "length_m": m}
        for p, q, m in zip(nodes[:3], nodes[3:], (50.0, 5000.0, None))
    ]
    ways = np.unique(net.meta["edge_way_id"])
    closes = [int(w) for w in rng.choice(ways, 4, replace=False)]
    fid = small_plan.facilities["facility_id"].iloc[1]
    proved = what_if(small_plan, add_links=links, close_links=closes, close=[fid])
    monkeypatch.setattr(scenario, "_shortens", lambda *args, **kwargs: True)  # every edit measured
    measured = what_if(small_plan, add_links=links, close_links=closes, close=[fid])
    assert any(e.proved for e in proved.edit_effects) and not any(e.proved for e in measured.edit_effects)
    assert [(e.residents, e.people) for e in proved.edit_effects] == [
        (e.residents, e.people) for e in measured.edit_effects
    ]


def test_a_straight_line_estimate_takes_facility_changes_but_no_street_edits():
    from conftest import ROOT

    plan = run(StudyArea.from_toml(ROOT / "data" / "examples" / "songjiang" / "area.toml"))
    assert plan.network is None and plan.estimate is not None
    fid = plan.facilities["facility_id"].iloc[0]
    s = what_if(plan, close=[fid])
    loss = s.service_change["meals"]["elderly"]["loss_people"]
    res = plan.residents
    was = res[col.service_minutes("meals", "elderly")].to_numpy(float) <= plan.rules.service("meals").minutes
    now = (
        s.plan.residents[col.service_minutes("meals", "elderly")].to_numpy(float) <= plan.rules.service("meals").minutes
    )
    assert loss > 0 and loss == pytest.approx(res["population"].to_numpy(float)[was & ~now].sum(), abs=1)
    assert s.streets is None and s.plan.network is None and fid in set(plan.facilities["facility_id"])
    with pytest.raises(ConfigError, match="need a street network"):
        what_if(plan, close_links=[123])


def test_a_scenario_file_in_gcj02_gives_the_same_answer_and_writes_its_lists(default_plan, tmp_path):
    """The footbridge written down as a street office would (Gaode coordinates), read, run and written."""
    from planner.coords import wgs84_to_gcj02
    from planner.outputs import write_scenario_outputs
    from planner.scenario_file import read_scenario_file

    (glon, glat) = wgs84_to_gcj02(np.array([p[0] for p in BRIDGE]), np.array([p[1] for p in BRIDGE]))
    closed = str(default_plan.facilities.loc[default_plan.facilities["tier"] == "station", "facility_id"].iloc[0])
    path = tmp_path / "桥.toml"
    path.write_text(
        f'title = "过街天桥"\ncrs = "gcj02"\nclose = ["{closed}"]\n'
        f"[[add_links]]\nfrom = [{glon[0]:.7f}, {glat[0]:.7f}]\nto = {{ lon = {glon[1]:.7f}, lat = {glat[1]:.7f} }}\n"
        'name = "天桥"\n',
        encoding="utf-8",
    )
    spec = read_scenario_file(path)
    back = np.array([spec.add_links[0]["from"], spec.add_links[0]["to"]])
    assert np.abs(back - np.array(BRIDGE)).max() < 1e-6  # GCJ-02 read back to the WGS-84 bridge
    s = what_if(default_plan, **spec.kwargs)
    direct = what_if(default_plan, close=[closed], add_links=[{"from": BRIDGE[0], "to": BRIDGE[1]}])
    assert s.change == direct.change and s.service_change == direct.service_change
    data = write_scenario_outputs(s, tmp_path / "out", title=spec.title)
    assert data["closed"][0]["id"] == closed and data["closed"][0]["name"]
    assert data["services"]["health"]["adult"]["gain_people"] == s.service_change["health"]["adult"]["gain_people"]
    assert (tmp_path / "out" / "changed_minutes.geojson").stat().st_size > 0
    lists = s.lists
    assert lists is not None and lists.notes[0].startswith("情景：关闭 1 处设施")
    # the variant's needs list counts the variant's residents: its station gaps equal the variant's coverage
    res = s.plan.residents
    lacking = res.loc[~res[col.covered("station", "adult")], "population"].sum()
    rows = lists.needs[(lists.needs["数据列"] == col.covered("station", "adult"))]
    assert rows["未覆盖人数"].sum() == pytest.approx(lacking, rel=1e-9)
    path.write_text('[[add_links]]\nfrom = [121.44, 31.25]\nto = "there"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"add_links\[0\]\.to"):
        read_scenario_file(path)

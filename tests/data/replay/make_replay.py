"""Build the replayed Overpass and Nominatim answers from the Tongji/Siping OSM fixture.

No network is reachable here, so the "recorded" answers are written in the exact formats those services return
(Overpass JSON ``{"elements": [...]}``, Nominatim ``jsonv2`` with ``polygon_geojson``), from real OpenStreetMap
data (data/fixtures/shanghai_yangpu_tongji_siping.osm.bz2, ODbL). Run from the project root:

    .venv/bin/python tests/data/replay/make_replay.py
"""

import bz2
import gzip
import json
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[2] / "data" / "fixtures" / "shanghai_yangpu_tongji_siping.osm.bz2"

nodes, ways, bounds = {}, [], None
with bz2.open(SOURCE) as osm:
    for _, el in ET.iterparse(osm):
        if el.tag == "bounds":
            bounds = [float(el.get(k)) for k in ("minlon", "minlat", "maxlon", "maxlat")]
        elif el.tag == "node":
            nodes[int(el.get("id"))] = (float(el.get("lat")), float(el.get("lon")))
        elif el.tag == "way":
            tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
            if "highway" in tags:
                ways.append(
                    {
                        "type": "way",
                        "id": int(el.get("id")),
                        "nodes": [int(n.get("ref")) for n in el.findall("nd")],
                        "tags": tags,
                    }
                )
used = {n for w in ways for n in w["nodes"] if n in nodes}
elements = [{"type": "node", "id": n, "lat": nodes[n][0], "lon": nodes[n][1]} for n in sorted(used)] + ways
with gzip.open(HERE / "overpass_tongji.json.gz", "wt", encoding="utf-8") as fh:
    json.dump(
        {
            "version": 0.6,
            "generator": "Overpass API (replayed from the fixture)",
            "osm3s": {"timestamp_osm_base": "2026-03-01T00:00:00Z"},
            "elements": elements,
        },
        fh,
    )
w, s, e, n = bounds
polygon = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
answer = [
    {
        "place_id": 1,
        "licence": "Data © OpenStreetMap contributors, ODbL 1.0",
        "osm_type": "relation",
        "osm_id": 1,
        "lat": str((s + n) / 2),
        "lon": str((w + e) / 2),
        "category": "boundary",
        "type": "administrative",
        "place_rank": 20,
        "importance": 0.5,
        "addresstype": "suburb",
        "name": "四平路街道",
        "display_name": "四平路街道, 杨浦区, 上海市, 中国",
        "boundingbox": [str(s), str(n), str(w), str(e)],
        "geojson": polygon,
    }
]
(HERE / "nominatim_siping.json").write_text(json.dumps(answer, ensure_ascii=False), encoding="utf-8")
print(f"{len(used)} nodes, {len(ways)} ways")

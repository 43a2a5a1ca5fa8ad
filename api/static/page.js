/* 十五分钟社区生活圈 · 情景推演: the what-if page. Every figure shown is the answer of POST /what-if. */
(function () {
  "use strict";

  const $ = (sel) => document.querySelector(sel);
  const fmt = (n) => Number(n).toLocaleString("zh-CN");
  const pct = (x) => (100 * x).toFixed(1) + "%";
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  const app = {
    base: null, map: null, units: null, closed: new Set(), opened: [], markers: {}, seq: 0, answered: 0,
    lastBody: null, lastAnswer: null, nextId: 1,
    mode: "site", links: [], closures: [], pending: null, nextLink: 1, nextClosure: 1,
  };
  window.lifecircle = app;

  const UNIT_STYLE = { color: "#7d3c98", weight: 1.2, fillColor: "#7d3c98", fillOpacity: 0.03 };
  const OTHER = { key: "", name_zh: "服务设施", short_zh: "设施", colour: "#8e8e8e", minutes: null };
  function tier(key) { return app.base.tiers.find((t) => t.key === key) || { ...OTHER, key, name_zh: key || OTHER.name_zh }; }
  /** What a facility is: its tier, or the services it offers when it is on a service list only. */
  function kind(f) { return f.tier ? tier(f.tier).name_zh : `${f.services.join("、") || ""}服务设施`; }
  function facilityName(id) { const f = app.base.facilities.find((x) => x.id === id); return f ? f.name : id; }
  function service(key) { return (app.base.services || []).find((x) => x.key === key) || { key, name_zh: key, profiles: [] }; }
  function profileName(key) { return (app.base.profiles.find((p) => p.key === key) || { name_zh: key }).name_zh; }
  function siteName(s) { return s.place ? `${s.place}` : `新增${tier(s.tier).name_zh}（${s.lat.toFixed(5)}, ${s.lon.toFixed(5)}）`; }

  // An intranet service may ask for an API key (X-API-Key): on a 401 the page asks the user once for it, keeps it for
  // this tab only (sessionStorage) and sends it with every call.
  const KEY = "lifecircle-api-key";
  async function call(url, options = {}) {
    const send = () => {
      const key = sessionStorage.getItem(KEY);
      const headers = { ...(options.headers || {}), ...(key ? { "X-API-Key": key } : {}) };
      return window.fetch(url, { ...options, headers });
    };
    let r = await send();
    if (r.status === 401) {
      const key = window.prompt("此服务需要访问密钥（API key），请向管理员索取后输入：");
      if (key) { sessionStorage.setItem(KEY, key.trim()); r = await send(); }
    }
    return r;
  }
  const fetch = call;

  async function problemOf(r) {
    try { return await r.json(); } catch (e) { return null; }
  }
  function problemWords(p, r) {
    if (p && p.errors && p.errors.length) return p.errors.map((e) => `${e.field}: ${e.reason}`).join("；");
    return (p && (p.detail || p.title)) || r.statusText;
  }
  async function problemText(r) { return problemWords(await problemOf(r), r); }

  // ---------------------------------------------------------------- map
  async function start() {
    const r = await fetch("/page/base");
    if (!r.ok) { $("#status").textContent = "研究区尚未就绪：" + (await problemText(r)); setTimeout(start, 3000); return; }
    app.base = await r.json();
    const b = app.base;
    $("#title").textContent = `${b.area.title_zh} · 十五分钟社区生活圈情景推演`;
    document.title = `${b.area.title_zh} · 情景推演 (what-if)`;
    $("#illustrative").hidden = !b.illustrative;
    const fs = $("#add-tier");
    b.tiers.forEach((t, i) => {
      const label = document.createElement("label");
      const checked = t.key === "station" || (i === 0 && !b.tiers.some((x) => x.key === "station"));
      label.innerHTML = `<input type="radio" name="tier" value="${esc(t.key)}"${checked ? " checked" : ""}>` +
        `<span class="swatch" style="background:${esc(t.colour)}"></span>${esc(t.name_zh)}`;
      fs.appendChild(label);
    });
    const dot = (c) => `<span class="swatch" style="background:${esc(c)}"></span>`;
    $("#legend").innerHTML = "图例：" + b.tiers.map((t) => `${dot(t.colour)}${esc(t.name_zh)}`).join(" ") +
      (b.facilities.some((f) => !f.tier) ? ` ${dot(OTHER.colour)}其他服务设施` : "") +
      (b.units ? ' <span class="swatch unit"></span>街道边界（绿色：覆盖增加，红色：覆盖减少）' : "") + ' <span class="swatch new"></span>新增设施' +
      ' <span class="swatch link"></span>新增步行连接 <span class="swatch closure"></span>封闭道路';
    document.querySelectorAll('input[name="tool"]').forEach((el) => el.addEventListener("change", () => setMode(el.value)));
    if (!b.street_edits) {
      document.querySelectorAll('input[name="tool"]:not([value="site"])').forEach((el) => { el.disabled = true; });
      $("#tool-hint").textContent = "本研究区为直线距离估算，没有道路网，不能改动道路。";
    }
    const sel = $("#profile");
    b.profiles.forEach((p) => {
      const o = document.createElement("option");
      o.value = p.key; o.textContent = p.name_zh; o.selected = p.key === b.everyone;
      sel.appendChild(o);
    });
    sel.addEventListener("change", render);

    const map = L.map("map", { preferCanvas: true, zoomSnap: 0.25, attributionControl: true });
    app.map = map;
    map.attributionControl.setPrefix("Leaflet");
    map.attributionControl.addAttribution("© OpenStreetMap contributors");
    map.fitBounds([[b.bbox[1], b.bbox[0]], [b.bbox[3], b.bbox[2]]]);
    map.createPane("streets").style.zIndex = 350;
    if (b.units) {
      app.units = L.geoJSON(b.units, {
        style: UNIT_STYLE,
        onEachFeature: (f, layer) => layer.bindTooltip(`${esc(f.properties.unit)}：居民 ${fmt(f.properties.population)} 人，老年人 ${fmt(f.properties.elderly)} 人`, { sticky: true }),
      }).addTo(map);
    }
    b.facilities.forEach(drawFacility);
    map.on("click", (e) => onMapClick(e.latlng, performance.now()));
    $("#clear").addEventListener("click", clearAll);
    $("#download").addEventListener("click", download);
    $("#status").textContent = "点击地图新增设施，或点击设施将其关闭。";
    document.body.dataset.ready = "1";
    loadStreets();
  }

  async function loadStreets() {
    const r = await fetch("/page/streets");
    if (!r.ok) return;
    const s = await r.json();
    const lines = s.segments.map((g) => [[g[1], g[0]], [g[3], g[2]]]);
    L.polyline(lines, { color: "#9a9a9a", weight: 1, opacity: 0.8, interactive: false, pane: "streets" }).addTo(app.map);
  }

  function facilityStyle(f) {
    const t = tier(f.tier);
    const closed = app.closed.has(f.id);
    return {
      radius: { center: 8, station: 6, point: 4.5 }[f.tier] || 4,
      color: closed ? "#555" : "#fff", weight: closed ? 2 : 1, dashArray: closed ? "2 2" : null,
      fillColor: closed ? "#ddd" : t.colour, fillOpacity: closed ? 0.6 : 0.95,
    };
  }

  function drawFacility(f) {
    const m = L.circleMarker([f.lat, f.lon], { ...facilityStyle(f), bubblingMouseEvents: false });
    const tip = () => `${esc(f.name)}（${esc(kind(f))}）<br>${app.closed.has(f.id) ? "已关闭，点击恢复" : "点击关闭"}`;
    m.bindTooltip(tip);
    m.on("click", (e) => {
      if (app.mode !== "site") { onMapClick(e.latlng, performance.now()); return; } // drawing: the point, not the facility
      if (app.closed.has(f.id)) app.closed.delete(f.id); else app.closed.add(f.id);
      m.setStyle(facilityStyle(f));
      m.setTooltipContent(tip());
      evaluate(performance.now());
    });
    m.addTo(app.map);
    app.markers[f.id] = m;
  }

  function newId() {
    const taken = new Set(app.base.facilities.map((f) => f.id));
    let id;
    do { id = `NEW${app.nextId++}`; } while (taken.has(id));
    return id;
  }

  function addSite(latlng, t0) {
    const key = (document.querySelector('input[name="tier"]:checked') || {}).value || app.base.tiers[0].key;
    const t = tier(key);
    const site = { id: newId(), tier: key, lon: +latlng.lng.toFixed(6), lat: +latlng.lat.toFixed(6), place: null };
    site.marker = L.circleMarker([site.lat, site.lon], {
      radius: 9, color: "#000", weight: 3, fillColor: t.colour, fillOpacity: 0.9, bubblingMouseEvents: false,
    }).bindTooltip(() => `新增${esc(t.name_zh)}：${esc(siteName(site))}<br>点击撤销`).addTo(app.map);
    site.marker.on("click", () => {
      app.opened = app.opened.filter((s) => s !== site);
      app.map.removeLayer(site.marker);
      evaluate(performance.now());
    });
    app.opened.push(site);
    evaluate(t0);
    fetch(`/page/place?lon=${site.lon}&lat=${site.lat}`).then((r) => (r.ok ? r.json() : null)).then((p) => {
      if (p && p.name) { site.place = p.name; renderScenario(); render(); }
    }).catch(() => {});
  }

  // ---------------------------------------------------------------- street edits
  const HINTS = {
    site: "",
    link: "画连接：点击连接的起点，再点击终点（两端各自接到 100 米内最近的街道）。",
    close: "封闭道路：点击要封闭的街道（30 米以内最近的一段）。",
  };

  function setMode(mode) {
    app.mode = mode;
    if (app.pending) { app.map.removeLayer(app.pending.marker); app.pending = null; }
    $("#tool-hint").textContent = HINTS[mode] || "";
    document.body.dataset.mode = mode;
  }

  function onMapClick(latlng, t0) {
    if (app.mode === "link") linkPoint(latlng, t0);
    else if (app.mode === "close") closeStreet(latlng, t0);
    else addSite(latlng, t0);
  }

  const point = (latlng) => ({ lon: +latlng.lng.toFixed(7), lat: +latlng.lat.toFixed(7) });

  function linkPoint(latlng, t0) {
    const p = point(latlng);
    if (!app.pending) {
      const marker = L.circleMarker([p.lat, p.lon], { radius: 5, color: "#117a65", weight: 2, fillColor: "#fff", fillOpacity: 1, interactive: false }).addTo(app.map);
      app.pending = { ...p, marker };
      $("#tool-hint").textContent = "已选起点，请点击连接的终点。";
      return;
    }
    const from = { lon: app.pending.lon, lat: app.pending.lat };
    app.map.removeLayer(app.pending.marker);
    app.pending = null;
    $("#tool-hint").textContent = HINTS.link;
    const link = { n: app.nextLink++, from, to: p };
    link.name = `连接${link.n}`;
    link.metres = Math.round(app.map.distance([from.lat, from.lon], [p.lat, p.lon]));
    link.line = L.polyline([[from.lat, from.lon], [p.lat, p.lon]], { color: "#117a65", weight: 5, opacity: 0.9, bubblingMouseEvents: false })
      .bindTooltip(() => `新增步行连接：${esc(link.name)}（直线 ${link.metres} 米）<br>点击撤销`).addTo(app.map);
    link.line.on("click", () => { removeLink(link); evaluate(performance.now()); });
    app.links.push(link);
    evaluate(t0);
  }

  function closeStreet(latlng, t0) {
    const p = point(latlng);
    const c = { n: app.nextClosure++, ...p, place: null };
    c.marker = L.circleMarker([p.lat, p.lon], { radius: 7, color: "#c0392b", weight: 3, fillColor: "#fff", fillOpacity: 1, bubblingMouseEvents: false })
      .bindTooltip(() => `封闭道路：${esc(closureName(c))}<br>点击撤销`).addTo(app.map);
    c.marker.on("click", () => { removeClosure(c); evaluate(performance.now()); });
    app.closures.push(c);
    evaluate(t0);
    fetch(`/page/place?lon=${c.lon}&lat=${c.lat}`).then((r) => (r.ok ? r.json() : null)).then((pl) => {
      if (pl && pl.name) { c.place = pl.name; renderScenario(); render(); }
    }).catch(() => {});
  }

  function closureName(c) { return c.place ? `${c.place}（封闭${c.n}）` : `封闭道路${c.n}（${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}）`; }
  function removeLink(link) { app.links = app.links.filter((x) => x !== link); app.map.removeLayer(link.line); }
  function removeClosure(c) { app.closures = app.closures.filter((x) => x !== c); app.map.removeLayer(c.marker); }

  /** The edit a problem names (add_links[1], close_links[0] …), removed; its words, or null. */
  function dropFailedEdit(p) {
    const e = p && p.errors && p.errors[0];
    const m = e && /^(add_links|close_links)\[(\d+)\]/.exec(e.field);
    if (!m) return null;
    const i = Number(m[2]);
    if (m[1] === "add_links" && app.links[i]) { const k = app.links[i]; removeLink(k); return `无法新增${k.name}：${e.reason}`; }
    if (m[1] === "close_links" && app.closures[i]) { const c = app.closures[i]; removeClosure(c); return `无法封闭${closureName(c)}：${e.reason}`; }
    return null;
  }

  function clearAll() {
    app.links.slice().forEach(removeLink);
    app.closures.slice().forEach(removeClosure);
    if (app.pending) { app.map.removeLayer(app.pending.marker); app.pending = null; }
    app.opened.forEach((s) => app.map.removeLayer(s.marker));
    app.opened = [];
    const was = [...app.closed];
    app.closed.clear();
    was.forEach((id) => app.markers[id].setStyle(facilityStyle(app.base.facilities.find((f) => f.id === id))));
    evaluate(performance.now());
  }

  // ---------------------------------------------------------------- what-if
  function body() {
    return {
      close: [...app.closed],
      open: app.opened.map((s) => ({ lon: s.lon, lat: s.lat, tier: s.tier, id: s.id })),
      add_links: app.links.map((k) => ({ from: k.from, to: k.to, name: k.name })),
      close_links: app.closures.map((c) => ({ lon: c.lon, lat: c.lat })),
    };
  }

  async function evaluate(t0) {
    const seq = ++app.seq;
    renderScenario();
    const empty = !app.closed.size && !app.opened.length && !app.links.length && !app.closures.length;
    $("#download").disabled = empty;
    $("#clear").disabled = empty;
    if (empty) {
      app.lastAnswer = null; app.lastBody = null;
      render();
      $("#status").textContent = "情景已清空。";
      return;
    }
    const req = body();
    $("#status").textContent = "计算中…";
    document.body.dataset.busy = "1";
    let r;
    try {
      r = await fetch("/what-if", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
    } catch (e) {
      if (seq === app.seq) { $("#status").textContent = "无法连接服务：" + e; delete document.body.dataset.busy; }
      return;
    }
    if (seq !== app.seq) return; // a newer click is on its way
    if (!r.ok) {
      const p = await problemOf(r);
      if (seq !== app.seq) return;
      const dropped = r.status === 422 ? dropFailedEdit(p) : null;
      if (dropped) { // an edit that cannot be made: taken back, the rest computed again
        await evaluate(t0);
        $("#status").textContent = `${dropped}（已撤销这项改动）`;
        delete document.body.dataset.busy;
        document.body.dataset.failed = dropped;
        return;
      }
      $("#status").textContent = `计算失败（${r.status}）：${problemWords(p, r)}`;
      delete document.body.dataset.busy;
      return;
    }
    const answer = await r.json();
    if (seq !== app.seq) return;
    app.lastBody = req; app.lastAnswer = answer;
    render();
    const ms = Math.round(performance.now() - t0);
    $("#status").textContent = `已按情景重新计算，用时 ${ms} 毫秒。`;
    app.answered += 1;
    document.body.dataset.ms = String(ms);
    document.body.dataset.answered = String(app.answered);
    delete document.body.dataset.busy;
  }

  function renderScenario() {
    const ul = $("#scenario-list");
    const items = [];
    app.opened.forEach((s) => items.push(`<li data-site="${esc(s.id)}">新增${esc(tier(s.tier).name_zh)}：${esc(siteName(s))}</li>`));
    [...app.closed].forEach((id) => {
      const f = app.base.facilities.find((x) => x.id === id);
      items.push(`<li data-closed="${esc(id)}">关闭${esc(kind(f))}：${esc(f.name)}</li>`);
    });
    app.links.forEach((k) => items.push(`<li data-link="${k.n}">新增步行连接：${esc(k.name)}（直线 ${k.metres} 米）</li>`));
    app.closures.forEach((c) => items.push(`<li data-closure="${c.n}">封闭道路：${esc(closureName(c))}</li>`));
    ul.innerHTML = items.join("") || '<li class="muted">尚未改动：点击地图开始。<span class="en">No change yet.</span></li>';
  }

  function cell(v, cls, k) { return `<td class="${v ? cls : ""}" data-k="${k}" data-value="${v}">${fmt(v)}</td>`; }

  function render() {
    const a = app.lastAnswer;
    const profile = $("#profile").value;
    const pname = (app.base.profiles.find((p) => p.key === profile) || { name_zh: profile }).name_zh;
    const tbody = $("#tier-table tbody");
    const ubody = $("#unit-table tbody");
    if (!a) {
      tbody.innerHTML = ""; ubody.innerHTML = ""; $("#summary").innerHTML = ""; $("#notes").innerHTML = "";
      $("#service-table tbody").innerHTML = ""; $("#edits").innerHTML = "";
      $("#tier-table").hidden = true; $("#unit-table").hidden = true; $("#unit-none").hidden = false;
      $("#service-table").hidden = true; $("#edits-box").hidden = true;
      shadeUnits([]);
      return;
    }
    const sentences = [];
    const rows = app.base.tiers.map((t) => {
      const c = a.tiers[t.key][profile];
      if (c.gain_people || c.gain_elderly || c.loss_people || c.loss_elderly) {
        let s = `<b>${esc(t.name_zh)}</b>：新增覆盖居民 ${fmt(c.gain_people)} 人，其中老年人 ${fmt(c.gain_elderly)} 人`;
        if (c.loss_people || c.loss_elderly) s += `；失去覆盖居民 ${fmt(c.loss_people)} 人，其中老年人 ${fmt(c.loss_elderly)} 人`;
        sentences.push(`<p>${s}；覆盖率由 ${pct(c.covered_share_before)} 变为 ${pct(c.covered_share_after)}。</p>`);
      }
      return `<tr data-tier="${esc(t.key)}"><td>${esc(t.name_zh)}（${t.minutes} 分钟）</td>` +
        cell(c.gain_people, "gain", "gain_people") + cell(c.gain_elderly, "gain", "gain_elderly") +
        cell(c.loss_people, "loss", "loss_people") + cell(c.loss_elderly, "loss", "loss_elderly") +
        `<td>${pct(c.covered_share_before)} → ${pct(c.covered_share_after)}</td></tr>`;
    });
    tbody.innerHTML = rows.join("");
    $("#tier-table").hidden = false;

    // services (健康, 养老 …): each at the chosen speed when it is measured on it, else at its own
    const srows = [];
    Object.entries(a.service_change || {}).forEach(([key, per]) => {
      const profiles = per[profile] ? [profile] : Object.keys(per);
      profiles.forEach((pk) => {
        const c = per[pk];
        if (!(c.gain_people || c.gain_elderly || c.loss_people || c.loss_elderly)) return;
        const sv = service(key);
        const label = `${sv.name_zh}服务${pk !== profile ? `（${profileName(pk)}步行）` : ""}`;
        let s = `<b>${esc(label)}</b>：${sv.minutes ? `${sv.minutes} 分钟内` : ""}新增覆盖居民 ${fmt(c.gain_people)} 人，其中老年人 ${fmt(c.gain_elderly)} 人`;
        if (c.loss_people || c.loss_elderly) s += `；失去覆盖居民 ${fmt(c.loss_people)} 人，其中老年人 ${fmt(c.loss_elderly)} 人`;
        sentences.push(`<p>${s}。</p>`);
        srows.push(`<tr data-service="${esc(key)}" data-profile="${esc(pk)}"><td>${esc(label)}</td>` +
          cell(c.gain_people, "gain", "gain_people") + cell(c.gain_elderly, "gain", "gain_elderly") +
          cell(c.loss_people, "loss", "loss_people") + cell(c.loss_elderly, "loss", "loss_elderly") + "</tr>");
      });
    });
    $("#service-table tbody").innerHTML = srows.join("");
    $("#service-table").hidden = !srows.length;
    $("#summary").innerHTML = `<p class="muted">按${esc(pname)}步行速度计算：</p>` +
      (sentences.join("") || "<p>这一情景不改变任何居民的覆盖。</p>");

    // what each street edit changes by itself (add_links first, as sent)
    const effects = (a.edit_effects || []).map((e, i) => {
      const nLinks = (app.lastBody && app.lastBody.add_links ? app.lastBody.add_links.length : 0);
      const name = i < nLinks ? (app.links[i] ? `${app.links[i].name}（新增步行连接）` : e.label)
        : (app.closures[i - nLinks] ? closureName(app.closures[i - nLinks]) : e.label);
      if (e.changes_nothing) return `<li class="nothing" data-edit="${i}" data-residents="0">${esc(name)}：${esc(e.note_zh || "不改变任何居民的步行时间。")}</li>`;
      return `<li data-edit="${i}" data-residents="${e.residents}" data-people="${e.people}">${esc(name)}：改变 ${fmt(e.residents)} 个居民点的步行时间，` +
        `涉及居民 ${fmt(e.people)} 人，其中老年人 ${fmt(e.elderly)} 人。</li>`;
    });
    $("#edits").innerHTML = effects.join("");
    $("#edits-box").hidden = !effects.length;

    const units = (a.units || []).filter((u) => u.profile === profile);
    const sunits = (a.service_units || []).filter((u) => u.profile === profile);
    const net = (u) => u.gain_people - u.loss_people;
    const byNet = (x, y) => net(y) - net(x) || x.unit.localeCompare(y.unit, "zh");
    units.sort(byNet);
    sunits.sort(byNet);
    const counts = (u) => cell(u.gain_people, "gain", "gain_people") + cell(u.gain_elderly, "gain", "gain_elderly") +
      cell(u.loss_people, "loss", "loss_people") + cell(u.loss_elderly, "loss", "loss_elderly");
    ubody.innerHTML = units.map((u) => `<tr data-unit="${esc(u.unit)}" data-tier="${esc(u.tier)}"><td>${esc(u.unit)}</td><td>${esc(tier(u.tier).name_zh)}</td>` +
      counts(u) + "</tr>").join("") +
      sunits.map((u) => `<tr data-unit="${esc(u.unit)}" data-service="${esc(u.service)}"><td>${esc(u.unit)}</td><td>${esc(service(u.service).name_zh)}服务</td>` +
      counts(u) + "</tr>").join("");
    units.push(...sunits);
    shadeUnits(units);
    $("#unit-table").hidden = !units.length;
    $("#unit-none").hidden = !!units.length;

    const notes = [];
    a.sites.forEach((s) => {
      const mine = app.opened.find((x) => x.id === s.id);
      const name = mine ? siteName(mine) : s.id;
      const g = s.gain[profile] || { people: 0, elderly: 0 };
      if (!s.opened) notes.push(`${name}：距研究区内任何街道超过 ${app.base.max_snap_m} 米，不在研究区内，未开设。`);
      else if (s.adds_nobody) notes.push(`${name}：开设后没有居民因此新进入${tier(s.tier).name_zh}的步行目标（附近居民已被覆盖或无人居住）。`);
      else notes.push(`${name}：新增覆盖居民 ${fmt(g.people)} 人，其中老年人 ${fmt(g.elderly)} 人（以此为最近的${tier(s.tier).name_zh}）。`);
    });
    const servicesOnly = [...app.closed].map((id) => app.base.facilities.find((f) => f.id === id)).filter((f) => !f.tier);
    if (servicesOnly.length) {
      notes.push(`关闭的${servicesOnly.map((f) => f.name).join("、")}只提供${[...new Set(servicesOnly.flatMap((f) => f.services))].join("、") || "单项"}服务，` +
        "不属于社区服务中心、服务站、服务点三级设施；其服务的覆盖变化见上方服务表。");
    }
    (a.notes_zh || []).filter((n) => !(a.edit_effects || []).some((e) => e.note_zh === n)).forEach((n) => notes.push(n));
    $("#notes").innerHTML = notes.map((n) => `<li>${esc(n)}</li>`).join("");
  }

  /** 街道 where residents gain coverage in green, lose it in red (net over the tiers, at the chosen speed). */
  function shadeUnits(rows) {
    if (!app.units) return;
    const net = {};
    rows.forEach((u) => { net[u.unit] = (net[u.unit] || 0) + u.gain_people - u.loss_people; });
    app.units.eachLayer((layer) => {
      const n = net[layer.feature.properties.unit];
      if (!n) { layer.setStyle(UNIT_STYLE); return; }
      const colour = n > 0 ? "#1e8449" : "#c0392b";
      layer.setStyle({ color: colour, weight: 2.5, fillColor: colour, fillOpacity: 0.18 });
    });
  }

  // ---------------------------------------------------------------- the three lists
  async function download() {
    const req = body();
    const st = $("#download-status");
    st.textContent = "正在生成三张清单…";
    const r = await fetch("/what-if/lists.xlsx", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
    if (!r.ok) { st.textContent = `生成失败（${r.status}）：${await problemText(r)}`; return; }
    const blob = await r.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "情景三张清单.xlsx";
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    st.textContent = `已下载：需求清单、资源清单、服务清单（${Math.round(blob.size / 1024)} KB）。`;
    document.body.dataset.downloaded = String(blob.size);
  }

  start();
})();

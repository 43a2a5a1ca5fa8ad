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
  };
  window.lifecircle = app;

  const UNIT_STYLE = { color: "#7d3c98", weight: 1.2, fillColor: "#7d3c98", fillOpacity: 0.03 };
  const OTHER = { key: "", name_zh: "服务设施", short_zh: "设施", colour: "#8e8e8e", minutes: null };
  function tier(key) { return app.base.tiers.find((t) => t.key === key) || { ...OTHER, key, name_zh: key || OTHER.name_zh }; }
  /** What a facility is: its tier, or the services it offers when it is on a service list only. */
  function kind(f) { return f.tier ? tier(f.tier).name_zh : `${f.services.join("、") || ""}服务设施`; }
  function facilityName(id) { const f = app.base.facilities.find((x) => x.id === id); return f ? f.name : id; }
  function siteName(s) { return s.place ? `${s.place}` : `新增${tier(s.tier).name_zh}（${s.lat.toFixed(5)}, ${s.lon.toFixed(5)}）`; }

  async function problemText(r) {
    try {
      const p = await r.json();
      if (p.errors && p.errors.length) return p.errors.map((e) => `${e.field}: ${e.reason}`).join("；");
      return p.detail || p.title || r.statusText;
    } catch (e) { return r.statusText; }
  }

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
      (b.units ? ' <span class="swatch unit"></span>街道边界（绿色：覆盖增加，红色：覆盖减少）' : "") + ' <span class="swatch new"></span>新增设施';
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
    map.on("click", (e) => addSite(e.latlng, performance.now()));
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
    m.on("click", () => {
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

  function clearAll() {
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
    };
  }

  async function evaluate(t0) {
    const seq = ++app.seq;
    renderScenario();
    const empty = !app.closed.size && !app.opened.length;
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
      $("#status").textContent = `计算失败（${r.status}）：${await problemText(r)}`;
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
      $("#tier-table").hidden = true; $("#unit-table").hidden = true; $("#unit-none").hidden = false;
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
    $("#summary").innerHTML = `<p class="muted">按${esc(pname)}步行速度计算：</p>` +
      (sentences.join("") || "<p>这一情景不改变任何居民的覆盖。</p>");

    const units = (a.units || []).filter((u) => u.profile === profile);
    units.sort((x, y) => (y.gain_people - y.loss_people) - (x.gain_people - x.loss_people) || x.unit.localeCompare(y.unit, "zh"));
    ubody.innerHTML = units.map((u) => `<tr data-unit="${esc(u.unit)}" data-tier="${esc(u.tier)}"><td>${esc(u.unit)}</td><td>${esc(tier(u.tier).name_zh)}</td>` +
      cell(u.gain_people, "gain", "gain_people") + cell(u.gain_elderly, "gain", "gain_elderly") +
      cell(u.loss_people, "loss", "loss_people") + cell(u.loss_elderly, "loss", "loss_elderly") + "</tr>").join("");
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
        "不属于社区服务中心、服务站、服务点三级设施；本页只列出三级设施的覆盖变化。");
    }
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

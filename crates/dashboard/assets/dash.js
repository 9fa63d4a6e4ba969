"use strict";
// Shared drawing code of the dashboard pages and the performance report.
const OX = {};

// Colour of a task group, by its id (ids are given in order of appearance).
OX.PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b"];
OX.color = function (id) { return OX.PALETTE[id % OX.PALETTE.length]; };

OX.bytes = function (n) {
  if (n === null || n === undefined) return "none";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
};

OX.secs = function (s) {
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(1) + " ms";
  return s.toFixed(2) + " s";
};

OX.esc = function (s) {
  return String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
};

// tasks: [seq, worker, group, start_us, end_us, key]; groups: names by id.
// running: [{worker, group_id, started_us}] drawn up to t1, lighter;
// spills: [[t_us, bytes]] marked as orange ticks on the time axis.
OX.drawStream = function (canvas, tasks, groups, nworkers, t0, t1, running, spills) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, axis = 18;
  ctx.clearRect(0, 0, W, H);
  nworkers = Math.max(nworkers, 1);
  const rowH = (H - axis) / nworkers;
  const span = Math.max(t1 - t0, 1);
  ctx.fillStyle = "#888"; ctx.font = "11px sans-serif";
  for (let w = 0; w < nworkers; w++) {
    ctx.fillStyle = w % 2 ? "#fff" : "#f6f6f6";
    ctx.fillRect(0, w * rowH, W, rowH);
  }
  let drawn = 0;
  for (const t of tasks) {
    if (t[4] < t0 || t[3] > t1) continue;
    const x = (t[3] - t0) / span * W;
    const w = Math.max((t[4] - t[3]) / span * W, 1);
    ctx.fillStyle = OX.color(t[2]);
    ctx.fillRect(x, t[1] * rowH + 2, w, rowH - 4);
    drawn++;
  }
  ctx.globalAlpha = 0.45;
  for (const r of running || []) {
    if (r.group_id === null || r.started_us === null) continue;
    const x = Math.max((r.started_us - t0) / span * W, 0);
    ctx.fillStyle = OX.color(r.group_id);
    ctx.fillRect(x, r.worker * rowH + 2, Math.max(W - x, 1), rowH - 4);
  }
  ctx.globalAlpha = 1;
  let marks = 0;
  ctx.fillStyle = "#e65100";
  for (const sp of spills || []) {
    if (sp[0] < t0 || sp[0] > t1) continue;
    const x = (sp[0] - t0) / span * W;
    ctx.beginPath(); ctx.moveTo(x - 4, H - axis + 12); ctx.lineTo(x + 4, H - axis + 12); ctx.lineTo(x, H - axis + 2); ctx.fill();
    marks++;
  }
  canvas.dataset.spills = marks;
  ctx.fillStyle = "#555";
  ctx.fillText("0", 2, H - 4);
  const label = OX.secs(span / 1e6) + (marks ? "  ▲ spill to disk" : "");
  ctx.fillText(label, W - ctx.measureText(label).width - 2, H - 4);
  for (let w = 0; w < nworkers; w++) ctx.fillText("worker " + w, 4, w * rowH + 13);
  canvas.dataset.bars = drawn;
  canvas._stream = { tasks, groups, nworkers, t0, t1, rowH };
};

OX.hover = function (canvas, tooltip) {
  canvas.addEventListener("mousemove", ev => {
    const s = canvas._stream;
    if (!s) return;
    const r = canvas.getBoundingClientRect();
    const x = (ev.clientX - r.left) * canvas.width / r.width;
    const y = (ev.clientY - r.top) * canvas.height / r.height;
    const row = Math.floor(y / s.rowH);
    const perPx = (s.t1 - s.t0) / canvas.width;
    const t = s.t0 + x * perPx;
    let hit = null;
    for (let i = s.tasks.length - 1; i >= 0; i--) {
      const k = s.tasks[i];
      if (k[1] === row && k[3] - 2 * perPx <= t && t <= k[4] + 2 * perPx) { hit = k; break; }
    }
    if (!hit) { tooltip.style.display = "none"; return; }
    tooltip.textContent = hit[5] + "\n" + (s.groups[hit[2]] || "") + " · " + OX.secs((hit[4] - hit[3]) / 1e6) + " · worker " + hit[1];
    tooltip.style.left = (ev.clientX + 12) + "px";
    tooltip.style.top = (ev.clientY + 12) + "px";
    tooltip.style.display = "block";
  });
  canvas.addEventListener("mouseleave", () => { tooltip.style.display = "none"; });
};

OX.progress = function (table, status) {
  const rows = ["<tr><th>task group</th><th>progress</th><th>waiting</th><th>processing</th><th>in memory</th><th>erred</th><th>time</th></tr>"];
  const groups = status.groups.slice().sort((a, b) => a.id - b.id);
  for (const g of groups) {
    const pct = v => (g.total ? 100 * v / g.total : 0) + "%";
    rows.push("<tr class=\"group\"><td><span class=\"swatch\" style=\"background:" + OX.color(g.id) + "\"></span>" + OX.esc(g.name) +
      "</td><td><div class=\"bar\"><div class=\"finished\" style=\"width:" + pct(g.finished) + "\"></div><div class=\"processing\" style=\"width:" + pct(g.processing) +
      "\"></div><div class=\"erred\" style=\"width:" + pct(g.erred) + "\"></div></div></td><td>" + g.waiting + "</td><td>" + g.processing +
      "</td><td>" + g.finished + "</td><td>" + g.erred + "</td><td>" + OX.secs(g.busy_s) + "</td></tr>");
  }
  table.innerHTML = rows.join("");
};

OX.memory = function (el, m) {
  const limit = m.limit || Math.max(m.held_bytes + m.on_disk_bytes, m.peak_held_bytes, 1);
  const pct = v => Math.min(100, 100 * v / limit) + "%";
  el.innerHTML = "<div class=\"bar\"><div class=\"finished\" style=\"width:" + pct(m.held_bytes) + "\"></div><div class=\"spilled\" style=\"width:" + pct(m.on_disk_bytes) + "\"></div></div>" +
    "<div>held <b id=\"mem-held\">" + OX.bytes(m.held_bytes) + "</b> (" + m.held + " results) · on disk <b>" + OX.bytes(m.on_disk_bytes) +
    "</b> · spilled so far <b>" + OX.bytes(m.spilled_bytes) + "</b> · peak held <b>" + OX.bytes(m.peak_held_bytes) + "</b> · limit <b id=\"mem-limit\">" + OX.bytes(m.limit) + "</b></div>";
};

OX.workers = function (table, workers) {
  const rows = ["<tr><th>worker</th><th>processing</th><th>current task group</th><th>tasks done</th><th>busy</th><th>occupancy</th></tr>"];
  for (const w of workers) {
    rows.push("<tr class=\"worker\"><td>" + w.worker + "</td><td>" + w.processing + "</td><td>" + OX.esc(w.task_group || "–") + "</td><td>" + w.done +
      "</td><td>" + OX.secs(w.busy_s) + "</td><td>" + (100 * w.occupancy).toFixed(0) + "%</td></tr>");
  }
  table.innerHTML = rows.join("");
};

// A cluster's worker processes (null on a local run's dashboard).
OX.cluster = function (table, c) {
  if (!c) { table.innerHTML = ""; return; }
  const rows = ["<tr><th>worker</th><th>address</th><th>threads (rows)</th><th>in flight</th><th>held</th><th>spilled</th><th>process</th></tr>"];
  for (const w of c.workers) {
    const last = w.first_thread + w.nthreads - 1;
    rows.push("<tr class=\"cluster-worker\"><td>" + OX.esc(w.name) + "</td><td>" + OX.esc(w.address) + "</td><td>" + w.nthreads + " (" + w.first_thread + (last > w.first_thread ? "–" + last : "") +
      ")</td><td>" + w.processing + "</td><td>" + OX.bytes(w.held_bytes) + "</td><td>" + OX.bytes(w.on_disk_bytes) + "</td><td>" + OX.bytes(w.process_bytes) + "</td></tr>");
  }
  table.innerHTML = rows.join("");
};

OX.summary = function (el, s) {
  const total = Math.max(s.ntasks, 1);
  const pct = Math.floor(100 * s.finished / total);
  const state = s.running ? "running" : (s.ok === null ? "idle" : (s.ok ? "finished" : "failed"));
  el.innerHTML = "<span>scheduler <b>" + OX.esc(s.scheduler || "–") + "</b></span><span><b id=\"nworkers\">" + s.nworkers + "</b> workers</span>" +
    "<span><b id=\"ntasks-done\">" + s.finished + "</b> / <b id=\"ntasks\">" + s.ntasks + "</b> tasks</span><span>progress <b id=\"progress-pct\">" + (s.ntasks ? pct : 0) + "%</b></span>" +
    "<span>state <b id=\"run-state\">" + state + "</b></span><span>elapsed <b>" + OX.secs(s.elapsed_s) + "</b></span><span>computations <b>" + s.runs + "</b></span>";
  document.body.dataset.state = state;
};

OX.memoryChart = function (canvas, samples, limit, t0, t1) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height - 16;
  ctx.clearRect(0, 0, W, canvas.height);
  let top = 1;
  for (const s of samples) top = Math.max(top, s[1], s[2]);
  top *= 1.1;
  const limitShown = limit && limit <= top * 4;
  if (limitShown) top = Math.max(top, limit * 1.05);
  const span = Math.max(t1 - t0, 1);
  const line = (idx, color) => {
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
    samples.forEach((s, i) => {
      const x = (s[0] - t0) / span * W, y = H - (idx(s) / top) * (H - 4);
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
  };
  line(s => s[1], "#43a047");
  line(s => s[2], "#fb8c00");
  if (limitShown) {
    ctx.strokeStyle = "#e53935"; ctx.setLineDash([4, 4]); ctx.beginPath();
    const y = H - (limit / top) * (H - 4);
    ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke(); ctx.setLineDash([]);
  }
  ctx.fillStyle = "#555"; ctx.font = "11px sans-serif";
  ctx.fillText("held (green), on disk (orange), limit (red" + (limitShown ? "" : ", " + OX.bytes(limit) + ", above the chart") + ") · top " + OX.bytes(top), 4, 12);
  ctx.fillText(OX.secs(span / 1e6), W - 50, canvas.height - 3);
};

OX.groupTimes = function (table, groups) {
  const max = Math.max(...groups.map(g => g.busy_s), 1e-9);
  const rows = ["<tr><th>task group</th><th>time</th><th></th><th>tasks</th><th>result bytes</th></tr>"];
  for (const g of groups.slice().sort((a, b) => b.busy_s - a.busy_s)) {
    rows.push("<tr><td><span class=\"swatch\" style=\"background:" + OX.color(g.id) + "\"></span>" + OX.esc(g.name) + "</td><td>" + OX.secs(g.busy_s) +
      "</td><td><div class=\"bar\"><div style=\"width:" + (100 * g.busy_s / max) + "%;background:" + OX.color(g.id) + "\"></div></div></td><td>" + g.finished +
      "</td><td>" + OX.bytes(g.nbytes) + "</td></tr>");
  }
  table.innerHTML = rows.join("");
};

// Task groups as a graph, left to right by dependency depth, each box
// filled by its progress (finished green, processing blue, erred red).
OX.graph = function (el, groups, edges) {
  const MAX = 300, BW = 180, BH = 46, DX = 240, DY = 62;
  const shown = groups.slice().sort((a, b) => a.id - b.id).slice(0, MAX);
  const byId = new Map(shown.map(g => [g.id, g]));
  const es = edges.filter(e => byId.has(e[0]) && byId.has(e[1]));
  const depth = new Map(shown.map(g => [g.id, 0]));
  for (let pass = 0; pass < shown.length; pass++) {
    let changed = false;
    for (const [a, b] of es) {
      if (depth.get(b) < depth.get(a) + 1 && depth.get(a) + 1 < shown.length) { depth.set(b, depth.get(a) + 1); changed = true; }
    }
    if (!changed) break;
  }
  const rows = new Map(), pos = new Map();
  let width = 0, height = 0;
  for (const g of shown) {
    const d = depth.get(g.id), r = rows.get(d) || 0;
    rows.set(d, r + 1);
    const p = { x: 10 + d * DX, y: 10 + r * DY };
    pos.set(g.id, p);
    width = Math.max(width, p.x + BW + 10);
    height = Math.max(height, p.y + BH + 10);
  }
  const out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + width + "\" height=\"" + height + "\" font-family=\"sans-serif\" font-size=\"12\">"];
  for (const [a, b] of es) {
    const p = pos.get(a), q = pos.get(b);
    const x1 = p.x + BW, y1 = p.y + BH / 2, x2 = q.x, y2 = q.y + BH / 2, mx = (x1 + x2) / 2;
    out.push("<path class=\"edge\" d=\"M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2 + "\" fill=\"none\" stroke=\"#9e9e9e\" stroke-width=\"1.5\"/>");
  }
  for (const g of shown) {
    const p = pos.get(g.id), t = Math.max(g.total, 1);
    const wf = BW * g.finished / t, wp = BW * g.processing / t, we = BW * g.erred / t;
    out.push("<g class=\"node\" data-group=\"" + OX.esc(g.name) + "\"><title>" + OX.esc(g.name) + ": " + g.waiting + " waiting, " + g.processing +
      " processing, " + g.finished + " in memory, " + g.erred + " erred</title>" +
      "<rect x=\"" + p.x + "\" y=\"" + p.y + "\" width=\"" + BW + "\" height=\"" + BH + "\" rx=\"4\" fill=\"#fff\" stroke=\"" + OX.color(g.id) + "\" stroke-width=\"3\"/>" +
      "<rect x=\"" + p.x + "\" y=\"" + (p.y + BH - 10) + "\" width=\"" + wf + "\" height=\"10\" fill=\"#43a047\"/>" +
      "<rect x=\"" + (p.x + wf) + "\" y=\"" + (p.y + BH - 10) + "\" width=\"" + wp + "\" height=\"10\" fill=\"#1e88e5\"/>" +
      "<rect x=\"" + (p.x + wf + wp) + "\" y=\"" + (p.y + BH - 10) + "\" width=\"" + we + "\" height=\"10\" fill=\"#e53935\"/>" +
      "<text x=\"" + (p.x + 8) + "\" y=\"" + (p.y + 16) + "\" font-weight=\"600\">" + OX.esc(g.name.length > 24 ? g.name.slice(0, 23) + "…" : g.name) + "</text>" +
      "<text x=\"" + (p.x + 8) + "\" y=\"" + (p.y + 31) + "\" fill=\"#555\">" + g.finished + " / " + g.total + (g.erred ? " · " + g.erred + " erred" : "") + "</text></g>");
  }
  out.push("</svg>");
  if (groups.length > MAX) out.push("<div>showing the first " + MAX + " of " + groups.length + " task groups</div>");
  el.innerHTML = out.join("");
  el.dataset.nodes = shown.length;
  el.dataset.edges = es.length;
};

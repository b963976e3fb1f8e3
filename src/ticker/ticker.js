// wirelab ticker: the server pushes a quote for every symbol several times a
// second over one WebSocket; this page only listens and draws.
"use strict";

const COLORS = ["#60a5fa", "#f472b6", "#facc15", "#4ade80", "#c084fc", "#fb923c"];
const KEEP = 300; // points per symbol on the chart
const series = new Map(); // symbol -> { color, open, points: [price] }
let updates = 0;
let dirty = false;

const $ = (sel) => document.querySelector(sel);

function setStatus(text, cls) {
  const el = $("#status");
  el.textContent = text;
  el.className = "status " + (cls || "");
}

function apply(tick) {
  for (const q of tick.quotes) {
    let s = series.get(q.symbol);
    if (!s) {
      s = { color: COLORS[series.size % COLORS.length], open: q.open ?? q.price, points: [] };
      series.set(q.symbol, s);
    }
    s.points.push(q.price);
    if (s.points.length > KEEP) s.points.shift();
  }
  dirty = true;
}

function renderTable() {
  const tbody = $("#quotes tbody");
  tbody.replaceChildren();
  for (const [symbol, s] of series) {
    const last = s.points[s.points.length - 1];
    const change = ((last - s.open) / s.open) * 100;
    const tr = document.createElement("tr");
    tr.innerHTML =
      `<td><span class="swatch" style="background:${s.color}"></span>${symbol}</td>` +
      `<td>${last.toFixed(2)}</td><td class="${change >= 0 ? "up" : "down"}">${change >= 0 ? "+" : ""}${change.toFixed(2)}%</td>`;
    tbody.append(tr);
  }
}

// Each line is the percentage change from the symbol's opening price, so
// symbols with very different prices share one axis.
function draw() {
  requestAnimationFrame(draw);
  if (!dirty) return;
  dirty = false;
  renderTable();
  const canvas = $("#chart");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth * ratio;
  const h = canvas.clientHeight * ratio;
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  let lo = -0.5, hi = 0.5;
  for (const s of series.values()) {
    for (const p of s.points) {
      const pct = ((p - s.open) / s.open) * 100;
      lo = Math.min(lo, pct);
      hi = Math.max(hi, pct);
    }
  }
  const pad = 40 * ratio;
  const y = (pct) => h - pad - ((pct - lo) / (hi - lo)) * (h - 2 * pad);
  const x = (i) => pad + (i / (KEEP - 1)) * (w - 2 * pad);
  ctx.strokeStyle = "#334155";
  ctx.fillStyle = "#94a3b8";
  ctx.font = `${12 * ratio}px system-ui`;
  ctx.lineWidth = 1;
  const step = Math.max(0.1, Math.ceil((hi - lo) / 6 * 10) / 10);
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    ctx.beginPath();
    ctx.moveTo(pad, y(v));
    ctx.lineTo(w - pad, y(v));
    ctx.stroke();
    ctx.fillText(`${v >= 0 ? "+" : ""}${v.toFixed(1)}%`, 4, y(v) + 4 * ratio);
  }
  ctx.lineWidth = 2 * ratio;
  for (const s of series.values()) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    const offset = KEEP - s.points.length;
    s.points.forEach((p, i) => {
      const px = x(i + offset);
      const py = y(((p - s.open) / s.open) * 100);
      if (i === 0) ctx.moveTo(px, py);
      else ctx.lineTo(px, py);
    });
    ctx.stroke();
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  ws.onopen = () => setStatus("live", "on");
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "hello") {
      $("#interval").textContent = msg.interval_ms;
      msg.history.forEach(apply);
      return;
    }
    if (msg.type !== "tick") return;
    apply(msg);
    updates += 1;
    $("#updates").textContent = updates;
    $("#age").textContent = Math.max(0, Date.now() - msg.t);
    const payload = new TextEncoder().encode(e.data).length;
    const header = payload <= 125 ? 2 : payload <= 65535 ? 4 : 10;
    $("#bytes").textContent = `${header} + ${payload}`;
  };
  ws.onclose = (e) => {
    setStatus(`closed (${e.code}); reconnecting`, "off");
    setTimeout(connect, 1000);
  };
}

connect();
requestAnimationFrame(draw);

// wirelab ticker: the server pushes a quote for every symbol several times a
// second over one WebSocket; this page only listens and draws.
"use strict";

const COLORS = ["#60a5fa", "#f472b6", "#facc15", "#4ade80", "#c084fc", "#fb923c"];
const KEEP = 300; // points per symbol on the chart
const series = new Map(); // symbol -> { color, open, points: [price] }
let updates = 0;
let deflate = false; // whether this page's WebSocket negotiated permessage-deflate
let dirty = false;
let intervalMs = 250; // the server's push interval, from its hello
let socket = null;
let lastSeq = 0; // the newest tick drawn
let hellos = 0; // connections greeted so far (1 + reconnects)

const $ = (sel) => document.querySelector(sel);

function setStatus(text, cls) {
  const el = $("#status");
  el.textContent = text;
  el.className = "status " + (cls || "");
}

function apply(tick) {
  if (tick.seq <= lastSeq) return;
  lastSeq = tick.seq;
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

// A grid step of 1, 2 or 5 times a power of ten, giving about `lines` lines.
function niceStep(range, lines) {
  const raw = range / lines;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

// Each line is the percentage change from the symbol's opening price, so
// symbols with very different prices share one axis. The newest point is at
// the right edge; the x axis counts seconds back from it.
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
  const step = niceStep(hi - lo, 6);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  // Counted in whole steps, so no float drift and no "-0.0%".
  for (let k = Math.ceil(lo / step); k * step <= hi; k++) {
    const v = k * step;
    ctx.beginPath();
    ctx.moveTo(pad, y(v));
    ctx.lineTo(w - pad, y(v));
    ctx.stroke();
    ctx.fillText(`${k > 0 ? "+" : ""}${k === 0 ? "0" : v.toFixed(decimals)}%`, 4, y(v) + 4 * ratio);
  }
  // The time axis: a tick every 15 s (or so), back from the newest point.
  const span = ((KEEP - 1) * intervalMs) / 1000;
  // About one label per 80 px, so they never overlap on a phone.
  const every = niceStep(span, Math.max(1, Math.min(5, (w - 2 * pad) / (80 * ratio))));
  ctx.textAlign = "center";
  for (let t = 0; t <= span; t += every) {
    const px = x(KEEP - 1 - (t * 1000) / intervalMs);
    ctx.beginPath();
    ctx.moveTo(px, h - pad);
    ctx.lineTo(px, h - pad + 5 * ratio);
    ctx.stroke();
    ctx.fillText(t === 0 ? "now" : `-${t} s`, px, h - pad + 18 * ratio);
  }
  ctx.textAlign = "start";
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
  socket = ws;
  ws.onopen = () => {
    setStatus("live", "on");
    deflate = /permessage-deflate/.test(ws.extensions);
    $("#ratio").textContent = deflate ? "negotiated; the first report comes within 5 s" : "not negotiated";
  };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "hello") {
      // A reconnect replays ticks we already have: skip those (by seq), or
      // the chart would draw them twice. A restarted server counts from 1
      // again: then its history replaces ours.
      hellos += 1;
      intervalMs = msg.interval_ms;
      $("#interval").textContent = msg.interval_ms;
      const newest = msg.history.length ? msg.history[msg.history.length - 1].seq : 0;
      if (newest < lastSeq) {
        series.clear();
        lastSeq = 0;
      }
      msg.history.forEach(apply);
      return;
    }
    if (msg.type === "wire") {
      // The server's size report for the last ticks (the browser inflated
      // them before this page saw them).
      if (deflate) {
        const pct = ((100 * msg.deflated) / msg.bytes).toFixed(0);
        $("#ratio").textContent = `${msg.deflated} B on the wire for ${msg.bytes} B of JSON over the last ${msg.ticks} ticks (${pct} %)`;
      }
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
    setStatus(`disconnected (${e.code}); reconnecting…`, "off");
    setTimeout(connect, 1000);
  };
}

connect();
requestAnimationFrame(draw);

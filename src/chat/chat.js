// wirelab chat: the same chat over three transports.
//
//  - WebSocket: one connection to /ws; the server pushes every event the
//    moment it happens (full duplex: we may send while it pushes).
//  - long polling: GET /api/chat/poll?since=N&wait=25 is held by the server
//    until an event newer than N exists (200) or 25 s pass (204), then we ask again.
//  - short polling: GET /api/chat/poll?since=N every second, answered at once.
//
// Every event has an id from one log on the server, so switching transport
// continues exactly where the last one stopped. The panel counts the bytes.
"use strict";

const $ = (sel) => document.querySelector(sel);
const utf8Length = (s) => new TextEncoder().encode(s).length;

// RFC 6455 §5.2: 7-bit length up to 125, then 16-bit, then 64-bit; a client
// adds a 4-byte masking key (§5.3).
function frameHeaderLength(payloadLength, masked) {
  const base = payloadLength <= 125 ? 2 : payloadLength <= 65535 ? 4 : 10;
  return base + (masked ? 4 : 0);
}

const state = {
  nick: "",
  transport: "websocket",
  lastId: 0,
  ws: null,
  pollTimer: null,
  pollAbort: null,
  active: null, // the transport running now
  generation: 0, // bumps on every transport switch; stale loops stop
  totals: { ws: { n: 0, h: 0, p: 0 }, http: { n: 0, h: 0, p: 0 } },
};

function setStatus(text, cls) {
  const el = $("#status");
  el.textContent = text;
  el.className = "status " + (cls || "");
}

// ---- rendering -----------------------------------------------------------

function timeOf(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function render(ev, fromHistory) {
  if (ev.id <= state.lastId) return; // already shown (history replay, transport switch)
  state.lastId = ev.id;
  const li = document.createElement("li");
  li.dataset.id = ev.id;
  if (fromHistory) li.classList.add("history");
  if (ev.type === "message") {
    li.classList.add("msg");
    if (ev.nick === state.nick) li.classList.add("me");
    const nick = document.createElement("span");
    nick.className = "nick";
    nick.textContent = ev.nick;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = ev.text;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = timeOf(ev.ts);
    li.append(nick, text, time);
  } else if (ev.type === "join" || ev.type === "leave") {
    li.classList.add("notice");
    const verb = ev.type === "join" ? "joined" : "left";
    li.textContent = `${ev.nick} ${verb} (${ev.online} online) · ${timeOf(ev.ts)}`;
  } else {
    return;
  }
  const list = $("#messages");
  list.append(li);
  while (list.children.length > 500) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}

function wire(kind, line, headerBytes, payloadBytes) {
  const t = state.totals[kind];
  t.n += 1;
  t.h += headerBytes;
  t.p += payloadBytes;
  const row = document.querySelector(`#totals tr[data-kind="${kind}"]`);
  row.querySelector(".n").textContent = t.n;
  row.querySelector(".h").textContent = t.h;
  row.querySelector(".p").textContent = t.p;
  const li = document.createElement("li");
  li.innerHTML = line;
  const log = $("#wire-log");
  log.prepend(li);
  while (log.children.length > 60) log.lastChild.remove();
}

const head = (n) => `<span class="head">${n} B head</span>`;
const body = (n) => `<span class="body">${n} B payload</span>`;

// ---- WebSocket -----------------------------------------------------------

function startWebSocket(gen) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws = ws;
  setStatus("connecting…");
  ws.onopen = () => {
    setStatus("WebSocket open", "on");
    wsSend({ type: "join", nick: state.nick, since: state.lastId });
  };
  ws.onmessage = (e) => {
    const bytes = utf8Length(e.data);
    const h = frameHeaderLength(bytes, false);
    let ev;
    try {
      ev = JSON.parse(e.data);
    } catch {
      return;
    }
    const sender = ev.frame ? ` [sent as ${ev.frame.header}+${ev.frame.payload} B]` : "";
    wire("ws", `&darr; frame ${ev.type}: ${head(h)} + ${body(bytes)}${sender}`, h, bytes);
    if (ev.type === "history") ev.events.forEach((x) => render(x, true));
    else render(ev, false);
  };
  ws.onclose = (e) => {
    if (gen !== state.generation) return;
    setStatus(`closed (${e.code}${e.reason ? " " + e.reason : ""}); reconnecting`, "off");
    setTimeout(() => gen === state.generation && startWebSocket(gen), 1000);
  };
}

function wsSend(obj) {
  const text = JSON.stringify(obj);
  const bytes = utf8Length(text);
  const h = frameHeaderLength(bytes, true);
  state.ws.send(text);
  wire("ws", `&uarr; frame ${obj.type}: ${head(h)} + ${body(bytes)} (masked)`, h, bytes);
}

// ---- HTTP polling --------------------------------------------------------

// One HTTP exchange, with its bytes counted: the server reports the request
// head it read and the response head it wrote (X-Request-Head-Bytes,
// X-Response-Head-Bytes); bodies are counted here.
async function http(method, url, json, signal) {
  const bodyText = json === undefined ? undefined : JSON.stringify(json);
  const res = await fetch(url, {
    method,
    body: bodyText,
    headers: bodyText ? { "Content-Type": "application/json" } : {},
    cache: "no-store",
    signal,
  });
  const text = await res.text();
  const reqHead = Number(res.headers.get("X-Request-Head-Bytes") || 0);
  const resHead = Number(res.headers.get("X-Response-Head-Bytes") || 0);
  const reqBody = bodyText ? utf8Length(bodyText) : 0;
  const resBody = utf8Length(text);
  wire(
    "http",
    `&#8645; ${method} ${url.replace(/^\/api\/chat/, "")} &rarr; ${res.status}: ` +
      `${head(reqHead + resHead)} + ${body(reqBody + resBody)}`,
    reqHead + resHead,
    reqBody + resBody,
  );
  return { status: res.status, data: text ? JSON.parse(text) : null };
}

async function pollLoop(gen, long) {
  setStatus(long ? "long polling" : "short polling", "on");
  while (gen === state.generation) {
    const controller = new AbortController();
    state.pollAbort = controller;
    try {
      const url = `/api/chat/poll?since=${state.lastId}` + (long ? "&wait=25" : "");
      const { status, data } = await http("GET", url, undefined, controller.signal);
      if (gen !== state.generation) return;
      if (status === 200) data.events.forEach((x) => render(x, false));
      setStatus(long ? "long polling" : "short polling", "on");
    } catch (err) {
      if (gen !== state.generation) return;
      setStatus("poll failed; retrying", "off");
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (!long) await new Promise((r) => (state.pollTimer = setTimeout(r, 1000)));
  }
}

// ---- switching -----------------------------------------------------------

function stopTransport() {
  state.generation += 1;
  // A polling page has no connection whose end the server could notice:
  // say goodbye explicitly (a WebSocket's leave is announced by the server).
  if (state.active === "long-poll" || state.active === "short-poll") {
    http("POST", "/api/chat/leave", { nick: state.nick }).catch(() => {});
  }
  state.active = null;
  if (state.ws) {
    state.ws.onclose = null;
    state.ws.close(1000, "switching transport");
    state.ws = null;
  }
  if (state.pollAbort) state.pollAbort.abort();
  clearTimeout(state.pollTimer);
}

async function startTransport() {
  stopTransport();
  const gen = state.generation;
  state.active = state.transport;
  if (state.transport === "websocket") {
    startWebSocket(gen);
  } else {
    try {
      const { data } = await http("POST", "/api/chat/join", { nick: state.nick, since: state.lastId });
      data.history.forEach((x) => render(x, true));
    } catch {
      setStatus("join failed", "off");
    }
    pollLoop(gen, state.transport === "long-poll");
  }
}

async function say(text) {
  if (state.transport === "websocket") {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    wsSend({ type: "say", text });
  } else {
    await http("POST", "/api/chat/say", { nick: state.nick, text });
  }
  return true;
}

// ---- wiring --------------------------------------------------------------

$("#join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const nick = $("#nick").value.trim();
  if (!nick) return;
  state.nick = nick;
  $("#join-view").hidden = true;
  $("#chat-view").hidden = false;
  $("#text").focus();
  startTransport();
});

$("#say-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("#text");
  const text = input.value.trim();
  if (!text) return;
  if (await say(text)) input.value = "";
});

document.querySelectorAll('input[name="transport"]').forEach((radio) =>
  radio.addEventListener("change", () => {
    state.transport = radio.value;
    if (state.nick) startTransport();
  }),
);

// Pollers have no connection whose end the server could notice: say goodbye.
window.addEventListener("pagehide", () => {
  if (state.nick && state.transport !== "websocket") {
    navigator.sendBeacon("/api/chat/leave", JSON.stringify({ nick: state.nick }));
  }
});

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
// A switch opens the new transport before closing the old one, so the
// server never sees this person leave. Ids start again at 1 when the server
// restarts: its "epoch" changes, and the page forgets the old ids.
//
// Identity: the first join under a nickname returns a session token. Every
// later join as the same person (another tab, another transport) sends it,
// and every message posted over HTTP carries it: without it the server
// refuses to let anyone speak under a nickname someone else is using. It is
// kept in localStorage per nickname, so this browser's other tabs share it.
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
  token: null, // the session token the server gave this person
  transport: "websocket",
  lastId: 0,
  epoch: null, // the server run the ids belong to
  ws: null,
  pollTimer: null,
  pollAbort: null,
  live: null, // the transport running now: { kind, ws, joined }
  generation: 0, // bumps on every transport switch; stale loops stop
  totals: { ws: { n: 0, h: 0, p: 0 }, http: { n: 0, h: 0, p: 0 } },
  // permessage-deflate (RFC 7692): whether this page's WebSocket negotiated
  // it, and what the server says it made of what it sent us.
  deflate: false,
  deflated: { n: 0, bytes: 0, wire: 0 },
};

function setStatus(text, cls) {
  const el = $("#status");
  el.textContent = text;
  el.className = "status " + (cls || "");
}

// A refusal or a failure, shown under the input (and read out: role=alert).
function showError(text) {
  const el = $("#error");
  el.textContent = text;
  el.hidden = !text;
}

// ---- rendering -----------------------------------------------------------

function timeOf(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// A name or a text typed by someone, isolated so that right-to-left text
// (or a stray direction mark) cannot reorder what is around it.
function typed(cls, text) {
  const el = document.createElement("bdi");
  el.className = cls;
  el.textContent = text; // text, never HTML
  return el;
}

function notice(text, cls) {
  const li = document.createElement("li");
  li.className = "notice " + (cls || "");
  li.textContent = text;
  append(li);
}

function append(li) {
  const list = $("#messages");
  // Follow the conversation, unless the reader has scrolled up to read.
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  while (list.children.length > 500) list.firstChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// Every answer says which run of the server it comes from. A new one means
// the ids started again at 1: forget ours, or every new event would look
// "already shown".
function noteEpoch(epoch) {
  if (epoch === undefined) return false;
  const restarted = state.epoch !== null && epoch !== state.epoch;
  if (restarted) {
    state.lastId = 0;
    notice("the server restarted: a new conversation begins (ids start again at 1)", "restart");
  }
  state.epoch = epoch;
  return restarted;
}

function render(ev, fromHistory) {
  if (ev.id <= state.lastId) return; // already shown (history replay, transport switch)
  state.lastId = ev.id;
  const li = document.createElement("li");
  li.dataset.id = ev.id;
  if (fromHistory) li.classList.add("history");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = timeOf(ev.ts);
  if (ev.type === "message") {
    li.classList.add("msg");
    if (ev.nick === state.nick) li.classList.add("me");
    const text = typed("text", ev.text);
    text.dir = "auto";
    li.append(typed("nick", ev.nick), " ", text, " ", time);
  } else if (ev.type === "join" || ev.type === "leave") {
    li.classList.add("notice");
    const verb = ev.type === "join" ? "joined" : "left";
    li.append(typed("nick", ev.nick), ` ${verb} (${ev.online} online) `, time);
  } else {
    return;
  }
  append(li);
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
  logLine(line);
}

// A line in the wire log, newest first.
function logLine(line) {
  const li = document.createElement("li");
  li.innerHTML = line; // built here from numbers and fixed words only
  const log = $("#wire-log");
  log.prepend(li);
  while (log.children.length > 60) log.lastChild.remove();
}

// The token is this browser's proof of being this person: shared by its
// tabs (same origin), never sent anywhere but to this server.
function rememberToken(token) {
  if (!token) return;
  state.token = token;
  try {
    localStorage.setItem(`wirelab-token:${state.nick}`, token);
  } catch {
    // storage disabled: this tab still knows it
  }
}

function knownToken() {
  if (state.token) return state.token;
  try {
    return localStorage.getItem(`wirelab-token:${state.nick}`);
  } catch {
    return null;
  }
}

// The compression line under the totals: negotiated or not, and the
// payload bytes of compressed messages before and after, as the server
// reported them.
function showDeflate() {
  const el = $("#deflate");
  const d = state.deflated;
  if (!state.deflate) {
    el.textContent = "permessage-deflate: not negotiated (every frame's payload is the message itself)";
  } else if (d.n === 0) {
    el.textContent = "permessage-deflate: negotiated; no compressed message received yet";
  } else {
    const ratio = ((100 * d.wire) / d.bytes).toFixed(0);
    el.textContent =
      `permessage-deflate: ${d.n} compressed messages received, ${d.bytes} B of JSON sent as ` +
      `${d.wire} B of payload (${ratio} %, ${(d.bytes / d.wire).toFixed(2)} : 1)`;
  }
  el.dataset.ratio = d.n ? (d.wire / d.bytes).toFixed(3) : "";
}

// A size note from the server: {"type":"wire","id":N|"of":"history","bytes":U,"deflated":C}.
function noteDeflated(ev) {
  const bytes = Number(ev.bytes);
  const wireBytes = Number(ev.deflated);
  const what = ev.of === "history" ? "history" : `message #${Number(ev.id)}`;
  if (!state.deflate) {
    logLine(`&nbsp;&nbsp;a size note for compressing pages (${what}); this page did not negotiate compression`);
    return;
  }
  state.deflated.n += 1;
  state.deflated.bytes += bytes;
  state.deflated.wire += wireBytes;
  logLine(
    `&nbsp;&nbsp;${what} was compressed: ${body(wireBytes)} on the wire for ${bytes} B of JSON ` +
      `(${((100 * wireBytes) / bytes).toFixed(0)} %)`,
  );
  showDeflate();
}

const head = (n) => `<span class="head">${n} B head</span>`;
const body = (n) => `<span class="body">${n} B payload</span>`;

// ---- WebSocket -----------------------------------------------------------

// Opens /ws and joins; `onJoined` runs once, when the history has arrived.
function startWebSocket(gen, onJoined) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws = ws;
  if (state.live) state.live.ws = ws;
  let joined = false;
  let refused = "";
  setStatus("connecting…");
  ws.onopen = () => {
    setStatus("WebSocket open", "on");
    state.deflate = /permessage-deflate/.test(ws.extensions);
    showDeflate();
    const join = { type: "join", nick: state.nick, since: state.lastId };
    if (state.epoch !== null) join.epoch = state.epoch;
    const token = knownToken();
    if (token) join.token = token;
    wsSend(join, ws); // this socket's, even if a switch replaced state.ws meanwhile
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
    const sender = ev.frame
      ? ` (${ev.nick === state.nick ? "your" : "its sender's"} frame to the server was ` +
        `${Number(ev.frame.header)} + ${Number(ev.frame.payload)} B${ev.frame.deflated === true ? ", compressed" : ""})`
      : "";
    const type = String(ev.type).replace(/[^a-z]/g, ""); // into innerHTML: letters only
    // Sizes after inflating: with compression the frame on the wire was
    // smaller, and a size note from the server follows.
    wire("ws", `&darr; frame ${type}: ${head(h)} + ${body(bytes)}${sender}`, h, bytes);
    if (ev.type === "wire") {
      noteDeflated(ev);
    } else if (ev.type === "error") {
      if (!joined) refused = ev.text;
      showError(`the server refused: ${ev.text}`);
    } else if (ev.type === "history") {
      rememberToken(ev.token);
      noteEpoch(ev.epoch);
      ev.events.forEach((x) => render(x, true));
      if (!joined) {
        joined = true;
        if (onJoined) onJoined();
        onJoined = null;
      }
    } else render(ev, false);
  };
  ws.onclose = (e) => {
    if (gen !== state.generation) return;
    if (refused) {
      // Refused at the door (1008): trying again would be refused again.
      setStatus(`refused (${e.code})`, "off");
      leaveChat(`could not join: ${refused}`);
      return;
    }
    const why = e.reason || CLOSE_CODES[e.code] || "";
    setStatus(`disconnected (${e.code}${why ? ": " + why : ""}); reconnecting…`, "off");
    setTimeout(() => gen === state.generation && startWebSocket(gen, onJoined), 1000);
  };
}

// What a close code means, when the close frame gave no reason (RFC 6455 §7.4.1).
const CLOSE_CODES = {
  1001: "the server is going away",
  1006: "connection lost, no close frame",
  1008: "policy violation",
  1009: "message too big",
  1011: "server error",
};

function wsSend(obj, ws = state.ws) {
  const text = JSON.stringify(obj);
  const bytes = utf8Length(text);
  const h = frameHeaderLength(bytes, true);
  ws.send(text);
  const type = String(obj.type).replace(/[^a-z]/g, ""); // into innerHTML: letters only
  wire("ws", `&uarr; frame ${type}: ${head(h)} + ${body(bytes)} (masked)`, h, bytes);
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
    `&#8645; ${method} ${url.replace(/^\/api\/chat/, "").replace(/&token=.*$/, "")} &rarr; ${res.status}: ` +
      `${head(reqHead + resHead)} + ${body(reqBody + resBody)}`,
    reqHead + resHead,
    reqBody + resBody,
  );
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (a proxy's error page, say): data stays null
  }
  return { status: res.status, data };
}

// POST /api/chat/join; renders what was missed. Throws if refused.
async function joinPolling() {
  const join = { nick: state.nick, since: state.lastId };
  if (state.epoch !== null) join.epoch = state.epoch;
  const token = knownToken();
  if (token) join.token = token;
  const { status, data } = await http("POST", "/api/chat/join", join);
  if (status !== 200) throw new Error((data && data.error) || `HTTP ${status}`);
  rememberToken(data.token);
  noteEpoch(data.epoch);
  data.history.forEach((x) => render(x, true));
}

async function pollLoop(gen, long) {
  const name = long ? "long polling" : "short polling";
  setStatus(name, "on");
  let rejoin = false;
  while (gen === state.generation) {
    const controller = new AbortController();
    state.pollAbort = controller;
    try {
      // After a failure the server may be a new one that never saw us join.
      if (rejoin) await joinPolling();
      rejoin = false;
      // token= tells the server this tab is still here (a silent one is forgotten).
      const url = `/api/chat/poll?since=${state.lastId}` + (long ? "&wait=25" : "") + `&token=${encodeURIComponent(state.token || "")}`;
      const { status, data } = await http("GET", url, undefined, controller.signal);
      if (gen !== state.generation) return;
      if (status === 200) {
        if (noteEpoch(data.epoch)) {
          rejoin = true; // a restarted server: join it, and get its history
          continue;
        }
        data.events.forEach((x) => render(x, false));
      } else if (status !== 204) {
        throw new Error(`HTTP ${status}${data && data.error ? ": " + data.error : ""}`);
      }
      setStatus(name, "on");
    } catch (err) {
      if (gen !== state.generation) return;
      rejoin = true;
      const why = err instanceof TypeError ? "server unreachable" : err.message;
      setStatus(`${name}: ${why}; retrying…`, "off");
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (!long) await new Promise((r) => (state.pollTimer = setTimeout(r, 1000)));
  }
}

// ---- switching -----------------------------------------------------------

// Ends a transport that has been replaced, once the new one has joined. A
// polling page has no connection whose end the server could notice: it says
// goodbye explicitly (a WebSocket's leave is announced by the server).
async function retire(old) {
  if (!old) return;
  const token = state.token; // the person's, whatever happens meanwhile
  // Replaced before it joined: what it was going to retire is ours to retire.
  retire(old.pred);
  old.pred = null;
  if (old.ws) {
    old.ws.close(1000, "switching transport");
  } else if (old.kind !== "websocket") {
    await old.joined.catch(() => {});
    http("POST", "/api/chat/leave", { token: state.token || token }).catch(() => {});
  }
}

// Stops the running transport from rendering or reconnecting, and returns
// it, still connected, for `retire`.
function detach() {
  state.generation += 1;
  const old = state.live;
  state.live = null;
  if (state.ws) {
    state.ws.onopen = null; // a socket still connecting must not join
    state.ws.onclose = null;
    state.ws.onmessage = null;
    state.ws = null;
  }
  if (state.pollAbort) state.pollAbort.abort();
  clearTimeout(state.pollTimer);
  return old;
}

function startTransport() {
  const old = detach();
  const gen = state.generation;
  const kind = state.transport;
  // `pred`: the transport to retire once this one has joined.
  const live = { kind, nick: state.nick, ws: null, joined: Promise.resolve(), pred: old };
  state.live = live;
  const retirePred = () => {
    retire(live.pred);
    live.pred = null;
  };
  if (kind === "websocket") {
    startWebSocket(gen, retirePred);
    return;
  }
  setStatus("joining…");
  const joined = joinPolling();
  live.joined = joined;
  joined.then(
    () => {
      retirePred();
      if (gen === state.generation) pollLoop(gen, kind === "long-poll");
    },
    (err) => {
      retirePred();
      if (gen !== state.generation) return;
      if (err instanceof TypeError) {
        pollLoop(gen, kind === "long-poll"); // unreachable: the loop retries and rejoins
      } else {
        setStatus("refused", "off");
        leaveChat(`could not join: ${err.message}`);
      }
    },
  );
}

// Back to the nickname form (a refused join), saying why.
function leaveChat(why) {
  retire(detach());
  state.nick = "";
  state.token = null;
  $("#chat-view").hidden = true;
  $("#join-view").hidden = false;
  $("#join-error").textContent = why;
  $("#join-error").hidden = false;
  $("#nick").focus();
}

async function say(text) {
  if (state.transport === "websocket") {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      showError("not connected: nothing sent (your text is still in the box)");
      return false;
    }
    wsSend({ type: "say", text });
    return true;
  }
  // A browser opens at most 6 HTTP/1.1 connections to one server, for all
  // its tabs together. Six tabs holding long polls take them all: this POST
  // then waits until one of those polls returns (up to 25 s). Say so.
  const slow = setTimeout(
    () =>
      showError(
        "still sending… the browser allows 6 HTTP connections per server, and long polls " +
          "(in this and other tabs) may hold them all; it goes out when one returns",
      ),
    2000,
  );
  try {
    const { status, data } = await http("POST", "/api/chat/say", { token: state.token, text });
    if (status === 201) {
      showError("");
      return true;
    }
    showError(`the server refused (${status}): ${(data && data.error) || "no reason given"}`);
  } catch {
    showError("server unreachable: nothing sent (your text is still in the box)");
  } finally {
    clearTimeout(slow);
  }
  return false;
}

// ---- wiring --------------------------------------------------------------

$("#join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const nick = $("#nick").value.trim();
  if (!nick) return;
  state.nick = nick;
  state.token = null; // knownToken() finds this person's, if this browser has it
  try {
    sessionStorage.setItem("wirelab-nick", nick); // offered again after a reload
  } catch {
    // storage disabled: fine
  }
  $("#join-error").hidden = true;
  $("#join-view").hidden = true;
  $("#chat-view").hidden = false;
  $("#text").focus();
  startTransport();
});

$("#say-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("#text");
  const text = input.value.trim();
  if (!text) {
    showError("type something first");
    return;
  }
  showError("");
  if (await say(text)) input.value = "";
  input.focus();
});

document.querySelectorAll('input[name="transport"]').forEach((radio) =>
  radio.addEventListener("change", () => {
    state.transport = radio.value;
    if (state.nick) startTransport();
  }),
);

// After a reload the browser may restore the radio buttons: believe them.
state.transport = document.querySelector('input[name="transport"]:checked').value;
try {
  $("#nick").value = $("#nick").value || sessionStorage.getItem("wirelab-nick") || "";
} catch {
  // storage disabled: fine
}

// Pollers have no connection whose end the server could notice: say goodbye.
// (Not sendBeacon: it cannot send Content-Type: application/json, which the
// server requires of every POST so that other sites' pages cannot post.)
window.addEventListener("pagehide", () => {
  if (state.nick && state.token && state.transport !== "websocket") {
    fetch("/api/chat/leave", {
      method: "POST",
      keepalive: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: state.token }),
    }).catch(() => {});
  }
});

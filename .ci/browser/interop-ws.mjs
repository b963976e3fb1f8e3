// Interoperability check: Node's `ws` client against examples/ws_echo.
//
//   node .ci/browser/interop-ws.mjs ws://127.0.0.1:PORT/
//
// Autobahn checks the server against the RFC; this checks it against a
// WebSocket implementation people actually use, with its default options:
// it offers permessage-deflate (RFC 7692), which ws_echo accepts, so every
// message of 1 KiB or more goes compressed both ways. Each check runs
// on its own connection with a deadline; the last line is
// "interop-ws: N passed, M failed" and the exit status is 1 if any failed.

import crypto from 'node:crypto';
import http from 'node:http';
import WebSocket from 'ws';

const url = process.argv[2];
if (!url) {
  console.error('usage: node interop-ws.mjs ws://127.0.0.1:PORT/');
  process.exit(2);
}
const DEADLINE_MS = 20_000;

function withDeadline(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function open(protocols, options = { perMessageDeflate: true }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} instead of 101`)));
  });
}

// The next message, or a rejection if the connection closes first.
function nextMessage(ws) {
  return new Promise((resolve, reject) => {
    const onMessage = (data, isBinary) => {
      ws.off('close', onClose);
      resolve({ data: Buffer.from(data), isBinary });
    };
    const onClose = (code, reason) => {
      ws.off('message', onMessage);
      reject(new Error(`closed ${code} ${reason} before a message`));
    };
    ws.once('message', onMessage);
    ws.once('close', onClose);
  });
}

function closed(ws) {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

const checks = {
  async 'binary messages of 0 B to 16 MiB come back unchanged'() {
    const ws = await open();
    for (const n of [0, 1, 125, 126, 65535, 65536, 16 << 20]) {
      const sent = crypto.randomBytes(n);
      ws.send(sent);
      const got = await nextMessage(ws);
      assert(got.isBinary && got.data.equals(sent), `binary message of ${n} bytes differs`);
    }
    ws.close(1000);
    await closed(ws);
  },

  async 'text messages of 0 B to 16 MiB come back unchanged'() {
    const ws = await open();
    for (const n of [0, 1, 125, 126, 65535, 65536, 16 << 20]) {
      // Two-byte characters, so most sizes cut nothing but cross every length boundary.
      const sent = 'é'.repeat(n >> 1) + (n & 1 ? 'x' : '');
      ws.send(sent);
      const got = await nextMessage(ws);
      assert(!got.isBinary && got.data.toString('utf8') === sent, `text message of ${n} bytes differs`);
    }
    ws.close(1000);
    await closed(ws);
  },

  async 'a message sent in fragments, with a code point cut between them, comes back whole'() {
    const ws = await open();
    const euro = Buffer.from('€');
    // ws sends a Buffer with binary: false as text frames, cut where we say.
    ws.send(Buffer.from([0x61, euro[0]]), { binary: false, fin: false });
    ws.send(euro.subarray(1, 2), { binary: false, fin: false });
    ws.send(Buffer.from([euro[2], 0x7a]), { binary: false, fin: true });
    const got = await nextMessage(ws);
    assert(!got.isBinary && got.data.toString('utf8') === 'a€z', `got ${got.data.toString()}`);
    ws.close(1000);
    await closed(ws);
  },

  async 'a ping is answered with a pong carrying its payload'() {
    const ws = await open();
    const pong = new Promise((resolve) => ws.once('pong', (data) => resolve(data.toString())));
    ws.ping('are you there?');
    assert((await pong) === 'are you there?', 'pong payload differs');
    ws.close(1000);
    await closed(ws);
  },

  async 'a close with a code and a reason is answered with the same code'() {
    const ws = await open();
    const done = closed(ws);
    ws.close(4001, 'done here');
    const { code } = await done;
    assert(code === 4001, `server answered ${code}`);
  },

  async 'permessage-deflate offered by the client is accepted'() {
    const ws = await open();
    assert(ws.extensions.startsWith('permessage-deflate'), `extensions ${JSON.stringify(ws.extensions)}`);
    ws.close(1000);
    await closed(ws);
  },

  async 'compressed text and binary messages of 0 B to 4 MiB come back unchanged'() {
    const ws = await open();
    assert(ws.extensions.startsWith('permessage-deflate'), 'not negotiated');
    const unit = '{"nick":"ada","text":"hello, compressed world","seq":12345}\n';
    for (const n of [0, 1, 125, 126, 1024, 65535, 65536, 1 << 20, 4 << 20]) {
      const text = unit.repeat(Math.ceil(n / unit.length) + 1).slice(0, n);
      ws.send(text);
      const got = await nextMessage(ws);
      assert(!got.isBinary && got.data.toString('utf8') === text, `text message of ${n} bytes differs`);
      const bytes = crypto.randomBytes(n);
      ws.send(bytes);
      const back = await nextMessage(ws);
      assert(back.isBinary && back.data.equals(bytes), `binary message of ${n} bytes differs`);
    }
    ws.close(1000);
    await closed(ws);
  },

  async 'without the offer, messages go uncompressed'() {
    const ws = await open(undefined, { perMessageDeflate: false });
    assert(ws.extensions === '', `extensions ${JSON.stringify(ws.extensions)}`);
    ws.send('x'.repeat(10000));
    const got = await nextMessage(ws);
    assert(got.data.length === 10000, 'echo differs');
    ws.close(1000);
    await closed(ws);
  },

  async 'a plain HTTP GET gets 426 with Upgrade: websocket'() {
    const target = new URL(url.replace(/^ws/, 'http'));
    const res = await new Promise((resolve, reject) => {
      http.get(target, resolve).on('error', reject);
    });
    res.resume();
    assert(res.statusCode === 426, `status ${res.statusCode}`);
    assert(res.headers.upgrade === 'websocket', `Upgrade: ${res.headers.upgrade}`);
  },
};

let passed = 0;
let failed = 0;
for (const [name, check] of Object.entries(checks)) {
  try {
    await withDeadline(check(), name);
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
console.log(`interop-ws: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

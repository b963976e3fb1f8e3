// Browser test: real headless Chromium (Debian's) against the chat and the
// ticker examples, through the pages our own HTTP server serves.
//
//   node chat-and-ticker.mjs http://127.0.0.1:CHAT_PORT http://127.0.0.1:TICKER_PORT OUT_DIR
//
// Checks, in order:
//   1. two chat tabs join over WebSocket; a line typed in one appears in the other;
//      Chromium negotiated permessage-deflate (ws.extensions), and the wire
//      panel shows the compression ratio the server reported;
//   2. typed HTML is shown as text, never run; right-to-left text stays inside
//      its message; a message the server refuses is answered on the page;
//   3. the second tab switches to long polling, then short polling, and still
//      receives what the first sends (the three transports side by side),
//      with no lost or repeated ids and no leave/join notices for the switch;
//   4. the ticker page receives pushed updates and its chart is drawn, and a
//      reconnect does not draw the replayed history twice; it shows its
//      stream's compression ratio;
//   5. a page of another origin (the ticker's) can neither open the chat's
//      WebSocket nor post to its API (same-origin policy on the server).
// Screenshots of each step go to OUT_DIR. Exits non-zero on the first failure.
import { chromium } from "playwright-core";
import { mkdirSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [chatUrl, tickerUrl, outDir] = process.argv.slice(2);
if (!chatUrl || !tickerUrl || !outDir) {
  console.error("usage: node chat-and-ticker.mjs CHAT_URL TICKER_URL OUT_DIR");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "wirelab-chromium-"));

// A fresh profile directory every run (Playwright passes it as --user-data-dir).
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1100, height: 700 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const step = (name) => console.log(`browser: ${name}`);
const TIMEOUT = 10_000;
let failed = false;

async function joinChat(page, nick) {
  await page.goto(chatUrl);
  await page.fill("#nick", nick);
  await page.click("#join");
  await page.waitForSelector("#chat-view:not([hidden])", { timeout: TIMEOUT });
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.click("#send");
}

async function sees(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#messages .text")].some((el) => el.textContent === t),
    text,
    { timeout: TIMEOUT },
  );
}

async function transport(page, value) {
  await page.check(`input[name="transport"][value="${value}"]`);
}

// The ids shown, in order: every one once, none skipped.
async function checkIds(page, who) {
  const ids = await page.evaluate(() => [...document.querySelectorAll("#messages li[data-id]")].map((li) => Number(li.dataset.id)));
  for (let i = 1; i < ids.length; i++) {
    if (ids[i] !== ids[i - 1] + 1) throw new Error(`${who} shows ids ${ids.join(",")}`);
  }
}

try {
  const alice = await context.newPage();
  const bob = await context.newPage();
  for (const p of [alice, bob]) {
    p.on("pageerror", (e) => {
      console.error(`page error: ${e.message}`);
      failed = true;
    });
  }

  step("two tabs join the chat over WebSocket");
  await joinChat(alice, "alice");
  await alice.waitForSelector("#status.on", { timeout: TIMEOUT });
  await joinChat(bob, "bob");
  await bob.waitForSelector("#status.on", { timeout: TIMEOUT });
  // alice sees bob arrive.
  await alice.waitForFunction(
    () => [...document.querySelectorAll("#messages .notice")].some((el) => el.textContent.startsWith("bob joined")),
    null,
    { timeout: TIMEOUT },
  );

  step("a message typed in one tab appears in the other");
  await say(alice, "hello from alice, over WebSocket");
  await sees(bob, "hello from alice, over WebSocket");
  await say(bob, "hi alice, bob here");
  await sees(alice, "hi alice, bob here");
  step("Chromium negotiated permessage-deflate and the wire panel shows the ratio");
  for (const [who, p] of [["alice", alice], ["bob", bob]]) {
    const extensions = await p.evaluate(() => state.ws.extensions);
    if (!/^permessage-deflate/.test(extensions)) throw new Error(`${who}: ws.extensions is "${extensions}"`);
    await p.waitForFunction(() => document.querySelector("#deflate").dataset.ratio !== "", null, { timeout: TIMEOUT });
    const ratio = Number(await p.evaluate(() => document.querySelector("#deflate").dataset.ratio));
    if (!(ratio > 0 && ratio < 1)) throw new Error(`${who}: compressed/uncompressed ratio ${ratio}`);
    const line = await p.textContent("#deflate");
    console.log(`browser: ${who}: Sec-WebSocket-Extensions: ${extensions}; ${line}`);
  }
  step("typed HTML stays text; RTL text stays in its message; a refusal is shown");
  const xss = `<img src=x onerror="window.pwned=1">`;
  await say(alice, xss);
  await sees(bob, xss);
  const imgs = await bob.evaluate(() => document.querySelectorAll("#messages img").length + (window.pwned || 0));
  if (imgs !== 0) throw new Error("typed HTML was rendered as HTML");
  await say(alice, "שלום 123");
  await sees(bob, "שלום 123");
  const isolated = await bob.evaluate(
    () => [...document.querySelectorAll("#messages .text")].every((el) => getComputedStyle(el).unicodeBidi === "isolate"),
  );
  if (!isolated) throw new Error("message text is not bidi-isolated");
  // A message only a raw client can send: the server refuses it, and says so.
  await alice.evaluate(() => state.ws.send(JSON.stringify({ type: "say", text: "x".repeat(2001) })));
  await alice.waitForFunction(() => /at most 2000/.test(document.querySelector("#error").textContent), null, {
    timeout: TIMEOUT,
  });

  const wsFrames = Number(await bob.textContent('#totals tr[data-kind="ws"] .n'));
  if (!(wsFrames >= 2)) throw new Error(`wire panel counted ${wsFrames} WebSocket frames`);
  await alice.screenshot({ path: join(outDir, "chat-alice.png") });
  await bob.screenshot({ path: join(outDir, "chat-bob.png") });

  step("bob switches to long polling and still receives");
  await transport(bob, "long-poll");
  await bob.waitForSelector("#status.on", { timeout: TIMEOUT });
  await say(alice, "this one reaches bob by long polling");
  await sees(bob, "this one reaches bob by long polling");
  await say(bob, "sent by POST from a long-polling tab");
  await sees(alice, "sent by POST from a long-polling tab");

  step("bob switches to short polling and still receives");
  await transport(bob, "short-poll");
  await say(alice, "and this one by short polling");
  await sees(bob, "and this one by short polling");
  const httpRequests = Number(await bob.textContent('#totals tr[data-kind="http"] .n'));
  if (!(httpRequests >= 2)) throw new Error(`wire panel counted ${httpRequests} HTTP requests`);

  step("bob switches back to WebSocket mid-conversation: nothing lost, nothing twice");
  await transport(bob, "websocket");
  await say(alice, "racing the switch");
  await bob.waitForSelector("#status.on", { timeout: TIMEOUT });
  await sees(bob, "racing the switch");
  await say(bob, "back on WebSocket");
  await sees(alice, "back on WebSocket");
  await checkIds(alice, "alice");
  await checkIds(bob, "bob");
  // A switch opens the new transport before closing the old: bob never left.
  const flaps = await alice.evaluate(
    () => [...document.querySelectorAll("#messages .notice")].filter((el) => /^bob (left|joined)/.test(el.textContent)).length,
  );
  if (flaps !== 1) throw new Error(`alice saw ${flaps} bob join/leave notices for one join and three switches`);
  await bob.screenshot({ path: join(outDir, "chat-bob-polling.png") });

  step("the ticker page receives pushed updates and draws its chart");
  const ticker = await context.newPage();
  ticker.on("pageerror", (e) => {
    console.error(`page error: ${e.message}`);
    failed = true;
  });
  await ticker.goto(tickerUrl);
  await ticker.waitForFunction(() => Number(document.querySelector("#updates").textContent) >= 10, null, {
    timeout: TIMEOUT,
  });
  const rows = await ticker.locator("#quotes tbody tr").count();
  if (rows < 2) throw new Error(`ticker table has ${rows} rows`);
  // The chart has been drawn: some canvas pixels are not background.
  const painted = await ticker.evaluate(() => {
    const c = document.querySelector("#chart");
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
    return n;
  });
  if (painted < 1000) throw new Error(`only ${painted} chart pixels drawn`);
  await ticker.screenshot({ path: join(outDir, "ticker.png") });
  // A reconnect replays the history: the chart must not hold it twice.
  const before = await ticker.evaluate(() => [...series.values()][0].points.length);
  await ticker.evaluate(() => socket.close());
  await ticker.waitForFunction(() => hellos >= 2, null, { timeout: TIMEOUT });
  const after = await ticker.evaluate(() => [...series.values()][0].points.length);
  if (after > before + 10 || after < before) throw new Error(`chart had ${before} points, ${after} after a reconnect`);
  console.log(`browser: ticker painted ${painted} pixels, ${rows} symbols`);
  // The ticker's stream ratio, from the server's size note (every 20 ticks).
  await ticker.waitForFunction(() => /%\)$/.test(document.querySelector("#ratio").textContent), null, {
    timeout: TIMEOUT,
  });
  console.log(`browser: ticker compression: ${await ticker.textContent("#ratio")}`);

  step("a page of another site cannot open the chat's WebSocket nor post to its API");
  // The ticker's page is another origin (another port). From it, the chat's
  // /ws must be refused (403, so the browser reports an error and a close
  // without a connection), and a "simple" cross-site POST (text/plain, no
  // preflight) must not be accepted: alice never sees it.
  const wsUrl = chatUrl.replace(/^http/, "ws") + "/ws";
  const hijack = await ticker.evaluate(
    (url) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve("open");
        ws.onclose = (e) => resolve(`closed ${e.code}`);
      }),
    wsUrl,
  );
  if (hijack === "open") throw new Error("another site's page opened the chat's WebSocket");
  await ticker.evaluate(
    (url) =>
      fetch(url + "/api/chat/say", {
        method: "POST",
        mode: "no-cors",
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify({ nick: "alice", text: "forged from another site" }),
      }).catch(() => {}),
    chatUrl,
  );
  await say(alice, "still only me");
  await sees(bob, "still only me");
  const forged = await bob.evaluate(() =>
    [...document.querySelectorAll("#messages .text")].some((el) => el.textContent === "forged from another site"),
  );
  if (forged) throw new Error("a cross-site POST was shown as alice's message");
  console.log(`browser: cross-site WebSocket ${hijack}; cross-site POST refused`);
} catch (e) {
  console.error(`browser test failed: ${e.message}`);
  failed = true;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

if (failed) process.exit(1);
console.log(`browser: all checks passed; screenshots in ${outDir}`);

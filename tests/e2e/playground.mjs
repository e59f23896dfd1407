// End-to-end scenarios of the browser playground in a real headless Chromium.
//
//   DOCKHAND_URL=http://127.0.0.1:PORT node playground.mjs [e2e|bench|hosts|sizes|nodegone]
//
// Started by tests/tests/playground_e2e.rs, which runs `dockhand serve` first
// (hosts and nodegone also by tests/tests/gateway.rs, through a gateway).
// e2e: the issue's scenarios, with screenshots in E2E_ARTIFACTS (default
// target/e2e-artifacts). bench: click-to-prompt and keystroke echo round trip.
// nodegone: prints a READY line, then expects the page to say that the
// session's node is unavailable (the test kills it).
// Prints one line per step; exits 1 on the first failure (after a screenshot).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROMPT, sleep, startSession as start, steps, settings, term, waitTerm, withBrowser } from "./common.mjs";

const { base, mode, artifacts } = settings();


// Records every WebSocket the app opens, and times keystroke echoes on the
// terminal sockets: from a binary send to the next binary message.
function instrument() {
  const Orig = window.WebSocket;
  window.__sockets = [];
  window.__probe = { armed: false, start: 0, samples: [] };
  function Patched(url, protocols) {
    const ws = protocols === undefined ? new Orig(url) : new Orig(url, protocols);
    window.__sockets.push(ws);
    if (String(url).includes("/terminals/")) {
      const send = ws.send.bind(ws);
      ws.send = (data) => {
        const p = window.__probe;
        if (p.armed && typeof data !== "string") {
          p.armed = false;
          p.start = performance.now();
        }
        return send(data);
      };
      ws.addEventListener("message", (e) => {
        const p = window.__probe;
        if (p.start && typeof e.data !== "string") {
          p.samples.push(performance.now() - p.start);
          p.start = 0;
        }
      });
    }
    return ws;
  }
  Patched.prototype = Orig.prototype;
  Object.assign(Patched, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Patched;
}

async function newContext(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.addInitScript(instrument);
  return ctx;
}

const lines = (text) => text.split("\n").map((l) => l.trimEnd());
const count = (text, line) => lines(text).filter((l) => l === line).length;

/** Bring a terminal to the front (its instance, then its tab) and focus it. */
async function focusTerm(page, node, tab) {
  await page.click(`[data-testid=instance-${node}]`);
  await page.click(`[data-testid=tab-${node}-${tab}]`);
  await page.click(`[data-testid=terminal-${node}-${tab}]`);
}

async function typeLine(page, node, tab, line) {
  await focusTerm(page, node, tab);
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
}

/** Run `cmd` in a terminal and wait for `marker` on a line of its own after it. */
async function run(page, node, tab, cmd, marker, timeout = 30000) {
  await waitTerm(page, node, tab, (t) => PROMPT.test(t), "a prompt", timeout);
  const before = count((await term(page, node, tab)) || "", marker);
  await typeLine(page, node, tab, cmd);
  return waitTerm(page, node, tab, (t) => count(t, marker) > before && PROMPT.test(t), JSON.stringify(marker), timeout);
}

const startSession = (page) => start(page, base);
const checker = steps(artifacts, "failed");
const check = (page, name, fn) => checker.check(page, name, fn);

const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`) });

async function e2e(browser) {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));

  await check(page, "landing page, start a session, prompt in node1", async () => {
    await page.goto(base + "/");
    await page.waitForSelector("[data-testid=start-button]:not([disabled])");
    await shot(page, "01-landing");
    await page.click("[data-testid=start-button]");
    await page.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
    const text = await waitTerm(page, "node1", 1, (t) => PROMPT.test(t), "the first prompt");
    if (!text.includes("[node1] (local) root")) throw new Error(`unexpected prompt: ${text}`);
    // The hint names only what this instance can run (no nginx here).
    const hint = await page.textContent("[data-testid=first-run-hint]");
    if (!hint.includes("busybox") || hint.includes("nginx")) throw new Error(`hint: ${hint}`);
  });

  await check(page, "docker run --rm busybox echo hello-from-browser", async () => {
    await run(page, "node1", 1, "docker run --rm busybox echo hello-from-browser", "hello-from-browser");
    await shot(page, "02-session-hello");
  });

  let portPage;
  await check(page, "a published port opens through its link", async () => {
    await run(
      page,
      "node1",
      1,
      "mkdir -p /www && echo hi-from-port > /www/index.html && docker run -d --name web -p 8080:80 -v /www:/www busybox httpd -f -p 80 -h /www && echo started-web",
      "started-web",
    );
    const link = page.locator("[data-testid=port-link]").first();
    await link.waitFor({ timeout: 15000 });
    const href = await link.getAttribute("href");
    if (!/^\/s\/[^/]+\/node1\/8080\/$/.test(href)) throw new Error(`port link ${href}`);
    await page.waitForSelector("[data-testid=container-row][data-name=web][data-state=running]");
    await shot(page, "03-port-link");
    const [popup] = await Promise.all([ctx.waitForEvent("page"), link.click()]);
    portPage = popup;
    await popup.waitForLoadState();
    const end = Date.now() + 15000;
    let body = "";
    while (Date.now() < end) {
      body = await popup.textContent("body").catch(() => "");
      if (body.includes("hi-from-port")) break;
      await sleep(200);
      await popup.reload().catch(() => {});
    }
    if (!body.includes("hi-from-port")) throw new Error(`port page shows: ${body}`);
    await shot(popup, "04-port-page");
    await popup.close();
  });

  await check(page, "a second tab in node1 sees the first tab's container", async () => {
    await page.click("[data-testid=tab-add]");
    await page.waitForSelector("[data-testid=terminal-node1-2][data-state=live]", { timeout: 30000 });
    const text = await run(page, "node1", 2, "docker ps --format '{{.Names}} {{.Status}}' && echo listed", "listed");
    if (!lines(text).some((l) => /^web Up/.test(l))) throw new Error(`docker ps in tab 2:\n${text}`);
    await shot(page, "05-second-tab");
  });

  await check(page, "node2 pings node1", async () => {
    await page.click("[data-testid=add-instance]");
    await page.waitForSelector("[data-testid=instance-node2]", { timeout: 30000 });
    await page.click("[data-testid=instance-node2]");
    await page.waitForSelector("[data-testid=terminal-node2-1][data-state=live]", { timeout: 30000 });
    const text = await run(page, "node2", 1, "ping -c1 -W3 node1 && echo ping-ok", "ping-ok");
    if (!text.includes("1 packets received")) throw new Error(`ping:\n${text}`);
    await shot(page, "06-node2-ping");
    await page.click("[data-testid=instance-node1]");
  });

  await check(page, "another session does not see the first session's containers", async () => {
    const other = await newContext(browser);
    const p2 = await other.newPage();
    await startSession(p2);
    const text = await run(p2, "node1", 1, "docker ps -a --format 'name={{.Names}}' && echo other-listed", "other-listed");
    if (text.includes("name=web")) throw new Error(`the other session sees web:\n${text}`);
    if ((await p2.locator("[data-testid=container-row]").count()) !== 0) {
      throw new Error("the other session's panel lists containers");
    }
    // Its port link path with the first session's id is refused without its cookie.
    const href = await page.locator("[data-testid=port-link]").first().getAttribute("href");
    const resp = await p2.request.get(base + href);
    if (resp.status() !== 401) throw new Error(`another session's port link answered ${resp.status()}`);
    await shot(p2, "07-other-session");
    await other.close();
  });

  await check(page, "the share link opens the same session in another browser", async () => {
    const share = await page.inputValue("[data-testid=share-link]");
    if (!/\/#\/s\/[^/]+\/[^/]+$/.test(share)) throw new Error(`share link ${share}`);
    const viewer = await newContext(browser);
    const p3 = await viewer.newPage();
    await p3.goto(share);
    await p3.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
    await waitTerm(p3, "node1", 1, (t) => count(t, "hello-from-browser") === 1, "the shared screen");
    await p3.waitForSelector("[data-testid=container-row][data-name=web]");
    await viewer.close();
  });

  await check(page, "a file dropped on a terminal lands in its shell's working directory", async () => {
    await run(page, "node1", 1, "mkdir -p /tmp/up && cd /tmp/up && echo in-up", "in-up");
    const dt = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["dropped-content\n"], "dropped.txt", { type: "text/plain" }));
      return dt;
    });
    await page.dispatchEvent("[data-testid=terminal-node1-1]", "drop", { dataTransfer: dt });
    await page.waitForSelector("[data-testid=notice]", { timeout: 15000 });
    await run(page, "node1", 1, "cat /tmp/up/dropped.txt && cd /root", "dropped-content");
    await shot(page, "08-upload");
  });

  await check(page, "a dropped terminal socket recovers without repeating or losing output", async () => {
    await waitTerm(page, "node1", 1, (t) => PROMPT.test(t), "a prompt");
    // Output that arrives while the socket is down.
    await typeLine(page, "node1", 1, "sleep 1; seq 100 130; echo seq-done");
    await sleep(150);
    const closed = await page.evaluate(() => {
      const live = window.__sockets.filter((s) => s.url.includes("/instances/node1/terminals/1") && s.readyState === 1);
      live.forEach((s) => s.close(4000, "test drop"));
      return live.length;
    });
    if (closed !== 1) throw new Error(`expected one live socket for node1 tab 1, found ${closed}`);
    const text = await waitTerm(page, "node1", 1, (t) => count(t, "seq-done") === 1 && PROMPT.test(t), "seq-done after the reconnect");
    await page.waitForSelector("[data-testid=terminal-node1-1][data-state=live]");
    for (let n = 100; n <= 130; n++) {
      if (count(text, String(n)) !== 1) throw new Error(`line ${n} appears ${count(text, String(n))} times:\n${text}`);
    }
    if (count(text, "hello-from-browser") !== 1) throw new Error(`hello-from-browser repeated:\n${text}`);
    // Typing works on the new socket.
    await run(page, "node1", 1, "echo after-reconnect", "after-reconnect");
    await shot(page, "09-after-reconnect");
  });

  await check(page, "a reload replays the whole screen once", async () => {
    await page.reload();
    await page.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
    const text = await waitTerm(page, "node1", 1, (t) => count(t, "after-reconnect") === 1 && PROMPT.test(t), "the replayed screen");
    if (count(text, "115") !== 1 || count(text, "hello-from-browser") !== 1) {
      throw new Error(`replay after reload:\n${text}`);
    }
  });

  await check(page, "a reload while a loop prints loses no line and types nothing", async () => {
    await waitTerm(page, "node1", 1, (t) => PROMPT.test(t), "a prompt");
    await typeLine(page, "node1", 1, "for i in $(seq 1 150); do echo loop-$i; sleep 0.01; done; echo loop-done");
    await waitTerm(page, "node1", 1, (t) => count(t, "loop-20") === 1, "loop-20");
    await page.reload();
    await page.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
    const text = await waitTerm(page, "node1", 1, (t) => count(t, "loop-done") === 1 && PROMPT.test(t), "loop-done after the reload");
    for (let n = 1; n <= 150; n++) {
      if (count(text, `loop-${n}`) !== 1) throw new Error(`loop-${n} appears ${count(text, `loop-${n}`)} times:\n${text}`);
    }
    // The replayed prompts asked for the cursor position; had the new terminal
    // answered, "^[[7;3R" would now sit in the shell's input line.
    const after = await run(page, "node1", 1, "echo typed-$((6*7))", "typed-42");
    if (/\d+;\d+R/.test(after)) throw new Error(`an answer to a cursor query was typed:\n${after}`);
    await shot(page, "11-reload-during-output");
  });

  await check(page, "vi edits a file and top draws its screen, both full-screen", async () => {
    // Last before the end: top clears the screen, and the steps above count
    // what is on it.
    await waitTerm(page, "node1", 1, (t) => PROMPT.test(t), "a prompt");
    await typeLine(page, "node1", 1, "vi /tmp/vi.txt");
    // vi's empty-buffer screen: a column of tildes and the file's name.
    await waitTerm(page, "node1", 1, (t) => count(t, "~") >= 10 && t.includes("/tmp/vi.txt"), "vi's screen", 10000);
    await page.keyboard.type("ihello-from-vi");
    await page.keyboard.press("Escape");
    // A person's pause: an Escape followed at once by more keys reads as
    // the start of an escape sequence, in vi as in any terminal program.
    await sleep(300);
    await page.keyboard.type(":wq");
    await page.keyboard.press("Enter");
    await waitTerm(page, "node1", 1, (t) => PROMPT.test(t) && count(t, "~") === 0, "vi to leave its screen", 10000);
    await run(page, "node1", 1, "cat /tmp/vi.txt", "hello-from-vi");
    await typeLine(page, "node1", 1, "top");
    // top's screen: its header lines and a process table.
    const topScreen = await waitTerm(
      page,
      "node1",
      1,
      (t) => /\nMem: .*\nCPU: .*\nLoad average: .*\n\s*PID\s+PPID\s+USER.*\n(.*\n)*\s*\d+\s+\d+\s+root\s+R\s.*\btop$/m.test(t),
      "top's screen",
      10000,
    );
    await shot(page, "08b-top");
    if (/\^\[|\x1b/.test(topScreen)) throw new Error(`escape codes on top's screen:\n${topScreen}`);
    await page.keyboard.press("q");
    // busybox top leaves its last screen in place, as on any busybox machine.
    await waitTerm(page, "node1", 1, (t) => PROMPT.test(t), "top to quit", 10000);
  });

  await check(page, "the shell's history and tab completion work", async () => {
    await run(page, "node1", 1, "echo hist-$((2+3))", "hist-5");
    await focusTerm(page, "node1", 1);
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("Enter");
    await waitTerm(page, "node1", 1, (t) => count(t, "hist-5") === 2 && PROMPT.test(t), "the recalled command", 10000);
    await page.keyboard.type("ech");
    await page.keyboard.press("Tab");
    await page.keyboard.type(" comp-$((3+4))");
    await page.keyboard.press("Enter");
    await waitTerm(page, "node1", 1, (t) => count(t, "comp-7") === 1 && PROMPT.test(t), "the completed command", 10000);
  });

  await check(page, "the session ends from the UI and its sockets close", async () => {
    page.once("dialog", (d) => d.accept());
    await page.click("[data-testid=close-session]");
    await page.waitForSelector("[data-testid=session-closed]", { timeout: 30000 });
    await shot(page, "10-closed");
  });
  if (portPage) await portPage.close().catch(() => {});
  await ctx.close();
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: q(0.5), p99: q(0.99), min: s[0], max: s[s.length - 1] };
}

async function deleteSession(page) {
  await page.evaluate(async () => {
    const m = location.hash.match(/^#\/s\/([^/]+)\/([^/]+)/);
    if (m) await fetch(`/api/sessions/${m[1]}`, { method: "DELETE", headers: { "X-Dockhand-Token": m[2] } });
  });
}

// A web app as real ones are (tests/e2e/app: a shell script behind `nc -ll
// -e`): a stylesheet and a fetch at absolute paths, a cookie with Path=/, a
// redirect and a Refresh header to absolute paths, and a WebSocket to /ws.
// The server runs with --port-domain localhost: the app works fully at its own
// host name, and in path mode as far as rewriting allows (everything but the
// WebSocket, which the browser opens without a Referer, and the cookie on
// requests outside the prefix).
async function hosts(browser) {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  await check(page, "start a session, prompt in node1", async () => {
    await page.goto(base + "/");
    await page.waitForSelector("[data-testid=start-button]:not([disabled])");
    await page.click("[data-testid=start-button]");
    await waitTerm(page, "node1", 1, (t) => PROMPT.test(t), "the first prompt");
  });
  await check(page, "the UI says port links are host names", async () => {
    await page.waitForSelector("[data-testid=port-mode][data-mode=host]", { timeout: 15000 });
  });
  await check(page, "the app is uploaded and runs on port 8080", async () => {
    // Markers the shell computes, so the typed line does not hold them.
    await run(page, "node1", 1, "mkdir -p /app && cd /app && echo in-app-$((6*7))", "in-app-42");
    for (const name of ["srv.sh", "index.html"]) {
      const text = readFileSync(new URL(`./app/${name}`, import.meta.url), "utf8");
      const status = await page.evaluate(
        async ([name, text]) => {
          const m = location.hash.match(/^#\/s\/([^/]+)\/([^/]+)/);
          const r = await fetch(`/api/sessions/${m[1]}/instances/node1/upload?terminal=1&tar=0&name=${name}`, {
            method: "POST",
            headers: { "X-Dockhand-Token": m[2] },
            body: text,
          });
          return r.status;
        },
        [name, text],
      );
      if (status !== 200) throw new Error(`upload of ${name}: ${status}`);
    }
    await run(
      page,
      "node1",
      1,
      "chmod +x srv.sh && docker run -d --name app -p 8080:80 -v /app:/app busybox nc -ll -p 80 -e /app/srv.sh && echo app-$((6*7))",
      "app-42",
    );
    await page.waitForSelector("[data-testid=container-row][data-name=app][data-state=running]");
  });
  const expectApp = async (p, what) => {
    const end = Date.now() + 15000;
    let got = {};
    while (Date.now() < end) {
      got = await p
        .evaluate(() => ({
          f: document.getElementById("f")?.textContent,
          w: document.getElementById("w")?.textContent,
          color: document.getElementById("t") && getComputedStyle(document.getElementById("t")).color,
          cookie: document.cookie,
        }))
        .catch(() => ({}));
      if (what(got)) return got;
      await sleep(200);
    }
    throw new Error(`the app page shows ${JSON.stringify(got)}`);
  };
  const landsAt = async (p, url, want) => {
    await p.goto(url);
    await p.waitForURL((u) => u.pathname.endsWith(want), { timeout: 10000 });
    await p.waitForSelector("#l", { timeout: 10000 });
  };
  let hostOrigin = "";
  await check(page, "host-name mode: fetch, cookie, stylesheet, WebSocket, redirect, Refresh", async () => {
    const link = page.locator("[data-testid=port-link]").first();
    await link.waitFor({ timeout: 15000 });
    const href = await link.getAttribute("href");
    if (!/^http:\/\/node1-8080-[a-z0-9]+\.localhost:\d+\/\?dh_port_key=[0-9a-f]{32}$/.test(href)) {
      throw new Error(`port link ${href}`);
    }
    const [popup] = await Promise.all([ctx.waitForEvent("page"), link.click()]);
    await popup.waitForLoadState();
    const url = new URL(popup.url());
    if (url.search.includes("dh_port_key")) throw new Error(`the key stayed in ${popup.url()}`);
    hostOrigin = url.origin;
    await expectApp(
      popup,
      (g) => g.f === "api-ok cookie=[sess=abc]" && g.w === "ws-ok" && g.color === "rgb(1, 2, 3)",
    );
    await shot(popup, "hosts-app");
    await landsAt(popup, hostOrigin + "/go", "/landed");
    await landsAt(popup, hostOrigin + "/refresh", "/landed");
    await popup.close();
  });
  await check(page, "path mode: fetch, cookie, stylesheet, redirect, Refresh under the prefix", async () => {
    const prefix = await page.evaluate(() => {
      const m = location.hash.match(/^#\/s\/([^/]+)/);
      return `/s/${m[1]}/node1/8080`;
    });
    const p = await ctx.newPage();
    await p.goto(base + prefix + "/");
    // The cookie's Path is the prefix: the page sees it, the absolute fetch
    // (mapped by its Referer) is outside it and goes without.
    await expectApp(
      p,
      (g) => g.f === "api-ok cookie=[]" && g.color === "rgb(1, 2, 3)" && g.cookie.includes("sess=abc"),
    );
    await shot(p, "path-app");
    await landsAt(p, base + prefix + "/go", prefix + "/landed");
    await landsAt(p, base + prefix + "/refresh", prefix + "/landed");
    await p.close();
  });
  console.log(`hosts: all ${checker.count()} steps passed`);
}

// Behind a gateway (tests/tests/gateway.rs): the session's node dies while
// its page is open; the page says so instead of "no longer exists". (The
// terminals under it stop when the session's socket closes; one that learns
// first shows the same reason, which term_link's unit tests check.)
async function nodeGone(browser) {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  await check(page, "start a session, prompt in node1", () => startSession(page));
  // The test kills the node when it reads this line.
  console.log("READY: kill the node now");
  await check(page, "the page says the session's node is unavailable", async () => {
    const closed = page.locator("[data-testid=session-closed]");
    await closed.waitFor({ timeout: 45000 });
    const text = await closed.innerText();
    if (!text.includes("node is unavailable")) throw new Error(`the page says: ${text}`);
    await shot(page, "node-gone");
  });
  console.log(`nodegone: all ${checker.count()} steps passed`);
}

// Issue "the playground at every size": the terminal's columns at a phone's, half a
// laptop's, a laptop's and a desktop's width, the panels and instance list
// reachable at each, presenter mode and the themes, font size keys, screen-reader
// mode, labels on every control, a keyboard-only session, copy and multi-line paste.
const SIZES = [
  { width: 390, height: 844, minCols: 40, phone: true },
  { width: 640, height: 800, minCols: 75 },
  { width: 1280, height: 800, minCols: 100 },
  { width: 1920, height: 1080, minCols: 100 },
];

/** The terminal's size as the shell sees it: [rows, cols]. */
async function sttySize(page, node, tab) {
  const before = ((await term(page, node, tab)) || "").match(/^size=\d+x\d+$/gm)?.length || 0;
  await typeLine(page, node, tab, "echo size=$(stty size | tr ' ' x)");
  const text = await waitTerm(
    page,
    node,
    tab,
    (t) => (t.match(/^size=\d+x\d+$/gm)?.length || 0) > before && PROMPT.test(t),
    "stty size",
  );
  const all = text.match(/^size=(\d+)x(\d+)$/gm);
  const [, rows, cols] = all[all.length - 1].match(/^size=(\d+)x(\d+)$/);
  return [Number(rows), Number(cols)];
}

/** The focus is in a terminal (xterm's hidden textarea). */
const inTerminal = (page) => page.evaluate(() => !!document.activeElement?.closest(".term"));

/** Press Tab (or Shift+Tab) until the focused element matches `selector`; in a
 *  terminal, Escape first, as the terminal asks. */
async function tabTo(page, selector, shift = false, limit = 60) {
  for (let i = 0; i < limit; i++) {
    if (await page.evaluate((sel) => !!document.activeElement?.matches(sel), selector)) return;
    if (await inTerminal(page)) await page.keyboard.press("Escape");
    await page.keyboard.press(shift ? "Shift+Tab" : "Tab");
  }
  const at = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120));
  throw new Error(`Tab never reached ${selector}; focus is on ${at}`);
}


/** Open the view menu ("Aa") unless it is open. */
async function openView(page) {
  if (!(await page.evaluate(() => document.querySelector("[data-testid=view-menu]")?.open))) {
    await page.click("[data-testid=view-menu-button]");
  }
}

async function box(page, selector) {
  const b = await page.locator(selector).first().boundingBox();
  if (!b) throw new Error(`${selector} is not visible`);
  return b;
}

async function sizes(browser) {
  const ctx = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  await ctx.addInitScript(instrument);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));

  await check(page, "keyboard only: start a session, type, leave the terminal, add and switch instances", async () => {
    await page.goto(base + "/");
    await page.waitForSelector("[data-testid=start-button]:not([disabled])");
    await tabTo(page, "[data-testid=start-button]");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    if (outline === "none") throw new Error("the focused start button shows no focus ring");
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
    await waitTerm(page, "node1", 1, (t) => PROMPT.test(t), "the first prompt");
    if (!(await inTerminal(page))) throw new Error("the new session's terminal does not have the keyboard");
    await page.keyboard.type("echo kb-$((2+3))");
    await page.keyboard.press("Enter");
    await waitTerm(page, "node1", 1, (t) => count(t, "kb-5") === 1 && PROMPT.test(t), "kb-5");
    // A plain Tab stays in the shell (completion); Escape then Tab leaves.
    await page.keyboard.press("Tab");
    if (!(await inTerminal(page))) throw new Error("a plain Tab left the terminal");
    await page.keyboard.press("Escape");
    await page.keyboard.press("Tab");
    if (await inTerminal(page)) throw new Error("Escape, Tab did not leave the terminal");
    await tabTo(page, "[data-testid=add-instance]", true);
    await shot(page, "kb-focus-add");
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=terminal-node2-1][data-state=live]", { timeout: 30000 });
    await waitTerm(page, "node2", 1, (t) => PROMPT.test(t), "node2's prompt");
    await page.waitForFunction(() => !!document.activeElement?.closest("[data-testid=terminal-node2-1]"), null, { timeout: 5000 });
    await page.keyboard.press("Escape");
    await page.keyboard.press("Shift+Tab");
    await tabTo(page, "[data-testid=instance-node1] .instance-main", true);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => !!document.activeElement?.closest("[data-testid=terminal-node1-1]"), null, { timeout: 5000 });
    await page.keyboard.type("echo back-$((3+4))");
    await page.keyboard.press("Enter");
    await waitTerm(page, "node1", 1, (t) => count(t, "back-7") === 1 && PROMPT.test(t), "back-7 in node1");
    if (count((await term(page, "node2", 1)) || "", "back-7") !== 0) throw new Error("node2 got node1's command");
  });

  await check(page, "every control has a name a screen reader can say", async () => {
    const nameless = await page.evaluate(() =>
      [...document.querySelectorAll("button, a[href], input, summary, select, textarea:not(.xterm-helper-textarea)")]
        .filter((el) => {
          const label = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.title;
          const text = el.textContent.trim();
          const labelled = el.labels && el.labels.length > 0;
          return !(label || text || labelled);
        })
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    if (nameless.length) throw new Error(`controls without a name:\n${nameless.join("\n")}`);
  });

  const share = await page.inputValue("[data-testid=share-link]");
  await run(page, "node1", 1, "docker run -d --name web -p 8080:80 busybox httpd -f -p 80 && echo web-up", "web-up");

  await check(page, "copy a line and paste three lines: each runs once, nothing stray", async () => {
    await run(page, "node1", 1, "clear; echo copyme-$((5*5))", "copyme-25");
    const t = await box(page, "[data-testid=terminal-node1-1] .xterm-screen");
    const rows = Number(await page.evaluate(() => document.querySelector("[data-testid=terminal-node1-1] .xterm-rows")?.children.length || 0));
    const rowHeight = t.height / rows;
    await page.mouse.click(t.x + 20, t.y + rowHeight / 2, { clickCount: 3 });
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied.trim() !== "copyme-25") throw new Error(`the clipboard holds ${JSON.stringify(copied)}`);
    await page.evaluate(() => navigator.clipboard.writeText("echo p1-$((1+1))\necho p2-$((2+2))\necho p3-$((3+3))\n"));
    await focusTerm(page, "node1", 1);
    await page.keyboard.press("Control+Shift+V");
    const text = await waitTerm(page, "node1", 1, (x) => count(x, "p3-6") === 1 && PROMPT.test(x), "the pasted lines");
    await sleep(300);
    const after = (await term(page, "node1", 1)) || "";
    for (const m of ["p1-2", "p2-4", "p3-6"]) {
      if (count(after, m) !== 1) throw new Error(`${m} ran ${count(after, m)} times:\n${after}`);
    }
    if (/200~|201~|\^\[/.test(text)) throw new Error(`stray characters after the paste:\n${text}`);
    // The context menu pastes too (a secure page may read the clipboard).
    await page.evaluate(() => navigator.clipboard.writeText("echo ctx-$((4*4))\n"));
    await page.mouse.click(t.x + 40, t.y + t.height - 10);
    await page.mouse.click(t.x + 40, t.y + t.height - 10, { button: "right" });
    await waitTerm(page, "node1", 1, (x) => count(x, "ctx-16") === 1 && PROMPT.test(x), "the context menu's paste");
    // bash asks for bracketed paste: the three lines arrive as one paste and run
    // once each on Enter, with no marker characters on the screen.
    await run(page, "node1", 1, "PS1='$ ' bash --norc --noprofile", "$");
    await page.evaluate(() => navigator.clipboard.writeText("echo b1-$((1+1))\necho b2-$((2+2))\necho b3-$((3+3))\n"));
    await focusTerm(page, "node1", 1);
    await page.keyboard.press("Control+Shift+V");
    await sleep(300);
    await page.keyboard.press("Enter");
    const b = await waitTerm(page, "node1", 1, (x) => count(x, "b3-6") === 1 && PROMPT.test(x), "bash's pasted lines");
    await sleep(300);
    const bafter = (await term(page, "node1", 1)) || "";
    for (const m of ["b1-2", "b2-4", "b3-6"]) {
      if (count(bafter, m) !== 1) throw new Error(`${m} ran ${count(bafter, m)} times in bash:\n${bafter}`);
    }
    if (/200~|201~|\^\[/.test(b)) throw new Error(`stray characters after bash's paste:\n${b}`);
    await run(page, "node1", 1, "exit", "#");
  });

  await check(page, "Ctrl +, Ctrl −, Ctrl 0 size the terminal's text and the size is kept", async () => {
    await focusTerm(page, "node1", 1);
    const [, cols0] = await sttySize(page, "node1", 1);
    await page.keyboard.press("Control+Equal");
    await page.keyboard.press("Control+Equal");
    await page.waitForFunction(() => document.querySelector("[data-testid=font-size]")?.textContent === "16 px");
    await sleep(200);
    const [, cols1] = await sttySize(page, "node1", 1);
    if (!(cols1 < cols0)) throw new Error(`16 px gave ${cols1} columns, 14 px ${cols0}`);
    await page.reload();
    await page.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
    const kept = await page.textContent("[data-testid=font-size]");
    if (kept !== "16 px") throw new Error(`after a reload the size is ${kept}`);
    await focusTerm(page, "node1", 1);
    await page.keyboard.press("Control+Minus");
    await page.waitForFunction(() => document.querySelector("[data-testid=font-size]")?.textContent === "15 px");
    await page.keyboard.press("Control+Digit0");
    await page.waitForFunction(() => document.querySelector("[data-testid=font-size]")?.textContent === "14 px");
    await sleep(200);
    const [, cols2] = await sttySize(page, "node1", 1);
    if (cols2 !== cols0) throw new Error(`after Ctrl 0: ${cols2} columns, before ${cols0}`);
    const stored = await page.evaluate(() => localStorage.getItem("dockhand.fontSize"));
    if (stored !== null) throw new Error(`Ctrl 0 left a stored size: ${stored}`);
  });

  await check(page, "presenter mode keeps the terminal and the port links; high contrast", async () => {
    const before = await box(page, ".terms");
    await openView(page);
    await page.click("[data-testid=theme-contrast]");
    const bg = await page.evaluate(() => [document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor]);
    if (bg[0] !== "contrast" || bg[1] !== "rgb(0, 0, 0)") throw new Error(`high contrast: ${bg}`);
    await shot(page, "view-menu");
    await openView(page);
    await page.click("[data-testid=presenter-toggle]");
    await page.waitForSelector("[data-testid=presenter-bar]", { state: "visible" });
    for (const hidden of ["[data-testid=close-session]", "[data-testid=add-instance]", "[data-testid=panels]"]) {
      if (await page.locator(hidden).first().isVisible()) throw new Error(`${hidden} is visible in presenter mode`);
    }
    const link = page.locator("[data-testid=presenter-port-link]").first();
    await link.waitFor({ timeout: 15000 });
    if (!/\/node1\/8080\/$/.test(await link.getAttribute("href"))) throw new Error("the presenter's port link");
    const wide = await box(page, ".terms");
    if (!(wide.width > before.width)) throw new Error(`the terminal did not grow: ${before.width} -> ${wide.width}`);
    await shot(page, "presenter-contrast");
    await page.click("[data-testid=presenter-leave]");
    await page.waitForSelector("[data-testid=close-session]", { state: "visible" });
    await openView(page);
    await page.click("[data-testid=theme-dark]");
    await page.keyboard.press("Escape");
  });

  await check(page, "screen reader mode gives the terminal an accessible copy of its screen", async () => {
    await openView(page);
    await page.click("[data-testid=screen-reader-toggle]");
    await page.waitForSelector("[data-testid=terminal-node1-1] .xterm-accessibility-tree", { state: "attached", timeout: 5000 });
    await page.click("[data-testid=screen-reader-toggle]");
    await page.waitForSelector("[data-testid=terminal-node1-1] .xterm-accessibility-tree", { state: "detached", timeout: 5000 });
    await page.keyboard.press("Escape");
  });
  await ctx.close();

  for (const size of SIZES) {
    const { width, height, minCols, phone } = size;
    await check(null, `${width} px: at least ${minCols} columns, instance list and panels reachable`, async () => {
      const c = await browser.newContext({
        viewport: { width, height },
        isMobile: !!phone,
        hasTouch: !!phone,
      });
      const p = await c.newPage();
      try {
        await p.goto(share);
        await p.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
        await waitTerm(p, "node1", 1, (t) => PROMPT.test(t), "a prompt");
        await p.click("[data-testid=terminal-node1-1]");
        const [rows, cols] = await sttySize(p, "node1", 1);
        if (cols < minCols || rows < 10) throw new Error(`${width} px: the terminal is ${cols}x${rows}`);
        if (phone) {
          // A finger scrolls the terminal back.
          await run(p, "node1", 1, "seq 1001 1200; echo seq-end", "seq-end");
          const visible = () => p.evaluate(() => document.querySelector("[data-testid=terminal-node1-1] .xterm-rows")?.textContent || "");
          // The rows are drawn on the next animation frame after the bytes land.
          const drawn = await p
            .waitForFunction(
              () => (document.querySelector("[data-testid=terminal-node1-1] .xterm-rows")?.textContent || "").includes("seq-end"),
              null,
              { timeout: 3000 },
            )
            .then(() => true, () => false);
          if (!drawn) throw new Error("the end of the output is not on screen");
          const t = await box(p, "[data-testid=terminal-node1-1]");
          const cdp = await c.newCDPSession(p);
          const x = Math.round(t.x + t.width / 2);
          const y0 = Math.round(t.y + t.height / 4);
          await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [{ x, y: y0 }] });
          for (let dy = 20; dy <= 400; dy += 20) {
            await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [{ x, y: y0 + dy }] });
          }
          await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
          await sleep(300);
          if ((await visible()).includes("seq-end")) throw new Error("a touch swipe did not scroll the terminal back");
          await shot(p, `layout-${width}-scrolled`);
        }
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 0) throw new Error(`${width} px: the page is ${overflow} px wider than the window`);
        const n2 = await box(p, "[data-testid=instance-node2]");
        if (n2.x + n2.width > width) throw new Error(`${width} px: node2 is off screen`);
        await shot(p, `layout-${width}`);
        const drawer = width < 1160;
        if (!drawer) {
          const panels = await box(p, "[data-testid=panels]");
          const terms = await box(p, ".terms");
          if (panels.x < terms.x + terms.width - 1) throw new Error(`${width} px: the panels cover the terminal`);
        } else {
          if (await p.locator("[data-testid=panels]").isVisible()) throw new Error(`${width} px: the drawer starts open`);
          await p.click("[data-testid=panels-toggle]");
          await p.waitForSelector("[data-testid=panel-containers]", { state: "visible" });
          await p.waitForSelector("[data-testid=container-row][data-name=web]");
          await shot(p, `layout-${width}-drawer`);
          await p.keyboard.press("Escape");
          await p.waitForSelector("[data-testid=panels]", { state: "detached" });
          if (!(await inTerminal(p))) throw new Error(`${width} px: closing the drawer did not give the terminal the keyboard`);
        }
        console.log(`  ${width} px: ${cols} columns x ${rows} rows`);
      } finally {
        await c.close();
      }
    });
  }

  const end = await browser.newContext();
  const last = await end.newPage();
  await last.goto(share);
  await deleteSession(last);
  await end.close();
  console.log(`sizes: all ${checker.count()} steps passed`);
}

async function bench(browser) {
  const runs = Number(process.env.BENCH_SESSIONS || 7);
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const clicks = [];
  for (let i = 0; i < runs; i++) {
    await page.goto(base + "/");
    await page.waitForSelector("[data-testid=start-button]:not([disabled])");
    const ms = await page.evaluate(async () => {
      const t0 = performance.now();
      document.querySelector("[data-testid=start-button]").click();
      for (;;) {
        const t = window.dockhandTerm && window.dockhandTerm("node1", 1);
        if (t && /(^|\n)[$#] ?$/.test(t)) return performance.now() - t0;
        if (performance.now() - t0 > 30000) throw new Error("no prompt within 30 s");
        await new Promise((r) => setTimeout(r, 1));
      }
    });
    clicks.push(ms);
    if (i < runs - 1) await deleteSession(page);
  }
  const c = stats(clicks);
  console.log(`click-to-prompt: median ${c.median.toFixed(0)} ms, min ${c.min.toFixed(0)} ms, max ${c.max.toFixed(0)} ms (${c.n} sessions)`);

  // Keystroke echo: one key at a time at the prompt, then erase the line.
  await focusTerm(page, "node1", 1);
  const keys = Number(process.env.BENCH_KEYS || 300);
  for (let i = 0; i < keys; i++) {
    const before = await page.evaluate(() => {
      window.__probe.armed = true;
      return window.__probe.samples.length;
    });
    await page.keyboard.press("x");
    const end = Date.now() + 5000;
    while ((await page.evaluate(() => window.__probe.samples.length)) === before) {
      if (Date.now() > end) throw new Error("no echo within 5 s");
    }
    if (i % 50 === 49) await page.keyboard.press("Control+U");
  }
  await page.keyboard.press("Control+U");
  const samples = await page.evaluate(() => window.__probe.samples);
  const k = stats(samples);
  console.log(
    `keystroke echo round trip, typed into the app (Playwright key events, xterm): median ${k.median.toFixed(2)} ms, p99 ${k.p99.toFixed(2)} ms, max ${k.max.toFixed(2)} ms (${k.n} keys)`,
  );

  // The same keys typed from inside the page: DOM key events on xterm's
  // textarea, so the app's whole path (xterm, the Wasm handler, its socket)
  // runs, but not the DevTools protocol's input dispatch.
  const inPage = await page.evaluate(async (keys) => {
    const ta = document.querySelector(".xterm-helper-textarea");
    const p = window.__probe;
    const xs = [];
    for (let i = 0; i < keys; i++) {
      const ctrlU = i % 50 === 49;
      const key = ctrlU ? "u" : "x";
      const code = key.charCodeAt(0);
      const before = p.samples.length;
      p.armed = true;
      ta.dispatchEvent(new KeyboardEvent("keydown", { key, code: "Key" + key.toUpperCase(), keyCode: code - 32, ctrlKey: ctrlU, bubbles: true, cancelable: true }));
      if (!ctrlU) ta.dispatchEvent(new KeyboardEvent("keypress", { key, charCode: code, keyCode: code, bubbles: true, cancelable: true }));
      const t0 = performance.now();
      while (p.samples.length === before) {
        if (performance.now() - t0 > 5000) throw new Error("no echo within 5 s");
        await new Promise((r) => setTimeout(r, 0));
      }
      xs.push(p.samples[p.samples.length - 1]);
      await new Promise((r) => setTimeout(r, 3));
    }
    return xs;
  }, keys);
  const ip = stats(inPage);
  console.log(
    `keystroke echo round trip, typed into the app by DOM key events in the page: median ${ip.median.toFixed(2)} ms, p99 ${ip.p99.toFixed(2)} ms, max ${ip.max.toFixed(2)} ms (${ip.n} keys)`,
  );
  await page.keyboard.press("Control+U");

  // The same round trip on a socket of its own in the page (a second viewer of
  // the terminal), without xterm and the browser's input pipeline in the way.
  const raw = await page.evaluate(async (keys) => {
    const m = location.hash.match(/^#\/s\/([^/]+)\/([^/]+)/);
    const url = `ws://${location.host}/api/sessions/${m[1]}/instances/node1/terminals/1?token=${m[2]}&offset=1000000000`;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    await new Promise((r, j) => {
      ws.onopen = r;
      ws.onerror = j;
    });
    // Skip the replay that an unknown offset brings.
    await new Promise((r) => setTimeout(r, 300));
    const xs = [];
    for (let i = 0; i < keys; i++) {
      const got = new Promise((r) => (ws.onmessage = (e) => typeof e.data !== "string" && r()));
      const t0 = performance.now();
      ws.send(new Uint8Array([i % 50 === 49 ? 0x15 : 0x78]));
      await got;
      xs.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 3));
    }
    ws.close();
    return xs;
  }, keys);
  const r = stats(raw);
  console.log(
    `keystroke echo round trip, raw socket in the page: median ${r.median.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms (${r.n} keys)`,
  );
  await page.keyboard.press("Control+U");
  await deleteSession(page);
  await ctx.close();
}

await withBrowser(async (browser) => {
  if (mode === "bench") await bench(browser);
  else if (mode === "hosts") await hosts(browser);
  else if (mode === "sizes") await sizes(browser);
  else if (mode === "nodegone") await nodeGone(browser);
  else await e2e(browser);
  if (mode === "e2e") console.log(`e2e: all ${checker.count()} steps passed`);
});

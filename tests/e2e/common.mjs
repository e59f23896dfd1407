// Helpers of the browser scenarios (playground.mjs, lessons.mjs).

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/**
 * The run's settings: the server (`DOCKHAND_URL`, required), the mode (the
 * first argument) and where screenshots go (`E2E_ARTIFACTS`, made).
 */
export function settings() {
  const base = process.env.DOCKHAND_URL;
  if (!base) {
    console.error("DOCKHAND_URL is not set");
    process.exit(2);
  }
  const artifacts = process.env.E2E_ARTIFACTS || "target/e2e-artifacts";
  mkdirSync(artifacts, { recursive: true });
  return { base, mode: process.argv[2] || "e2e", artifacts };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A shell prompt at the end of the screen: `#` or `$` on a line of its own. */
export const PROMPT = /(^|\n)[$#] ?$/;

/** The text of a terminal (`window.dockhandTerm`); null before there is one. */
export async function term(page, node, tab) {
  return page.evaluate(([n, t]) => (window.dockhandTerm ? window.dockhandTerm(n, t) : null), [node, tab]);
}

/** Poll a terminal until `pred(text)` holds; the text. */
export async function waitTerm(page, node, tab, pred, what, timeout = 30000) {
  const end = Date.now() + timeout;
  let text = null;
  while (Date.now() < end) {
    text = await term(page, node, tab);
    if (text != null && pred(text)) return text;
    await sleep(25);
  }
  throw new Error(`${node} tab ${tab}: timed out waiting for ${what}; terminal shows:\n${text}`);
}

/** From the landing page at `base` to the first prompt of node1. */
export async function startSession(page, base) {
  await page.goto(base + "/");
  await page.waitForSelector("[data-testid=start-button]:not([disabled])");
  await page.click("[data-testid=start-button]");
  await page.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
  await waitTerm(page, "node1", 1, (t) => PROMPT.test(t), "the first prompt");
}

/**
 * Numbered steps printed as TAP-like lines; a failing step's screenshot goes
 * to `artifacts` as `PREFIX-N.png` before its error is thrown on.
 */
export function steps(artifacts, prefix) {
  let n = 0;
  return {
    count: () => n,
    async check(page, name, fn) {
      n += 1;
      const t0 = Date.now();
      try {
        await fn();
        console.log(`ok ${n} - ${name} (${Date.now() - t0} ms)`);
      } catch (e) {
        console.log(`not ok ${n} - ${name}: ${e.message}`);
        if (page) {
          await page.screenshot({ path: join(artifacts, `${prefix}-${n}.png`) }).catch(() => {});
        }
        throw e;
      }
    },
  };
}

/**
 * Launch headless Chromium (`CHROMIUM`, else /usr/bin/chromium), run
 * `body(browser)`, close it and exit: 0, or 1 after printing the error.
 */
export async function withBrowser(body) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
  let code = 0;
  try {
    await body(browser);
  } catch (e) {
    console.error(e.stack || String(e));
    code = 1;
  } finally {
    await browser.close();
  }
  process.exit(code);
}

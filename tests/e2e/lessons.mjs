// Guided lessons in a real headless Chromium (issue 19), against a server
// with the built-in course:
//
//   DOCKHAND_URL=http://127.0.0.1:PORT node lessons.mjs [e2e|trainer|bench]
//
// Started by tests/tests/lessons.rs. e2e: choose a lesson; a step's button
// types its command into the terminal without running it; the trainee runs
// it and the step turns done by itself; a step done wrongly stays not done
// and "Check" shows why and the hint; progress survives a reload. bench: how
// long a step takes to turn done after the state becomes true (median of
// 20). trainer (a server with --trainer-code chalk): a trainer opens a
// workshop, two trainees join with its code, the trainer's page shows their
// progress, mirrors a terminal without typing into it, sends a message and
// closes the workshop. Prints one line per step; exits 1 on the first failure.

import { join } from "node:path";
import { PROMPT, sleep, startSession as start, steps, settings, term, waitTerm, withBrowser } from "./common.mjs";

const { base, mode, artifacts } = settings();
const termText = (page) => term(page, "node1", 1);

const waitNode1 = (page, pred, what) => waitTerm(page, "node1", 1, pred, what);

const lastLine = (t) => t.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "").pop() || "";

/** Type `line` in the terminal and press Enter; wait for the next prompt. */
async function runLine(page, line) {
  await page.click("[data-testid=terminal-node1-1]");
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
  await sleep(100);
  await waitNode1(page, (t) => PROMPT.test(t), `the prompt after ${line}`);
}

const status = (page, step) => page.getAttribute(`[data-testid=step-${step}]`, "data-status");

async function waitStatus(page, step, want, timeout = 15000) {
  const end = Date.now() + timeout;
  let got = null;
  while (Date.now() < end) {
    got = await status(page, step);
    if (got === want) return;
    await sleep(20);
  }
  throw new Error(`step ${step} is ${got}, not ${want}`);
}

async function startSession(page) {
  await start(page, base);
  await page.waitForSelector("[data-testid=lesson-select]");
}

const checker = steps(artifacts, "lessons-failed");
const check = (page, name, fn) => checker.check(page, name, fn);

async function e2e(browser) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await check(page, "a session shows the lesson picker with the course", async () => {
    await startSession(page);
    const options = await page.$$eval("[data-testid=lesson-select] option", (os) => os.map((o) => o.textContent));
    if (!options.includes("1. Containers") || !options.includes("8. Limits")) throw new Error(options.join(", "));
  });
  await check(page, "choosing a lesson shows its steps, the first current", async () => {
    await page.selectOption("[data-testid=lesson-select]", "01-containers");
    await waitStatus(page, "01-run", "current");
    if ((await status(page, "02-commit")) !== "ahead") throw new Error("02-commit is not ahead");
  });
  await check(page, "a step's button types its command and does not run it", async () => {
    await page.click("[data-testid=step-01-run] [data-testid=type-command]");
    await waitNode1(page, (t) => lastLine(t).endsWith("docker run -ti busybox sh"), "the typed command");
    await sleep(800);
    const t = await termText(page);
    if (!lastLine(t).endsWith("docker run -ti busybox sh")) throw new Error(`it ran:\n${t}`);
    if ((await status(page, "01-run")) !== "current") throw new Error("done before it ran");
  });
  await check(page, "run by the trainee, the step turns done by itself", async () => {
    await page.keyboard.press("Enter");
    await waitStatus(page, "01-run", "done");
    await waitNode1(page, (t) => /\/ # ?$/.test(t), "the container's prompt");
    await runLine(page, "exit");
    await waitStatus(page, "02-commit", "current");
  });
  await check(page, "done wrongly, a step stays not done; Check shows why and the hint", async () => {
    await runLine(page, "docker commit $(docker ps -lq) wrong-image");
    await sleep(1500);
    if ((await status(page, "02-commit")) !== "current") throw new Error("done by the wrong image");
    await page.click("[data-testid=step-check]");
    await page.waitForSelector("[data-testid=step-outcome]");
    const text = await page.textContent("[data-testid=step-outcome]");
    if (!text.includes("no image my-image on node1") || !text.includes("Hint:")) throw new Error(text);
  });
  await check(page, "done rightly, it turns done", async () => {
    await runLine(page, "docker commit $(docker ps -lq) my-image");
    await waitStatus(page, "02-commit", "done");
    await waitStatus(page, "03-background", "current");
  });
  await check(page, "progress survives a reload", async () => {
    await page.reload();
    await page.waitForSelector("[data-testid=step-02-commit]");
    await waitStatus(page, "01-run", "done");
    await waitStatus(page, "02-commit", "done");
    const summary = await page.textContent("[data-testid=lesson-summary]");
    if (!summary.includes("2 of 5")) throw new Error(summary);
    await page.screenshot({ path: join(artifacts, "lessons.png") });
  });
}

async function joinWorkshop(browser, code, name) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(base + "/");
  await page.waitForSelector("[data-testid=workshop-code-input]");
  await page.fill("[data-testid=workshop-code-input]", code);
  await page.fill("[data-testid=trainee-name-input]", name);
  await page.click("[data-testid=start-button]");
  await page.waitForSelector("[data-testid=terminal-node1-1][data-state=live]", { timeout: 30000 });
  await waitNode1(page, (t) => PROMPT.test(t), "the first prompt");
  return page;
}

const mirrorText = (page) => page.evaluate(() => window.dockhandTerm("mirror", 1));

async function trainer(browser) {
  const tp = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  let code = "";
  await check(tp, "a trainer opens a workshop with the trainer code", async () => {
    await tp.goto(base + "/#/trainer");
    await tp.fill("[data-testid=trainer-code-input]", "chalk");
    await tp.click("[data-testid=open-workshop]");
    await tp.waitForFunction(() => /^[A-Z0-9]{6}$/.test(document.querySelector("[data-testid=join-code]")?.textContent || ""));
    code = (await tp.textContent("[data-testid=join-code]")).trim();
  });
  let ada, bob;
  await check(tp, "two trainees join with the code and their names", async () => {
    ada = await joinWorkshop(browser, code.toLowerCase(), "Ada");
    bob = await joinWorkshop(browser, code, "Bob");
    await tp.waitForSelector("[data-testid=trainee-Ada] >> text=node1");
    await tp.waitForSelector("[data-testid=trainee-Bob] >> text=node1");
  });
  await check(tp, "the trainer sees each trainee's progress as it changes", async () => {
    await ada.selectOption("[data-testid=lesson-select]", "01-containers");
    await runLine(ada, "docker run --name first busybox true");
    await waitStatus(ada, "01-run", "done");
    await tp.waitForFunction(() =>
      document.querySelector("[data-testid=trainee-Ada] [data-testid=trainee-progress]")?.textContent === "1 of 5 steps",
    );
    await tp.waitForSelector("[data-testid=trainee-Ada] >> text=first (exited)");
    const bobs = await tp.textContent("[data-testid=trainee-Bob] [data-testid=trainee-progress]");
    if (bobs !== "No lesson chosen") throw new Error(`Bob: ${bobs}`);
    // Bob at his own pace, in another lesson.
    await bob.selectOption("[data-testid=lesson-select]", "02-images");
    await tp.waitForFunction(() =>
      document.querySelector("[data-testid=trainee-Bob] [data-testid=trainee-progress]")?.textContent === "0 of 3 steps",
    );
    await runLine(bob, "docker pull busybox");
    await runLine(bob, "docker tag busybox my-busybox:v2.1");
    await tp.waitForFunction(() =>
      document.querySelector("[data-testid=trainee-Bob] [data-testid=trainee-progress]")?.textContent === "1 of 3 steps",
    );
    const adas = await tp.textContent("[data-testid=trainee-Ada] [data-testid=trainee-progress]");
    if (adas !== "1 of 5 steps") throw new Error(`Ada: ${adas}`);
  });
  await check(tp, "the trainer mirrors a terminal and cannot type into it", async () => {
    await tp.click("[data-testid=watch-Ada-node1-1]");
    await tp.waitForSelector("[data-testid=mirror-term] .xterm");
    await runLine(ada, "echo ada-$((6*7))");
    const end = Date.now() + 15000;
    while (!((await mirrorText(tp)) || "").includes("ada-42")) {
      if (Date.now() > end) throw new Error(`the mirror shows:\n${await mirrorText(tp)}`);
      await sleep(50);
    }
    await tp.click("[data-testid=mirror-term]");
    await tp.keyboard.type("echo trainer-$((6*7))");
    await tp.keyboard.press("Enter");
    await runLine(ada, "echo after-$((6*7))");
    const t = await termText(ada);
    if (t.includes("trainer-42") || t.includes("echo trainer")) throw new Error(`the trainer typed into Ada's terminal:\n${t}`);
    await tp.screenshot({ path: join(artifacts, "trainer.png") });
  });
  await check(tp, "a message reaches every trainee", async () => {
    await tp.fill("[data-testid=message-input]", "Break: 10 minutes");
    await tp.click("[data-testid=send-message]");
    for (const p of [ada, bob]) {
      await p.waitForSelector("[data-testid=trainer-message] >> text=Break: 10 minutes");
    }
  });
  await check(tp, "closing the workshop ends the trainees' sessions", async () => {
    tp.once("dialog", (d) => d.accept());
    await tp.click("[data-testid=close-workshop]");
    await tp.waitForSelector("[data-testid=workshop-closed]");
    await ada.waitForSelector("[data-testid=session-closed]");
    await bob.waitForSelector("[data-testid=session-closed]");
  });
}

// Against a server with tests/tests/lessons.rs's bench lesson (`90-bench`:
// step NN-cN is done when container cN runs). Each round runs
// `docker run -d --name cN busybox sleep 300` in the terminal; the state is
// true when the container's ID appears (docker prints it once it started),
// and the time until the step shows done in the page is the figure.
async function bench(browser) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await startSession(page);
  await page.selectOption("[data-testid=lesson-select]", "90-bench");
  const xs = [];
  for (let i = 1; i <= 20; i++) {
    const id = `${String(i).padStart(2, "0")}-c${i}`;
    await waitStatus(page, id, "current");
    const ids = (t) => (t.match(/^[0-9a-f]{64}$/gm) || []).length;
    const before = ids((await termText(page)) || "");
    await page.click("[data-testid=terminal-node1-1]");
    await page.keyboard.type(`docker run -d --name c${i} busybox sleep 300`);
    await page.keyboard.press("Enter");
    const end = Date.now() + 30000;
    while (ids((await termText(page)) || "") === before) {
      if (Date.now() > end) throw new Error(`c${i} did not start`);
      await sleep(5);
    }
    const t0 = Date.now();
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.dataset.status === "done",
      `[data-testid=step-${id}]`,
      { polling: 5, timeout: 15000 },
    );
    xs.push(Date.now() - t0);
    await waitNode1(page, (t) => PROMPT.test(t), "the prompt");
  }
  const s = [...xs].sort((a, b) => a - b);
  console.log(
    `lessons: step done after its state is true: median ${s[10]} ms, max ${s[19]} ms (20 steps; ` +
      `the trainee's page, the terminal's echo included)`,
  );
}

// The trainer's page with many trainees (BENCH_WORKSHOP: the workshop and
// its trainees' sessions, made through the API by tests/tests/lessons.rs):
// each round, one trainee chooses a lesson (a request from the page) and
// the time until the trainer's page shows it is the figure.
async function trainerBench(browser) {
  const w = JSON.parse(process.env.BENCH_WORKSHOP);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${base}/#/w/${w.id}/${w.token}`);
  await page.waitForFunction(
    (n) => document.querySelectorAll(".trainees > li").length === n,
    w.trainees.length,
    { timeout: 30000 },
  );
  const xs = [];
  for (const t of w.trainees.slice(0, 20)) {
    xs.push(
      await page.evaluate(async (t) => {
        const sel = `[data-testid=trainee-${t.name}] [data-testid=trainee-progress]`;
        const t0 = performance.now();
        await fetch(`/api/sessions/${t.id}/lesson`, {
          method: "PUT",
          headers: { "X-Dockhand-Token": t.token, "Content-Type": "application/json" },
          body: JSON.stringify({ lesson: "07-under-the-hood" }),
        });
        while (document.querySelector(sel)?.textContent !== "0 of 3 steps") {
          await new Promise((r) => requestAnimationFrame(r));
        }
        return performance.now() - t0;
      }, t),
    );
  }
  const s = [...xs].sort((a, b) => a - b);
  console.log(
    `trainer page with ${w.trainees.length} trainees: a trainee's change shown in ` +
      `median ${s[10].toFixed(1)} ms, max ${s[19].toFixed(1)} ms (20 changes; request, socket and render)`,
  );
}

await withBrowser(async (browser) => {
  if (mode === "bench") await bench(browser);
  else if (mode === "trainer-bench") await trainerBench(browser);
  else if (mode === "trainer") await trainer(browser);
  else await e2e(browser);
  if (!mode.endsWith("bench")) console.log(`${mode}: all ${checker.count()} steps passed`);
});

// The dashboard's actions in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; no browser is downloaded). Run by
// tests/integration/test_dashboard_actions.sh, which starts Redis, a worker
// with a metrics token, and the jobs; this script logs in through the form,
// clicks pause / retry / cancel / resume / retry all / pause all / resume
// all, and after each click checks Redis itself (redis-cli). It keeps a
// screenshot of the page with a paused bucket and a job's detail in
// $ART_DIR/dashboard-actions.png; on failure it saves
// dashboard-actions-failure.png there and exits 1.
//
// Environment: BASE (http://127.0.0.1:PORT), TOKEN, REDIS_SOCK, PREFIX,
// PACER (binary), CONFIG (worker config), ART_DIR, CHROMIUM, SECRET (a
// header value that must never reach the page).
"use strict";
const { chromium } = require("playwright-core");
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set`);
  return process.env[k];
};
const BASE = env("BASE"), PREFIX = env("PREFIX");
const rcli = (...args) =>
  execFileSync("redis-cli", ["-s", env("REDIS_SOCK"), ...args]).toString().trim();
const resultState = (id) => {
  try {
    const out = execFileSync(env("PACER"),
      ["result", "--json", "--config", env("CONFIG"), id],
      { stdio: ["ignore", "pipe", "ignore"] }).toString();
    return JSON.parse(out).state;
  } catch (e) {
    return "";
  }
};
const FOREVER = "4503599627370496"; // PACER_KEYS_OP_FOREVER_US
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Waits until cond() is true, polling every 100 ms, for at most ms.
async function until(what, cond, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    let v;
    try { v = await cond(); } catch (e) { v = false; }
    if (v) return;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}
const t0 = Date.now();
const step = (s) => console.log(`  ${((Date.now() - t0) / 1000).toFixed(1)} s: ${s}`);

(async () => {
  const browser = await chromium.launch({
    executablePath: env("CHROMIUM"), headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.accept(); });
  let failed = null;
  try {
    // ---- Log in through the form.
    await page.goto(BASE + "/");
    await page.fill("#token", "wrong-" + env("TOKEN"));
    await page.click("#submit");
    await page.waitForSelector("#failed", { state: "visible" });
    await page.fill("#token", env("TOKEN"));
    await Promise.all([page.waitForURL(BASE + "/"), page.click("#submit")]);
    await page.waitForSelector('body[data-ready="1"]');
    await page.waitForSelector("#live.ok");
    const cookies = await page.context().cookies();
    const c = cookies.find((k) => k.name === "pacer_session");
    if (!c || !c.httpOnly || c.sameSite !== "Strict" || c.value.includes(env("TOKEN")))
      throw new Error("session cookie: " + JSON.stringify(c));
    if (await page.evaluate(() => document.cookie.includes("pacer_session")))
      throw new Error("the session cookie is readable from JavaScript");
    step("logged in through the form; HttpOnly SameSite=Strict cookie");

    // ---- Pause bucket acct:a1 with its button.
    const row = 'tr[data-bucket="acct:a1"]';
    await page.waitForSelector(`${row} button[data-action="pause"]`);
    await page.click(`${row} button[data-action="pause"]`);
    await until("op_until in Redis", () =>
      rcli("HGET", `${PREFIX}limit:acct:a1`, "op_until") === FOREVER);
    await page.waitForSelector(`${row} button[data-action="resume"]`);
    await until("'until resumed' on the page", async () =>
      (await page.textContent(`${row} [data-k="pause"]`)).includes("until resumed"));
    step("pause: op_until set in Redis; the page says until resumed");

    // ---- Retry the dead letter of d-1 (its bucket is paused: it waits).
    const drow = 'tr[data-dead="d-1"]';
    await page.waitForSelector(`${drow} button[data-action="dead-retry"]`);
    await page.click(`${drow} button[data-action="dead-retry"]`);
    await until("deadjob:d-1 gone", () => rcli("EXISTS", `${PREFIX}deadjob:d-1`) === "0");
    await until("d-1 queued again", () =>
      rcli("XRANGE", `${PREFIX}dead`, "-", "+").split("\n").indexOf("d-1") < 0);
    await page.waitForSelector(drow, { state: "detached" });
    step("retry: the kept original is queued again, its dead letter gone");

    // ---- Find d-1: it waits, its request shown with the secret redacted.
    await page.fill("#job-id", "d-1");
    await page.click("#job-find");
    await page.waitForSelector("#job-request");
    const req = await page.textContent("#job-request");
    if (!req.includes("[redacted]") || req.includes(env("SECRET")))
      throw new Error("request not redacted: " + req);
    await page.waitForSelector("#job-cancel", { state: "visible" });
    // Why it waits: its lane, paused by the operator until resumed.
    await until("d-1's lane and why", async () => {
      await page.click("#job-find");
      const t = await page.textContent('[data-lane-why="acct:a1"]', { timeout: 500 });
      return t.includes("paused by an operator on acct:a1, until resumed");
    });
    step("find d-1: waiting, request redacted: " + (await page.textContent("#job-why")));
    fs.mkdirSync(env("ART_DIR"), { recursive: true });
    await page.screenshot({ path: path.join(env("ART_DIR"), "dashboard-actions.png"), fullPage: true });

    // ---- Cancel c-1 (delayed far in the future) from its detail.
    await page.fill("#job-id", "c-1");
    await page.click("#job-find");
    await until("c-1 detail", async () =>
      (await page.textContent("#job-why")).includes("due in"));
    await page.click("#job-cancel");
    await until("c-1 cancelled in Redis", () => resultState("c-1") === "cancelled", 15000);
    step("cancel c-1: its result is cancelled");

    // ---- Resume: d-1 runs again (and dies again with 404).
    await page.click(`${row} button[data-action="resume"]`);
    await until("op_until cleared", () =>
      ["", "0"].includes(rcli("HGET", `${PREFIX}limit:acct:a1`, "op_until")));
    await until("d-1 dead again", () => rcli("EXISTS", `${PREFIX}deadjob:d-1`) === "1", 15000);
    step("resume: op_until cleared; d-1 ran again");

    // ---- Retry all, after the page asks: d-1 and d-2 run (and die) once
    // more each, so each has one more result in the results stream.
    const runs = (id) => rcli("XRANGE", `${PREFIX}results`, "-", "+")
      .split("\n").filter((l) => l === id).length;
    await page.waitForSelector(`${drow} button[data-action="dead-retry"]`);
    const r1 = runs("d-1"), r2 = runs("d-2");
    await page.click("#dead-retry-all");
    await until("every dead letter retried", () =>
      runs("d-1") === r1 + 1 && runs("d-2") === r2 + 1, 15000);
    if (!dialogs.some((m) => m.includes("Queue every dead letter")))
      throw new Error("retry all did not ask first: " + JSON.stringify(dialogs));
    step("retry all: asked first, then queued every kept original");

    // ---- Delete one dead letter, then all of them (after the page asks).
    await until("d-1 and d-2 dead again", () =>
      rcli("EXISTS", `${PREFIX}deadjob:d-1`, `${PREFIX}deadjob:d-2`) === "2", 15000);
    const d2 = 'tr[data-dead="d-2"] button[data-action="dead-delete"]';
    await page.waitForSelector(d2);
    await page.click(d2);
    await until("d-2's dead letter deleted", () =>
      rcli("EXISTS", `${PREFIX}deadjob:d-2`) === "0" &&
      rcli("XRANGE", `${PREFIX}dead`, "-", "+").split("\n").indexOf("d-2") < 0);
    if (rcli("EXISTS", `${PREFIX}deadjob:d-1`) !== "1")
      throw new Error("deleting d-2 touched d-1");
    await page.click("#dead-delete-all");
    await until("every dead letter deleted", () =>
      rcli("XLEN", `${PREFIX}dead`) === "0" &&
      rcli("EXISTS", `${PREFIX}deadjob:d-1`) === "0");
    if (!dialogs.some((m) => m.includes("Delete every dead letter")))
      throw new Error("delete all did not ask first: " + JSON.stringify(dialogs));
    await page.waitForSelector('#dead td.empty');
    step("delete d-2, then delete all (asked first): the dead stream is empty");

    // ---- Pause all (asks first): the pause of every bucket in Redis
    // (store/control.h), a line above the table and every row say so;
    // resume all ends it.
    await page.click("#pause-all");
    await until("oppause in Redis", () => rcli("GET", `${PREFIX}oppause`) === FOREVER);
    if (!dialogs.some((m) => m.includes("Pause every limit bucket")))
      throw new Error("pause all did not ask first: " + JSON.stringify(dialogs));
    await until("the line above the buckets", async () =>
      (await page.isVisible("#paused-all")) &&
      (await page.textContent("#paused-all")).includes("paused by an operator until resumed"));
    await until("acct:a1's row", async () =>
      (await page.textContent(`${row} [data-k="pause"]`)).includes("until resumed"));
    await page.click("#resume-all");
    await until("oppause gone", () => rcli("EXISTS", `${PREFIX}oppause`) === "0");
    await page.waitForSelector("#paused-all", { state: "hidden" });
    step("pause all / resume all (asked first): Redis, the line and the rows agree");

    const html = await page.content();
    if (html.includes(env("SECRET")) || html.includes(env("TOKEN")))
      throw new Error("a secret reached the page");
  } catch (e) {
    failed = e;
  }
  if (failed) {
    const shot = path.join(env("ART_DIR"), "dashboard-actions-failure.png");
    try {
      fs.mkdirSync(env("ART_DIR"), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      console.error(`screenshot: ${shot}`);
    } catch (e) {
      console.error(`no screenshot: ${e.message}`);
    }
    console.error(`FAIL: ${failed.message}`);
  }
  await browser.close();
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error(`FAIL: ${e.stack}`); process.exit(1); });

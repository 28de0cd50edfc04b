// The widget's token: an expired one fires errand:token-expired, and a new `token` attribute
// is taken without a reload; the element speaks French from its `lang`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Demo, browser, signedIn, act, until } from "./harness.js";

/** A user token for `owner` signed as the demo signs them, expiring at `exp` (seconds). */
function mint(demo, owner, exp) {
  const seed = readFileSync(join(demo.dataDir, "demo-secret"), "utf8").trim();
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub: owner, exp, iat: exp - 3600 })}`;
  const signature = createHmac("sha256", `${seed}/user-tokens`).update(input).digest("base64url");
  return `${input}.${signature}`;
}

test("an expired token fires errand:token-expired and a new token attribute is taken without a reload", async () => {
  const demo = await Demo.start();
  const chrome = await browser();
  try {
    const page = await signedIn(chrome, demo, "alice");
    await page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.live === "sse");
    await page.evaluate(() => {
      window.marker = "kept";
      window.expired = 0;
      document.addEventListener("errand:token-expired", () => { window.expired += 1; });
    });
    const now = Math.floor(Date.now() / 1000);
    await page.locator("errand-tasks").evaluate((el, token) => el.setAttribute("token", token), mint(demo, "alice", now - 60));
    await page.waitForFunction(() => window.expired === 1);
    await page.locator("errand-tasks").evaluate((el, token) => el.setAttribute("token", token), mint(demo, "alice", now + 3600));
    await act(page, "/demo/actions/import");
    await page.locator("errand-tasks ul.failed li").first().waitFor();
    assert.equal(await page.evaluate(() => window.marker), "kept");
    // The same element in French.
    await page.locator("errand-tasks").evaluate((el) => el.setAttribute("lang", "fr"));
    await until("the French label", async () =>
      (await page.locator("errand-tasks ul.failed .label").first().textContent()) === "Échec");
    assert.equal(await page.locator("errand-tasks a.all").textContent(), "Toutes les tâches");
  } finally {
    await chrome.close();
    await demo.close();
  }
});

test("errand:refresh makes the widget fetch at once", async () => {
  const demo = await Demo.start();
  const chrome = await browser();
  try {
    const page = await signedIn(chrome, demo, "alice");
    await page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.live === "sse");
    // Close the stream by hand: only a fetch can now show the new task.
    await page.locator("errand-tasks").evaluate((el) => { el.stop(); });
    await act(page, "/demo/actions/import");
    await until("the task to fail", async () => {
      const body = await page.evaluate(async () => {
        const token = document.querySelector("errand-tasks").getAttribute("token");
        return (await fetch("/v1/tasks?state=failed", { headers: { Authorization: `Bearer ${token}` } })).json();
      });
      return body.tasks.length === 1;
    });
    assert.equal(await page.locator("errand-tasks ul.failed li").count(), 0);
    await page.evaluate(() => document.dispatchEvent(new CustomEvent("errand:refresh")));
    await page.locator("errand-tasks ul.failed li").first().waitFor({ timeout: 2000 });
  } finally {
    await chrome.close();
    await demo.close();
  }
});

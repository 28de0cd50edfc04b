// The widget recovers after errand restarts: the stream drops, the widget polls and retries
// with backoff, and follows tasks again once errand is back on the same address.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Demo, browser, signedIn, act, until } from "./harness.js";

test("the widget recovers after errand is restarted", async () => {
  const demo = await Demo.start();
  const chrome = await browser();
  try {
    const page = await signedIn(chrome, demo, "alice");
    await page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.live === "sse");
    await demo.stop();
    await page.waitForFunction(() => document.querySelector("errand-tasks").dataset.live === "poll");
    await demo.run();
    await page.waitForFunction(() => document.querySelector("errand-tasks").dataset.live === "sse", null, { timeout: 20000 });
    assert.equal(await act(page, "/demo/actions/convert/5"), 303);
    const bar = page.locator("errand-tasks .bar");
    await until("the new task's progress in the banner", async () =>
      (await bar.count()) > 0 && Number(await bar.getAttribute("aria-valuenow")) > 0);
  } finally {
    await chrome.close();
    await demo.close();
  }
});

test("the wait page says so when errand stops answering, instead of spinning forever", async () => {
  const demo = await Demo.start();
  const chrome = await browser();
  try {
    const page = await signedIn(chrome, demo, "alice");
    await page.goto(`${demo.base}${await page.locator("#tasks-link").getAttribute("href")}`);
    await page.goBack();
    assert.equal(await act(page, "/demo/actions/convert/2"), 303);
    const task = await until("the conversion", async () => {
      const token = await page.locator("errand-tasks").getAttribute("token");
      const body = await page.evaluate(async (token) =>
        (await fetch("/v1/tasks", { headers: { Authorization: `Bearer ${token}` } })).json(), token);
      return body.tasks[0];
    });
    await page.goto(`${demo.base}/ui/tasks/${task.id}/wait`);
    await page.locator("#wait-progress").waitFor();
    assert.equal(await page.locator("#wait-lost").isHidden(), true);
    await demo.stop();
    await page.locator("#wait-lost").waitFor({ timeout: 15000 });
  } finally {
    await chrome.close();
    await demo.close();
  }
});

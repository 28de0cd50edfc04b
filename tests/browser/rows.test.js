// The widget's rows and the wait page, against `errand demo`: a task waiting for input shows
// as a waiting row with its input link, and its wait page says so with the link; a finished
// task with a result link shows "view the result"; a failed task's wait page explains why.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Demo, browser, signedIn, act, tasks, until } from "./harness.js";

let demo;
let chrome;

before(async () => {
  demo = await Demo.start();
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  await demo?.close();
});

/** Opens errand's pages once through the demo's link (its token becomes errand's session
 * cookie), so that `/ui/tasks/{id}/wait` answers this user; then back to the demo. */
async function session(page) {
  const href = await page.locator("#tasks-link").getAttribute("href");
  await page.goto(`${demo.base}${href}`);
  await page.goBack();
}

/** Waits until the widget follows the event stream: rows then come from live events. */
function live(page) {
  return page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.live === "sse", null, { timeout: 10000 });
}

test("rows: a task waiting for input shows as a waiting row with its link, and its wait page says so", async () => {
  const page = await signedIn(chrome, demo, "asker");
  await session(page);
  await live(page);
  assert.equal(await act(page, "/demo/actions/rename/2"), 303);
  const task = await until("the rename to wait for input", async () =>
    (await tasks(page)).tasks.find((task) => task.state === "waiting" && task.links?.input_url));
  const expected = new URL(task.links.input_url, demo.base).href;
  assert.match(expected, new RegExp(`/demo/input/${task.id}\\?item=2$`));

  const row = page.locator("errand-tasks ul.waiting li");
  await row.first().waitFor({ timeout: 10000 });
  assert.equal(await row.count(), 1);
  assert.equal(await row.locator(".label").textContent(), "Needs your input");
  assert.equal(await row.locator(".title").textContent(), task.title);
  const answer = row.locator("a");
  assert.equal(await answer.textContent(), "Answer");
  assert.equal(await answer.evaluate((a) => a.href), expected);

  await page.goto(`${demo.base}/ui/tasks/${task.id}/wait`);
  const link = page.locator("#wait-explain a");
  await link.waitFor({ state: "visible", timeout: 10000 });
  assert.equal(await link.textContent(), "Give your input");
  assert.equal(await link.evaluate((a) => a.href), expected);
  assert.equal(await page.locator("#wait-state").textContent(), "This task needs your input.");
  assert.equal(await page.locator("#wait-lost").isHidden(), true);
  await page.context().close();
});

test("rows: a finished task's result link shows in the widget", async () => {
  const page = await signedIn(chrome, demo, "publisher");
  await live(page);
  // Publishing answers with a result_url (the item's page); the widget shows it once it saw
  // the task succeed.
  assert.equal(await act(page, "/demo/actions/publish/3"), 303);
  const done = await until("the publish to succeed", async () =>
    (await tasks(page)).tasks.find((task) => task.state === "succeeded"), 20000);
  assert.equal(done.links.result_url, "/demo/items/3");

  const row = page.locator("errand-tasks ul.finished li");
  await row.first().waitFor({ timeout: 10000 });
  assert.equal(await row.count(), 1);
  assert.equal(await row.locator(".title").textContent(), done.title);
  const result = row.locator("a");
  assert.equal(await result.textContent(), "View the result");
  assert.equal(await result.evaluate((a) => a.href), `${demo.base}/demo/items/3`);
  await page.context().close();
});

test("rows: the wait page of a failed task explains the failure", async () => {
  const page = await signedIn(chrome, demo, "importer");
  await session(page);
  assert.equal(await act(page, "/demo/actions/import"), 303);
  const failed = await until("the import to fail", async () =>
    (await tasks(page)).tasks.find((task) => task.state === "failed"), 20000);
  assert.ok(failed.error?.message, "the failed task carries an error message");

  await page.goto(`${demo.base}/ui/tasks/${failed.id}/wait?return=/demo/`);
  const explain = page.locator("#wait-explain");
  await explain.waitFor({ state: "visible", timeout: 10000 });
  assert.equal(await explain.textContent(), failed.error.message);
  assert.equal(await page.locator("#wait-state").textContent(), "This task failed.");
  // A failed task sends no one on: the page stays.
  assert.equal(page.url(), `${demo.base}/ui/tasks/${failed.id}/wait?return=/demo/`);
  await page.context().close();
});

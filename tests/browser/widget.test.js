// The widget in the demo's page, in chromium: the banner follows tasks live, progress moves,
// failed tasks stay until dismissed, users are kept apart, hints refresh the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Demo, browser, signedIn, act, tasks, until, ensureScreenshots, screenshots } from "./harness.js";

let demo;
let chrome;

before(async () => {
  demo = await Demo.start();
  chrome = await browser();
  ensureScreenshots();
  // Items 1 to 36: the deletes take from the front (1 to 18); single items are taken from 30 on.
  const page = await signedIn(chrome, demo, "setup");
  assert.equal(await act(page, "/demo/actions/refill"), 303);
  assert.equal(await act(page, "/demo/actions/refill"), 303);
  await page.context().close();
});

after(async () => {
  await chrome?.close();
  await demo?.close();
});

/** The running count the widget shows (its data-running). */
function shown(page) {
  return page.locator("errand-tasks").getAttribute("data-running");
}

test("the banner count rises and falls within a second of tasks starting and finishing", async () => {
  const page = await signedIn(chrome, demo, "counter");
  // `?still=1` marks the page data-errand-no-reload: the deletes' reload hint leaves it be.
  await page.goto(`${demo.base}/demo/?still=1`);
  await page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.live === "sse");
  assert.equal(await act(page, "/demo/actions/delete"), 303);
  // Each time the API's count changes, the banner must show it within a second.
  const seen = new Set();
  let finished = false;
  while (!finished) {
    const { counts } = await tasks(page, "limit=1");
    const truth = counts.running;
    await page.waitForFunction(
      async (truth) => {
        const widget = document.querySelector("errand-tasks");
        return widget.dataset.running === String(truth);
      },
      truth,
      { timeout: 1000, polling: 50 },
    ).catch(async () => {
      // The count may have moved on meanwhile: only a banner behind the API's present fails.
      const now = (await tasks(page, "limit=1")).counts.running;
      assert.equal(await shown(page), String(now), `the banner shows ${await shown(page)}, the API ${now}`);
    });
    seen.add(truth);
    const view = await page.evaluate(() => {
      const widget = document.querySelector("errand-tasks");
      return { running: widget.dataset.running, summary: widget.shadowRoot.querySelector(".summary").textContent };
    });
    if (view.running === "2") {
      assert.equal(view.summary, "2 tasks running");
      if (!seen.has("shot")) {
        seen.add("shot");
        const box = await page.locator("errand-tasks").boundingBox();
        await page.screenshot({
          path: join(screenshots, "banner.png"),
          clip: { x: 0, y: Math.max(0, box.y - 8), width: 1000, height: box.height + 16 },
          animations: "disabled",
        });
      }
    }
    const all = await tasks(page, "limit=100");
    finished = all.tasks.length === 6 && all.tasks.every((task) => task.state === "succeeded");
  }
  assert.ok(seen.has(2), `two deletes ran at once (queue of 2 slots); counts seen: ${[...seen]}`);
  await page.waitForFunction(() => document.querySelector("errand-tasks").dataset.running === "0", null, { timeout: 1000 });
  assert.equal(await page.locator("errand-tasks .panel").isHidden(), true, "nothing shown when nothing runs");
  await page.context().close();
});

test("a progress bar moves", async () => {
  const page = await signedIn(chrome, demo, "progress");
  await act(page, "/demo/actions/convert/30");
  const bar = page.locator("errand-tasks .bar");
  const first = Number(await until("a progress bar", async () => {
    const value = (await bar.count()) && (await bar.getAttribute("aria-valuenow"));
    return value && Number(value) > 0 ? value : null;
  }));
  await until("the bar to move on", async () => Number(await bar.getAttribute("aria-valuenow")) > first);
  await page.context().close();
});

test("a failed task survives a reload until dismissed, and stays dismissed", async () => {
  const page = await signedIn(chrome, demo, "failing");
  await act(page, "/demo/actions/import");
  const failed = page.locator("errand-tasks ul.failed li");
  await failed.first().waitFor();
  assert.match(await failed.first().textContent(), /Importing a spreadsheet/);
  await page.reload();
  await failed.first().waitFor();
  assert.equal(await failed.count(), 1);
  // Keyboard: the dismiss button is reachable and works with Enter.
  await failed.first().locator("button.dismiss").focus();
  await page.keyboard.press("Enter");
  await until("the failed task to go", async () => (await failed.count()) === 0);
  await page.reload();
  await page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.running === "0");
  assert.equal(await failed.count(), 0);
  await page.context().close();
});

test("the details page shows the traceback, and the token leaves the address", async () => {
  const page = await signedIn(chrome, demo, "details");
  await act(page, "/demo/actions/import");
  const details = page.locator("errand-tasks ul.failed li a");
  await details.first().waitFor();
  await details.first().click();
  await page.locator("#error-detail").waitFor();
  assert.doesNotMatch(page.url(), /token=/);
  const traceback = await page.locator("#error-detail").textContent();
  assert.match(traceback, /Traceback \(most recent call last\)/);
  assert.match(traceback, /ValueError: line 7/);
  await page.screenshot({ path: join(screenshots, "details.png"), fullPage: true });
  await page.context().close();
});

test("one user never sees another user's tasks, in the widget or the pages", async () => {
  const alice = await signedIn(chrome, demo, "alice");
  const bob = await signedIn(chrome, demo, "bob");
  await act(alice, "/demo/actions/import");
  const aliceTasks = await until("alice's failed task", async () => {
    const list = await tasks(alice);
    return list.tasks.find((task) => task.state === "failed");
  });
  await alice.locator("errand-tasks ul.failed li").first().waitFor();
  await bob.reload();
  await bob.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.running === "0");
  assert.equal(await bob.locator("errand-tasks ul.failed li").count(), 0);
  assert.equal((await tasks(bob)).tasks.length, 0);
  await bob.goto(await bob.locator("#tasks-link").getAttribute("href").then((href) => `${demo.base}${href}`));
  assert.doesNotMatch(await bob.content(), /Importing a spreadsheet/);
  const response = await bob.goto(`${demo.base}/ui/tasks/${aliceTasks.id}`);
  assert.equal(response.status(), 404);
  await alice.context().close();
  await bob.context().close();
});

test("the wait page sends the user on when the task succeeds", async () => {
  const page = await signedIn(chrome, demo, "waiter");
  await page.goto(await page.locator("#tasks-link").getAttribute("href").then((href) => `${demo.base}${href}`));
  await page.goBack();
  await act(page, "/demo/actions/publish/32");
  const task = await until("the publish task", async () => (await tasks(page)).tasks[0]);
  await page.goto(`${demo.base}/ui/tasks/${task.id}/wait?return=/demo/`);
  await page.waitForURL(`${demo.base}/demo/items/32`);
  assert.match(await page.locator("p").first().textContent(), /^Published/);
  await page.context().close();
});

test("the task list shows running and failed tasks", async () => {
  const page = await signedIn(chrome, demo, "lister");
  await act(page, "/demo/actions/import");
  await act(page, "/demo/actions/convert/31");
  await page.locator("errand-tasks .bar").waitFor();
  await page.locator("errand-tasks ul.failed li").first().waitFor();
  await page.goto(await page.locator("#tasks-link").getAttribute("href").then((href) => `${demo.base}${href}`));
  await page.locator("#running progress").waitFor();
  await page.locator("#failed").waitFor();
  await page.screenshot({ path: join(screenshots, "task-list.png"), fullPage: true });
  await page.context().close();
});

test("a reload_if_path hint reloads the listing, but never a page with unsaved input", async () => {
  const page = await signedIn(chrome, demo, "reloader");
  await page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.live === "sse");
  // Unsaved input: the deletes succeed, the page stays.
  await page.fill("#note-text", "half-written");
  await page.evaluate(() => {
    window.marker = "kept";
    window.succeeded = 0;
    document.addEventListener("errand:task-succeeded", () => { window.succeeded += 1; });
  });
  const before = Number(await page.locator("#items table").getAttribute("data-count"));
  await act(page, "/demo/actions/delete");
  await page.waitForFunction(() => window.succeeded >= 6, null, { timeout: 20000 });
  assert.equal(await page.evaluate(() => window.marker), "kept");
  // No unsaved input: the next delete reloads the page, and its listing has fewer items.
  await page.fill("#note-text", "");
  const reloaded = page.waitForEvent("load", { timeout: 20000 });
  await act(page, "/demo/actions/delete");
  await reloaded;
  assert.equal(await page.evaluate(() => window.marker), undefined);
  const after = await until("the listing to shrink", async () => {
    const count = Number(await page.locator("#items table").getAttribute("data-count"));
    return count <= before - 7 ? count : null;
  }, 20000);
  assert.ok(after <= before - 7);
  await page.context().close();
});

test("an inject hint replaces a fragment without a reload", async () => {
  const page = await signedIn(chrome, demo, "injector");
  await page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.live === "sse");
  await page.evaluate(() => { window.marker = "kept"; });
  const row = page.locator('#items tr[data-item="33"]');
  assert.equal(await row.locator(".published").count(), 0);
  await act(page, "/demo/actions/publish/33");
  await row.locator(".published").waitFor({ timeout: 10000 });
  assert.equal(await page.evaluate(() => window.marker), "kept");
  await page.context().close();
});

// The widget embedded in another origin's page: `errand serve` with `[ui] allowed_origins`
// lets that origin's page fetch the API and follow the event stream (CORS); a page of an
// origin not in the list gets neither, and shows no banner.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, browser } from "./harness.js";

const binary = process.env.ERRAND_BIN || join(root, "target", "debug", "errand");
const ADMIN_KEY = "cross-origin-test-admin-key-0123456789";

let dir;
let errand; // { process, base }
let allowed; // { server, origin }
let other;
let chrome;
let token = "";

/** A static server answering every path with a page that embeds the widget from errand. */
function pageServer() {
  const server = createServer((_, response) => {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Embedding page</title>
<script src="${errand.base}/widget/errand.js" defer></script></head>
<body><h1>Another origin</h1>
<errand-tasks base-url="${errand.base}" token="${token}"></errand-tasks></body></html>`);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}

/** Starts `errand serve`; resolves once its stderr says where the API listens. */
function serve(config) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ["serve", "--listen", "127.0.0.1:0", "--config", config], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ERRAND_LOG: "info", NO_COLOR: "1" },
    });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`errand serve did not start in 20 s:\n${out}`)), 20000);
    const read = (chunk) => {
      out += chunk;
      const found = out.match(/API listening address=(\S+)/);
      if (found) {
        clearTimeout(timer);
        resolve({ process: child, base: `http://${found[1]}` });
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`errand serve exited (${code}):\n${out}`));
    });
  });
}

/** Calls errand's API with the admin key. */
async function api(method, path, body) {
  const response = await fetch(`${errand.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "errand-cross-origin-"));
  // The origins first: errand's configuration names the allowed one.
  allowed = await pageServer();
  other = await pageServer();
  const config = join(dir, "errand.toml");
  writeFileSync(config, `database_url = "sqlite://${join(dir, "errand.db")}"

[auth]
api_keys = [{ key = "${ADMIN_KEY}", scopes = ["admin"] }]
user_token_secret = "cross-origin-test-user-token-secret-0123456789"
encryption_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

[ui]
allowed_origins = ["${allowed.origin}"]
`);
  errand = await serve(config);
  token = (await api("POST", "/v1/tokens", { owner: "alice", ttl_seconds: 3600 })).token;
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  const child = errand?.process;
  if (child && child.exitCode === null && child.signalCode === null) {
    await new Promise((resolve) => {
      child.once("exit", resolve);
      child.kill("SIGTERM");
    });
  }
  for (const server of [allowed?.server, other?.server]) {
    if (server) await new Promise((resolve) => server.close(resolve));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the widget works cross-origin from an allowed origin, and not from another", async () => {
  const page = await (await chrome.newContext()).newPage();
  await page.goto(`${allowed.origin}/`);
  // Live on the event stream before the task exists: the banner then follows its events.
  await page.waitForFunction(() => document.querySelector("errand-tasks")?.dataset.live === "sse", null, { timeout: 10000 });

  const task = await api("POST", "/v1/tasks", { name: "x", owner: "alice", title: "Cross-origin task" });
  await api("POST", `/v1/tasks/${task.id}/start`);
  await page.waitForFunction(() => {
    const widget = document.querySelector("errand-tasks");
    const root = widget?.shadowRoot;
    return widget?.dataset.running === "1"
      && root.querySelector(".summary")?.textContent === "1 task running"
      && [...root.querySelectorAll(".title")].some((title) => title.textContent === "Cross-origin task");
  }, null, { timeout: 10000 });

  // Another origin, while the task runs: the browser blocks its fetch and its event stream.
  const stranger = await (await chrome.newContext()).newPage();
  const blocked = [];
  stranger.on("console", (message) => {
    if (/CORS policy/.test(message.text())) blocked.push(message.text());
  });
  await stranger.goto(`${other.origin}/`);
  // The widget tried both: the stream failed (it fell back to polling) and the fetch failed.
  await stranger.waitForFunction(() => {
    const widget = document.querySelector("errand-tasks");
    return widget?.dataset.live === "poll" && widget.dataset.offline === "true";
  }, null, { timeout: 10000 });
  const view = await stranger.evaluate(() => {
    const widget = document.querySelector("errand-tasks");
    return { running: widget.dataset.running ?? null, summary: widget.shadowRoot.querySelector(".summary")?.textContent ?? "" };
  });
  assert.deepEqual(view, { running: null, summary: "" }, "no banner on a page of an origin not allowed");
  assert.doesNotMatch(await stranger.locator("errand-tasks").innerText(), /task running/);
  assert.ok(blocked.some((text) => text.includes(other.origin)), `a CORS error names ${other.origin}: ${blocked}`);
  await stranger.context().close();

  // The task completes: the allowed page's banner goes.
  await api("POST", `/v1/tasks/${task.id}/complete`, { result: { ok: true } });
  await page.waitForFunction(() => {
    const widget = document.querySelector("errand-tasks");
    return widget.dataset.running === "0" && widget.shadowRoot.querySelector(".summary").textContent === "";
  }, null, { timeout: 10000 });
  assert.equal(await page.locator("errand-tasks .panel").isHidden(), true, "nothing shown when nothing runs");
  await page.context().close();
});

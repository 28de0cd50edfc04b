// What the browser tests share: an `errand demo` process (started, stopped, restarted on the
// same port and data directory), Debian's chromium driven by playwright-core, and waits on
// conditions with deadlines (never sleeps).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");
export const screenshots = join(root, "docs", "screenshots");
const binary = process.env.ERRAND_BIN || join(root, "target", "debug", "errand");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

/** A running `errand demo`. */
export class Demo {
  constructor(dataDir, listen) {
    this.dataDir = dataDir;
    this.listen = listen;
    this.process = null;
    this.base = null;
  }

  /** Starts a demo on a free port with a fresh data directory. */
  static async start() {
    const demo = new Demo(mkdtempSync(join(tmpdir(), "errand-browser-")), "127.0.0.1:0");
    await demo.run();
    return demo;
  }

  /** Starts the process; resolves once it printed its URL. */
  run() {
    return new Promise((resolve, reject) => {
      const child = spawn(binary, ["demo", "--listen", this.listen, "--data-dir", this.dataDir], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
      });
      this.process = child;
      let out = "";
      let err = "";
      const timer = setTimeout(() => reject(new Error(`errand demo did not start in 20 s:\n${out}${err}`)), 20000);
      child.stderr.on("data", (chunk) => { err += chunk; });
      child.stdout.on("data", (chunk) => {
        out += chunk;
        const found = out.match(/open (http:\/\/[^\s/]+)\/demo\//);
        if (found && !this.base) {
          clearTimeout(timer);
          this.base = found[1];
          this.listen = this.base.replace("http://", "");
          resolve(this);
        } else if (found) {
          clearTimeout(timer);
          resolve(this);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        if (this.process === child) this.process = null;
        reject(new Error(`errand demo exited (${code}):\n${out}${err}`));
      });
    });
  }

  /** Stops the process (SIGTERM drains it); resolves once it exited. */
  stop() {
    const child = this.process;
    if (!child) return Promise.resolve();
    this.process = null;
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  async close() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Debian's chromium, headless, with playwright's fresh user-data-dir per launch. */
export async function browser() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** A page of the demo signed in as `user` (its own context: its own cookies). */
export async function signedIn(chrome, demo, user) {
  const context = await chrome.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  await page.goto(`${demo.base}/demo/?user=${user}`);
  return page;
}

/** The widget's token in the page. */
export function tokenOf(page) {
  return page.locator("errand-tasks").getAttribute("token");
}

/** POSTs a demo action from the page, without leaving it. */
export function act(page, path) {
  return page.evaluate(async (path) => {
    const response = await fetch(path, { method: "POST", redirect: "manual" });
    // The demo answers 303 back to its page: an opaque redirect to fetch.
    return response.type === "opaqueredirect" ? 303 : response.status;
  }, path);
}

/** The user's tasks, as the API answers them (from the page, with its token). */
export function tasks(page, query = "limit=100") {
  return page.evaluate(async (query) => {
    const token = document.querySelector("errand-tasks").getAttribute("token");
    const response = await fetch(`/v1/tasks?${query}`, { headers: { Authorization: `Bearer ${token}` } });
    return response.json();
  }, query);
}

/** Waits until `check` answers something truthy, or fails after `ms`. */
export async function until(what, check, ms = 10000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the poll's interval, not a wait for an event
  }
}

export function ensureScreenshots() {
  mkdirSync(screenshots, { recursive: true });
}

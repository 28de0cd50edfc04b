/*
 * errand's widget: <errand-tasks base-url token tasks-url poll-seconds lang>.
 *
 * One file, no dependencies, no build step. It shows the signed-in user's background tasks in
 * the page: how many run (with each one's progress), the failed ones until dismissed, the ones
 * waiting for input, and a "view the result" link when one finishes. It follows
 * `GET /v1/events` (Server-Sent Events), reconnects with backoff, and polls `GET /v1/tasks`
 * while the stream is down. Every task text is set with textContent, never as HTML.
 *
 * DOM events on `document`, with the task as `detail`: errand:task-queued, -started,
 * -progress, -succeeded, -failed, -cancelled, -waiting; errand:token-expired (detail: the
 * element). `errand:refresh` on document makes it refetch at once.
 *
 * Refresh hints, from a task's `context` when it succeeds: `reload_if_path` (paths: reload
 * when the current path is one of them) and `inject` ({url, target}: fetch a same-origin HTML
 * fragment into the element `target` selects). A page with unsaved form input, or carrying
 * `data-errand-no-reload`, is never reloaded.
 */
(() => {
  "use strict";
  if (customElements.get("errand-tasks")) return;

  const STRINGS = {
    en: {
      running: (n) => (n === 1 ? "1 task running" : `${n} tasks running`),
      failed: "Failed",
      details: "Details",
      dismiss: "Dismiss",
      waiting: "Needs your input",
      answer: "Answer",
      result: "View the result",
      done: "Done",
      allTasks: "All tasks",
      started: (t) => `Started: ${t}`,
      succeeded: (t) => `Done: ${t}`,
      failedSay: (t, m) => `Failed: ${t}${m ? ` (${m})` : ""}`,
      waitingSay: (t) => `Needs your input: ${t}`,
      region: "Background tasks",
    },
    fr: {
      running: (n) => (n === 1 ? "1 tâche en cours" : `${n} tâches en cours`),
      failed: "Échec",
      details: "Détails",
      dismiss: "Fermer",
      waiting: "Attend votre réponse",
      answer: "Répondre",
      result: "Voir le résultat",
      done: "Terminé",
      allTasks: "Toutes les tâches",
      started: (t) => `Commencé : ${t}`,
      succeeded: (t) => `Terminé : ${t}`,
      failedSay: (t, m) => `Échec : ${t}${m ? ` (${m})` : ""}`,
      waitingSay: (t) => `Attend votre réponse : ${t}`,
      region: "Tâches en arrière-plan",
    },
  };

  /** DOM event suffix for a task that moved into `state`. */
  const EVENT_OF_STATE = {
    queued: "queued",
    scheduled: "queued",
    running: "started",
    succeeded: "succeeded",
    failed: "failed",
    cancelled: "cancelled",
    expired: "cancelled",
    waiting: "waiting",
  };
  const FINAL = new Set(["succeeded", "failed", "cancelled", "expired"]);
  const BACKOFF_MAX_MS = 30000;

  const STYLE = `
    :host { display: block; font: var(--errand-font, inherit); color: var(--errand-fg, inherit); }
    .panel { background: var(--errand-bg, #f6f7f9); border: 1px solid var(--errand-border, #d0d4da);
      border-radius: var(--errand-radius, 6px); padding: var(--errand-padding, .5rem .75rem); }
    .panel[hidden] { display: none; }
    ul { list-style: none; margin: 0; padding: 0; }
    li { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem .75rem; padding: .25rem 0; }
    .summary { font-weight: 600; margin: 0 0 .25rem; }
    .title { flex: 1 1 12rem; }
    .bar { flex: 0 0 8rem; height: .5rem; background: var(--errand-track, #dde1e6);
      border-radius: var(--errand-radius, 6px); overflow: hidden; }
    .bar[hidden] { display: none; }
    .bar > span { display: block; height: 100%; width: 0; background: var(--errand-accent, #2f6fde);
      transition: width .3s; }
    .message { flex-basis: 100%; font-size: .9em; opacity: .85; }
    .failed .label { color: var(--errand-error, #b3261e); font-weight: 600; }
    a { color: var(--errand-link, var(--errand-accent, #2f6fde)); }
    button { font: inherit; background: none; border: 1px solid transparent; border-radius: 4px;
      cursor: pointer; color: inherit; padding: 0 .4rem; line-height: 1.4; }
    button:hover, button:focus-visible { border-color: var(--errand-border, #d0d4da); }
    a:focus-visible, button:focus-visible { outline: 2px solid var(--errand-focus, var(--errand-accent, #2f6fde));
      outline-offset: 2px; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
      white-space: nowrap; }
  `;

  /** Creates an element with a class and text (never HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** A link, only to http(s) or relative URLs. */
  function link(href, text) {
    const a = el("a", null, text);
    try {
      const url = new URL(href, document.baseURI);
      if (url.protocol === "http:" || url.protocol === "https:") a.href = url.href;
    } catch (_) {
      /* not a URL: shown as text */
    }
    return a;
  }

  /** Whether the page holds a form with unsaved input. */
  function dirtyForm() {
    for (const field of document.querySelectorAll("input, textarea, select")) {
      if (field.form === null && !field.closest("form")) continue;
      if (field.tagName === "SELECT") {
        for (const option of field.options) if (option.selected !== option.defaultSelected) return true;
      } else if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked !== field.defaultChecked) return true;
      } else if (field.type !== "hidden" && field.type !== "submit" && field.type !== "button"
                 && field.value !== field.defaultValue) {
        return true;
      }
    }
    return false;
  }

  class ErrandTasks extends HTMLElement {
    static get observedAttributes() {
      return ["token", "base-url", "lang", "tasks-url", "poll-seconds"];
    }

    constructor() {
      super();
      /** @type {Map<string, object>} the tasks, by id */
      this.tasks = new Map();
      /** ids of tasks this page saw succeed with a result link */
      this.finished = new Set();
      this.lastSeq = null;
      this.source = null;
      this.pollTimer = null;
      this.reconnectTimer = null;
      this.backoff = 500;
      this.generation = 0;
      this.expired = false;
      this.touched = new Map();
      this.onRefresh = () => this.refresh();
      const root = this.attachShadow({ mode: "open" });
      root.appendChild(el("style", null, STYLE));
      this.live = el("div", "sr");
      this.live.setAttribute("role", "status");
      this.live.setAttribute("aria-live", "polite");
      root.appendChild(this.live);
      this.panel = el("section", "panel");
      this.panel.hidden = true;
      this.panel.tabIndex = -1;
      root.appendChild(this.panel);
      this.summary = el("p", "summary");
      this.runningList = el("ul", "running");
      this.waitingList = el("ul", "waiting");
      this.failedList = el("ul", "failed");
      this.finishedList = el("ul", "finished");
      this.allLink = el("a", "all");
      this.panel.append(this.summary, this.runningList, this.waitingList, this.failedList,
        this.finishedList, this.allLink);
    }

    connectedCallback() {
      document.addEventListener("errand:refresh", this.onRefresh);
      this.start();
    }

    disconnectedCallback() {
      document.removeEventListener("errand:refresh", this.onRefresh);
      this.stop();
    }

    attributeChangedCallback(name, before, after) {
      if (!this.isConnected || before === after) return;
      if (name === "token" || name === "base-url") {
        this.expired = false;
        this.start();
      } else {
        this.render();
      }
    }

    get base() {
      return (this.getAttribute("base-url") || "").replace(/\/+$/, "");
    }

    get token() {
      return this.getAttribute("token") || "";
    }

    get tasksUrl() {
      return this.getAttribute("tasks-url") || `${this.base}/ui/tasks`;
    }

    /**
     * A link to errand's pages. Without a `tasks-url`, they are errand's own `/ui` pages, which
     * take the token once (`?token=`), keep it in a cookie and drop it from the address.
     */
    pageUrl(id) {
      const url = id ? `${this.tasksUrl}/${encodeURIComponent(id)}` : this.tasksUrl;
      if (this.hasAttribute("tasks-url") || !this.token) return url;
      return `${url}?token=${encodeURIComponent(this.token)}`;
    }

    get pollMs() {
      const seconds = Number(this.getAttribute("poll-seconds"));
      return (Number.isFinite(seconds) && seconds > 0 ? seconds : 15) * 1000;
    }

    get t() {
      const lang = (this.getAttribute("lang") || document.documentElement.lang || "en").toLowerCase();
      return STRINGS[lang.split("-")[0]] || STRINGS.en;
    }

    /**
     * (Re)starts: the event stream first, then a fetch once it is open, so that nothing that
     * happens between the two is missed (events newer than the fetch win over it).
     */
    start() {
      this.stop();
      if (!this.token) return;
      this.generation++;
      this.connect();
    }

    stop() {
      this.generation++;
      if (this.source) this.source.close();
      this.source = null;
      clearTimeout(this.pollTimer);
      clearTimeout(this.reconnectTimer);
      this.pollTimer = this.reconnectTimer = null;
    }

    /** Opens the event stream; on failure, polls and tries again with backoff. */
    connect() {
      if (typeof EventSource === "undefined") {
        this.refresh();
        return this.schedulePoll();
      }
      const generation = this.generation;
      let url = `${this.base}/v1/events?token=${encodeURIComponent(this.token)}`;
      if (this.lastSeq !== null) url += `&since=${this.lastSeq}`;
      const source = new EventSource(url);
      this.source = source;
      source.addEventListener("open", () => {
        this.backoff = 500;
        clearTimeout(this.pollTimer);
        this.pollTimer = null;
        this.refresh().then(() => {
          if (generation === this.generation && this.source === source) this.dataset.live = "sse";
        });
      });
      source.addEventListener("task", (message) => this.onEvent(message));
      source.addEventListener("resync", () => this.refresh());
      source.addEventListener("error", () => {
        if (generation !== this.generation) return;
        source.close();
        this.source = null;
        this.dataset.live = "poll";
        // The stream is down: is the token the reason? The refetch tells (401 token_expired).
        this.refresh().then(() => {
          if (generation !== this.generation || this.expired) return;
          this.schedulePoll();
          this.reconnectTimer = setTimeout(() => this.connect(), this.backoff);
          this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
        });
      });
    }

    schedulePoll() {
      clearTimeout(this.pollTimer);
      const generation = this.generation;
      this.pollTimer = setTimeout(async () => {
        if (generation !== this.generation || this.source?.readyState === 1) return;
        await this.refresh();
        if (generation === this.generation && !this.expired) this.schedulePoll();
      }, this.pollMs);
    }

    onEvent(message) {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      if (!data || !data.task || !data.task.id) return;
      if (typeof data.seq === "number") this.lastSeq = data.seq;
      this.touched.set(data.task.id, performance.now());
      this.apply(data.task, data.kind === "progress");
      this.render();
    }

    /** Fetches the user's open and failed tasks; fires events for what changed since. */
    async refresh() {
      if (!this.token) return;
      const started = performance.now();
      const generation = this.generation;
      let response;
      try {
        response = await fetch(`${this.base}/v1/tasks?state=running,waiting,failed,queued,scheduled&limit=100`, {
          headers: { Authorization: `Bearer ${this.token}` },
          credentials: "omit",
        });
      } catch (_) {
        this.dataset.offline = "true";
        return;
      }
      delete this.dataset.offline;
      if (generation !== this.generation) return;
      if (response.status === 401) {
        const body = await response.json().catch(() => ({}));
        if (body && body.error && body.error.code === "token_expired") this.tokenExpired();
        return;
      }
      if (!response.ok) return;
      const body = await response.json().catch(() => null);
      if (!body || !Array.isArray(body.tasks)) return;
      const seen = new Set();
      for (const task of body.tasks) {
        seen.add(task.id);
        // An event newer than this fetch knows better.
        if ((this.touched.get(task.id) || 0) > started) continue;
        this.apply(task, false);
      }
      // Tasks that left the list finished meanwhile (or were dismissed): ask for each.
      for (const [id, task] of this.tasks) {
        if (seen.has(id) || (this.touched.get(id) || 0) > started) continue;
        if (FINAL.has(task.state) && task.state !== "failed") continue;
        if (task.state === "failed" && task.dismissed) continue;
        const fresh = await this.fetchTask(id);
        if (fresh) this.apply(fresh, false);
        else this.tasks.delete(id);
      }
      this.render();
    }

    async fetchTask(id) {
      try {
        const response = await fetch(`${this.base}/v1/tasks/${encodeURIComponent(id)}`, {
          headers: { Authorization: `Bearer ${this.token}` },
          credentials: "omit",
        });
        return response.ok ? await response.json() : null;
      } catch (_) {
        return null;
      }
    }

    tokenExpired() {
      if (this.expired) return;
      this.expired = true;
      this.stop();
      document.dispatchEvent(new CustomEvent("errand:token-expired", { detail: this }));
    }

    /** Takes a task's new version; fires the DOM event and follows hints on a change. */
    apply(task, progressEvent) {
      const before = this.tasks.get(task.id);
      this.tasks.set(task.id, task);
      const initial = !this.loaded;
      if (before && before.state === task.state) {
        const moved = JSON.stringify(before.progress) !== JSON.stringify(task.progress);
        if (moved || progressEvent) this.fire("progress", task);
        return;
      }
      if (!before && initial) return;
      const kind = EVENT_OF_STATE[task.state];
      if (kind) this.fire(kind, task);
      const title = task.title || task.name;
      if (task.state === "running") this.say(this.t.started(title));
      if (task.state === "waiting") this.say(this.t.waitingSay(title));
      if (task.state === "failed") this.say(this.t.failedSay(title, task.error && task.error.message));
      if (task.state === "succeeded") {
        this.say(this.t.succeeded(title));
        if (task.links && task.links.result_url && !task.dismissed) this.finished.add(task.id);
        this.followHints(task);
      }
    }

    fire(kind, task) {
      document.dispatchEvent(new CustomEvent(`errand:task-${kind}`, { detail: task }));
    }

    say(text) {
      this.live.textContent = text;
    }

    followHints(task) {
      const context = task.context;
      if (!context || typeof context !== "object") return;
      const inject = context.inject;
      if (inject && typeof inject.url === "string" && typeof inject.target === "string") {
        this.inject(inject.url, inject.target);
      }
      const paths = Array.isArray(context.reload_if_path) ? context.reload_if_path : [];
      if (paths.includes(location.pathname)) {
        if (document.querySelector("[data-errand-no-reload]") || dirtyForm()) return;
        location.reload();
      }
    }

    async inject(href, selector) {
      let url;
      try {
        url = new URL(href, location.href);
      } catch (_) {
        return;
      }
      if (url.origin !== location.origin) return;
      let target;
      try {
        target = document.querySelector(selector);
      } catch (_) {
        return;
      }
      if (!target) return;
      try {
        const response = await fetch(url.href, { credentials: "same-origin" });
        if (!response.ok) return;
        // The fragment is the application's own HTML, from its own origin.
        target.innerHTML = await response.text();
        document.dispatchEvent(new CustomEvent("errand:injected", { detail: { url: url.href, target: selector } }));
      } catch (_) {
        /* the listing stays as it was */
      }
    }

    async dismiss(id) {
      try {
        const response = await fetch(`${this.base}/v1/tasks/${encodeURIComponent(id)}/dismiss`, {
          method: "POST",
          headers: { Authorization: `Bearer ${this.token}` },
          credentials: "omit",
        });
        if (response.status === 401) return this.refresh();
        if (response.ok) this.tasks.set(id, await response.json());
      } catch (_) {
        return;
      }
      this.finished.delete(id);
      this.render();
      this.panel.focus();
    }

    /** Draws the panel from `this.tasks`, keeping rows (and focus) where they are. */
    render() {
      this.loaded = true;
      const t = this.t;
      const all = [...this.tasks.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
      const running = all.filter((task) => task.state === "running");
      const waiting = all.filter((task) => task.state === "waiting");
      const failed = all.filter((task) => task.state === "failed" && !task.dismissed);
      const finished = all.filter((task) => this.finished.has(task.id) && task.state === "succeeded" && !task.dismissed);
      this.summary.textContent = running.length ? t.running(running.length) : "";
      this.summary.hidden = running.length === 0;
      this.sync(this.runningList, running, (row, task) => {
        this.text(row, ".title", task.title || task.name);
        const known = task.progress && typeof task.progress.percent === "number";
        const percent = known ? Math.max(0, Math.min(100, task.progress.percent)) : 0;
        const bar = row.querySelector(".bar");
        bar.hidden = !known;
        bar.setAttribute("aria-valuenow", String(Math.round(percent)));
        bar.setAttribute("aria-label", task.title || task.name);
        bar.firstChild.style.width = `${percent}%`;
        this.text(row, ".message", (task.progress && task.progress.message) || "");
      }, () => {
        const row = el("li");
        const bar = el("div", "bar");
        bar.setAttribute("role", "progressbar");
        bar.setAttribute("aria-valuemin", "0");
        bar.setAttribute("aria-valuemax", "100");
        bar.appendChild(el("span"));
        row.append(el("span", "title"), bar, el("span", "message"));
        return row;
      });
      this.sync(this.waitingList, waiting, (row, task) => {
        this.text(row, ".label", t.waiting);
        this.text(row, ".title", task.title || task.name);
        const old = row.querySelector("a");
        const href = (task.links && task.links.input_url) || this.pageUrl(task.id);
        if (old.getAttribute("data-href") !== href) {
          const fresh = link(href, t.answer);
          fresh.setAttribute("data-href", href);
          old.replaceWith(fresh);
        }
        row.querySelector("a").textContent = t.answer;
      }, () => {
        const row = el("li");
        row.append(el("span", "label"), el("span", "title"), el("a"));
        return row;
      });
      this.sync(this.failedList, failed, (row, task) => {
        this.text(row, ".label", t.failed);
        this.text(row, ".title", task.title || task.name);
        this.text(row, ".message", (task.error && task.error.message) || "");
        const details = row.querySelector("a");
        details.textContent = t.details;
        details.href = this.pageUrl(task.id);
        const button = row.querySelector("button");
        button.setAttribute("aria-label", `${t.dismiss}: ${task.title || task.name}`);
        button.title = t.dismiss;
      }, () => this.dismissable("failed"));
      this.sync(this.finishedList, finished, (row, task) => {
        this.text(row, ".label", t.done);
        this.text(row, ".title", task.title || task.name);
        const a = row.querySelector("a");
        const href = task.links.result_url;
        if (a.getAttribute("data-href") !== href) {
          const fresh = link(href, t.result);
          fresh.setAttribute("data-href", href);
          a.replaceWith(fresh);
        }
        row.querySelector("button").setAttribute("aria-label", `${t.dismiss}: ${task.title || task.name}`);
      }, () => this.dismissable("finished"));
      this.allLink.textContent = t.allTasks;
      this.allLink.href = this.pageUrl(null);
      const empty = !running.length && !waiting.length && !failed.length && !finished.length;
      this.panel.hidden = empty;
      this.panel.setAttribute("aria-label", t.region);
      this.dataset.running = String(running.length);
    }

    dismissable(kind) {
      const row = el("li", kind);
      const button = el("button", "dismiss", "×");
      button.type = "button";
      row.append(el("span", "label"), el("span", "title"), el("a"), button, el("span", "message"));
      button.addEventListener("click", () => this.dismiss(row.dataset.id));
      return row;
    }

    text(row, selector, value) {
      const node = row.querySelector(selector);
      if (node && node.textContent !== value) node.textContent = value;
    }

    /** Makes `list` hold one row per task, in order, reusing rows by task id. */
    sync(list, tasks, update, create) {
      const rows = new Map([...list.children].map((row) => [row.dataset.id, row]));
      let previous = null;
      for (const task of tasks) {
        let row = rows.get(task.id);
        rows.delete(task.id);
        if (!row) {
          row = create(task);
          row.dataset.id = task.id;
        }
        update(row, task);
        const next = previous ? previous.nextSibling : list.firstChild;
        if (next !== row) list.insertBefore(row, next);
        previous = row;
      }
      for (const row of rows.values()) row.remove();
      list.hidden = tasks.length === 0;
    }
  }

  customElements.define("errand-tasks", ErrandTasks);
})();

// jobqueue's dashboard: a hash-routed page that calls the API's documented JSON routes with the bearer token the
// user signed in with. The token lives in this tab's sessionStorage only (never a URL, a cookie or a log); every
// value from the API is put in the page as text, never as HTML.
"use strict";

const BASE = location.pathname.replace(/\/dashboard\/?$/, "");
const TOKEN_KEY = "jobqueue.token";
const PAGE = 25;
const STATES = ["waiting", "active", "delayed", "prioritized", "completed", "failed"];
const REFRESH_MS = 5000;
let readOnly = false;
let refreshTimer = null;
let routeCount = 0;  // the latest route() call: only its page may be shown

// -- small helpers ------------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const main = () => document.getElementById("main");
const enc = encodeURIComponent;
const when = (ms) => (ms ? new Date(Number(ms)).toISOString().replace("T", " ").replace("Z", " UTC") : "—");
const json = (value) => h("pre", {}, JSON.stringify(value, null, 2));
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function say(text, error) {
  const status = document.getElementById("status");
  status.replaceChildren(h("p", { class: error ? "error" : null }, text));
}

/** A page to show: route() shows it unless a newer route() or a sign-out came first. */
const view = (title, ...content) => ({ title, content });

function show({ title, content }) {
  document.title = `${title} · jobqueue`;
  main().replaceChildren(h("h1", {}, title), ...h("div", {}, content).childNodes);
}

// -- the API ------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY) || "";
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(BASE + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store",
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401) {
    // A late answer to a token already replaced (a wrong one, then the right one) must not sign the new one out.
    if (sessionStorage.getItem(TOKEN_KEY) === token) signOut("The token was refused: sign in again.");
    throw new ApiError(401, "signed out");
  }
  if (!response.ok) throw new ApiError(response.status, (data && data.message) || `HTTP ${response.status}`);
  return data;
}

async function act(label, method, path, body) {
  try {
    const result = await api(method, path, body);
    say(`${label}: done.`);
    return result;
  } catch (error) {
    if (error.status !== 401) say(`${label} failed: ${error.message}`, true);
    throw error;
  }
}

function action(label, handler, css, question) {
  if (readOnly) return null;
  return h("button", {
    type: "button", class: css || null,
    onclick: async (event) => {
      if (question && !window.confirm(question)) return;
      event.target.disabled = true;
      try { await handler(); await route(); } catch { /* said in the status line */ } finally {
        event.target.disabled = false;
      }
    },
  }, label);
}

// -- signing in ---------------------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  routeCount += 1;  // a page still loading must not replace the sign-in form
  clearTimeout(refreshTimer);
  showSignIn(message);
}

function showSignIn(message) {
  document.getElementById("nav").hidden = true;
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true });
  const form = h("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value);
      try {
        await start();
      } catch (error) {
        if (error.status !== 401) say(`Could not sign in: ${error.message}`, true);
      }
    },
  }, h("label", { for: "token" }, "Token (the service token, or the read-only token)"), input,
  h("button", { type: "submit" }, "Sign in"));
  document.title = "Sign in · jobqueue";
  main().replaceChildren(h("section", { class: "signin" }, h("h1", {}, "Sign in"), form));
  if (message) say(message, true);
  input.focus();
}

async function start() {
  const session = await api("GET", "/session");
  readOnly = session.readOnly;
  document.getElementById("access").textContent = readOnly ? "read-only" : "full access";
  document.getElementById("nav").hidden = false;
  say(readOnly ? "Signed in, read-only: actions are hidden." : "Signed in.");
  await route();
}

// -- pages --------------------------------------------------------------------------------------------------

function eventSourceText(sources) {
  if (!sources) return h("span", { class: "warn" }, "unknown");
  if (sources.stopped) return h("span", { class: "warn" }, `stopped (${sources.disabled} disabled)`);
  if (sources.transitioning) return h("span", { class: "warn" }, `${sources.transitioning} changing`);
  return h("span", { class: "good" }, `receiving (${sources.enabled} enabled)`);
}

async function overview() {
  const data = await api("GET", "/overview");
  const rows = data.queues.map((q) => h("tr", {},
    h("th", { scope: "row" }, h("a", { href: `#/queue/${enc(q.queueName)}` }, q.queueName)),
    ...["waiting", "active", "delayed", "completed", "failed", "deadLetters", "completedLastHour", "failedLastHour"]
      .map((k) => h("td", { class: "num" }, q[k])),
    h("td", {}, q.paused ? h("span", { class: "warn" }, "paused") : "running"),
    h("td", {}, eventSourceText(q.eventSources))));
  const head = ["Queue", "Waiting", "Active", "Delayed", "Completed", "Failed", "Dead letters",
    "Completed (1 h)", "Failed (1 h)", "State", "Event sources"];
  return view("Queues",
    h("p", {}, `Refreshed ${when(Date.now())}; live every ${REFRESH_MS / 1000} s.`),
    h("table", {}, h("caption", {}, "Every queue of the catalog"),
      h("thead", {}, h("tr", {}, head.map((t, i) => h("th", { scope: "col", class: i && i < 9 ? "num" : null }, t)))),
      h("tbody", {}, rows)));
}

async function queuePage(name, params) {
  const state = STATES.includes(params.get("state")) ? params.get("state") : "waiting";
  const start = Math.max(0, Number.parseInt(params.get("start") || "0", 10) || 0);
  const q = `/queues/${enc(name)}`;
  const [status, list] = await Promise.all([
    api("GET", q), api("GET", `${q}/jobs?state=${state}&start=${start}&end=${start + PAGE - 1}`)]);
  const href = (s, at) => `#/queue/${enc(name)}?state=${s}&start=${at}`;
  const count = state === "waiting" ? status.waiting : status[state];
  const tabs = h("nav", { class: "tabs", "aria-label": "Job states" }, STATES.map((s) =>
    h("a", { href: href(s, 0), "aria-current": s === state ? "page" : null },
      `${s}${status[s] !== undefined ? ` (${status[s]})` : ""}`)));
  const search = h("input", { id: "job-id", name: "job-id", required: true });
  const searchForm = h("form", {
    role: "search",
    onsubmit: (event) => { event.preventDefault(); location.hash = `#/job/${enc(name)}/${enc(search.value)}`; },
  }, h("label", { for: "job-id" }, "Find a job by id"), search, h("button", { type: "submit" }, "Open"));
  const cleanState = h("select", { id: "clean-state", name: "clean-state" },
    ["completed", "failed", "waiting", "delayed", "prioritized"].map((s) => h("option", { value: s }, s)));
  const actions = readOnly ? [] : [
    status.paused
      ? action("Resume", () => act("Resume", "POST", `${q}/resume`))
      : action("Pause", () => act("Pause", "POST", `${q}/pause`), "secondary"),
    action("Retry failed", () => act("Retry failed", "POST", `${q}/retry-failed`, {})),
    action("Drain waiting", () => act("Drain", "POST", `${q}/drain`, {}), "danger",
      `Remove every waiting job of ${name}?`),
    state === "delayed" ? action("Promote all delayed", () => act("Promote all delayed", "POST", `${q}/promote`, {}),
      null, `Start every delayed job of ${name} now?`) : null,
    h("label", { for: "clean-state" }, "State to clean", cleanState),
    action("Clean state", () => act("Clean", "POST", `${q}/clean`, { state: cleanState.value, grace: 0 }), "danger",
      `Remove the ${name} jobs in the chosen state?`),
  ];
  const rows = list.jobs.map((job) => h("tr", {},
    h("th", { scope: "row" }, h("a", { href: `#/job/${enc(name)}/${enc(job.id)}` }, job.id)),
    h("td", {}, job.name), h("td", { class: "num" }, job.attemptsMade), h("td", {}, when(job.processedOn)),
    h("td", {}, when(job.finishedOn)), h("td", {}, job.failedReason || "")));
  const pager = h("nav", { class: "pager", "aria-label": "Pages of jobs" },
    start > 0 ? h("a", { href: href(state, Math.max(0, start - PAGE)) }, "Previous page") : null,
    h("span", {}, `Jobs ${list.jobs.length ? start + 1 : 0}–${start + list.jobs.length} of ${count ?? "?"}`),
    list.jobs.length === PAGE ? h("a", { href: href(state, start + PAGE) }, "Next page") : null);
  return view(`Queue ${name}`,
    h("p", {}, status.paused ? h("span", { class: "warn" }, "Paused") : "Running", " · event sources: ",
      eventSourceText(status.eventSources)),
    actions.length ? h("div", { class: "actions" }, actions) : null,
    searchForm, tabs,
    h("table", {}, h("caption", {}, `${state} jobs`),
      h("thead", {}, h("tr", {}, ["Id", "Name", "Attempts", "Processed", "Finished", "Failed reason"]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)),
    pager);
}

function timelineList(timeline) {
  const steps = [{ at: timeline.addedAt, node: h("li", {}, `Added ${when(timeline.addedAt)}`) }];
  for (const a of timeline.attempts) {
    const text = { retry: "failed, retried", failed: "failed for good", completed: "completed" }[a.outcome];
    steps.push({ at: a.endedAt, node: h("li", { class: a.outcome },
      h("strong", {}, `Attempt ${a.attempt}`), ` ${text} at ${when(a.endedAt)}`,
      a.reason ? ` — ${a.reason}` : "",
      a.delayMs !== null ? h("span", { class: "wait" }, `waited ${seconds(a.delayMs)} before the next attempt`) : null) });
  }
  for (const e of timeline.events.filter((x) => x.event === "waiting" && x.fields.prev === "failed")) {
    steps.push({ at: e.at, node: h("li", {}, `Sent back to work (retry or redrive) at ${when(e.at)}`) });
  }
  for (const e of timeline.events.filter((x) => x.event === "waiting" && x.fields.prev === "delayed")) {
    steps.push({ at: e.at, node: h("li", {}, `Promoted: started before its delay ran out, at ${when(e.at)}`) });
  }
  steps.sort((x, y) => x.at - y.at);
  return h("ol", { class: "timeline", "aria-label": "Attempts" }, steps.map((step) => step.node));
}

async function jobPage(queue, id) {
  const path = `/queues/${enc(queue)}/jobs/${enc(id)}`;
  const [job, logs, timeline] = await Promise.all([
    api("GET", path), api("GET", `${path}/logs`), api("GET", `${path}/timeline`)]);
  const actions = readOnly ? [] : [
    job.state === "failed" ? action("Retry", () => act("Retry", "POST", `${path}/retry`)) : null,
    job.state === "delayed" ? action("Promote", () => act("Promote", "POST", `${path}/promote`)) : null,
    action("Remove", async () => {
      await act("Remove", "DELETE", path);
      location.hash = `#/queue/${enc(queue)}`;
    }, "danger", `Remove job ${id}?`),
  ];
  return view(`Job ${id}`,
    h("p", {}, h("a", { href: `#/queue/${enc(queue)}` }, `Back to ${queue}`)),
    h("div", { class: "actions" }, actions),
    h("dl", {},
      h("dt", {}, "Queue"), h("dd", {}, queue), h("dt", {}, "Name"), h("dd", {}, job.name),
      h("dt", {}, "State"), h("dd", { id: "job-state" }, job.state),
      h("dt", {}, "Attempts made"), h("dd", {}, job.attemptsMade),
      h("dt", {}, "Processed"), h("dd", {}, when(job.processedOn)),
      h("dt", {}, "Finished"), h("dd", {}, when(job.finishedOn)),
      h("dt", {}, "Failed reason"), h("dd", {}, job.failedReason || "—")),
    h("h2", {}, "Timeline"),
    timeline.complete ? null : h("p", { class: "warn" }, "Older events were trimmed from the queue's stream."),
    timelineList(timeline),
    h("h2", {}, "Data"), json(job.data),
    h("h2", {}, "Options"), json(job.opts),
    h("h2", {}, "Progress"), json(job.progress),
    h("h2", {}, "Return value"), json(job.returnvalue),
    h("h2", {}, `Logs (${logs.count})`), h("pre", {}, logs.logs.join("\n") || "—"),
    h("h2", {}, "Stack traces"),
    job.stacktrace.length ? job.stacktrace.map((t, i) => [h("h3", {}, `Failed attempt ${i + 1}`), h("pre", {}, t)])
      : h("p", {}, "—"));
}

async function deadLetters() {
  const [queues, stats] = await Promise.all([api("GET", "/queues"), api("GET", "/stats")]);
  const owners = queues.queues.filter((q) => (stats.deadLetters[q.deadLetter] || 0) > 0);
  const lists = await Promise.all(owners.map((q) => api("GET", `/queues/${enc(q.name)}/dlq?start=0&end=99`)));
  const sections = lists.filter((l) => l.records.length).map((list) => {
    const dlq = `/queues/${enc(list.queue)}/dlq`;
    const rows = list.records.map((r) => h("tr", {},
      h("th", { scope: "row" }, h("a", { href: `#/job/${enc(r.queue)}/${enc(r.originalJobId)}` }, r.originalJobId)),
      h("td", {}, r.queue), h("td", {}, r.name), h("td", {}, h("code", {}, JSON.stringify(r.data))),
      h("td", {}, r.error), h("td", { class: "num" }, r.attemptsMade), h("td", {}, r.failedAt),
      h("td", {}, action(`Redrive ${r.originalJobId}`, () =>
        act("Redrive", "POST", `${dlq}/redrive`, { recordIds: [r.recordId] })),
      " ", action(`Remove ${r.originalJobId}`, () => act("Remove", "DELETE", `${dlq}/${enc(r.recordId)}`), "danger"))));
    return h("section", {},
      h("h2", {}, `${list.queue} → ${list.deadLetterQueue}`),
      h("div", { class: "actions" }, action(`Redrive all of ${list.queue}`,
        () => act("Redrive all", "POST", `${dlq}/redrive`, {}))),
      h("table", {}, h("caption", {}, `Dead letters of ${list.queue}`),
        h("thead", {}, h("tr", {}, ["Job id", "Queue", "Name", "Data", "Error", "Attempts", "Failed at", "Actions"]
          .map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows)));
  });
  return view("Dead letters", sections.length ? sections : h("p", {}, "No dead letters."));
}

async function schedules() {
  const [list, queues] = await Promise.all([api("GET", "/schedules"), api("GET", "/queues")]);
  const rows = list.schedules.map((s) => h("tr", {},
    h("th", { scope: "row" }, s.name), h("td", {}, s.queue), h("td", {}, s.pattern || `every ${s.every} ms`),
    h("td", {}, s.tz), h("td", {}, h("code", {}, s.expression)),
    h("td", {}, (s.nextRuns || []).slice(0, 3).join(", ")),
    h("td", {}, s.source === "api" ? "run time" : "catalog"),
    h("td", {}, s.source === "api"
      ? action(`Remove ${s.name}`, () => act("Remove schedule", "DELETE", `/schedules/${enc(s.name)}`), "danger")
      : null)));
  const field = (id, label, input) => h("label", { for: id }, label, input);
  const queue = h("select", { id: "schedule-queue", name: "queue" },
    queues.queues.map((q) => h("option", { value: q.name }, q.name)));
  const name = h("input", { id: "schedule-name", name: "name", required: true, pattern: "[A-Za-z0-9_.\\-]+" });
  const cron = h("input", { id: "schedule-pattern", name: "pattern", placeholder: "0 9 * * *" });
  const tz = h("input", { id: "schedule-tz", name: "tz", value: "UTC" });
  const form = readOnly ? null : h("form", {
    "aria-label": "Add a schedule",
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        await act("Add schedule", "POST", "/schedules",
          { queue: queue.value, name: name.value, pattern: cron.value, tz: tz.value });
        await route();
      } catch { /* said in the status line */ }
    },
  }, field("schedule-queue", "Queue", queue), field("schedule-name", "Job name", name),
  field("schedule-pattern", "Cron pattern", cron), field("schedule-tz", "Time zone", tz),
  h("button", { type: "submit" }, "Add schedule"));
  return view("Schedules",
    form ? [h("h2", {}, "Add a schedule"), form] : null,
    h("table", {}, h("caption", {}, "Repeatable jobs and their next runs (in their time zone)"),
      h("thead", {}, h("tr", {}, ["Name", "Queue", "Repeat", "Time zone", "Scheduler expression", "Next runs",
        "From", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
}

// -- routing ------------------------------------------------------------------------------------------------

async function route() {
  clearTimeout(refreshTimer);
  const mine = ++routeCount;
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  let shown;
  let live = false;  // the overview refreshes itself
  try {
    if (parts[0] === "queue" && parts[1]) shown = await queuePage(parts[1], params);
    else if (parts[0] === "job" && parts[1] && parts[2]) shown = await jobPage(parts[1], parts.slice(2).join("/"));
    else if (parts[0] === "dead-letters") shown = await deadLetters();
    else if (parts[0] === "schedules") shown = await schedules();
    else [shown, live] = [await overview(), true];
  } catch (error) {
    if (error.status === 401) return;
    shown = view("Something went wrong", h("p", { class: "bad" }, error.message));
  }
  // Pages load concurrently (the sign-in's first page and a link followed at once): a slower answer for an
  // earlier route, or one that arrives after a sign-out, must not replace what the user asked for last.
  if (mine !== routeCount) return;
  show(shown);
  if (live) {
    refreshTimer = setTimeout(() => { if (location.hash === "" || location.hash === "#/") route(); }, REFRESH_MS);
  }
}

window.addEventListener("hashchange", () => { route().then(() => main().focus()); });
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
  if (sessionStorage.getItem(TOKEN_KEY)) start().catch(() => undefined);
  else showSignIn();
});

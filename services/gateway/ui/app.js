// The operations page: plain modules, no framework, no build. It calls only the gateway's
// documented JSON API (services/gateway/openapi.json) with the token the operator pasted, which
// stays in this tab's sessionStorage and travels as `Authorization: Bearer`. Every text shown is
// set as text (never parsed as HTML).

import { $, h } from "./dom.js";
import { hideSets, renderSets } from "./sets.js";

const STORE = "artifact-bus-token";
const HOUR_MS = 3_600_000;
const DEST_POLL_MS = 3_000;

const state = {
  token: sessionStorage.getItem(STORE) ?? "",
  me: undefined,
  isAdmin: false,
  destinations: [],
  /** eventId -> status, the artifacts shown */
  artifacts: new Map(),
  /** what the artifacts view shows: {kind: "run", project, run} | {kind: "id", id} */
  view: undefined,
  letters: [],
  /** letter seq -> "replaying" | result text: a letter is replayed at most once from this page */
  replays: new Map(),
  /** destination -> true while its "retry all" runs */
  allInFlight: new Set(),
  /** eventId/destination -> {eventId, project, run, name, destination, error, at} seen dead live */
  liveDeaths: new Map(),
  liveAbort: undefined,
  timers: [],
};

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${state.token}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    let problem;
    try {
      problem = await res.json();
    } catch {}
    throw new ApiError(res.status, problem);
  }
  return res;
}
const getJson = async (path) => (await api(path)).json();

const fmtBytes = (n) => {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
};
const fmtTime = (iso) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
};
const enc = encodeURIComponent;

// ---- sign in / out ----

async function signIn() {
  $("login-error").textContent = "";
  try {
    state.me = await getJson("/v1/token");
  } catch (err) {
    $("login-error").textContent =
      err instanceof ApiError && err.status === 401 ? "This token is not known to the gateway." : String(err.message);
    sessionStorage.removeItem(STORE);
    state.token = "";
    return;
  }
  state.isAdmin = state.me.roles.includes("admin");
  // Pausing concerns every project: the API takes it from an admin token of project * only.
  state.isOperator = state.isAdmin && state.me.projects.includes("*");
  $("who").textContent = `Token ${state.me.id}: ${state.me.roles.join(", ")} of ${state.me.projects
    .map((p) => (p === "*" ? "every project" : p))
    .join(", ")}`;
  $("login").hidden = true;
  $("forget").hidden = false;
  $("destinations").hidden = false;
  $("artifacts").hidden = false;
  $("letters").hidden = !state.isAdmin;
  $("projects").replaceChildren(...state.me.projects.filter((p) => p !== "*").map((p) => h("option", { value: p })));
  const only = state.me.projects.filter((p) => p !== "*");
  if (only.length === 1 && !$("project").value) $("project").value = only[0];
  await refreshDestinations();
  state.timers.push(setInterval(refreshDestinations, DEST_POLL_MS));
  state.timers.push(setInterval(renderRecent, 60_000));
  if (state.isAdmin) await refreshLetters();
  void live();
  routeFromHash();
}

function signOut() {
  sessionStorage.removeItem(STORE);
  location.reload();
}

// ---- destinations ----

async function refreshDestinations() {
  try {
    const { destinations } = await getJson("/v1/destinations");
    state.destinations = destinations;
    renderDestinations();
    // Artifacts no uploader has touched yet make no ledger change to hear of (a destination
    // whose breaker is open takes none): while a run is shown, a change of the backlog reads it
    // again.
    const backlog = destinations.map((d) => `${d.consumer.pending}/${d.consumer.ackPending}`).join(",");
    if (state.view?.kind === "run" && state.backlog !== undefined && backlog !== state.backlog) {
      void listRun(state.view.project, state.view.run, { quiet: true });
    }
    state.backlog = backlog;
    $("dest-updated").textContent =
      `Updated ${new Date().toLocaleTimeString()}; refreshed every ${DEST_POLL_MS / 1000} s.`;
  } catch (err) {
    $("dest-updated").textContent = `Could not read destinations: ${err.message}`;
  }
}

function renderDestinations() {
  $("dest-body").replaceChildren(
    ...state.destinations.map((d) => {
      const pausedWhy = d.paused
        ? `paused by ${d.paused.by} at ${fmtTime(d.paused.at)}${d.paused.reason ? `: ${d.paused.reason}` : ""}`
        : "";
      const why =
        pausedWhy ||
        (d.breaker !== "closed" && d.lastError
          ? `${d.lastError.message} (${d.lastError.errorClass ?? "attempt failed"}, ${fmtTime(d.lastError.at)})`
          : d.breaker === "unknown"
            ? "no live replica"
            : d.breaker !== "closed"
              ? "no error seen by the gateway yet"
              : "");
      return h(
        "tr",
        { dataset: { destination: d.name } },
        h("th", { scope: "row" }, h("code", {}, d.name)),
        h(
          "td",
          { "data-label": "Breaker" },
          h("span", { class: `badge badge-${d.breaker}`, "data-field": "breaker" }, d.breaker),
          d.paused ? h("span", { class: "badge badge-paused", "data-field": "paused" }, "paused") : "",
        ),
        h("td", { "data-field": "why", "data-label": "Why" }, why),
        h("td", { class: "num", "data-field": "pending", "data-label": "Pending" }, String(d.consumer.pending)),
        h("td", { class: "num", "data-field": "inflight", "data-label": "In flight" }, String(d.consumer.ackPending)),
        h(
          "td",
          { class: "num", "data-field": "redelivered", "data-label": "Redelivered" },
          String(d.consumer.redelivered),
        ),
        h(
          "td",
          { class: "num", "data-field": "replicas", "data-label": "Replicas alive" },
          `${d.replicas.alive} of ${d.replicas.items.length}`,
        ),
        h(
          "td",
          {
            class: "num",
            "data-field": "rate",
            "data-label": "Landed",
            title: `${d.throughput.uploads} upload(s), ${fmtBytes(d.throughput.bytes)} in the last ${d.throughput.windowSeconds} s`,
          },
          `${d.throughput.uploadsPerSecond}/s, ${fmtBytes(d.throughput.bytesPerSecond)}/s`,
        ),
        h("td", { class: "num", "data-field": "dead", "data-label": "Dead letters" }, String(d.deadLetters)),
        h("td", { "data-label": "Pulling" }, state.isOperator ? pauseButton(d) : d.paused ? "paused" : "yes"),
      );
    }),
  );
}

/** Pause or resume `d` (operators only); disabled while the request is in flight, so a double click acts once. */
function pauseButton(d) {
  const action = d.paused ? "resume" : "pause";
  const button = h("button", { type: "button", "data-action": action }, d.paused ? "Resume" : "Pause");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(`/v1/destinations/${enc(d.name)}/${action}`, {
        method: "POST",
        ...(action === "pause" ? { body: JSON.stringify({ reason: "paused from the operations page" }) } : {}),
      });
      await refreshDestinations();
    } catch (err) {
      $("dest-updated").textContent = `Could not ${action} ${d.name}: ${err.message}`;
      button.disabled = false;
    }
  });
  return button;
}

// ---- artifacts ----

async function findById(id) {
  state.view = { kind: "id", id };
  hideSets();
  state.artifacts = new Map();
  $("artifacts-msg").textContent = `Looking up ${id}…`;
  try {
    const status = await getJson(`/v1/artifacts/${enc(id)}`);
    if (!viewWants(status.project, status.run, status.id)) return;
    state.artifacts.set(status.id, status);
    $("artifacts-msg").textContent = `Artifact version ${id}`;
  } catch (err) {
    $("artifacts-msg").textContent =
      err.status === 404 ? `No artifact version ${id} among your projects.` : err.message;
  }
  renderArtifacts();
}

/** Lists a run; `quiet` re-reads the run shown without clearing it first. */
async function listRun(project, run, { quiet = false } = {}) {
  state.view = { kind: "run", project, run };
  void refreshSets(project, run);
  if (!quiet) {
    hideSets();
    state.artifacts = new Map();
    renderArtifacts();
    $("artifacts-msg").textContent = `Listing ${project}/${run}…`;
  }
  try {
    const found = new Map();
    let cursor;
    do {
      const page = await getJson(
        `/v1/projects/${enc(project)}/runs/${enc(run)}/artifacts?limit=1000${cursor ? `&cursor=${enc(cursor)}` : ""}`,
      );
      for (const s of page.items) found.set(s.id, s);
      cursor = page.next;
    } while (cursor && found.size < 5000);
    // Another view was asked for meanwhile.
    if (state.view?.kind !== "run" || state.view.project !== project || state.view.run !== run) return;
    state.artifacts = found;
    $("artifacts-msg").textContent =
      `Run ${project}/${run}: ${found.size} artifact(s), newest version of each name; live.`;
  } catch (err) {
    $("artifacts-msg").textContent = err.message;
  }
  renderArtifacts();
}

/** The run's checkpoint sets, read again (a run's view only; few requests: see onLedger). */
async function refreshSets(project, run) {
  try {
    const { items } = await getJson(`/v1/projects/${enc(project)}/runs/${enc(run)}/sets`);
    if (state.view?.kind !== "run" || state.view.project !== project || state.view.run !== run) return;
    renderSets(items);
    $("sets-msg").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
  } catch (err) {
    if (state.view?.kind === "run" && state.view.project === project && state.view.run === run) hideSets();
    if (err.status !== 403 && err.status !== 404) $("artifacts-msg").textContent = `Sets: ${err.message}`;
  }
}

function readBackOf(name) {
  return state.destinations.find((d) => d.name === name)?.readBack === true;
}

/** Every version of a name in a run, newest first, with the newest error first. */
async function findName(project, run, name, { quiet = false } = {}) {
  state.view = { kind: "name", project, run, name };
  hideSets();
  if (!quiet) {
    state.artifacts = new Map();
    renderArtifacts();
    $("artifacts-msg").textContent = `Looking up ${name} in ${project}/${run}…`;
  }
  try {
    const found = await getJson(
      `/v1/projects/${enc(project)}/runs/${enc(run)}/versions/${name.split("/").map(enc).join("/")}`,
    );
    if (!viewWants(project, run, undefined, name)) return;
    state.artifacts = new Map(found.versions.map((v) => [v.id, v]));
    const e = found.latestError;
    $("artifacts-msg").replaceChildren(
      `${name} in ${project}/${run}: ${found.versions.length} version(s), newest first; live.`,
      e
        ? h(
            "span",
            { class: "error", "data-field": "latest-error" },
            ` Latest error (${e.destination}, ${fmtTime(e.at)}, version ${e.eventId}): ${e.error}`,
          )
        : "",
    );
  } catch (err) {
    $("artifacts-msg").textContent = err.status === 404 ? `No artifact ${name} in ${project}/${run}.` : err.message;
  }
  renderArtifacts();
}

function renderArtifacts() {
  // By name; a name's versions newest first.
  const rows = [...state.artifacts.values()].sort(
    (a, b) => a.name.localeCompare(b.name) || b.createdAt.localeCompare(a.createdAt),
  );
  $("artifact-body").replaceChildren(...rows.map(artifactRow));
}

function artifactRow(s) {
  const dests = Object.entries(s.destinations).map(([name, d]) => {
    const parts = [
      h("code", {}, name),
      " ",
      h("span", { class: `badge badge-${d.state}`, "data-field": "state" }, d.state),
    ];
    parts.push(` ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`);
    if (d.state === "uploading" && d.bytesDone !== undefined) {
      parts.push(`, ${fmtBytes(d.bytesDone)} of ${fmtBytes(s.size)}`);
    }
    if (d.error) parts.push(h("div", { class: "error", "data-field": "error" }, `Latest error: ${d.error}`));
    if (d.history?.length) {
      // Latest attempt first.
      const items = [...d.history]
        .reverse()
        .map((a) =>
          h(
            "li",
            { "data-field": "attempt", dataset: { outcome: a.outcome } },
            `#${a.attempt} ${a.outcome}, ${fmtTime(a.startedAt)} to ${fmtTime(a.endedAt)}, replica ${a.replica}`,
            a.error ? `: ${a.error}` : "",
          ),
        );
      parts.push(h("details", { class: "history" }, h("summary", {}, "Attempts"), h("ol", {}, ...items)));
    }
    if (d.state === "uploaded" && readBackOf(name)) {
      const href = `/v1/projects/${enc(s.project)}/runs/${enc(s.run)}/artifacts/${s.name
        .split("/")
        .map(enc)
        .join("/")}/content?destination=${enc(name)}`;
      parts.push(" ", h("a", { href, onclick: (e) => download(e, href, s.name) }, "download newest landed"));
    }
    return h("div", { class: "dest-state", dataset: { destination: name } }, ...parts);
  });
  return h(
    "tr",
    { id: `artifact-${s.id}`, dataset: { id: s.id, name: s.name } },
    h("td", { "data-label": "Name" }, s.name),
    h("td", { "data-label": "Event id" }, h("span", { class: "id" }, s.id)),
    h("td", { class: "num", "data-label": "Size" }, fmtBytes(s.size)),
    h("td", { "data-label": "At each destination" }, ...dests),
  );
}

/** A link cannot carry the bearer token: fetch the bytes with it and hand them to the browser. */
async function download(event, href, name) {
  event.preventDefault();
  try {
    const blob = await (await api(href)).blob();
    saveBlob(blob, name.split("/").pop() || "artifact");
  } catch (err) {
    $("artifacts-msg").textContent = `Download failed: ${err.message}`;
  }
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const fetching = new Set();
/** An artifact this view should show but does not have yet: read it once. */
async function fetchArtifact(id) {
  if (fetching.has(id)) return;
  fetching.add(id);
  try {
    const status = await getJson(`/v1/artifacts/${enc(id)}`);
    if (!viewWants(status.project, status.run, status.id, status.name)) return;
    // A run listing shows the newest version of each name; a name's view shows them all.
    for (const [other, s] of state.view?.kind === "name" ? [] : state.artifacts) {
      if (s.name === status.name && other !== status.id) {
        if (Date.parse(s.createdAt) > Date.parse(status.createdAt)) return;
        state.artifacts.delete(other);
      }
    }
    state.artifacts.set(status.id, status);
    renderArtifacts();
  } catch {
    // Not indexed yet: the next change of it tries again.
  } finally {
    fetching.delete(id);
  }
}

function viewWants(project, run, id, name) {
  const v = state.view;
  if (!v) return false;
  if (v.kind === "id") return v.id === id;
  return v.project === project && v.run === run && (v.kind !== "name" || v.name === name);
}

// ---- live ----

function setLive(text, cls) {
  const el = $("live-state");
  el.textContent = text;
  el.className = `badge badge-${cls}`;
}

async function live() {
  state.liveAbort = new AbortController();
  const { signal } = state.liveAbort;
  while (!signal.aborted) {
    try {
      const res = await api("/v1/events/live", { signal, headers: { accept: "text/event-stream" } });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let i = buffer.indexOf("\n\n"); i >= 0; i = buffer.indexOf("\n\n")) {
          onBlock(buffer.slice(0, i));
          buffer = buffer.slice(i + 2);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status === 401) return signOut();
    }
    setLive("reconnecting", "reconnecting");
    await new Promise((r) => setTimeout(r, 3000));
  }
}

function onBlock(block) {
  let event = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // heartbeat
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (event === "ready") {
    setLive("live", "live");
    // Whatever changed while not connected: read the shown state again.
    refreshView();
  } else if (event === "resync") {
    refreshView();
    if (state.isAdmin) void refreshLetters();
  } else if (event === "ledger") onLedger(JSON.parse(data));
}

function refreshView() {
  const v = state.view;
  if (v?.kind === "run") void listRun(v.project, v.run, { quiet: true });
  else if (v?.kind === "name") void findName(v.project, v.run, v.name, { quiet: true });
  else for (const id of state.artifacts.keys()) void fetchArtifact(id);
}

let destTimer;
let lettersTimer;
let setsTimer;
function onLedger(e) {
  // A member landing or dying changes its set's record before its own state is written: the
  // run's sets are read again, at most once per half second however many events flow.
  const v = state.view;
  if (v?.kind === "run" && v.project === e.project && v.run === e.run && setsTimer === undefined) {
    setsTimer = setTimeout(() => {
      setsTimer = undefined;
      void refreshSets(v.project, v.run);
    }, 500);
  }
  const shown = state.artifacts.get(e.eventId);
  if (shown) {
    const d = { state: e.state, attempts: e.attempts, updatedAt: e.updatedAt };
    if (e.error !== undefined) d.error = e.error;
    if (e.location !== undefined) d.location = e.location;
    if (e.bytesDone !== undefined) d.bytesDone = e.bytesDone;
    const before = shown.destinations[e.destination];
    if (!before || before.updatedAt <= e.updatedAt) shown.destinations[e.destination] = d;
    renderArtifacts();
  } else if (viewWants(e.project, e.run, e.eventId, e.name)) void fetchArtifact(e.eventId);
  if (e.state === "dead") {
    state.liveDeaths.set(`${e.eventId}/${e.destination}`, {
      eventId: e.eventId,
      project: e.project,
      run: e.run,
      name: e.name,
      destination: e.destination,
      error: e.error ?? "",
      at: e.updatedAt,
    });
    renderRecent();
    if (state.isAdmin) {
      clearTimeout(lettersTimer);
      lettersTimer = setTimeout(refreshLetters, 500);
    }
  }
  clearTimeout(destTimer);
  destTimer = setTimeout(refreshDestinations, 500);
}

// ---- recent failures ----

function renderRecent() {
  const since = Date.now() - HOUR_MS;
  const items = new Map();
  for (const l of state.letters) {
    if (Date.parse(l.failedAt) < since) continue;
    items.set(`${l.eventId}/${l.destination}`, {
      eventId: l.eventId,
      destination: l.destination,
      name: nameOf(l),
      error: l.reason,
      at: l.failedAt,
      seq: l.seq,
    });
  }
  for (const [k, d] of state.liveDeaths) if (Date.parse(d.at) >= since && !items.has(k)) items.set(k, d);
  const list = [...items.values()].sort((a, b) => b.at.localeCompare(a.at));
  $("recent").hidden = list.length === 0;
  $("recent-list").replaceChildren(
    ...list.map((f) =>
      h(
        "li",
        {},
        h(
          "a",
          { href: f.seq !== undefined ? `#letter-${f.seq}` : `#artifact=${enc(f.eventId ?? "")}` },
          `${f.name ?? f.eventId} at ${f.destination}`,
        ),
        ` ${fmtTime(f.at)}: ${f.error}`,
      ),
    ),
  );
}

// ---- dead letters ----

function nameOf(letter) {
  try {
    return JSON.parse(letter.payload).name;
  } catch {
    return undefined;
  }
}

async function refreshLetters() {
  try {
    const all = [];
    let after = 0;
    for (let page = 0; page < 20; page++) {
      const r = await getJson(`/v1/dead-letters?limit=1000&after=${after}`);
      all.push(...r.items);
      if (r.next === null) break;
      after = r.next;
    }
    state.letters = all;
    $("letters-msg").textContent = `${all.length} letter(s) of your projects; newest first.`;
  } catch (err) {
    $("letters-msg").textContent = `Could not read dead letters: ${err.message}`;
  }
  renderLetters();
  renderRecent();
}

function renderLetters() {
  const groups = new Map();
  for (const l of state.letters) {
    const list = groups.get(l.destination) ?? [];
    groups.set(l.destination, list);
    list.push(l);
  }
  const sections = [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([destination, letters]) =>
      letterGroup(
        destination,
        letters.sort((a, b) => b.seq - a.seq),
      ),
    );
  $("letter-groups").replaceChildren(
    ...(sections.length ? sections : [h("p", { class: "muted" }, "No dead letters among your projects.")]),
  );
}

function letterGroup(destination, letters) {
  const headingId = `letters-${destination.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const selected = () =>
    [...document.querySelectorAll(`input[data-letter-of="${CSS.escape(destination)}"]:checked`)].map((c) =>
      Number(c.value),
    );
  const allBusy = state.allInFlight.has(destination);
  return h(
    "div",
    { class: "letter-group", dataset: { destination } },
    h("h3", { id: headingId }, h("code", {}, destination), ` (${letters.length})`),
    h(
      "p",
      { class: "toolbar" },
      h(
        "button",
        {
          type: "button",
          onclick: (e) => retry(destination, selected(), e.currentTarget),
        },
        "Retry selected",
      ),
      h(
        "button",
        {
          type: "button",
          disabled: allBusy,
          onclick: (e) => retryAll(destination, e.currentTarget),
        },
        allBusy ? "Retrying all…" : `Retry all of ${destination}`,
      ),
    ),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { "aria-labelledby": headingId },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Select"),
            h("th", { scope: "col" }, "Seq"),
            h("th", { scope: "col" }, "Failed at"),
            h("th", { scope: "col" }, "Artifact"),
            h("th", { scope: "col" }, "Class"),
            h("th", { scope: "col" }, "Reason"),
            h("th", { scope: "col" }, "Attempts"),
            h("th", { scope: "col" }, "Action"),
          ),
        ),
        h("tbody", {}, ...letters.map((l) => letterRow(destination, l))),
      ),
    ),
  );
}

function letterRow(destination, l) {
  const replay = state.replays.get(l.seq);
  const busy = replay === "replaying";
  const checkboxId = `pick-${l.seq}`;
  return h(
    "tr",
    { id: `letter-${l.seq}`, dataset: { seq: l.seq, eventId: l.eventId ?? "" } },
    h(
      "td",
      {},
      h("input", {
        type: "checkbox",
        id: checkboxId,
        value: l.seq,
        "data-letter-of": destination,
        disabled: replay !== undefined,
      }),
      h("label", { for: checkboxId, class: "sr-only" }, `select letter ${l.seq}`),
    ),
    h("td", { class: "num" }, String(l.seq)),
    h("td", {}, fmtTime(l.failedAt)),
    h(
      "td",
      {},
      `${l.project ?? "?"}/${l.run ?? "?"} ${nameOf(l) ?? ""} `,
      l.eventId ? h("a", { href: `#artifact=${enc(l.eventId)}`, class: "id" }, l.eventId) : "",
    ),
    h("td", {}, l.errorClass),
    h("td", {}, l.reason),
    h("td", { class: "num" }, String(l.attempts)),
    h(
      "td",
      { "data-field": "replay" },
      replay === undefined || busy
        ? h(
            "button",
            {
              type: "button",
              disabled: busy,
              "aria-label": `Retry letter ${l.seq}`,
              onclick: (e) => retry(destination, [l.seq], e.currentTarget),
            },
            busy ? "Retrying…" : "Retry",
          )
        : replay,
    ),
  );
}

/**
 * Replays letters of one destination. A letter is sent at most once from this page: it is
 * marked before the request goes out, so a double click (or a click on "selected" that includes
 * it) sends nothing more; the gateway skips a letter replayed already as well.
 */
async function retry(destination, seqs, button) {
  const fresh = seqs.filter((s) => !state.replays.has(s));
  if (fresh.length === 0) return;
  for (const s of fresh) state.replays.set(s, "replaying");
  if (button) button.disabled = true;
  renderLetters();
  try {
    const res = await api("/v1/dead-letters/replay", {
      method: "POST",
      body: JSON.stringify({ destination, seqs: fresh }),
    });
    const { results } = await res.json();
    for (const r of results) state.replays.set(r.dlqSeq, r.replayed ? "replayed" : `not replayed: ${r.skipped ?? "?"}`);
    $("letters-msg").textContent = `Replayed ${results.filter((r) => r.replayed).length} of ${fresh.length}.`;
  } catch (err) {
    for (const s of fresh) state.replays.delete(s);
    $("letters-msg").textContent = `Replay failed: ${err.message}`;
  }
  renderLetters();
}

async function retryAll(destination, button) {
  if (state.allInFlight.has(destination)) return;
  state.allInFlight.add(destination);
  button.disabled = true;
  try {
    const res = await api("/v1/dead-letters/replay", { method: "POST", body: JSON.stringify({ destination }) });
    const { results } = await res.json();
    for (const r of results) state.replays.set(r.dlqSeq, r.replayed ? "replayed" : `not replayed: ${r.skipped ?? "?"}`);
    $("letters-msg").textContent = `Replayed ${results.filter((r) => r.replayed).length} letter(s) of ${destination}.`;
  } catch (err) {
    $("letters-msg").textContent = `Replay failed: ${err.message}`;
  } finally {
    state.allInFlight.delete(destination);
  }
  renderLetters();
}

function exportLetters() {
  const blob = new Blob(
    [`${JSON.stringify({ exportedAt: new Date().toISOString(), items: state.letters }, null, 2)}\n`],
    {
      type: "application/json",
    },
  );
  saveBlob(blob, `dead-letters-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
}

// ---- wiring ----

function routeFromHash() {
  const m = /^#artifact=(.+)$/.exec(location.hash);
  if (m && state.me) {
    const id = decodeURIComponent(m[1]);
    $("event-id").value = id;
    void findById(id);
  }
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  $("token").value = "";
  sessionStorage.setItem(STORE, state.token);
  void signIn();
});
$("find-id").addEventListener("submit", (e) => {
  e.preventDefault();
  void findById($("event-id").value.trim());
});
$("find-name").addEventListener("click", () => {
  const [project, run, name] = ["project", "run", "artifact-name"].map((id) => $(id).value.trim());
  if (!project || !run || !name) {
    $("artifacts-msg").textContent = "Finding by name needs the project, the run and the name.";
    return;
  }
  void findName(project, run, name);
});
$("find-run").addEventListener("submit", (e) => {
  e.preventDefault();
  void listRun($("project").value.trim(), $("run").value.trim());
});
$("forget").addEventListener("click", signOut);
$("refresh-letters").addEventListener("click", () => void refreshLetters());
$("export-letters").addEventListener("click", exportLetters);
window.addEventListener("hashchange", routeFromHash);
if (state.token) void signIn();

// The artifacts view: one artifact version by id, a run's newest versions, or every version of a
// name, each with its state at each destination; kept current by the live feed (see live.js).

import { getJson } from "./api.js";
import { $, h } from "./dom.js";
import { download } from "./download.js";
import { enc, fmtBytes, fmtTime } from "./format.js";
import { hideSets, renderSets } from "./sets.js";
import { state } from "./state.js";

export async function findById(id) {
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
export async function listRun(project, run, { quiet = false } = {}) {
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
export async function refreshSets(project, run) {
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
export async function findName(project, run, name, { quiet = false } = {}) {
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

export function renderArtifacts() {
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

const fetching = new Set();
/** An artifact this view should show but does not have yet: read it once. */
export async function fetchArtifact(id) {
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

export function viewWants(project, run, id, name) {
  const v = state.view;
  if (!v) return false;
  if (v.kind === "id") return v.id === id;
  return v.project === project && v.run === run && (v.kind !== "name" || v.name === name);
}

/** The live feed (re)connected or asked for a resync: what changed meanwhile is read again. */
export function refreshView() {
  const v = state.view;
  if (v?.kind === "run") void listRun(v.project, v.run, { quiet: true });
  else if (v?.kind === "name") void findName(v.project, v.run, v.name, { quiet: true });
  else for (const id of state.artifacts.keys()) void fetchArtifact(id);
}

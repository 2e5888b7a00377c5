// The operations page: plain modules, no framework, no build. It calls only the gateway's
// documented JSON API (services/gateway/openapi.json) with the token the operator pasted, which
// stays in this tab's sessionStorage and travels as `Authorization: Bearer`. Every text shown is
// set as text (never parsed as HTML).
//
// This module signs in and wires the page together; each panel is a module of its own (state.js
// holds what they share).

import { ApiError, getJson, signOut } from "./api.js";
import { findById, findName, listRun } from "./artifacts.js";
import { DEST_POLL_MS, refreshDestinations } from "./destinations.js";
import { $, h } from "./dom.js";
import { exportLetters, refreshLetters, renderRecent } from "./letters.js";
import { live } from "./live.js";
import { STORE, state } from "./state.js";

// ---- sign in ----

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

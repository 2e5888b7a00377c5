// The live feed: GET /v1/events/live read with `fetch` (an EventSource could not send the token),
// each ledger change applied to what the page shows.

import { ApiError, api, signOut } from "./api.js";
import { fetchArtifact, refreshSets, refreshView, renderArtifacts, viewWants } from "./artifacts.js";
import { refreshDestinations } from "./destinations.js";
import { $ } from "./dom.js";
import { refreshLetters, renderRecent } from "./letters.js";
import { state } from "./state.js";

function setLive(text, cls) {
  const el = $("live-state");
  el.textContent = text;
  el.className = `badge badge-${cls}`;
}

export async function live() {
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

// The destinations panel: each destination's breaker, backlog, rate and dead letters, read every
// few seconds; operators may pause and resume one here.

import { api, getJson } from "./api.js";
import { listRun } from "./artifacts.js";
import { $, h } from "./dom.js";
import { enc, fmtBytes, fmtTime } from "./format.js";
import { state } from "./state.js";

export const DEST_POLL_MS = 3_000;

export async function refreshDestinations() {
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

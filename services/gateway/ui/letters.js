// Dead letters (admins): listed by destination, replayed at most once each from this page,
// exported as JSON; and the recent failures strip drawn from them (and from deaths heard live),
// which is drawn again whenever the letters are read.

import { api, getJson } from "./api.js";
import { $, h } from "./dom.js";
import { saveBlob } from "./download.js";
import { enc, fmtTime } from "./format.js";
import { state } from "./state.js";

const HOUR_MS = 3_600_000;

// ---- recent failures ----

export function renderRecent() {
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

export async function refreshLetters() {
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

export function exportLetters() {
  const blob = new Blob(
    [`${JSON.stringify({ exportedAt: new Date().toISOString(), items: state.letters }, null, 2)}\n`],
    {
      type: "application/json",
    },
  );
  saveBlob(blob, `dead-letters-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
}

// A run's checkpoint sets as GET /v1/projects/{p}/runs/{r}/sets gives them: per set and
// destination its state, members landed of expected, the pointer, and a failed set's missing
// members with why each died (what `artifact-bus status --project P --run R` prints too).

import { $, h } from "./dom.js";

/** Shows `sets` (the route's items) under the run's artifacts; hides the section when there are none. */
export function renderSets(sets) {
  $("sets").hidden = sets.length === 0;
  $("set-pointers").replaceChildren(...pointerLines(sets));
  $("set-body").replaceChildren(...sets.map(setRow));
}

/** Hides the section (another view than a run's is shown). */
export function hideSets() {
  $("sets").hidden = true;
  $("set-body").replaceChildren();
  $("set-pointers").replaceChildren();
}

/** Which set each pointer names at each destination: the newest (by place) that moved it. */
function pointerLines(sets) {
  const named = new Map();
  for (const s of sets) {
    if (!s.pointerMoved || !s.pointer) continue;
    const key = `${s.destination}\n${s.pointer}`;
    const had = named.get(key);
    if (!had || had.place < s.place) named.set(key, s);
  }
  return [...named.values()]
    .sort((a, b) => a.destination.localeCompare(b.destination) || a.pointer.localeCompare(b.pointer))
    .map((s) =>
      h(
        "li",
        { "data-field": "pointer-names", dataset: { destination: s.destination, set: s.set } },
        "Pointer ",
        h("code", {}, s.pointer),
        " at ",
        h("code", {}, s.destination),
        " names ",
        h("code", {}, s.set),
      ),
    );
}

function setRow(s) {
  const pointer = s.pointerMoved === undefined ? "-" : s.pointerMoved ? "names it" : "names a newer set";
  const why = [
    ...(s.conflict ? [h("li", { "data-field": "conflict" }, s.conflict)] : []),
    ...s.missing.map((m) =>
      h(
        "li",
        { "data-field": "missing", dataset: { member: m.name } },
        h("code", {}, m.name),
        " (",
        h("span", { class: "id" }, m.eventId),
        "): ",
        h("span", { class: "error" }, m.reason),
      ),
    ),
  ];
  return h(
    "tr",
    { dataset: { set: s.set, destination: s.destination } },
    h("th", { scope: "row" }, h("code", {}, s.set)),
    h("td", { "data-label": "Destination" }, h("code", {}, s.destination)),
    h(
      "td",
      { "data-label": "State" },
      h("span", { class: `badge badge-set-${s.state}`, "data-field": "state" }, s.state),
      s.removed ? h("span", { class: "muted" }, " removed") : "",
    ),
    h(
      "td",
      { class: "num", "data-field": "members", "data-label": "Members landed" },
      `${s.landed}/${s.expected ?? "?"}`,
    ),
    h("td", { "data-field": "pointer", "data-label": "Pointer" }, pointer),
    h("td", { "data-label": "Missing, and why" }, why.length ? h("ul", {}, ...why) : ""),
  );
}

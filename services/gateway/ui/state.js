// What the page knows, shared by every panel: one object, imported where needed (never passed
// around), so a panel's change is seen by the others without wiring between them.

/** Where this tab keeps the token (sessionStorage): read at load, written at sign-in, removed at sign-out. */
export const STORE = "artifact-bus-token";

export const state = {
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

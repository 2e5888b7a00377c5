// What the page knows, shared by every panel: one object, imported where needed (never passed
// around), so a panel's change is seen by the others without wiring between them.

/** Where this tab keeps the token (sessionStorage): read at load, written at sign-in, removed at sign-out. */
export const STORE = "artifact-bus-token";

export const state = {
  token: sessionStorage.getItem(STORE) ?? "",
  me: undefined,
  isAdmin: false,
  /** an admin of every project: may pause and resume destinations */
  isOperator: false,
  destinations: [],
  /** eventId -> status, the artifacts shown */
  artifacts: new Map(),
  /** what the artifacts view shows: {kind: "run", project, run} | {kind: "id", id} | {kind: "name", project, run, name} */
  view: undefined,
  letters: [],
  /** letter seq -> "replaying" | result text: a letter is replayed at most once from this page */
  replays: new Map(),
  /** the destinations whose "retry all" runs now */
  allInFlight: new Set(),
  /** eventId/destination -> {eventId, project, run, name, destination, error, at} seen dead live */
  liveDeaths: new Map(),
  /** the destinations' queue lengths at the last poll: a change while a run is shown reads it again */
  backlog: undefined,
  liveAbort: undefined,
  timers: [],
};

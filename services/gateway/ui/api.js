// The gateway's documented JSON API, called with the token the operator pasted, which travels as
// `Authorization: Bearer` (never in a URL).

import { STORE, state } from "./state.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function api(path, init = {}) {
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
export const getJson = async (path) => (await api(path)).json();

export function signOut() {
  sessionStorage.removeItem(STORE);
  location.reload();
}

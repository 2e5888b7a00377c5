/**
 * `artifact-bus get --set`: fetch a complete checkpoint set through the HTTP gateway, every member
 * checked against the set's manifest (size and sha256) before it is renamed into place (a set of
 * one file, which has none: its file against the sha256 the gateway names for it). The token
 * comes from ARTIFACT_BUS_TOKEN only (never argv, never printed); the gateway from `--gateway` or
 * ARTIFACT_BUS_URL, the variables the Python client reads. Exit codes are in {@link GET_EXIT}.
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { checkSubjectToken, InvalidArtifactError } from "../contract/names.ts";
import { parseCommandArgs, USAGE_EXIT, UsageError } from "./args.ts";
import {
  downloadSet,
  GatewayError,
  NotLandedError,
  SetMismatchError,
  UnreadableDestinationError,
} from "./set-download.ts";

/** What `artifact-bus get` exits with; scripts may rely on these. */
export const GET_EXIT = {
  /** Every member placed, matching the manifest; the manifest written last (a set of one file: its file, matching its sha256). */
  ok: 0,
  /** A member does not match the manifest (named; nothing of it placed), or the pointer or manifest is malformed. */
  mismatch: 1,
  /** Bad arguments, no gateway given, or a `--destination` the gateway cannot read back from. */
  usage: USAGE_EXIT,
  /** No such pointer and no complete set of that name (no manifest, nor a file of its name) at the destination read. */
  notFound: 4,
  /** The gateway unreachable, the token refused, or another error answer. */
  unavailable: 5,
} as const;

/** What `get` takes; `get --help` prints these names. */
export const GET_OPTIONS = {
  project: { type: "string" },
  run: { type: "string" },
  set: { type: "string" },
  out: { type: "string" },
  gateway: { type: "string" },
  destination: { type: "string" },
} satisfies ParseArgsOptionsConfig;

export async function getCommand(args: string[]): Promise<number> {
  const request = requestOf(args);
  try {
    const got = await downloadSet(...request);
    const step = got.step === undefined ? "" : ` (step ${got.step})`;
    console.log(`set ${got.set}${step}: ${got.files.length} member(s), ${got.bytes} bytes, into ${request[2]}`);
    return GET_EXIT.ok;
  } catch (err) {
    console.error(`artifact-bus get: ${(err as Error).message}`);
    if (err instanceof NotLandedError) return GET_EXIT.notFound;
    if (err instanceof SetMismatchError) return GET_EXIT.mismatch;
    if (err instanceof GatewayError) return GET_EXIT.unavailable;
    if (err instanceof InvalidArtifactError || err instanceof UnreadableDestinationError) return GET_EXIT.usage;
    return GET_EXIT.unavailable;
  }
}

function requestOf(args: string[]): Parameters<typeof downloadSet> {
  const { values: v } = parseCommandArgs(args, GET_OPTIONS);
  if (v.set === undefined || v.out === undefined || v.project === undefined || v.run === undefined) {
    throw new UsageError("get needs --project P --run R --set NAME_OR_POINTER --out DIR");
  }
  const gateway = v.gateway ?? process.env.ARTIFACT_BUS_URL;
  if (!gateway) throw new UsageError("get reads through the HTTP gateway: give --gateway URL or set ARTIFACT_BUS_URL");
  if (!/^https?:\/\//.test(gateway)) throw new UsageError(`${JSON.stringify(gateway)} is not an http(s) URL`);
  const token = process.env.ARTIFACT_BUS_TOKEN;
  const source = {
    gateway,
    project: subjectToken("project", v.project),
    run: subjectToken("run", v.run),
    ...(token ? { token } : {}),
    ...(v.destination === undefined ? {} : { destination: v.destination }),
  };
  return [source, v.set, v.out];
}

function subjectToken(field: "project" | "run", value: string): string {
  try {
    return checkSubjectToken(field, value);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

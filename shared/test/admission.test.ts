/** What an uploader believes of a message: only what its subject vouches for. */

import { testEvent } from "@artifact-bus/testkit";
import { headers } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { admitDelivery, DLQ_SEQ_HEADER, ORDER_SEQ_HEADER } from "../src/contract/admission.ts";
import type { ArtifactEventV1 } from "../src/contract/schema.ts";
import { eventSubject, replaySubject } from "../src/contract/subjects.ts";

const event = (): ArtifactEventV1 => {
  const e = testEvent({ project: "demo", run: "r1", name: "models/best.pt", size: 3, sha256: "a".repeat(64) });
  return { ...e, blob: { ...e.blob, ref: `demo/r1/${e.id}` } };
};
const body = (e: object) => new TextEncoder().encode(JSON.stringify(e));
const admit = (subject: string, e: object, h?: ReturnType<typeof headers>) =>
  admitDelivery({ subject, data: body(e), headers: h, seq: 42 }, "s3_main");

describe("admission", () => {
  it("admits an event whose body agrees with its subject, ordered by its stream sequence", () => {
    const e = event();
    expect(admit(eventSubject(e), e)).toMatchObject({ ok: true, orderSeq: 42, eventsSubject: eventSubject(e) });
  });

  it("refuses a body that names another project, run or level than its subject, naming the field", () => {
    const e = event();
    const subject = eventSubject(e);
    for (const [field, forged] of [
      ["project", { project: "victim" }],
      ["run", { run: "other" }],
      ["level", { level: "batch" }],
    ] as const) {
      const r = admit(subject, { ...e, ...forged });
      expect(r).toMatchObject({ ok: false, eventId: e.id, project: "demo", run: "r1" });
      expect(!r.ok && r.reason).toMatch(new RegExp(`^invalid event: ${field}: the event says`));
    }
  });

  it("refuses a name whose key is not the subject's, and a blob ref the store would not derive", () => {
    const e = event();
    const r = admit(eventSubject(e), { ...e, name: "models/other.pt" });
    expect(!r.ok && r.reason).toMatch(
      /^invalid event: name: the event says "models\/other.pt" \(key \w+\), its subject key \w+/,
    );
    for (const ref of ["../../etc/passwd", `victim/r1/${e.id}`, `demo/r1/${e.id}x`]) {
      const bad = admit(eventSubject(e), { ...e, blob: { ...e.blob, ref } });
      expect(!bad.ok && bad.reason).toMatch(/^invalid event: blob\.ref: .* must be "demo\/r1\//);
    }
  });

  it("takes a replay only on the replay subject of this destination, with its original's place", () => {
    const e = event();
    const h = headers();
    h.set(ORDER_SEQ_HEADER, "7");
    h.set(DLQ_SEQ_HEADER, "3");
    expect(admit(replaySubject("s3_main", e), e, h)).toMatchObject({
      ok: true,
      orderSeq: 7,
      replayDlqSeq: 3,
      eventsSubject: eventSubject(e),
    });
    expect(admit(replaySubject("sftp_archive", e), e, h)).toMatchObject({ ok: false });
    expect(admit(replaySubject("s3_main", e), e)).toMatchObject({ ok: false });
    // Replay fields in the body of an ordinary event mean nothing: it is ordered as itself.
    expect(admit(eventSubject(e), { ...e, replayOf: "ev-victim-1", replayFor: "s3:main" })).toMatchObject({
      ok: true,
      orderSeq: 42,
    });
  });

  it("keeps what can be trusted of garbage: no id unless well-formed, project and run from the subject", () => {
    const e = event();
    const r = admitDelivery({ subject: eventSubject(e), data: new TextEncoder().encode("{nope"), seq: 1 }, "s3_main");
    expect(r).toMatchObject({ ok: false, project: "demo", run: "r1" });
    expect(!r.ok && r.eventId).toBeUndefined();
  });
});

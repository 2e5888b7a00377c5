/**
 * The put progress renderers against a fake stream and fake timers: a terminal gets bars redrawn
 * in place, at most REDRAW_PER_SECOND times a second however often progress arrives, always
 * ending on the newest state; a pipe gets plain lines, a state change at once and progress at
 * most every PLAIN_PROGRESS_MS. The real command on a pseudo-terminal and on a pipe is in
 * test/put-progress.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PLAIN_PROGRESS_MS } from "../src/cli/progress/plain-progress.ts";
import { putProgress } from "../src/cli/progress/put-progress.ts";
import { REDRAW_PER_SECOND } from "../src/cli/progress/terminal-progress.ts";

const MiB = 1 << 20;
const ESC = "\x1b[";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 100, write: (s: string) => writes.push(s) } };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("on a terminal", () => {
  it("redraws bars in place at most a few times a second and ends on the newest state", () => {
    const { writes, stream } = fakeStream(true);
    const p = putProgress(stream, { name: "ckpt.pt", total: 64 * MiB });
    // Staging reports every 64 KiB for 2 s: 1024 reports.
    for (let i = 1; i <= 1024; i++) {
      p.staging(i * 64 * 1024);
      vi.advanceTimersByTime(2);
    }
    vi.advanceTimersByTime(1000);
    const stagingFrames = writes.length;
    expect(stagingFrames).toBeGreaterThanOrEqual(2 * REDRAW_PER_SECOND - 1);
    expect(stagingFrames).toBeLessThanOrEqual(2 * REDRAW_PER_SECOND + 2);
    expect(writes.at(-1)).toContain("100%");
    expect(writes.at(-1)).toContain("64.0 MiB / 64.0 MiB");
    p.staged();

    p.waiting(["s3:main", "sftp:archive"]);
    for (let i = 1; i <= 100; i++) {
      p.update("s3:main", { state: "uploading", bytesDone: i * 0.32 * MiB });
      vi.advanceTimersByTime(10);
    }
    p.update("sftp:archive", { state: "pending", error: "connection refused" });
    vi.advanceTimersByTime(1000);
    const frame = writes.at(-1) ?? "";
    // Redrawn over its own two rows: up two lines, each row erased before it is written.
    expect(frame.startsWith(`${ESC}2F`)).toBe(true);
    expect(frame.split(`${ESC}2K`)).toHaveLength(3);
    expect(frame).toMatch(/s3:main +\[█{12}░{12}\] +50% +32\.0 MiB \/ 64\.0 MiB +uploading/);
    expect(frame).toMatch(/sftp:archive +\[ +\] +pending: connection refused/);
    expect(writes.length - stagingFrames).toBeLessThanOrEqual(REDRAW_PER_SECOND + 3);

    p.update("s3:main", { state: "uploaded", location: "s3://b/k" });
    p.update("sftp:archive", { state: "uploaded", location: "sftp://h/k" });
    p.end();
    expect(writes.at(-1)).toMatch(/s3:main .*100% .*uploaded: s3:\/\/b\/k/);
    const count = writes.length;
    p.update("s3:main", { state: "uploading", bytesDone: 1 });
    vi.advanceTimersByTime(5000);
    expect(writes).toHaveLength(count);
  });

  it("the staging rows stay above what is printed after them (the event line)", () => {
    const { writes, stream } = fakeStream(true);
    const p = putProgress(stream, { name: "a.txt", total: 10 });
    p.staged();
    writes.push("{event}\n");
    p.waiting(["s3:main"]);
    vi.advanceTimersByTime(1000);
    p.end();
    // The first frame of the destination rows moves up over nothing printed before it.
    const after = writes.slice(writes.indexOf("{event}\n") + 1);
    expect(after[0]?.startsWith(`${ESC}2K`)).toBe(true);
    expect(after.join("")).not.toContain(`${ESC}2F`);
  });
});

describe("on a pipe", () => {
  it("writes plain lines: each state at once, progress at most every PLAIN_PROGRESS_MS, the newest last", () => {
    const { writes, stream } = fakeStream(false);
    const p = putProgress(stream, { name: "ckpt.pt", total: 100 * MiB });
    for (let i = 1; i <= 100; i++) {
      p.staging(i * MiB);
      vi.advanceTimersByTime(40); // 4 s of staging
    }
    p.staged();
    p.waiting(["s3:main"]);
    p.update("s3:main", { state: "pending" });
    p.update("s3:main", { state: "uploading", bytesDone: 0 });
    for (let i = 1; i <= 60; i++) {
      p.update("s3:main", { state: "uploading", bytesDone: i * MiB });
      vi.advanceTimersByTime(100); // 6 s of uploading
    }
    vi.advanceTimersByTime(PLAIN_PROGRESS_MS);
    p.update("s3:main", { state: "uploaded", location: "s3://b/ckpt.pt" });
    p.end();
    const text = writes.join("");
    expect(text).not.toContain("\x1b");
    expect(text).not.toContain("\r");
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toBe("staging ckpt.pt (100.0 MiB)");
    expect(lines).toContain("waiting for s3:main");
    expect(lines).toContain("s3:main: pending");
    expect(lines).toContain("s3:main: uploading 0 B / 100.0 MiB (0%)");
    expect(lines).toContain("s3:main: uploading 60.0 MiB / 100.0 MiB (60%)");
    expect(lines.at(-1)).toBe("s3:main: uploaded (s3://b/ckpt.pt)");
    const staging = lines.filter((l) => /^staging \d/.test(l));
    const uploading = lines.filter((l) => l.startsWith("s3:main: uploading"));
    expect(staging.length).toBeGreaterThanOrEqual(1);
    expect(staging.length).toBeLessThanOrEqual(4000 / PLAIN_PROGRESS_MS + 1);
    expect(uploading.length).toBeLessThanOrEqual(6000 / PLAIN_PROGRESS_MS + 2);
    expect(lines.find((l) => l.startsWith("staged "))).toMatch(/^staged 100\.0 MiB in 4\.0 s$/);
  });
});

/**
 * Destinations that render paths keep projects apart: a template without `{project}` would let
 * one project's artifact overwrite another's file of the same run and name, so a destination
 * refuses it at start-up, naming the field, unless its config says the projects share one
 * namespace on purpose (`sharedNamespace: true`).
 */
import { parseDirOptions } from "@artifact-bus/dir-uploader";
import { parseS3Options } from "@artifact-bus/s3-uploader";
import { parseSftpOptions } from "@artifact-bus/sftp-uploader";
import { describe, expect, it } from "vitest";

const sftp = {
  host: "h",
  username: "u",
  root: "/data",
  privateKeyPath: "/k",
  hostKeyFingerprint: `SHA256:${"A".repeat(43)}`,
};
const parsers: [string, string, (o: Record<string, unknown>) => unknown][] = [
  ["s3", "keyTemplate", (o) => parseS3Options("s3:main", { bucket: "artifacts", ...o }, {})],
  ["sftp", "pathTemplate", (o) => parseSftpOptions({ ...sftp, ...o })],
  ["dir", "pathTemplate", (o) => parseDirOptions("dir:archive", { root: "/srv/a", ...o })],
];

describe.each(parsers)("the %s destination", (_, field, parse) => {
  it("refuses a template without {project}, naming the field and the way out", () => {
    expect(() => parse({ [field]: "{run}/{name}" })).toThrow(new RegExp(`${field}.*\\{project\\}.*sharedNamespace`));
  });

  it("takes one when the projects share a namespace on purpose, and any template with {project}", () => {
    expect(parse({ [field]: "{run}/{name}", sharedNamespace: true })).toMatchObject({ [field]: "{run}/{name}" });
    expect(parse({ [field]: "runs/{project}-{run}/{name}" })).toMatchObject({ sharedNamespace: false });
  });
});

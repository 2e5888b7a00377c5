/**
 * Length limits of what path destinations write: an S3 object key, a file's path and each of its
 * segments. An adapter checks the path it rendered before any request, so an over-long one is
 * refused once (PermanentError: dead-lettered at once) with a message naming the limit and the
 * lengths, instead of failing at the server with less to say (S3's KeyTooLongError, OpenSSH's
 * BAD_MESSAGE for ENAMETOOLONG, a bare ENAMETOOLONG of the local filesystem).
 *
 * The limits hold for the rendered path (prefix or root + template), so they depend on each
 * destination's config: its name rules carry the template, base and limit (name-path-rule.ts),
 * so that publishers refuse such a name at once, in the same words.
 */

/** S3's limit on an object key, in UTF-8 bytes. */
export const MAX_S3_KEY_BYTES = 1024;
/** NAME_MAX of common filesystems (ext4, XFS, btrfs): the longest file name, in bytes. */
export const MAX_FILE_NAME_BYTES = 255;
/** PATH_MAX of Linux (4,096 with the terminating NUL): the longest path a system call takes, in bytes. */
export const MAX_FILE_PATH_BYTES = 4095;

/** How a path was rendered: the pieces its lengths are reported in. */
export interface RenderedPath {
  /** The artifact's name. */
  name: string;
  /** The destination's template, e.g. `{project}/{run}/{name}`. */
  template: string;
  /** What the rendered template was put under, and its label: S3's `prefix`, a file destination's `root`. */
  base: { label: "prefix" | "root"; value: string };
}

const n = (v: number) => v.toLocaleString("en-US");
const bytes = (s: string) => Buffer.byteLength(s, "utf8");
/** A long value quoted by its start, so a message stays short. */
const quote = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

/** `name 1,024 + prefix "team-a/" 7 + 9 from template "{project}/{run}/{name}"`: what `total` bytes are made of. */
function parts(total: number, r: RenderedPath): string {
  const name = bytes(r.name);
  const base = bytes(r.base.value);
  const rest = total - name - base;
  const pieces = [`name ${n(name)}`];
  if (base > 0) pieces.push(`${r.base.label} ${quote(r.base.value)} ${n(base)}`);
  pieces.push(`${n(rest)} from template ${JSON.stringify(r.template)}`);
  return pieces.join(" + ");
}

/** Why S3 cannot take `key` (rendered as `r` says), in words; undefined when it can. `max`: its limit. */
export function s3KeyProblem(key: string, r: RenderedPath, max = MAX_S3_KEY_BYTES): string | undefined {
  const total = bytes(key);
  if (total <= max) return undefined;
  return `object key is ${n(total)} bytes (${parts(total, r)}); S3 allows at most ${n(max)} bytes`;
}

/**
 * Why no file can be written at `path` (`base` joined with `relative`, rendered as `r` says), in
 * words; undefined when one can. `temp`: the longest path written beside it while the upload runs
 * (its temporary file), checked against PATH_MAX (`max`) too.
 */
export function filePathProblem(
  path: string,
  relative: string,
  r: RenderedPath,
  temp = path,
  max = MAX_FILE_PATH_BYTES,
): string | undefined {
  const own = new Set(r.name.split("/"));
  for (const segment of relative.split("/")) {
    const length = bytes(segment);
    if (length > MAX_FILE_NAME_BYTES) {
      const made = own.has(segment) ? "" : ` (made by template ${JSON.stringify(r.template)})`;
      return `segment ${quote(segment)} is ${n(length)} bytes${made}; file names there are at most ${n(MAX_FILE_NAME_BYTES)} bytes`;
    }
  }
  const total = bytes(path);
  const longest = Math.max(total, bytes(temp));
  if (longest <= max) return undefined;
  const withTemp = longest > total ? `, ${n(longest)} with the temporary name written beside it` : "";
  return `path is ${n(total)} bytes (${parts(total, r)})${withTemp}; paths are at most ${n(max)} bytes`;
}

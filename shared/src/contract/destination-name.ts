/** Destination names: `<kind>:<name>`, e.g. `s3:main`, and their subject/KV-safe token. */

const DESTINATION = /^([a-z][a-z0-9]{0,15}):([A-Za-z0-9][A-Za-z0-9-]{0,63})$/;

export interface DestinationName {
  /** `s3:main` */
  readonly full: string;
  /** `s3` */
  readonly kind: string;
  /** `s3_main`: safe in subjects, consumer names and KV keys. */
  readonly token: string;
}

export function parseDestinationName(full: string): DestinationName {
  const m = DESTINATION.exec(full);
  if (!m) {
    throw new Error(
      `destination name ${JSON.stringify(full)} must look like <kind>:<name> (kind: lowercase letters and digits; name: letters, digits and '-')`,
    );
  }
  return { full, kind: m[1] as string, token: `${m[1]}_${m[2]}` };
}

/** Inverse of `token`: `s3_main` -> `s3:main`. */
export function destinationFromToken(token: string): string {
  const i = token.indexOf("_");
  return i < 0 ? token : `${token.slice(0, i)}:${token.slice(i + 1)}`;
}

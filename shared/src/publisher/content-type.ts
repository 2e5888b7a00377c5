/** The content type an event gets when its producer names none, from the name's extension. */

const CONTENT_TYPES: Record<string, string> = {
  json: "application/json",
  txt: "text/plain",
  log: "text/plain",
  csv: "text/csv",
  yaml: "application/yaml",
  yml: "application/yaml",
  gz: "application/gzip",
};

export function guessContentType(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? "application/octet-stream";
}

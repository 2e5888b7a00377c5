// Handing bytes to the browser as a file: an artifact's content, the dead letters' export.

import { api } from "./api.js";
import { $, h } from "./dom.js";

/** A link cannot carry the bearer token: fetch the bytes with it and hand them to the browser. */
export async function download(event, href, name) {
  event.preventDefault();
  try {
    const blob = await (await api(href)).blob();
    saveBlob(blob, name.split("/").pop() || "artifact");
  } catch (err) {
    $("artifacts-msg").textContent = `Download failed: ${err.message}`;
  }
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Before any test file: fill the checkout's Node compile cache, so that the service processes
 * the tests start (and whose memory some of them bound) start as the image's do.
 */
import { warmCompileCache } from "@artifact-bus/testkit";

export default async function setup(): Promise<void> {
  await warmCompileCache();
}

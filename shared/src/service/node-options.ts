/**
 * Node flags an uploader process runs with. Streamed uploads (SFTP, blobs from the NATS object
 * store) turn over fresh I/O buffers; with V8's default young generation, those that survive a
 * scavenge pile up until a full collection. Small semi-spaces collect them young: a large
 * upload's peak RSS is lower with this, by most when an adapter allocates per chunk.
 * The Dockerfile and the services' `start` scripts pass the same flags.
 */
export const UPLOADER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2"];

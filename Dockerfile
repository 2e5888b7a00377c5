# syntax=docker/dockerfile:1
# One image per service folder, e.g.
#   docker build --build-arg SERVICE=s3-uploader -t artifact-bus/s3-uploader .
# It also carries the CLI (node /app/shared/src/cli/main.ts) that the compose one-shots run.
# Node 24 runs the TypeScript sources as they are (type stripping): nothing is compiled ahead;
# the build fills Node's compile cache instead (see below).
# `npm test` replays these steps without Docker (test/dockerfile.test.ts) and starts each
# service's entry point from the result; a step it cannot replay says so in a comment
# `# replay: skip, <reason>` right above it.

# Stage 1 keeps only what `npm ci` reads, so the dependency layer below is rebuilt when a
# manifest changes, not on every source edit.
FROM node:24-slim AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json ! -name .npmrc -delete \
 && find . -depth -type d -empty -delete

# Stage 2 installs the production dependencies of shared/ and one service. The root
# devDependencies (the `node` package, tooling) are left out, and so is the test kit (testkit/,
# with the test servers it depends on), which .dockerignore keeps out of the build context: the
# base image's Node 24 runs everything. Workspaces are symlinked to /app/<folder>, outside node_modules,
# where Node strips types (it refuses to strip files under node_modules).
FROM node:24-slim AS deps
# A compiler for ssh2's optional native crypto (SFTP runs about 2x faster with it); only this
# stage has it, the image below gets the built node_modules.
# replay: skip, the replay builds with the compiler of the machine it runs on
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ARG SERVICE=s3-uploader
WORKDIR /app
COPY --from=manifests /src/ ./
# --ignore-scripts skips the root package's postinstall (scripts/rebuild-native.sh): it rebuilds
# ssh2 for the `node` devDependency on machines whose npm runs under another Node, and neither
# that package nor scripts/ is here. `npm rebuild` then runs the dependencies' own install
# scripts, never the root's: here npm and the services share the base image's Node 24, so ssh2's
# binding is built for the Node that loads it (and ssh2 falls back to JavaScript crypto, with a
# warning at start, if the build fails).
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace shared --workspace "services/${SERVICE}" \
 && npm rebuild ssh2 cpu-features

FROM node:24-slim
ARG SERVICE=s3-uploader
ENV NODE_ENV=production
# The SFTP uploader moves the bytes with the OpenSSH client, `ssh` as a child process (its option
# transport, "auto" by default; without ssh it falls back to ssh2 in process, at about twice
# the CPU per byte). Only that image gets it.
# replay: skip, it installs a system package; the replay runs on a machine with its own ssh
RUN if [ "$SERVICE" = sftp-uploader ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends openssh-client \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /app
COPY --from=deps /app/ ./
COPY . .
RUN test -f "services/${SERVICE}/src/main.ts"
WORKDIR /app/services/${SERVICE}
# Node's compile cache, filled here: a process whose modules are all in it never loads Node's
# TypeScript stripper, which would stay in its memory (about 20 MB) for good, and starts about
# twice as fast (shared/src/service/compile-cache.ts). The path is relative to the working
# directory, which the services and the compose one-shots share; the cache is read-only to
# `node`, which is fine: nothing is missing from it.
ENV NODE_COMPILE_CACHE=.node-compile-cache
RUN node --max-semi-space-size=2 src/main.ts --warm-up \
 && node ../../shared/src/cli/main.ts > /dev/null
# A new named volume mounted at /staging (or /archive, the dir destination's, or the gateway's
# tokens directory) takes this directory's owner, so `node` can write it.
# replay: skip, it changes the image's filesystem outside /app and needs the image's `node` user
RUN mkdir -p /staging /archive /etc/artifact-bus/gateway && chown node:node /staging /archive /etc/artifact-bus/gateway
USER node
# Same flags as UPLOADER_NODE_FLAGS (shared/src/service/node-options.ts): bounded RSS during multipart uploads.
CMD ["node", "--max-semi-space-size=2", "src/main.ts"]

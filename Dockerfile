# syntax=docker/dockerfile:1
# One image per service folder, e.g.
#   docker build --build-arg SERVICE=s3-uploader -t artifact-bus/s3-uploader .
# It also carries the CLI (node /app/shared/src/cli/main.ts) that the compose one-shots run.
# Node 24 runs the TypeScript sources as they are (type stripping): nothing is compiled.

# Stage 1 keeps only what `npm ci` reads, so the dependency layer below is rebuilt when a
# manifest changes, not on every source edit.
FROM node:24-slim AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json ! -name .npmrc -delete \
 && find . -depth -type d -empty -delete

FROM node:24-slim
ARG SERVICE=s3-uploader
ENV NODE_ENV=production
WORKDIR /app
COPY --from=manifests /src/ ./
# Production dependencies of shared/ and this one service. The root devDependencies (the `node`
# package, test servers, tooling) are left out: the base image's Node 24 runs everything.
# Workspaces are symlinked to /app/<folder>, outside node_modules, where Node strips types
# (it refuses to strip files under node_modules).
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund --workspace shared --workspace "services/${SERVICE}"
COPY . .
# A new named volume mounted at /staging takes this directory's owner, so `node` can write it.
RUN test -f "services/${SERVICE}/src/main.ts" \
 && mkdir -p /staging \
 && chown node:node /staging
USER node
WORKDIR /app/services/${SERVICE}
# Same flags as UPLOADER_NODE_FLAGS (shared/src/runtime/node-options.ts): bounded RSS during multipart uploads.
CMD ["node", "--max-semi-space-size=2", "src/main.ts"]

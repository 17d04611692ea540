# syntax=docker/dockerfile:1
#
# cc-executor-gateway: the Deno gateway (adapters/deno/main.ts), which runs no commands and forwards
# every execution to the executors (deploy/k8s, docs/scale-out.md). Built from the repository root:
#
#   docker build -f deploy/gateway.Dockerfile -t cc-executor-gateway .
#
# The build context is filtered by deploy/gateway.Dockerfile.dockerignore (BuildKit reads the ignore
# file named after the Dockerfile in place of the root .dockerignore).
#
# Settings at run time: EXECUTOR_URLS (or EXECUTOR_URL), EXECUTOR_TOKEN (the executors' token) and
# CC_EXECUTOR_AUTH_TOKEN (the one it asks of its own clients; on HOST=0.0.0.0 it refuses to start
# without one), both from secrets, never baked in here; HOST and PORT.
#
# test/integration/gateway-dockerfile.test.ts replays this file's build and run steps outside Docker:
# keep CMD and HEALTHCHECK in JSON form, and each `npm ci` and `npm run build` as its own RUN.

ARG NODE_IMAGE=node:26-trixie-slim
# The Deno that `npm run start:deno` and the gateway tests use: the `deno` devDependency's version
# (package.json), which the image test checks. Pin a digest for reproducible builds.
ARG DENO_IMAGE=denoland/deno:2.9.5

# ---- deps: production node_modules (hono, valibot, the MCP SDK, zod, …), which Deno resolves from ./node_modules ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

# ---- console: the web console's bundle (the gateway serves the console too), built with every
# dependency (esbuild is a dev one); npm ci runs before bin/ is copied, so its prepare does nothing yet ----
FROM ${NODE_IMAGE} AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY bin/build-console.mjs ./bin/
COPY src ./src
RUN npm run build

# ---- runtime: the official Deno image (Debian), whose /tini forwards signals and reaps ----
FROM ${DENO_IMAGE}

ENV HOST=0.0.0.0 \
    PORT=8787 \
    DENO_NO_UPDATE_CHECK=1

WORKDIR /app
# Root-owned: the gateway's user can read the application but not change it.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY --from=console /app/src/console/assets.generated.ts ./src/console/
COPY adapters/deno ./adapters/deno

# "deno" (uid 1993) from the base image; numeric so that runAsNonRoot checks can verify it.
USER 1993:1993

EXPOSE 8787

# /healthz answers {"status":"ok"} without authentication; PORT is read from the container's env.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["deno", "eval", "fetch('http://127.0.0.1:'+(Deno.env.get('PORT')??8787)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>Deno.exit(r.ok?0:1),()=>Deno.exit(1))"]

ENTRYPOINT ["/tini", "--"]
# What `npm run start:deno` runs: no remote modules, no npm downloads (everything is in ./node_modules).
CMD ["deno", "run", "--cached-only", "--no-remote", "--allow-net", "--allow-env", "--allow-read", "adapters/deno/main.ts"]

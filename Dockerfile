# syntax=docker/dockerfile:1
#
# cc-executor: the Node server (adapters/node/main.ts), run from its TypeScript by tsx, a production
# dependency, so the server has no compile step. The web console's bundle (src/console/assets.generated.ts,
# generated, not committed) is built in a stage of its own with the dev dependencies (esbuild, xterm's
# CSS), so a fresh clone builds as it is; only the bundle reaches the runtime stage.
#
#   docker build -t cc-executor .
#   docker run --rm -p 127.0.0.1:8003:8003 -e CC_EXECUTOR_AUTH_TOKEN="$(openssl rand -hex 32)" cc-executor
#
# Authentication: the container listens on 0.0.0.0, and the server refuses to start on a non-loopback
# HOST without a token (unless started with --insecure). Set CC_EXECUTOR_AUTH_TOKEN at run time
# (`docker run -e`, or compose.yaml, which reads it from the environment or ./.env). No token is baked
# into the image: never set it here with ENV or ARG.
#
# Claude Code: build with `--build-arg INSTALL_CLAUDE_CODE=true` (and optionally
# `--build-arg CLAUDE_CODE_VERSION=2.1.330`) to get the `claude` CLI; give it credentials at run time
# (see compose.yaml and docs/docker.md).
#
# test/integration/dockerfile.test.ts replays this file's build and run steps outside Docker: keep CMD and
# HEALTHCHECK in JSON form, and each `npm ci` and `npm run build` as its own RUN.

# Node 26 is the Active LTS line as of November 2026: it was promoted on 2026-10-28 (nodejs/Release
# schedule), while Node 24 entered Maintenance on 2026-10-20. trixie-slim (Debian 13) is the default
# Debian of the node:26 images. Pin a digest (node:26-trixie-slim@sha256:…) for reproducible builds.
ARG NODE_IMAGE=node:26-trixie-slim

# ---- deps: production node_modules only (tsx included; no dev tools, no bun/deno/wrangler) ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

# ---- console: the web console's bundle, built with every dependency (esbuild is a dev one) ----
# npm ci runs before bin/ is copied, so its prepare script (which builds the bundle) does nothing
# yet, and the install layer stays cached across source changes; npm run build then bundles.
FROM ${NODE_IMAGE} AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY bin/build-console.mjs ./bin/
COPY src ./src
RUN npm run build

# ---- runtime ----
FROM ${NODE_IMAGE}

# tini runs as PID 1: it forwards SIGTERM/SIGINT to the server, which cancels every execution, waits
# for their process groups and exits 0, and it reaps any orphan the commands leave behind.
# The executor looks these up on PATH: bash (the default CC_EXECUTOR_SHELL), stdbuf from coreutils
# (line-live output), and prlimit and chrt from util-linux (CHILD_CPU_SECONDS / CHILD_MEMORY_MB and
# CHILD_SCHED_POLICY; without them those are not applied). Debian slim has them today; they are listed so that a base image
# that drops one fails here instead. ca-certificates gives TLS to the commands run in the container
# (git, curl, claude, …); Node itself carries its own CA store.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini bash coreutils util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && tini --version && bash --version >/dev/null && stdbuf --version >/dev/null && prlimit --version && chrt --version

# Optional: the Claude Code CLI, installed globally (root-owned, so its auto-updater is off). npm
# blocks dependency install scripts unless allowed; Claude Code's postinstall puts its native binary
# in place of the launcher.
ARG INSTALL_CLAUDE_CODE=false
ARG CLAUDE_CODE_VERSION=latest
ENV DISABLE_AUTOUPDATER=1
RUN if [ "$INSTALL_CLAUDE_CODE" = "true" ]; then \
      npm install -g --no-audit --no-fund --allow-scripts=@anthropic-ai/claude-code \
        "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
      && npm cache clean --force \
      && claude --version; \
    fi

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8003 \
    CC_EXECUTOR_DATA_DIR=/data

WORKDIR /app
# The application stays root-owned: the server's user can read it but not change it.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY --from=console /app/src/console/assets.generated.ts ./src/console/
COPY adapters/node ./adapters/node

# The data dir (transcripts and records) is the only place the server writes; a new named volume
# takes its ownership from here. ~/.claude exists so that a credentials file bind-mounted into it
# (compose.yaml) lands in a directory the user owns and Claude Code can write its session files.
RUN mkdir -p /data /home/node/.claude \
 && chown node:node /data /home/node/.claude
VOLUME ["/data"]

# "node" (uid 1000) from the base image; numeric so that runAsNonRoot checks can verify it.
USER 1000:1000

EXPOSE 8003

# /healthz answers {"status":"ok"} without authentication. PORT is read from the container's env, so
# the check follows a PORT override.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8003)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
# What `npm start` runs, without npm in between, so tini's signals reach the server itself.
CMD ["node", "--import", "tsx", "adapters/node/main.ts"]

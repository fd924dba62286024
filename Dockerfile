# syntax=docker/dockerfile:1
# prbot's production image: one image for every process; the compose file picks the command.
# Build stage: install with the lockfile, compile (`pnpm build`: esbuild bundles the workspace
# into apps/cli/dist), then `pnpm deploy --prod` copies dist/ plus production dependencies only.
# Runtime stage: no pnpm, no TypeScript, no dev dependencies, tests or examples.

FROM node:20-bookworm-slim AS build
# No C toolchain: no dependency is compiled at install (the slot and uid locks use util-linux's
# flock(1), which the runtime image has, not a native addon).
# The newest pnpm 10, as the README installs it; .npmrc keeps pnpm from switching versions.
RUN npm install -g pnpm@10
WORKDIR /src
# Dependencies first: this layer is reused while only sources change.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch --frozen-lockfile
COPY . .
RUN pnpm install --offline --frozen-lockfile \
 && pnpm build \
 && pnpm --filter @prbot/cli deploy --prod --legacy /out

FROM node:20-bookworm-slim AS runtime
# git: mirror and worktrees; openssh-client: ssh remotes; tini: PID 1 that forwards SIGTERM to
# node and reaps zombies (test commands leave orphans); bubblewrap: the test stage's sandbox.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client tini bubblewrap \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build --chown=root:root /out/package.json ./package.json
COPY --from=build --chown=root:root /out/node_modules ./node_modules
COPY --from=build --chown=root:root /out/dist ./dist
RUN mkdir -p /app/data && chown node:node /app/data
USER node
ENV NODE_ENV=production PRBOT_LOG_JSON=1 PRBOT_CONFIG=/config/prbot.config.yaml
# node is the process (under tini), so `docker stop` sends SIGTERM to the worker itself: it stops
# taking jobs, drains, and exits before stop_grace_period. Never `pnpm` here: it is not installed.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/prbot.js"]
CMD ["status"]

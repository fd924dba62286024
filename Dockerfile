# One image for every prbot process; the compose file picks the command.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g pnpm@10.34.8
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml turbo.json tsconfig.base.json tsconfig.json ./
COPY apps apps
COPY packages packages
COPY examples examples
COPY scripts scripts
RUN pnpm install --frozen-lockfile && chown -R node:node /app
USER node
ENV PRBOT_LOG_JSON=1 PRBOT_CONFIG=/config/prbot.config.yaml
ENTRYPOINT ["pnpm", "-s"]
CMD ["status"]

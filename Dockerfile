# One image for the Glowtify API (default command) and the Temporal worker (docker-compose overrides the
# command with worker.ts). The workflow bundle is built here, so the worker starts without bundling.
FROM node:22-bookworm-slim

WORKDIR /app

# Production dependencies only (tsx is one: the TypeScript sources run as they are).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# Same bundle the worker would build at start (workflows/index.ts); WORKFLOW_BUNDLE_PATH makes it load this one.
RUN npm run build:workflows -- /app/dist/workflow-bundle.js \
  && mkdir -p /app/.data \
  && chown node:node /app/.data

# MALLOC_ARENA_MAX: two malloc arenas instead of up to eight per core for the worker's many threads, whose
# freed memory otherwise stays mapped (a worker holding 10,000 sleeping epics: about 780 MiB with the default,
# 590-720 MiB with 2; README, Performance).
ENV NODE_ENV=production \
  MALLOC_ARENA_MAX=2 \
  HOST=0.0.0.0 \
  PORT=3000 \
  WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js

# Sources stay root-owned and read-only to the app; only DATA_DIR (/app/.data) is writable.
USER node

EXPOSE 3000

CMD ["node", "--import", "tsx", "api/server.ts"]

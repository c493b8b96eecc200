# One image for the Glowtify API (default command) and the Temporal worker (docker-compose overrides the
# command with dist/worker.js). Compiled: the build stage turns the TypeScript into JavaScript (`npm run build`:
# tsc into dist/, the migrations beside it, the workflow bundle), and the final stage runs that on Node with the
# production dependencies alone: no TypeScript compiler, no tsx. `npm run topology` runs these same entry points.

FROM node:22-bookworm-slim AS build

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY . .

# dist/: api/server.js, worker.js and what they import (tsconfig.build.json), db/migrations, and the workflow
# bundle the worker would otherwise build at every start (WORKFLOW_BUNDLE_PATH makes it load this one).
RUN npm run build \
  && rm -f dist/.tsbuildinfo

FROM node:22-bookworm-slim

WORKDIR /app

# MALLOC_ARENA_MAX: two malloc arenas instead of up to eight per core for the worker's many threads, whose
# freed memory otherwise stays mapped (a worker holding 10,000 sleeping epics: about 780 MiB with the default,
# 590-720 MiB with 2; README, Performance).
ENV NODE_ENV=production \
  MALLOC_ARENA_MAX=2 \
  HOST=0.0.0.0 \
  PORT=3000 \
  WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js

# Production dependencies only.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist ./dist

# Everything stays root-owned and read-only to the app; only DATA_DIR (/app/.data) is writable.
RUN mkdir -p /app/.data && chown node:node /app/.data

USER node

EXPOSE 3000

CMD ["node", "dist/api/server.js"]

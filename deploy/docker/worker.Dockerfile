# syntax=docker/dockerfile:1.7
# Worker image (stateless BullMQ lease worker; scale = replica count).
# Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t milvus-cdc-ts/worker:dev .
#
# Layout inside the image mirrors the repository (/app/packages/shared/dist, /app/services/worker/dist, /app/proto):
# @cdc/shared resolves the proto/ dir as ../../../../proto from packages/shared/dist/control-api, so the tree must
# keep that shape. That is also why this is a filtered `pnpm install --prod` rather than `pnpm deploy`: deploy copies
# @cdc/shared into node_modules/.pnpm/, where that relative path no longer reaches /app/proto.
# The build stages are identical to control.Dockerfile's, so building both images reuses one build.
#
# Pulsar: the worker calls the Pulsar C client (libpulsar) through koffi; the library is taken from the PyPI wheel
# pulsar-client, as deploy/local/pulsar-client.sh does, and found through WORKER_PULSAR_CLIENT_LIBRARY.

ARG NODE_IMAGE=node:20-slim
ARG PNPM_VERSION=10.34.8
ARG PYTHON_IMAGE=python:3.11-slim
ARG PULSAR_CLIENT_WHEEL_VERSION=3.13.0

# ---- base: node + pinned pnpm ----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
ARG PNPM_VERSION
ENV CI=true
RUN npm install --global --no-fund --no-audit "pnpm@${PNPM_VERSION}"
WORKDIR /src

# ---- build: full install from the lockfile, compile every workspace project ----------------------------------------
FROM base AS build
# Every workspace manifest is needed for --frozen-lockfile (the lockfile lists all importers).
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY packages/shared/package.json packages/shared/
COPY services/control/package.json services/control/
COPY services/worker/package.json services/worker/
COPY test/package.json test/
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --store-dir /pnpm/store
COPY tsconfig.base.json tsconfig.json ./
COPY proto ./proto
COPY packages/shared ./packages/shared
COPY services/control ./services/control
COPY services/worker ./services/worker
RUN pnpm build

# ---- prod: production dependencies of @cdc/worker and @cdc/shared only, plus the compiled output -------------------
FROM base AS prod
WORKDIR /app
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY packages/shared/package.json packages/shared/
COPY services/control/package.json services/control/
COPY services/worker/package.json services/worker/
COPY test/package.json test/
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --filter "@cdc/worker..." --store-dir /pnpm/store \
 && rm -rf services/control test
COPY --from=build /src/proto ./proto
COPY --from=build /src/packages/shared/dist ./packages/shared/dist
COPY --from=build /src/services/worker/dist ./services/worker/dist
COPY --from=build /src/services/worker/bin ./services/worker/bin

# ---- libpulsar: the self-contained C client library inside the PyPI wheel pulsar-client ---------------------------
FROM ${PYTHON_IMAGE} AS libpulsar
ARG PULSAR_CLIENT_WHEEL_VERSION
WORKDIR /wheel
RUN mkdir -p /opt/libpulsar \
 && pip download --no-cache-dir --no-deps --only-binary=:all: "pulsar-client==${PULSAR_CLIENT_WHEEL_VERSION}"
RUN python <<PY
import glob, zipfile
with zipfile.ZipFile(glob.glob('/wheel/pulsar_client-*.whl')[0]) as z:
    libs = [n for n in z.namelist() if n.startswith('pulsar_client.libs/libpulsar')]
    assert len(libs) == 1, libs
    open('/opt/libpulsar/libpulsar.so', 'wb').write(z.read(libs[0]))
    for n in z.namelist():
        if n.endswith(('/LICENSE', '/NOTICE')):
            open('/opt/libpulsar/' + n.rsplit('/', 1)[1], 'wb').write(z.read(n))
PY

# ---- runtime ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node (the worker drains its leases on it) and reaps zombies.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    WORKER_METRICS_PORT=9400 \
    WORKER_PULSAR_CLIENT_LIBRARY=/opt/libpulsar/libpulsar.so
COPY --from=libpulsar /opt/libpulsar /opt/libpulsar
WORKDIR /app
# Files stay owned by root and read-only for the runtime user; the worker writes nothing to disk.
COPY --from=prod /app /app
# Numeric user (the image's "node" user) so Kubernetes runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 9400
# /healthz answers 200 while running and 503 once draining (WORKER_METRICS_PORT=0 turns the endpoint, and so this check, off).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WORKER_METRICS_PORT||9400)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# The launcher sets the worker's runtime memory profile (glibc and V8 settings; see the script) and execs node.
CMD ["services/worker/bin/cdc-worker"]

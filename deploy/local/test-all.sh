#!/usr/bin/env bash
# The one command that runs every test: brings up the real stack (idempotent), builds, lints, type-checks, then runs
# the unit and the integration suites against Redis, etcd, Kafka and the two Milvus servers on 127.0.0.1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
bash deploy/local/bootstrap.sh
# The Go test producers (Milvus 2.5 and 2.6 sources): built once, then cached by a hash of their sources.
bash deploy/local/producers.sh >/dev/null
bash deploy/local/up.sh
pnpm -s lint
# Tests and scripts too: the build compiles only what ships.
pnpm -s typecheck
pnpm -s format:check
bash deploy/validate-manifests.sh
pnpm -s vitest run --project unit
pnpm -s vitest run --project integration

#!/usr/bin/env bash
# The one command that runs every test: brings up the real stack (idempotent), builds, lints, type-checks, then runs
# the unit and the integration suites against Redis, etcd, Kafka and the two Milvus servers on 127.0.0.1.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
bash deploy/local/bootstrap.sh
# The Go test producers (Milvus 2.5 and 2.6 sources): built once, then cached by a hash of their sources.
bash deploy/local/producers.sh >/dev/null
# The stack boots while the static checks and the unit suite, which need none of it, run (about a minute off CI).
# Its log is printed once it is up; a failed check still waits for it, so no server is left half started.
mkdir -p "$STACK_DIR"
up_log="$STACK_DIR/up.log"
bash deploy/local/up.sh >"$up_log" 2>&1 &
up_pid=$!
trap 'wait "$up_pid" 2>/dev/null || true' EXIT
pnpm -s lint
# Tests and scripts too: the build compiles only what ships.
pnpm -s typecheck
pnpm -s format:check
bash deploy/validate-manifests.sh
pnpm -s vitest run --project unit
up_status=0
wait "$up_pid" || up_status=$?
cat "$up_log" >&2
((up_status == 0)) || die "the stack did not come up (up.sh exit $up_status; log above)"
pnpm -s vitest run --project integration

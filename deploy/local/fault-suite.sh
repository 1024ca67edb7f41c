#!/usr/bin/env bash
# The fault suite: replicates a continuous load while killing workers and the control leader and restarting Redis,
# etcd, Kafka and the target Milvus, then injects 10,000 malformed records. Prints recovery times. Takes ~10 minutes
# and restarts shared components, so it runs on its own, not inside test-all.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
bash deploy/local/bootstrap.sh
bash deploy/local/up.sh redis etcd kafka milvus   # the suite faults the Kafka path only
pnpm -s vitest run --project fault

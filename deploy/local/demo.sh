#!/usr/bin/env bash
# The one command that shows the product: installs, brings up the real stack, and runs the replication demo.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
bash deploy/local/bootstrap.sh
bash deploy/local/up.sh redis etcd kafka milvus   # the demo reads the Kafka-backed source only
pnpm -s tsx test/demo/demo.ts

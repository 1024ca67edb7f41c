#!/usr/bin/env bash
# Stops every component started by up.sh. Add --purge to delete their data too.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for c in milvus-target milvus-source kafka etcd redis; do stop_component "$c"; done
if [[ "${1:-}" == "--purge" ]]; then rm -rf "$STACK_DIR"; log "purged $STACK_DIR"; fi

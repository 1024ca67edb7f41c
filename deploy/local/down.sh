#!/usr/bin/env bash
# Stops components started by up.sh (all by default). Add --purge to delete their data too.
# Usage: down.sh [--purge] [component ...]   components: redis etcd kafka milvus milvus-source milvus-target milvus-replica
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
purge=false
components=()
for arg in "$@"; do
  if [[ "$arg" == "--purge" ]]; then purge=true; else components+=("$arg"); fi
done
((${#components[@]})) || components=(milvus kafka etcd redis)
for c in "${components[@]}"; do
  case "$c" in
    milvus) stop_component milvus-replica; stop_component milvus-target; stop_component milvus-source ;;
    redis | etcd | kafka | milvus-source | milvus-target | milvus-replica) stop_component "$c" ;;
    *) die "unknown component: $c" ;;
  esac
done
if $purge; then rm -rf "$STACK_DIR"; log "purged $STACK_DIR"; fi

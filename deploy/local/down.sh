#!/usr/bin/env bash
# Stops components started by up.sh (all by default). Add --purge to delete their data too.
# Usage: down.sh [--purge] [component ...]   components: redis etcd kafka pulsar milvus milvus-source milvus-target
#   milvus-replica milvus-pulsar (`milvus` is all four Milvus servers)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
purge=false
components=()
for arg in "$@"; do
  if [[ "$arg" == "--purge" ]]; then purge=true; else components+=("$arg"); fi
done
((${#components[@]})) || components=(milvus pulsar kafka etcd redis)
for c in "${components[@]}"; do
  case "$c" in
    milvus) for m in milvus-pulsar milvus-replica milvus-target milvus-source; do stop_component "$m"; done ;;
    redis | etcd | kafka | pulsar | milvus-source | milvus-target | milvus-replica | milvus-pulsar) stop_component "$c" ;;
    *) die "unknown component: $c" ;;
  esac
done
if $purge; then rm -rf "$STACK_DIR"; log "purged $STACK_DIR"; fi

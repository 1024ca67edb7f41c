#!/usr/bin/env bash
# Brings up the local stack on 127.0.0.1. Idempotent: running components are left alone.
# Usage: up.sh [component ...]   components: redis etcd kafka milvus pulsar milvus-pulsar (default: all)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/redis.sh"
source "$(dirname "${BASH_SOURCE[0]}")/etcd.sh"
source "$(dirname "${BASH_SOURCE[0]}")/kafka.sh"
source "$(dirname "${BASH_SOURCE[0]}")/pulsar.sh"
source "$(dirname "${BASH_SOURCE[0]}")/milvus.sh"

components=("$@")
((${#components[@]})) || components=(redis etcd kafka milvus pulsar milvus-pulsar)
mkdir -p "$STACK_DIR"
# Pulsar's bookie turns read-only at 95% disk use, and Milvus then never becomes healthy: say so before starting.
disk_used="$(df -P "$STACK_DIR" | awk 'NR == 2 { sub("%", "", $5); print $5 }')"
if ((disk_used >= 95)); then
  die "the disk holding $STACK_DIR is ${disk_used}% full; Pulsar refuses writes from 95%. Free space (bash deploy/local/down.sh --purge deletes the local stack's data)"
elif ((disk_used >= 90)); then
  log "warning: the disk holding $STACK_DIR is ${disk_used}% full; Pulsar refuses writes from 95%"
fi
# The broker is the slowest to boot and needs nothing else: it starts first and is waited for in its turn.
if [[ " ${components[*]} " == *" pulsar "* ]]; then pulsar_launch; fi
for c in "${components[@]}"; do
  case "$c" in
    redis) redis_up ;;
    etcd) etcd_up ;;
    kafka) kafka_up ;;
    pulsar) pulsar_up ;;
    milvus) milvus_up ;;
    milvus-pulsar) milvus_pulsar_up ;;
    *) die "unknown component: $c (expected redis, etcd, kafka, pulsar, milvus, milvus-pulsar)" ;;
  esac
done
bash "$(dirname "${BASH_SOURCE[0]}")/status.sh"

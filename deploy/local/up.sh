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

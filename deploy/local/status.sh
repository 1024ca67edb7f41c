#!/usr/bin/env bash
# Prints each component, its pid and its address.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
row() { if is_running "$1"; then printf '  %-14s up   pid %-7s %s\n' "$1" "$(cat "$(pid_file "$1")")" "$2"; else printf '  %-14s down %s\n' "$1" "$2"; fi; }
echo "local stack ($STACK_DIR):"
row redis "redis://127.0.0.1:$REDIS_PORT"
row etcd "http://127.0.0.1:$ETCD_PORT"
row kafka "127.0.0.1:$KAFKA_PORT"
row pulsar "pulsar://127.0.0.1:$PULSAR_PORT (admin http://127.0.0.1:$PULSAR_HTTP_PORT)"
row milvus-source "127.0.0.1:$SOURCE_MILVUS_PORT (etcd root 'source', channel prefix 'source')"
row milvus-target "127.0.0.1:$TARGET_MILVUS_PORT (etcd root 'target', channel prefix 'target')"
row milvus-replica "127.0.0.1:$REPLICA_MILVUS_PORT (etcd root 'replica', channel prefix 'replica', ttMsgEnabled=false)"
row milvus-pulsar "127.0.0.1:$PULSAR_MILVUS_PORT (etcd root 'source-pulsar', channel prefix 'source-pulsar', Pulsar MQ)"

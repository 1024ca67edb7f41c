#!/usr/bin/env bash
# etcd: Debian etcd-server. Holds the source/target Milvus metadata (by root path) and the CDC task store.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

etcd_up() {
  need_apt etcd-server etcd-client
  if is_running etcd; then log "etcd already running"; return 0; fi
  local dir="$STACK_DIR/etcd"
  mkdir -p "$dir"
  etcd --name cdc-local --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "cdc-local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 4294967296 --auto-compaction-retention 1 >"$dir/etcd.log" 2>&1 &
  echo $! >"$(pid_file etcd)"
  wait_for etcd 30 "$dir/etcd.log" env ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$ETCD_PORT" endpoint health
}

etcd_down() { stop_component etcd; }

#!/usr/bin/env bash
# Shared helpers for the local stack scripts. Everything runs as plain processes on 127.0.0.1.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Downloads (venv, Kafka jars) live outside git and survive `down`; runtime state lives in STACK_DIR.
CDC_CACHE_DIR="${CDC_CACHE_DIR:-$HOME/.cache/milvus-cdc-ts}"
STACK_DIR="${STACK_DIR:-$REPO_ROOT/.stack}"
VENV_DIR="$CDC_CACHE_DIR/venv"
KAFKA_LIB_DIR="$CDC_CACHE_DIR/kafka-libs"
PULSAR_LIB_DIR="$CDC_CACHE_DIR/pulsar-libs"

REDIS_PORT="${REDIS_PORT:-6379}"
ETCD_PORT="${ETCD_PORT:-2379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-2380}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
SOURCE_MILVUS_PORT="${SOURCE_MILVUS_PORT:-19530}"
TARGET_MILVUS_PORT="${TARGET_MILVUS_PORT:-19540}"
REPLICA_MILVUS_PORT="${REPLICA_MILVUS_PORT:-19550}"
PULSAR_MILVUS_PORT="${PULSAR_MILVUS_PORT:-19560}"
SOURCE_MILVUS_METRICS_PORT="${SOURCE_MILVUS_METRICS_PORT:-9191}"
TARGET_MILVUS_METRICS_PORT="${TARGET_MILVUS_METRICS_PORT:-9192}"
REPLICA_MILVUS_METRICS_PORT="${REPLICA_MILVUS_METRICS_PORT:-9193}"
PULSAR_MILVUS_METRICS_PORT="${PULSAR_MILVUS_METRICS_PORT:-9194}"
PULSAR_PORT="${PULSAR_PORT:-6650}"
PULSAR_HTTP_PORT="${PULSAR_HTTP_PORT:-8080}"
PULSAR_BOOKIE_PORT="${PULSAR_BOOKIE_PORT:-3181}"

MILVUS_PKG_VERSION="2.3.5"
PYMILVUS_SPEC="pymilvus>=2.3.8,<2.4"
KAFKA_VERSION="3.9.1"
PULSAR_VERSION="3.0.7"
MAVEN39_VERSION="3.9.11"
PULSAR_CLIENT_WHEEL_VERSION="3.13.0"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

pid_file() { echo "$STACK_DIR/$1/pid"; }

is_running() {
  local pf
  pf="$(pid_file "$1")"
  [[ -f "$pf" ]] && kill -0 "$(cat "$pf")" 2>/dev/null
}

# wait_for NAME TIMEOUT_S LOGFILE CMD...: polls CMD until it succeeds, or fails naming the component and its log.
wait_for() {
  local name="$1" timeout="$2" logfile="$3"
  shift 3
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ! is_running "$name"; then
      tail -n 30 "$logfile" >&2 || true
      die "$name exited during start-up; see its log: $logfile"
    fi
    if ((SECONDS - start > timeout)); then
      tail -n 30 "$logfile" >&2 || true
      die "$name did not become healthy within ${timeout}s; see its log: $logfile"
    fi
    sleep 0.5
  done
  log "$name healthy after $((SECONDS - start))s"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_component NAME: SIGTERM the recorded pid, then SIGKILL after a grace period.
stop_component() {
  local name="$1" pf pid
  pf="$(pid_file "$name")"
  [[ -f "$pf" ]] || return 0
  pid="$(cat "$pf")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    log "$name stopped (pid $pid)"
  fi
  rm -f "$pf"
}

need_apt() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]} == 0)) && return 0
  log "installing Debian packages: ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

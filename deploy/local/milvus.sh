#!/usr/bin/env bash
# Source and target Milvus: the real standalone server shipped in the PyPI package `milvus` (embedded Milvus 2.3.x),
# run as plain processes with generated config. The source uses the external etcd (root `source`) and Kafka as its
# message queue; each target has its own etcd root and channel prefix. `milvus-target` is an ordinary Milvus (API
# mode); `milvus-replica` runs with `common.ttMsgEnabled=false`, the setting replicate mode (ReplicateMessage) needs.
# `milvus-pulsar` is a second source, on the Pulsar broker (etcd root and channel prefix `source-pulsar`).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

milvus_venv() {
  if [[ ! -x "$VENV_DIR/bin/python" ]] || ! "$VENV_DIR/bin/python" -c 'import milvus, pymilvus, yaml, pkg_resources' 2>/dev/null; then
    command -v python3 >/dev/null || need_apt python3 python3-venv
    log "installing milvus==$MILVUS_PKG_VERSION, pymilvus and pyyaml into $VENV_DIR"
    python3 -m venv "$VENV_DIR"
    "$VENV_DIR/bin/pip" install -q --disable-pip-version-check "milvus==$MILVUS_PKG_VERSION" "$PYMILVUS_SPEC" pyyaml "setuptools<81" "marshmallow<4" >&2
  fi
}

# start_milvus NAME PORT_BASE METRICS_PORT key=value...
start_milvus() {
  local name="$1" port_base="$2" metrics_port="$3"
  shift 3
  if is_running "$name"; then log "$name already running"; return 0; fi
  local dir="$STACK_DIR/$name" exe
  mkdir -p "$dir/logs"
  exe="$("$VENV_DIR/bin/python" "$REPO_ROOT/deploy/local/milvus_config.py" "$dir" "$port_base" \
    etcd.use.embed=false "etcd.endpoints=127.0.0.1:$ETCD_PORT" \
    log.file.rootPath="$dir/logs" log.stdout=false "$@")"
  (
    cd "$dir"
    DEPLOY_MODE=STANDALONE METRICS_PORT="$metrics_port" MILVUS_RUN_DIR="$dir/run" \
      LD_LIBRARY_PATH="$(dirname "$exe")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
      exec "$exe" run standalone >"$dir/logs/stdout.log" 2>&1
  ) &
  echo $! >"$(pid_file "$name")"
  wait_for "$name" 180 "$dir/logs/stdout.log" curl -fsS "http://127.0.0.1:$metrics_port/healthz"
}

milvus_up() {
  milvus_venv
  tcp_open "$ETCD_PORT" || die "milvus needs etcd on 127.0.0.1:$ETCD_PORT (run up.sh etcd first)"
  tcp_open "$KAFKA_PORT" || die "milvus needs kafka on 127.0.0.1:$KAFKA_PORT (run up.sh kafka first)"
  start_milvus milvus-source "$SOURCE_MILVUS_PORT" "$SOURCE_MILVUS_METRICS_PORT" \
    etcd.rootPath=source common.chanNamePrefix.cluster=source \
    mq.type=kafka "kafka.brokerList=127.0.0.1:$KAFKA_PORT"
  start_milvus milvus-target "$TARGET_MILVUS_PORT" "$TARGET_MILVUS_METRICS_PORT" \
    etcd.rootPath=target common.chanNamePrefix.cluster=target \
    mq.type=kafka "kafka.brokerList=127.0.0.1:$KAFKA_PORT"
  start_milvus milvus-replica "$REPLICA_MILVUS_PORT" "$REPLICA_MILVUS_METRICS_PORT" \
    etcd.rootPath=replica common.chanNamePrefix.cluster=replica \
    mq.type=kafka "kafka.brokerList=127.0.0.1:$KAFKA_PORT" \
    common.ttMsgEnabled=false
}

milvus_pulsar_up() {
  milvus_venv
  tcp_open "$ETCD_PORT" || die "milvus-pulsar needs etcd on 127.0.0.1:$ETCD_PORT (run up.sh etcd first)"
  tcp_open "$PULSAR_PORT" || die "milvus-pulsar needs pulsar on 127.0.0.1:$PULSAR_PORT (run up.sh pulsar first)"
  start_milvus milvus-pulsar "$PULSAR_MILVUS_PORT" "$PULSAR_MILVUS_METRICS_PORT" \
    etcd.rootPath=source-pulsar common.chanNamePrefix.cluster=source-pulsar \
    mq.type=pulsar pulsar.address=127.0.0.1 "pulsar.port=$PULSAR_PORT" "pulsar.webport=$PULSAR_HTTP_PORT"
}

milvus_down() { stop_component milvus-pulsar; stop_component milvus-replica; stop_component milvus-target; stop_component milvus-source; }

#!/usr/bin/env bash
# Kafka: a single-node KRaft broker (combined broker+controller) from Maven Central jars on the machine's JDK.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kafka_classpath() {
  if [[ ! -f "$KAFKA_LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    command -v mvn >/dev/null || need_apt maven
    log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its dependencies with Maven"
    mvn -q -f "$REPO_ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$KAFKA_LIB_DIR" -DincludeScope=runtime >&2
  fi
  echo "$KAFKA_LIB_DIR/*"
}

kafka_up() {
  command -v java >/dev/null || need_apt openjdk-17-jre-headless
  if is_running kafka; then log "kafka already running"; return 0; fi
  local dir="$STACK_DIR/kafka" cp
  cp="$(kafka_classpath)"
  mkdir -p "$dir"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=10485760
replica.fetch.max.bytes=10485760
log.retention.hours=168
PROPS
  local java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$REPO_ROOT/deploy/local/kafka/log4j.properties")
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java -cp "$cp" "${java_opts[@]}" kafka.tools.StorageTool random-uuid)"
    java -cp "$cp" "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "kafka storage format failed"; }
  fi
  java -cp "$cp" "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 &
  echo $! >"$(pid_file kafka)"
  wait_for kafka 90 "$dir/kafka.log" tcp_open "$KAFKA_PORT"
}

kafka_down() { stop_component kafka; }

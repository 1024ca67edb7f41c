#!/usr/bin/env bash
# Pulsar: a standalone broker (broker + one bookie, metadata in RocksDB) from Maven Central jars on the machine's JDK.
# The jar tree needs Maven 3.9 (Debian's 3.8 hangs resolving it); Maven itself comes from Maven Central too.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Maven 3.9 from Maven Central (fetched once with whichever Maven the machine has), into the cache.
maven39() {
  local home="$CDC_CACHE_DIR/apache-maven-$MAVEN39_VERSION"
  if [[ ! -x "$home/bin/mvn" ]]; then
    command -v mvn >/dev/null || need_apt maven
    log "fetching Maven $MAVEN39_VERSION from Maven Central"
    local tmp
    tmp="$(mktemp -d)"
    mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      "-Dartifact=org.apache.maven:apache-maven:$MAVEN39_VERSION:tar.gz:bin" -DoutputDirectory="$tmp" >&2
    tar -xzf "$tmp/apache-maven-$MAVEN39_VERSION-bin.tar.gz" -C "$CDC_CACHE_DIR"
    rm -rf "$tmp"
  fi
  echo "$home/bin/mvn"
}

pulsar_classpath() {
  if [[ ! -f "$PULSAR_LIB_DIR/pulsar-broker-$PULSAR_VERSION.jar" ]]; then
    local mvn39
    mvn39="$(maven39)"
    log "resolving org.apache.pulsar:pulsar-broker:$PULSAR_VERSION and its dependencies with Maven $MAVEN39_VERSION"
    "$mvn39" -q -B -f "$REPO_ROOT/deploy/local/pulsar/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$PULSAR_LIB_DIR.partial" -DincludeScope=runtime >&2
    rm -rf "$PULSAR_LIB_DIR" && mv "$PULSAR_LIB_DIR.partial" "$PULSAR_LIB_DIR"
  fi
  echo "$PULSAR_LIB_DIR/*"
}

# Starts the broker without waiting for it (up.sh launches it first, so it boots while the others start).
pulsar_launch() {
  command -v java >/dev/null || need_apt openjdk-17-jre-headless
  if is_running pulsar; then return 0; fi
  local dir="$STACK_DIR/pulsar" cp
  cp="$(pulsar_classpath)"
  mkdir -p "$dir/data"
  # Retention as a Milvus deployment sets it: readers (the CDC) hold no subscription, so without it a ledger would be
  # deleted as soon as Milvus's own subscriptions acknowledged it.
  cat >"$dir/standalone.conf" <<CONF
clusterName=standalone
bindAddress=127.0.0.1
advertisedAddress=127.0.0.1
brokerServicePort=$PULSAR_PORT
webServicePort=$PULSAR_HTTP_PORT
bookiePort=$PULSAR_BOOKIE_PORT
functionsWorkerEnabled=false
transactionCoordinatorEnabled=false
loadBalancerOverrideBrokerNicSpeedGbps=10
brokerDeleteInactiveTopicsEnabled=false
allowAutoTopicCreationType=non-partitioned
defaultRetentionTimeInMinutes=10080
defaultRetentionSizeInMB=2048
maxMessageSize=10485760
managedLedgerDefaultEnsembleSize=1
managedLedgerDefaultWriteQuorum=1
managedLedgerDefaultAckQuorum=1
journalSyncData=false
dbStorage_writeCacheMaxSizeMb=64
dbStorage_readAheadCacheMaxSizeMb=64
dbStorage_rocksDB_blockCacheSize=67108864
CONF
  local java_opts=(-Xms128m -Xmx512m -XX:MaxDirectMemorySize=512m -XX:+UseG1GC -Djava.awt.headless=true
    -Dio.netty.tryReflectionSetAccessible=true
    --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.nio=ALL-UNNAMED
    --add-opens java.base/jdk.internal.misc=ALL-UNNAMED --add-opens java.base/sun.net=ALL-UNNAMED
    --add-opens java.management/sun.management=ALL-UNNAMED --add-exports java.base/jdk.internal.platform=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    "-Dlog4j.configurationFile=$REPO_ROOT/deploy/local/pulsar/log4j2.xml" "-Dpulsar.log.dir=$dir")
  (
    cd "$dir"
    exec java -cp "$cp" "${java_opts[@]}" org.apache.pulsar.PulsarStandaloneStarter --config "$dir/standalone.conf" \
      --no-functions-worker --no-stream-storage --advertised-address 127.0.0.1 \
      --metadata-dir "$dir/data/metadata" --bookkeeper-dir "$dir/data/bookkeeper" \
      --bookkeeper-port "$PULSAR_BOOKIE_PORT" >"$dir/pulsar.log" 2>&1
  ) &
  echo $! >"$(pid_file pulsar)"
  log "pulsar launched (pid $!)"
}

pulsar_up() {
  pulsar_launch
  # The namespace exists once the standalone's own set-up ran; Milvus creates its topics in it.
  wait_for pulsar 180 "$STACK_DIR/pulsar/pulsar.log" \
    curl -fsS "http://127.0.0.1:$PULSAR_HTTP_PORT/admin/v2/namespaces/public/default"
}

pulsar_down() { stop_component pulsar; }

#!/usr/bin/env bash
# Redis for BullMQ: Debian redis-server, no persistence, loopback only.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

redis_up() {
  need_apt redis-server
  if is_running redis; then log "redis already running"; return 0; fi
  local dir="$STACK_DIR/redis"
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$dir" --daemonize no --maxmemory-policy noeviction >"$dir/redis.log" 2>&1 &
  echo $! >"$(pid_file redis)"
  wait_for redis 20 "$dir/redis.log" redis-cli -p "$REDIS_PORT" ping
}

redis_down() { stop_component redis; }

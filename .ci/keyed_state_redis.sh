#!/usr/bin/env bash
# Keyed-state stage: get_keyed_state with the Redis backend
# (store.extStateType: redis) against the machine's Redis at 127.0.0.1:6379,
# installed and started here if it is not there. The test sets a key, reads
# it through a rule, changes it and sees the new value after the refresh.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "installing redis-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up; then
  echo "starting redis-server on 127.0.0.1:6379"
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no >/dev/null
  for _ in $(seq 1 100); do redis_up && break; sleep 0.1; done
  redis_up || { echo "redis-server did not start on 127.0.0.1:6379"; exit 1; }
fi

OORT_REDIS=127.0.0.1:6379 cargo test --test keyed_state_redis -- --ignored --nocapture
echo "keyed state (redis): ok"

#!/usr/bin/env bash
# Starts a 3-primary Redis Cluster on 127.0.0.1:7001-7003 for the RedisStore
# tests, unless one is already up there. Prints the URLs to export as
# OTP_TEST_REDIS_CLUSTER_URLS. Data lives in a temporary directory and is not
# persisted (--save "" --appendonly no).
set -euo pipefail

PORTS=(7001 7002 7003)
HOST=127.0.0.1
DIR="${OTP_REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/tower-otp-redis-cluster}"

urls() {
  local IFS=,
  local list=()
  for port in "${PORTS[@]}"; do list+=("redis://$HOST:$port"); done
  echo "${list[*]}"
}

cluster_ok() {
  redis-cli -h "$HOST" -p "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

if cluster_ok; then
  urls
  exit 0
fi

command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
mkdir -p "$DIR"

for port in "${PORTS[@]}"; do
  if ! redis-cli -h "$HOST" -p "$port" ping >/dev/null 2>&1; then
    # A node that is not running starts from a clean slate.
    rm -f "$DIR/nodes-$port.conf"
    redis-server --bind "$HOST" --port "$port" --daemonize yes \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" \
      --save "" --appendonly no --dir "$DIR" --logfile "$DIR/redis-$port.log"
  fi
done

for port in "${PORTS[@]}"; do
  for _ in $(seq 50); do
    redis-cli -h "$HOST" -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
done

# Nodes that already know each other (a half-finished earlier run) are left to settle.
known=$(redis-cli -h "$HOST" -p "${PORTS[0]}" cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')
if [ "${known:-1}" -lt "${#PORTS[@]}" ]; then
  nodes=()
  for port in "${PORTS[@]}"; do nodes+=("$HOST:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
fi

for _ in $(seq 100); do
  if cluster_ok; then
    urls
    exit 0
  fi
  sleep 0.1
done
echo "the Redis Cluster on ${PORTS[*]} did not reach cluster_state:ok" >&2
exit 1

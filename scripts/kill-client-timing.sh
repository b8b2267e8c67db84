#!/usr/bin/env bash
# Measures the time from kill -9 of a client that holds an ephemeral node to the
# node's disappearance on every member of a running ensemble.
#   scripts/kill-client-timing.sh SERVERS [SESSION_TIMEOUT_MS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SERVERS=$1; TIMEOUT=${2:-4000}; RUNS=${3:-5}
P=target/release/paddock
IFS=, read -r -a MEMBERS <<< "$SERVERS"
$P --servers "$SERVERS" create /timing >/dev/null 2>&1 || true
for r in $(seq "$RUNS"); do
  $P --servers "$SERVERS" --session-timeout "$TIMEOUT" create --ephemeral --hold "/timing/c$r" >/dev/null &
  holder=$!
  until $P --servers "$SERVERS" stat "/timing/c$r" >/dev/null 2>&1; do sleep 0.02; done
  sleep 1
  kill -9 $holder; start=$(date +%s.%N)
  for m in "${MEMBERS[@]}"; do
    while $P --servers "$m" stat "/timing/c$r" >/dev/null 2>&1; do sleep 0.01; done
  done
  end=$(date +%s.%N)
  wait $holder 2>/dev/null || true
  echo "run $r: session timeout ${TIMEOUT} ms, kill -9 -> gone on all members: $(echo "($end - $start) * 1000" | bc | cut -d. -f1) ms"
done

#!/usr/bin/env bash
# Footprint and restart of a 3-member ensemble on 127.0.0.1 holding KEYS znodes of 100 B
# (release build), measured the way ../shared/peerbench's run-baseline.sh measures
# ZooKeeper and etcd: RSS (VmRSS) of each member idle and empty, after the load (5 s
# settle), data directory sizes, then the whole ensemble stopped (SIGTERM) and started
# again, and the time from the start to the first acknowledged write; finally the RSS
# after the restart and a check that every key is there. Prints one JSON line.
#
#   scripts/footprint.sh [WORKDIR]
#   KEYS=1000000 SNAPSHOT_ENTRIES=100000 scripts/footprint.sh /tmp/fp
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-$(mktemp -d /tmp/paddock-footprint.XXXXXX)}
mkdir -p "$WORK"
KEYS=${KEYS:-200000}
cargo build --release -q -p paddock-server -p paddock-cli
BIN=target/release
PEERS=1=127.0.0.1:7182,2=127.0.0.1:7282,3=127.0.0.1:7382
SERVERS=127.0.0.1:7181,127.0.0.1:7281,127.0.0.1:7381
EXTRA=()
if [ -n "${SNAPSHOT_ENTRIES:-}" ]; then EXTRA=(--snapshot-entries "$SNAPSHOT_ENTRIES"); fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
start() {
  pids=()
  for i in 1 2 3; do
    "$BIN/paddockd" --id "$i" --data-dir "$WORK/m$i" --client-addr "127.0.0.1:7${i}81" \
      --peer-addr "127.0.0.1:7${i}82" --admin-addr "127.0.0.1:7${i}80" --peers "$PEERS" \
      ${EXTRA[@]+"${EXTRA[@]}"} 2>> "$WORK/m$i.log" &
    pids+=($!)
  done
}
rss() { # RSS of each member in MiB, comma-separated
  local out=()
  for p in "${pids[@]}"; do
    out+=("$(awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$p/status")")
  done
  local IFS=,
  echo "${out[*]}"
}
du_mib() { du -sm "$WORK"/m1 "$WORK"/m2 "$WORK"/m3 | awk '{s+=$1} END {print s}'; }
write_ok() { timeout 3 "$BIN/paddock" --servers "$SERVERS" set /footprint "$1" >/dev/null 2>&1; }

start
for _ in $(seq 200); do
  timeout 3 "$BIN/paddock" --servers "$SERVERS" sync / >/dev/null 2>&1 && break
  sleep 0.1
done
"$BIN/paddock" --servers "$SERVERS" create /footprint x >/dev/null
write_ok 0
sleep 2
rss_empty=$(rss)
t0=$(date +%s.%N)
"$BIN/paddock" --servers "$SERVERS" --output json bench --workload get --keys "$KEYS" \
  --value-size 100 --sessions 64 --duration 1 --warmup 0 --keep > "$WORK/load.json" 2> "$WORK/load.err"
prefix=$(sed -n 's/^paddock bench: kept //p' "$WORK/load.err")
t1=$(date +%s.%N)
sleep 5
rss_loaded=$(rss)
du_loaded=$(du_mib)
for p in "${pids[@]}"; do kill -TERM "$p"; done
wait 2>/dev/null || true
du_stopped=$(du_mib)
t2=$(date +%s.%N)
start
n=1
until write_ok "$n"; do n=$((n + 1)); sleep 0.05; done
t3=$(date +%s.%N)
sleep 5
rss_restarted=$(rss)
present=$("$BIN/paddock" --servers "$SERVERS" --output json stat "$prefix/kv" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stat"]["numChildren"])')
printf '{"keys":%s,"load_s":%.2f,"rss_empty_mib":[%s],"rss_loaded_mib":[%s],"data_mib_loaded":%s,"data_mib_stopped":%s,"restart_to_first_write_s":%.3f,"rss_restarted_mib":[%s],"keys_present":%s}\n' \
  "$KEYS" "$(echo "$t1 - $t0" | bc)" "$rss_empty" "$rss_loaded" "$du_loaded" "$du_stopped" \
  "$(echo "$t3 - $t2" | bc)" "$rss_restarted" "$present"

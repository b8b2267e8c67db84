#!/usr/bin/env bash
# Runs `paddock bench` against a fresh 3-member ensemble on 127.0.0.1 (release build),
# for the workloads and session counts given, and prints one JSON line per cell.
#
#   scripts/bench-ensemble.sh [WORKDIR]          # defaults below
#   WORKLOADS="set get" SESSIONS="64" DURATION=10 WARMUP=2 scripts/bench-ensemble.sh
#   WORKLOADS="lock election" scripts/bench-ensemble.sh    # election: CANDIDATES processes,
#                                                         # SESSION_TIMEOUT ms (4000), DURATION s
#   TLS=1 scripts/bench-ensemble.sh              # TLS on the client and peer links (and admin),
#                                                # certificates made with openssl in WORKDIR
#
# Every member fsyncs each Raft batch before it acknowledges (the only mode there is).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-$(mktemp -d /tmp/paddock-bench.XXXXXX)}
mkdir -p "$WORK"
WORKLOADS=${WORKLOADS:-"create set get mixed"}
SESSIONS=${SESSIONS:-"1 16 64"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
cargo build --release -q -p paddock-server -p paddock-cli
BIN=target/release
PEERS=1=127.0.0.1:7182,2=127.0.0.1:7282,3=127.0.0.1:7382
SERVERS=127.0.0.1:7181,127.0.0.1:7281,127.0.0.1:7381
MEMBER_TLS=()
CLIENT_TLS=()
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bench CA" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=member" \
    -keyout "$WORK/member.key" -out "$WORK/member.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/member.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 2 -extfile <(printf "subjectAltName=IP:127.0.0.1") \
    -out "$WORK/member.pem" 2>/dev/null
  MEMBER_TLS=(--tls-cert "$WORK/member.pem" --tls-key "$WORK/member.key"
    --peer-tls-cert "$WORK/member.pem" --peer-tls-key "$WORK/member.key" --peer-tls-ca "$WORK/ca.pem")
  CLIENT_TLS=(--tls-ca "$WORK/ca.pem")
fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for i in 1 2 3; do
  "$BIN/paddockd" --id "$i" --data-dir "$WORK/m$i" --client-addr "127.0.0.1:7${i}81" \
    --peer-addr "127.0.0.1:7${i}82" --admin-addr "127.0.0.1:7${i}80" --peers "$PEERS" \
    ${MEMBER_TLS[@]+"${MEMBER_TLS[@]}"} 2> "$WORK/m$i.log" &
  pids+=($!)
done
for _ in $(seq 100); do
  "$BIN/paddock" ${CLIENT_TLS[@]+"${CLIENT_TLS[@]}"} --servers "$SERVERS" sync / >/dev/null 2>&1 && break
  sleep 0.1
done
for w in $WORKLOADS; do
  if [ "$w" = election ]; then
    "$BIN/paddock" ${CLIENT_TLS[@]+"${CLIENT_TLS[@]}"} --servers "$SERVERS" --session-timeout "${SESSION_TIMEOUT:-4000}" --output json \
      bench --workload election --sessions "${CANDIDATES:-8}" --duration "$DURATION"
    continue
  fi
  for c in $SESSIONS; do
    "$BIN/paddock" ${CLIENT_TLS[@]+"${CLIENT_TLS[@]}"} --servers "$SERVERS" --output json bench --workload "$w" --sessions "$c" --keys "${KEYS:-10000}" \
      --duration "$DURATION" --warmup "$WARMUP" --value-size 100
  done
done

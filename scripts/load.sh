#!/usr/bin/env bash
# Load test of `ets serve` over HTTP, start to end, for the embedded store and then PostgreSQL:
# builds release, makes a temporary store, creates a regulator, starts the server on a loopback
# port with a simulation clock inside a trading session and the rate limit raised, sets up a
# continuous market with funded member accounts through the HTTP API
# (crates/ets-server/examples/load.rs --setup), drives order entry and reads, stops the server.
#
#   scripts/load.sh                      # both stores
#   STORES=embedded scripts/load.sh      # only one (embedded | postgres)
#   SECONDS_PER_RUN=20 CONNECTIONS="16 64 256" scripts/load.sh
#   NO_BUILD=1 ETS_BIN=/other/build/ets scripts/load.sh   # another server build, A/B
#
# PostgreSQL: PG_URL (default postgres://postgres@127.0.0.1:5432/test); the store lives in a
# fresh schema load_<random>, dropped at the end. Results: the RESULT lines and a summary table
# on stdout; the server logs stay in the temporary directory only on failure.
set -euo pipefail

cd "$(dirname "$0")/.."
STORES=${STORES:-"embedded postgres"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-"16 64 256"}
MIXED_CONNECTIONS=${MIXED_CONNECTIONS:-64}
MEMBERS=${MEMBERS:-16}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}

if [[ -z "${NO_BUILD:-}" ]]; then
  # Two commands: target flags such as --example apply to every package named.
  cargo build --release -p ets-cli --bin ets
  cargo build --release -p ets-server --example load
fi
ETS=${ETS_BIN:-target/release/ets}
LOAD=${LOAD_BIN:-target/release/examples/load}

TMP=$(mktemp -d /tmp/ets-load.XXXXXX)
SERVER_PID=""
SCHEMA=""
export ETS_ADMIN_PASSWORD
ETS_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -INT "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  local rc=$?
  stop_server
  if [[ -n "$SCHEMA" ]]; then
    PGOPTIONS="-c client_min_messages=warning" psql "${PG_URL}" -q -c "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" >/dev/null 2>&1 || true
  fi
  if [[ $rc -eq 0 ]]; then
    rm -rf "$TMP"
  else
    echo "load.sh failed (exit $rc); server logs kept in $TMP" >&2
  fi
}
trap cleanup EXIT

# A trading day: the next weekday after today (the shipped calendar lists holidays to 2023).
DAY=$(python3 - <<'EOF'
import datetime
d = datetime.date.today() + datetime.timedelta(days=1)
while d.weekday() >= 5:
    d += datetime.timedelta(days=1)
print(d.isoformat())
EOF
)
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# clock: ${DAY}T10:00 Beijing time; ${SECONDS_PER_RUN} s per run after ${WARMUP} s warm-up; ${MEMBERS} members"

RESULTS="$TMP/results.txt"
: > "$RESULTS"

run_store() {
  local store=$1
  local data="$TMP/data-$store"
  local db_args=()
  if [[ $store == postgres ]]; then
    SCHEMA="load_$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
    db_args=(--db "${PG_URL}#${SCHEMA}")
  fi
  "$ETS" --data "$data" admin create-regulator --name loadreg "${db_args[@]}" >/dev/null
  local port
  port=$(free_port)
  "$ETS" --data "$data" serve --listen "127.0.0.1:$port" --clock "${DAY}T10:00" \
    --rate-limit 10000000 --burst 10000000 "${db_args[@]}" >"$TMP/server-$store.log" 2>&1 &
  SERVER_PID=$!
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if curl -fsS "$url/api/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$TMP/server-$store.log" >&2
      return 1
    fi
    sleep 0.1
  done
  curl -fsS "$url/api/health" >/dev/null
  local accounts="$TMP/accounts-$store.txt"
  "$LOAD" --url "$url" --setup-only --regulator loadreg --members "$MEMBERS" --accounts "$accounts"
  echo "# $store after set-up: server RSS $(ps -o rss= -p "$SERVER_PID" | tr -d ' ') KiB"
  # Mixed and read-only runs first, on the fresh market: GET /api/accounts/{account} lists every
  # serial block of the account, and each trade adds blocks, so later reads would grow.
  "$LOAD" --url "$url" --accounts "$accounts" --connections "$MIXED_CONNECTIONS" --reads 0.5 \
    --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --label "$store mixed c=$MIXED_CONNECTIONS" | tee -a "$RESULTS"
  local paths
  for paths in book account; do
    "$LOAD" --url "$url" --accounts "$accounts" --connections "$MIXED_CONNECTIONS" --reads 1 --read-paths "$paths" \
      --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --label "$store reads-$paths c=$MIXED_CONNECTIONS" | tee -a "$RESULTS"
  done
  local c
  for c in $CONNECTIONS; do
    "$LOAD" --url "$url" --accounts "$accounts" --connections "$c" --seconds "$SECONDS_PER_RUN" \
      --warmup "$WARMUP" --label "$store orders c=$c" | tee -a "$RESULTS"
  done
  local token account
  read -r token _ account < <(sed -n 2p "$accounts")
  echo "# $store one member's GET /api/accounts/$account after the runs: $(curl -fsS -o /dev/null -w '%{size_download} bytes in %{time_total} s' -H "Authorization: Bearer $token" "$url/api/accounts/$account")"
  echo "# $store after the runs: $(curl -fsS "$url/api/health"), server RSS $(ps -o rss= -p "$SERVER_PID" | tr -d ' ') KiB, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  stop_server
  if [[ $store == postgres ]]; then
    PGOPTIONS="-c client_min_messages=warning" psql "${PG_URL}" -q -c "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" >/dev/null
    SCHEMA=""
  fi
}

for store in $STORES; do
  echo "## $store"
  run_store "$store"
done

echo
echo "## summary (requests/s; latency ms p50 / p99 / max)"
python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l.split(" ", 1)[1]) for l in open(sys.argv[1]) if l.startswith("RESULT ")]
print("| run | orders/s | order p50 / p99 / max | reads/s | read p50 / p99 / max | 4xx | 5xx | traded |")
print("|---|---:|---|---:|---|---:|---:|---:|")
def lat(x):
    return f"{x['p50_ms']:.2f} / {x['p99_ms']:.2f} / {x['max_ms']:.1f}" if x["count"] else ""
by = {}
for r in rows:
    o, rd = r["orders"], r["reads"]
    print(f"| {r['label']} | {o['per_s']:.0f} | {lat(o)} | {rd['per_s']:.0f} | {lat(rd)} | {r['status_4xx']} | {r['status_5xx']} | {r['orders_traded']} |")
    by[r["label"]] = r
stores = sorted({l.split(" ")[0] for l in by})
if "embedded" in stores and "postgres" in stores:
    print()
    for l, r in by.items():
        if l.startswith("embedded "):
            p = by.get("postgres " + l[len("embedded "):])
            if p:
                kind = "reads" if " reads-" in l else "orders"
                e_rate, p_rate = r[kind]["per_s"] + (r["reads"]["per_s"] if kind == "orders" else 0), p[kind]["per_s"] + (p["reads"]["per_s"] if kind == "orders" else 0)
                if p_rate:
                    print(f"embedded / postgres, {l[len('embedded '):]}: {e_rate / p_rate:.2f}x requests/s")
EOF

#!/usr/bin/env bash
# Kill -9 under load (issue 12, item 5), for the embedded store and then PostgreSQL: builds
# release, makes a fresh store (a temporary directory, or a fresh schema k9_<random> dropped at
# the end), creates a regulator, and runs crates/ets-server/examples/kill9.rs, which starts
# `ets serve`, sets up a market through the API, and in each round drives order entry, four-eyes
# transfers and allocation from several clients, kills the server with SIGKILL at a random
# moment, restarts it, and checks every 2xx answer against the store (`ets verify`, the answer
# replayed by its Idempotency-Key, the registry's transfers and holdings). Ends with `ets verify`
# on the stopped store.
#
#   scripts/kill9.sh                         # both stores, 5 rounds each
#   ROUNDS=10 STORES=postgres scripts/kill9.sh
#   MEMBERS=8 COMPANIES=6 MAX_SECONDS=6 SEED=42 scripts/kill9.sh
#   NO_BUILD=1 ETS_BIN=... KILL9_BIN=... scripts/kill9.sh
#
# PostgreSQL: PG_URL (default postgres://postgres@127.0.0.1:5432/test). Output: a line per round,
# a summary line and a RESULT {json} line per store; exits non-zero if anything acknowledged was
# lost or executed twice. Server logs stay in the temporary directory only on failure.
set -euo pipefail

cd "$(dirname "$0")/.."
STORES=${STORES:-"embedded postgres"}
ROUNDS=${ROUNDS:-5}
MAX_SECONDS=${MAX_SECONDS:-4}
MEMBERS=${MEMBERS:-6}
COMPANIES=${COMPANIES:-4}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}

if [[ -z "${NO_BUILD:-}" ]]; then
  cargo build --release -p ets-cli --bin ets
  cargo build --release -p ets-server --example kill9
fi
ETS=${ETS_BIN:-target/release/ets}
KILL9=${KILL9_BIN:-target/release/examples/kill9}

TMP=$(mktemp -d /tmp/ets-kill9.XXXXXX)
SCHEMA=""
export ETS_ADMIN_PASSWORD
ETS_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')

drop_schema() {
  if [[ -n "$SCHEMA" ]]; then
    PGOPTIONS="-c client_min_messages=warning" psql "${PG_URL}" -q -c "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" >/dev/null 2>&1 || true
    SCHEMA=""
  fi
}
cleanup() {
  local rc=$?
  drop_schema
  if [[ $rc -eq 0 ]]; then
    rm -rf "$TMP"
  else
    echo "kill9.sh failed (exit $rc); server logs kept in $TMP" >&2
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

echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); clock from ${DAY}T10:00 Beijing time"
echo "# $ROUNDS rounds of at most $MAX_SECONDS s, $MEMBERS members entering orders, $COMPANIES companies transferring with four eyes, allocation"

status=0
for store in $STORES; do
  echo "## $store"
  store_args=(--data "$TMP/data-$store")
  if [[ $store == postgres ]]; then
    SCHEMA="k9_$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
    store_args=(--db "${PG_URL}#${SCHEMA}")
  fi
  "$ETS" "${store_args[@]}" admin create-regulator --name k9reg >/dev/null
  seed_args=()
  if [[ -n "${SEED:-}" ]]; then seed_args=(--seed "$SEED"); fi
  if ! "$KILL9" --ets "$ETS" "${store_args[@]}" --day "$DAY" --log "$TMP/server-$store.log" \
      --regulator k9reg --rounds "$ROUNDS" --max-seconds "$MAX_SECONDS" \
      --members "$MEMBERS" --companies "$COMPANIES" "${seed_args[@]}"; then
    status=1
  fi
  # The stopped store, from the outside: replay, hash chain, every invariant.
  "$ETS" "${store_args[@]}" verify | tail -n 1
  drop_schema
done
exit $status

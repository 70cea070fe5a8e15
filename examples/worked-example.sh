#!/usr/bin/env bash
# The README's worked example: one compliance cycle from the regulator's files.
# Usage: examples/worked-example.sh [DATA_DIR]   (ETS may name the binary; default: cargo run)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-./example-data}
if [ -n "${ETS:-}" ]; then run=("$ETS"); else run=(cargo run --release --quiet --); fi
ets() { "${run[@]}" --data "$data" "$@"; }
plan=cn-power-2019-2020
ets --date 2021-01-04 plan adopt $plan
ets --date 2021-01-05 import companies examples/companies.csv
ets --date 2021-01-05 import units examples/units.csv
ets --date 2021-01-10 import reports examples/reports-2018.csv
ets --date 2021-01-15 reports verify examples/verifications-2018.csv
ets --date 2021-01-20 reports accept --year 2018
ets --date 2021-01-29 allocate --plan $plan --stage pre
ets --date 2021-04-30 import reports examples/reports-2019.csv
ets --date 2021-04-30 import reports examples/reports-2020.csv
ets --date 2021-06-30 reports verify examples/verifications-2019.csv
ets --date 2021-06-30 reports verify examples/verifications-2020.csv
ets --date 2021-07-15 reports accept --year 2019
ets --date 2021-07-15 reports accept --year 2020
ets --date 2021-09-30 allocate --plan $plan --stage final
ets --date 2021-10-01 offsets register CCER-SX-F001 --name "Shanxi afforestation 001" --province Shanxi
ets --date 2021-10-01 offsets issue CCER-SX-F001 --vintage 2019 --quantity 100000
ets --date 2021-11-01 transfer examples/transfers.csv
ets --date 2021-12-15 surrender --plan $plan examples/surrenders.csv
ets report compliance
ets --date 2022-01-04 assess --plan $plan
ets verify
# The exchange: SX0001 lists part of its surplus, GD0001 takes some of it (click-to-trade).
ets --date 2022-01-04 exchange open
ets --date 2022-01-04 exchange deposit GD0001 1000000.00
ets --date 2022-01-05 exchange open-day
ets --date 2022-01-05 exchange order SX0001 sell --vintage 2020 --price 48.00 --qty 20000 --time 09:45
ets exchange book --vintage 2020
ets --date 2022-01-05 exchange take GD0001 1 --qty 5000 --time 10:05
ets --date 2022-01-05 exchange close-day
ets report market
ets verify

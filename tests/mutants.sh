#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the pure modules: matchers, routing, inhibition,
# the notification dedup table and the PromQL functions in the alerter; the /proc and
# Redis INFO parsers in the exporter. Not part of tests/run.sh: it rebuilds the crate once per mutant
# (~300 mutants, about an hour on 2 cores). Survivors are listed in
# target/mutants/<set>/mutants.out/missed.txt; the run fails if any survive.
#   bash tests/mutants.sh            # both sets
#   bash tests/mutants.sh alerter    # or: exporter, promql
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants@27.1.0

# Each mutant is an incremental rebuild: no debug info, and lld when it is there.
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0
RUSTFLAGS="-C target-feature=+crt-static" # .cargo/config.toml's, which RUSTFLAGS replaces
if command -v ld.lld >/dev/null; then RUSTFLAGS+=" -C link-arg=-fuse-ld=lld"; fi
export RUSTFLAGS

# Formatting impls are left out: their output is pinned by the API tests.
common=(--timeout 120 --exclude-re 'fmt|Display|Debug')
status=0
for set in "${@:-alerter exporter promql}"; do
  for s in $set; do
    case $s in
      alerter)
        # The dedup table is one function of the notify pipeline.
        args=(-f alerter/src/labels.rs -f alerter/src/dispatch/route.rs
              -f alerter/src/inhibit.rs -f alerter/src/notify/pipeline.rs
              --re '^alerter/src/(labels|dispatch/route|inhibit)\.rs|needs_update'
              -- --lib) ;;
      exporter)
        # Parsers only: the collectors around them read the live system and are
        # covered by the differential tests against node_exporter and redis_exporter.
        args=(-f exporter/src/collector/redis/info.rs -f exporter/src/collector/host/meminfo.rs
              -f exporter/src/collector/host/net.rs -f exporter/src/collector/host/diskstats.rs
              -f exporter/src/collector/host/stat.rs -f exporter/src/collector/host/cpu.rs
              --exclude-re '(replace|in) (build|collect|<impl Collector)'
              -- --lib --test golden) ;;
      promql)
        # The PromQL function table, against the lib tests and the promqltest scripts
        # (Prometheus's alerting subset and ours, whose values promtool confirms).
        args=(-f alerter/src/promql/functions.rs -- --lib --test promql_conformance) ;;
      *) echo "unknown set: $s (expected alerter, exporter or promql)" >&2; exit 2 ;;
    esac
    echo "== mutants: $s"
    cargo mutants "${common[@]}" -o "target/mutants/$s" "${args[@]}" || status=$?
  done
done
exit $status

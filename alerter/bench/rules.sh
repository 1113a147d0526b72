#!/usr/bin/env bash
# Benchmark (by hand): our store holding 10,000 series x 1h at 15s and evaluating every rule of
# rules/, side by side with Debian's Prometheus holding the same data (backfilled with
# `promtool tsdb create-blocks-from openmetrics`) and evaluating the same rules.
#   bash alerter/bench/rules.sh
#   RULES=50 bash alerter/bench/rules.sh   # 50 rules: rules/ repeated under new names, one file both load
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'kill "${prom_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
end=$(( $(date +%s) - 60 ))
rules=("$(pwd)/rules/*.yml"); more=()
if [ -n "${RULES:-}" ]; then rules=("$work/rules.yml"); more=(--rules "$RULES" --rules-out "$work/rules.yml"); fi

cargo build --release -q -p alerter --example bench_rules
echo "== alerter (release build)"
/usr/bin/time -f "peak RSS of the whole benchmark process: %M KiB" \
  "${CARGO_TARGET_DIR:-target}/$(rustc --print host-tuple)/release/examples/bench_rules" --end "$end" --openmetrics "$work/data.om" "${more[@]}"

echo "== prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}')"
promtool tsdb create-blocks-from openmetrics "$work/data.om" "$work/tsdb" > /dev/null
rm -f "$work/data.om"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > "$work/prometheus.yml" <<YML
global:
  evaluation_interval: 5s
rule_files:
  - ${rules[0]}
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=30d > "$work/prom.log" 2>&1 &
prom_pid=$!
sleep 40
# One round = the sum of every group's last duration; read after each of 12 rounds (5 s apart).
rounds=()
for _ in $(seq 12); do
  rounds+=("$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^prometheus_rule_group_last_duration_seconds/ {s+=$2} END {printf "%.1f", s*1000}')")
  sleep 5
done
printf '%s\n' "${rounds[@]}" | sort -n | awk '{v[NR]=$1} END {printf "evaluation of all rules (sum of the groups'"'"' last durations): median %.1f ms, max %.1f ms (%d rounds)\n", v[int((NR+1)/2)], v[NR], NR}'
metrics=$(curl -s "http://127.0.0.1:$port/metrics")
echo "$metrics" | awk '/^prometheus_rule_group_rules/ {s+=$2} END {print "rules loaded: " s}'
echo "$metrics" | awk '/^process_resident_memory_bytes/ {printf "RSS: %.1f MB\n", $2/1e6}'
echo "$metrics" | awk '/^prometheus_tsdb_blocks_loaded/ {print "blocks loaded: " $2}'
curl -s "http://127.0.0.1:$port/api/v1/query" --data-urlencode 'query=count({__name__=~".+"})' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print("series visible:", r[0]["value"][1] if r else 0)'

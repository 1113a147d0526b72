#!/usr/bin/env bash
# Benchmark (by hand, not in CI): our alerter vs Debian's prometheus-alertmanager in one run,
# same config, same load, loopback only.
#   bash alerter/bench/alertmanager.sh       # FAIL_SECS=90, RUNS=5, CONCS="1 4 16" by default
# Per server: VmRSS idle; time to ingest 10,000 alerts as 10,000 single-alert POSTs over each
# of CONCS keep-alive connections (1: Prometheus's pattern; 16: enough to saturate either
# server), RUNS times on a fresh server each, the two servers taking turns (median printed),
# with the server's
# and the load generator's CPU seconds (they share the 2 cores); VmRSS after ingest (100 groups)
# and after one GET of all alerts; then, restarted empty, 10,000 alerts in 10,000 groups whose
# webhook receiver always fails (closed port), with VmRSS sampled while it keeps failing (flat =
# the last samples agree).
set -euo pipefail
cd "$(dirname "$0")/../.."
FAIL_SECS="${FAIL_SECS:-90}"
RUNS="${RUNS:-5}"
CONCS="${CONCS:-1 4 16}"
command -v prometheus-alertmanager >/dev/null || { echo "needs prometheus-alertmanager (bash tests/run.sh installs it)" >&2; exit 1; }
cargo build --release -q -p alerter --bin alerter --example bench_ingest
target="${CARGO_TARGET_DIR:-$(pwd)/target}/$(rustc --print host-tuple)/release"   # .cargo/config.toml: build.target
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dead=$(free_port)   # nothing listens here: the failing receiver
cat > "$work/am.yml" <<YML
route:
  receiver: failing
  group_by: [alertname]
  group_wait: 1s
  group_interval: 10s
  repeat_interval: 1h
receivers:
  - name: failing
    webhook_configs:
      - url: http://127.0.0.1:$dead/hook
YML
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
tck=$(getconf CLK_TCK)
cpu() { awk -v t="$tck" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat"; }   # user+system seconds

start() { # name port datadir -> pid in $pid
  local name=$1 port=$2 data=$3
  case $name in
    alerter) "$target/alerter" --config.file="$work/am.yml" --storage.path="$data" \
               --web.listen-address="127.0.0.1:$port" >"$work/$name.log" 2>&1 & ;;
    alertmanager) prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$data" \
               --web.listen-address="127.0.0.1:$port" --cluster.listen-address= >"$work/$name.log" 2>&1 & ;;
  esac
  pid=$!; pids+=("$pid")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && return; sleep 0.1; done
  echo "$name did not become ready:" >&2; cat "$work/$name.log" >&2; exit 1
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# ingest PORT PID CONC -> one line: wall seconds, server CPU seconds, generator CPU seconds
ingest() {
  local c0 out
  c0=$(cpu "$2")
  out=$( { TIMEFORMAT='%U %S'; time "$target/examples/bench_ingest" "http://127.0.0.1:$1" --alerts 10000 --groups 100 --concurrency "$3" >"$work/gen.out"; } 2>&1 )
  grep -q ' failed 0$' "$work/gen.out" || { echo "posts failed: $(cat "$work/gen.out")" >&2; exit 1; }
  echo "$(awk '{print $2}' "$work/gen.out") $(awk -v a="$c0" -v b="$(cpu "$2")" 'BEGIN {printf "%.3f", b-a}') $(echo "$out" | awk '{printf "%.3f", $1+$2}')"
}

# Ingest runs alternate between the two servers, so a slow spell of this shared
# machine falls on both rather than on whichever ran then.
declare -A walls cpus gens idle after_ingest after_get
first=${CONCS%% *}; last=${CONCS##* }
for conc in $CONCS; do
  for run in $(seq "$RUNS"); do
    for name in alerter alertmanager; do
      port=$(free_port); start "$name" "$port" "$work/$name-a$conc-$run"
      sleep 2
      [ "$conc-$run" = "$first-1" ] && idle[$name]=$(rss "$pid")
      res=$(ingest "$port" "$pid" "$conc") || exit 1
      read -r w c g <<<"$res"
      k="$name $conc"
      walls[$k]="${walls[$k]:-} $w"; cpus[$k]="${cpus[$k]:-} $c"; gens[$k]="${gens[$k]:-} $g"
      if [ "$conc-$run" = "$last-$RUNS" ]; then
        sleep 2
        after_ingest[$name]=$(rss "$pid")
        n=$(curl -s "http://127.0.0.1:$port/api/v2/alerts" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
        after_get[$name]="$(rss "$pid") (alerts returned: $n)"
      fi
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done

for name in alerter alertmanager; do
  echo "== $name"
  echo "idle_rss_mb ${idle[$name]}"
  for conc in $CONCS; do
    k="$name $conc"
    echo "ingest_10000_posts_c${conc}_wall_seconds${walls[$k]} (median $(echo "${walls[$k]}" | median))"
    echo "ingest_10000_posts_c${conc}_server_cpu_seconds${cpus[$k]} (median $(echo "${cpus[$k]}" | median))"
    echo "ingest_10000_posts_c${conc}_generator_cpu_seconds${gens[$k]}"
  done
  echo "after_ingest_100_groups_rss_mb ${after_ingest[$name]}"
  echo "after_get_all_rss_mb ${after_get[$name]}"

  port=$(free_port); start "$name" "$port" "$work/$name-b"
  "$target/examples/bench_ingest" "http://127.0.0.1:$port" --alerts 10000 --groups 10000
  samples=""
  for t in $(seq 0 15 "$FAIL_SECS"); do
    [ "$t" -gt 0 ] && sleep 15
    samples="$samples t=${t}s:$(rss "$pid")"
  done
  echo "failing_receiver_10000_groups_rss_mb$samples"
  echo "threads $(awk '/Threads/ {print $2}' /proc/$pid/status)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
echo "== alertmanager / alerter"
echo "idle_rss $(ratio "${idle[alertmanager]}" "${idle[alerter]}")"
for conc in $CONCS; do
  echo "ingest_c${conc}_wall_median $(ratio "$(echo "${walls[alertmanager $conc]}" | median)" "$(echo "${walls[alerter $conc]}" | median)")"
  echo "ingest_c${conc}_server_cpu_median $(ratio "$(echo "${cpus[alertmanager $conc]}" | median)" "$(echo "${cpus[alerter $conc]}" | median)")"
done

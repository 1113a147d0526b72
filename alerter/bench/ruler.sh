#!/usr/bin/env bash
# Benchmark (by hand, not in CI): live rule evaluation, our alerter vs Debian's prometheus in
# one run (issue 16, done-when 6).
#   bash alerter/bench/ruler.sh        # SECS=300 (the measured window) by default; PART2=0 skips part 2
# Part 1: both scrape the same targets every 15 s, our exporter (no flags) plus 5 app-like
# targets of 1,000 series each (a small python3 server, counters moving between scrapes), and
# evaluate every rule of rules/ every 15 s. After a 45 s warm-up, over SECS seconds: CPU % of
# one core (utime+stime from /proc/PID/stat), VmRSS sampled every 5 s (max and end).
# Part 2: 10,000 series x 1 h at 15 s, 50 rules (the rules of rules/ repeated under new names):
# evaluation time per round, in our store and in Prometheus's TSDB holding the same samples
# (alerter/bench/rules.sh with RULES=50).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS="${SECS:-300}"
command -v prometheus >/dev/null || { echo "needs Debian's prometheus (bash tests/run.sh installs it)" >&2; exit 1; }
# The binaries alone (an example would unify dev-dependency features into them).
cargo build --release -q -p alerter -p exporter --bin alerter --bin exporter
target="${CARGO_TARGET_DIR:-$(pwd)/target}/$(rustc --print host-tuple)/release"   # .cargo/config.toml: build.target
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.2; done; echo "nothing on port $1" >&2; exit 1; }
alive() { # pid name: exits with the process's log when it is gone
  kill -0 "$1" 2>/dev/null || { echo "$2 exited:" >&2; tail -20 "$work/$2.log" >&2; exit 1; }
}

# The app-like targets: 200 request counters, a 20-handler latency histogram (260 series)
# and 540 gauges each; counters grow on every scrape.
cat > "$work/targets.py" <<'PY'
import http.server, random, sys, threading
class T:
    def __init__(self):
        self.c = {}
    def body(self):
        out = ["# TYPE http_requests_total counter"]
        for h in range(20):
            for m in ("GET", "POST"):
                for s in ("200", "201", "404", "500", "503"):
                    k = (h, m, s)
                    self.c[k] = self.c.get(k, 0) + random.randint(0, 30 if s < "4" else 1)
                    out.append(f'http_requests_total{{handler="/h{h}",method="{m}",status="{s}"}} {self.c[k]}')
        out.append("# TYPE http_request_duration_seconds histogram")
        for h in range(20):
            cum = 0
            for i, le in enumerate(("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")):
                k = (h, le)
                self.c[k] = self.c.get(k, 0) + random.randint(0, 10 - i // 2)
                cum += self.c[k]
                out.append(f'http_request_duration_seconds_bucket{{handler="/h{h}",le="{le}"}} {cum}')
            out.append(f'http_request_duration_seconds_sum{{handler="/h{h}"}} {cum * 0.1:.3f}')
            out.append(f'http_request_duration_seconds_count{{handler="/h{h}"}} {cum}')
        out.append("# TYPE app_queue_depth gauge")
        for q in range(540):
            out.append(f'app_queue_depth{{queue="q{q}"}} {random.randint(0, 100)}')
        return ("\n".join(out) + "\n").encode()
def serve(port):
    t = T()
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            b = t.body()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
        def log_message(self, *a):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
threading.Event().wait()
PY
app_ports=()
for _ in 1 2 3 4 5; do app_ports+=("$(free_port)"); done
python3 "$work/targets.py" "${app_ports[@]}" & pids+=("$!")
exp_port=$(free_port)
"$target/exporter" --web.listen-address="127.0.0.1:$exp_port" >"$work/exporter.log" 2>&1 & pids+=("$!")
wait_port "$exp_port"; wait_port "${app_ports[0]}"
n=$(curl -s "http://127.0.0.1:${app_ports[0]}/metrics" | grep -vc '^#')
echo "series per app target: $n; exporter series: $(curl -s "http://127.0.0.1:$exp_port/metrics" | grep -vc '^#')"

apps=$(printf "'127.0.0.1:%s'," "${app_ports[@]}")
scrape="global:
  scrape_interval: 15s
  evaluation_interval: 15s
rule_files: ['$(pwd)/rules/*.yml']
scrape_configs:
  - job_name: exporter
    static_configs: [{targets: ['127.0.0.1:$exp_port']}]
  - job_name: app
    static_configs: [{targets: [${apps%,}]}]"
printf '%s\nroute: {receiver: none}\nreceivers: [{name: none}]\n' "$scrape" > "$work/alerter.yml"
printf '%s\n' "$scrape" > "$work/prometheus.yml"
a_port=$(free_port); p_port=$(free_port)
"$target/alerter" --config.file="$work/alerter.yml" --storage.path="$work/alerter-data" \
  --web.listen-address="127.0.0.1:$a_port" >"$work/alerter.log" 2>&1 & a_pid=$!; pids+=("$a_pid")
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$p_port" >"$work/prometheus.log" 2>&1 & p_pid=$!; pids+=("$p_pid")
sleep 45
alive "$a_pid" alerter; alive "$p_pid" prometheus
a0=$(cpu_ticks "$a_pid"); p0=$(cpu_ticks "$p_pid"); t0=$(date +%s.%N)
a_max=0; p_max=0
end=$(( $(date +%s) + SECS ))
while [ "$(date +%s)" -lt "$end" ]; do
  a_rss=$(rss "$a_pid"); p_rss=$(rss "$p_pid")
  a_max=$(awk -v a="$a_max" -v b="$a_rss" 'BEGIN {print (b > a) ? b : a}')
  p_max=$(awk -v a="$p_max" -v b="$p_rss" 'BEGIN {print (b > a) ? b : a}')
  sleep 5
done
alive "$a_pid" alerter; alive "$p_pid" prometheus
a1=$(cpu_ticks "$a_pid"); p1=$(cpu_ticks "$p_pid"); t1=$(date +%s.%N)
a_rss=$(rss "$a_pid"); p_rss=$(rss "$p_pid")
a_cpu=$(awk -v d="$((a1 - a0))" -v t="$tck" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.2f", 100 * d / t / (e - s)}')
p_cpu=$(awk -v d="$((p1 - p0))" -v t="$tck" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.2f", 100 * d / t / (e - s)}')

# What each one did: targets up, rule groups evaluated, samples per scrape.
a_up=$(curl -s "http://127.0.0.1:$a_port/metrics" | awk '/^alerter_scrape_target_up\{/ {s+=$2} END {print s+0}')
a_samples=$(curl -s "http://127.0.0.1:$a_port/metrics" | awk '/^alerter_scrape_target_samples\{/ {s+=$2} END {print s+0}')
a_groups=$(curl -s "http://127.0.0.1:$a_port/api/v1/rules" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["groups"]))')
q() { curl -s "http://127.0.0.1:$p_port/api/v1/query" --data-urlencode "query=$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'; }
p_up=$(q 'sum(up)'); p_samples=$(q 'sum(scrape_samples_scraped)')
p_groups=$(curl -s "http://127.0.0.1:$p_port/api/v1/rules" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["groups"]))')

echo
echo "== part 1: 6 targets every 15 s, rules/ every 15 s, ${SECS} s window (prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'))"
printf '%-12s %8s %12s %12s %10s %8s %14s\n' "" "CPU %" "RSS max MB" "RSS end MB" "targets up" "groups" "samples/round"
printf '%-12s %8s %12s %12s %10s %8s %14s\n' alerter "$a_cpu" "$a_max" "$a_rss" "$a_up" "$a_groups" "$a_samples"
printf '%-12s %8s %12s %12s %10s %8s %14s\n' prometheus "$p_cpu" "$p_max" "$p_rss" "$p_up" "$p_groups" "$p_samples"
awk -v a="$a_cpu" -v p="$p_cpu" -v ar="$a_max" -v pr="$p_max" 'BEGIN {printf "%-12s %8s %12s\n", "prom/ours", (a > 0 ? sprintf("%.1fx", p / a) : "-"), sprintf("%.1fx", pr / ar)}'
awk -v a="$a_cpu" -v r="$a_max" 'BEGIN {printf "targets: CPU < 2%% %s, RSS < 30 MB %s\n", (a < 2 ? "met" : "MISSED"), (r < 30 ? "met" : "MISSED")}'
kill "${pids[@]}" 2>/dev/null || true

[ "${PART2:-1}" = 0 ] && exit 0
echo
echo "== part 2: 10,000 series x 1 h at 15 s, 50 rules, evaluation per round, ours and Prometheus's on the same data and rules"
RULES=50 bash alerter/bench/rules.sh | grep -E '^(==|series|rules|evaluation|RSS)'

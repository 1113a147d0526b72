#!/usr/bin/env bash
# Benchmark: our exporter's redis collector vs Debian's prometheus-redis-exporter on
# the same redis-server, in one run. Run by hand, not in CI:
#
#   bash exporter/bench/redis.sh            # 1000 scrapes each
#   SCRAPES=200 bash exporter/bench/redis.sh
#
# Three processes: ours with only the redis collector, ours with the default host
# collectors plus redis (the whole exporter), and redis_exporter. Measures VmRSS idle
# and after the scrapes, p50/p99 latency of sequential scrapes, CPU seconds per 100
# scrapes, and the commands each scrape sends to Redis (total_commands_processed delta,
# less the one INFO the script itself sends).
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRAPES="${SCRAPES:-1000}"

for b in prometheus-redis-exporter redis-server redis-cli; do
  command -v "$b" >/dev/null || { echo "needs $b (bash tests/run.sh installs it)" >&2; exit 1; }
done
cargo build --release -p exporter >&2
ours_bin="${CARGO_TARGET_DIR:-$(pwd)/target}/$(rustc --print host-tuple)/release/exporter"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p_redis=$(free_port); p_only=$(free_port); p_all=$(free_port); p_re=$(free_port)
logdir=$(mktemp -d)
redis-server --port "$p_redis" --bind 127.0.0.1 --save "" --dir "$logdir" >"$logdir/redis.log" 2>&1 & pid_redis=$!
sleep 0.5
for i in $(seq 1 100); do echo "SET key:$i value-$i"; done | redis-cli -p "$p_redis" >/dev/null
addr="redis://127.0.0.1:$p_redis"
"$ours_bin" --web.listen-address="127.0.0.1:$p_only" --collector.disable-defaults --collector.redis \
  --redis.addr="$addr" >"$logdir/only.log" 2>&1 & pid_only=$!
"$ours_bin" --web.listen-address="127.0.0.1:$p_all" --redis.addr="$addr" >"$logdir/all.log" 2>&1 & pid_all=$!
prometheus-redis-exporter --web.listen-address="127.0.0.1:$p_re" --redis.addr="$addr" >"$logdir/re.log" 2>&1 & pid_re=$!
trap 'kill $pid_only $pid_all $pid_re $pid_redis 2>/dev/null; rm -rf "$logdir"' EXIT
sleep 2

python3 - "$SCRAPES" "$p_redis" "ours (redis only):$pid_only:$p_only" \
  "ours (host + redis):$pid_all:$p_all" "redis_exporter:$pid_re:$p_re" <<'PY'
import http.client, os, subprocess, sys, time

scrapes, redis_port = int(sys.argv[1]), sys.argv[2]
ticks = os.sysconf("SC_CLK_TCK")

def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / ticks
def commands():
    out = subprocess.run(["redis-cli", "-p", redis_port, "info", "stats"], capture_output=True, text=True).stdout
    return int(next(l for l in out.splitlines() if l.startswith("total_commands_processed:")).split(":")[1])

targets = [a.rsplit(":", 2) for a in sys.argv[3:]]
idle = {name: rss_mib(int(pid)) for name, pid, _ in targets}
rows = []
for name, pid, port in targets:
    pid = int(pid)
    conn = http.client.HTTPConnection("127.0.0.1", int(port))
    lat = []
    c0, cpu0 = commands(), cpu_s(pid)
    for _ in range(scrapes):
        t0 = time.perf_counter()
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        lat.append((time.perf_counter() - t0) * 1000)
        assert b"redis_up 1" in body, f"{name}: redis_up is not 1"
    cmds = (commands() - c0 - 1) / scrapes
    cpu = cpu_s(pid) - cpu0
    lat.sort()
    rows.append((name, idle[name], rss_mib(pid), cpu / scrapes * 100,
                 lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], cmds))

print(f"\n{scrapes} sequential scrapes each, {os.cpu_count()} CPUs\n")
print(f"| exporter | VmRSS idle | VmRSS after {scrapes} scrapes | CPU-s per 100 scrapes | p50 latency | p99 latency | Redis commands per scrape |")
print("|---|---|---|---|---|---|---|")
for n, ri, ra, c, p50, p99, k in rows:
    print(f"| {n} | {ri:.1f} MiB | {ra:.1f} MiB | {c:.3f} | {p50:.2f} ms | {p99:.2f} ms | {k:.1f} |")
only, whole, theirs = rows
print(f"\nwhole exporter RSS after / redis_exporter RSS after: {whole[2]/theirs[2]:.2f} (target < 1)")
print(f"redis-only p99 / redis_exporter p99: {only[5]/theirs[5]:.2f} (target <= 0.50)")
PY

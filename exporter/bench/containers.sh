#!/usr/bin/env bash
# Benchmark: the containers collector with 1..30 running containers, reading cgroup
# files (the default path) side by side with Docker's stats API (the fallback) of the
# same release build. Run by hand, not in CI (needs Docker and busybox-static):
#
#   bash exporter/bench/containers.sh                 # 500 scrapes per point
#   SCRAPES=200 COUNTS="1 10 30" bash exporter/bench/containers.sh
#
# For each container count: an exporter with only the containers collector
# (--docker.stats-source=cgroup), p50/p99 latency of sequential scrapes of /metrics
# and its VmRSS; the same with --docker.stats-source=api (API_SCRAPES scrapes, it is
# slow); and at the largest count the whole exporter (default collectors plus
# containers) for its VmRSS. The containers are `sleep` in a FROM scratch + busybox
# image built here; all are removed at the end, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRAPES="${SCRAPES:-500}"
API_SCRAPES="${API_SCRAPES:-20}"
COUNTS="${COUNTS:-1 5 10 20 30}"

for b in docker python3; do
  command -v "$b" >/dev/null || { echo "needs $b" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "needs /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
cargo build --release -p exporter >&2
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/$(rustc --print host-tuple)/release/exporter"

image=exporter-bench-busybox:containers
ctx=$(mktemp -d)
cp /bin/busybox "$ctx/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nENV PATH=/bin\nENTRYPOINT ["/bin/sh","-c"]\n' >"$ctx/Dockerfile"
docker build -q -t "$image" "$ctx" >/dev/null 2>&1
rm -rf "$ctx"

prefix="exporter-bench-$$"
logdir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  docker ps -aq --filter "name=^${prefix}-" | xargs -r docker rm -f >/dev/null
  rm -rf "$logdir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# scrape PORT PID N COUNT LABEL: sequential scrapes once the exporter sees COUNT
# containers; prints one table row.
measure() {
  python3 - "$@" <<'PY'
import http.client, sys, time
port, pid, n, count, label = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def get(conn):
    conn.request("GET", "/metrics")
    return conn.getresponse().read().decode()
def seen(body):
    # containers whose figures this scrape read, from either source
    return sum(float(l.rsplit(" ", 1)[1]) for l in body.splitlines()
               if l.startswith("container_exporter_stats_source{"))
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
deadline = time.time() + 60
while True:
    try:
        body = get(conn)
        if seen(body) >= count:
            break
    except OSError:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if time.time() > deadline:
        sys.exit(f"{label}: the exporter never saw {count} containers")
    time.sleep(0.2)
lat = []
for _ in range(n):
    t0 = time.perf_counter()
    body = get(conn)
    lat.append((time.perf_counter() - t0) * 1000)
    assert seen(body) >= count, f"{label}: a scrape lost containers"
lat.sort()
p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
print(f"| {count} | {label} | {n} | {p50:.2f} ms | {p99:.2f} ms | {rss_mib():.1f} MiB |", flush=True)
PY
}

# run_exporter PORT ARGS...: starts the exporter in the background, sets $last_pid.
run_exporter() {
  local port=$1; shift
  "$bin" --web.listen-address="127.0.0.1:$port" "$@" >"$logdir/exporter-$port.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}

echo
echo "$(nproc) CPUs, Docker $(docker version --format '{{.Server.Version}}'), cgroup v$(docker info --format '{{.CgroupVersion}}')"
echo
echo "| containers | path | scrapes | p50 latency | p99 latency | VmRSS after |"
echo "|---|---|---|---|---|---|"
running=0
for count in $COUNTS; do
  while [ "$running" -lt "$count" ]; do
    running=$((running + 1))
    docker run -d --name "$prefix-$running" "$image" 'sleep 3600' >/dev/null
  done
  port=$(free_port)
  run_exporter "$port" --collector.disable-defaults --collector.containers --docker.stats-source=cgroup
  measure "$port" "$last_pid" "$SCRAPES" "$count" "cgroup files"
  kill "$last_pid"
  port=$(free_port)
  run_exporter "$port" --collector.disable-defaults --collector.containers --docker.stats-source=api \
    --scrape.collector-timeout=30s
  measure "$port" "$last_pid" "$API_SCRAPES" "$count" "stats API"
  kill "$last_pid"
done
port=$(free_port)
run_exporter "$port" --docker.stats-source=cgroup
measure "$port" "$last_pid" "$SCRAPES" "$running" "whole exporter (default collectors + containers)"

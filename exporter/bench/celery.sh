#!/usr/bin/env bash
# Celery collector benchmark. Run by hand from the workspace root:
#   bash exporter/bench/celery.sh            # release build
#   PROFILE=debug bash exporter/bench/celery.sh
#   PHASES=4 PER_PHASE=500000 bash exporter/bench/celery.sh
# 1. Scrape latency with 50 queues and 100,000 queued messages (kombu's priority lists).
# 2. Memory over PHASES x PER_PHASE synthetic task events with far more distinct task names,
#    hostnames, queues, exceptions and uuids than the caps: VmRSS after each phase. Flat means
#    the last two phases within ~10% (and the peak no longer rising).
set -euo pipefail
PROFILE=${PROFILE:-release}
PHASES=${PHASES:-4}
PER_PHASE=${PER_PHASE:-500000}
TARGET=${CARGO_TARGET_DIR:-target}/$(rustc --print host-tuple)   # .cargo/config.toml: build.target
if [ "$PROFILE" = release ] && [ -z "${NO_BUILD:-}" ]; then cargo build -q --release -p exporter; fi
BIN=$TARGET/$PROFILE/exporter
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
RPORT=$(free_port)
EPORT=$(free_port)
DIR=$(mktemp -d)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 &
RPID=$!
trap 'kill $RPID ${EPID:-} 2>/dev/null; rm -rf "$DIR"' EXIT
sleep 0.5
# 50 queues, each bound like kombu does, 2,000 messages each over priorities 0/3/6/9.
redis-cli -p "$RPORT" EVAL "
for q = 1, 50 do
  local name = 'q' .. q
  redis.call('SADD', '_kombu.binding.' .. name, name .. '\6\22\6\22' .. name)
  for i = 1, 2000 do
    local pri = ({'', '\6\0223', '\6\0226', '\6\0229'})[(i % 4) + 1]
    redis.call('LPUSH', name .. pri, '{\"body\":\"x\"}')
  end
end
return 1" 0 >/dev/null
"$BIN" --web.listen-address=127.0.0.1:"$EPORT" --collector.disable-defaults --collector.celery \
  --celery.broker-url=redis://127.0.0.1:"$RPORT"/0 >"$DIR/exporter.log" 2>&1 &
EPID=$!
sleep 1
URL="http://127.0.0.1:$EPORT/metrics"
curl -s "$URL" | grep -c '^celery_queue_length{' | sed 's/^/queues reported: /'
curl -s "$URL" | awk '/^celery_queue_length\{/ {s+=$2} END {print "messages counted: " s}'
latency() {
  for _ in $(seq 1 "$1"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$URL"
  done | sort -n | awk '{a[NR]=$1} END {printf "scrapes: %d  p50: %.2f ms  p99: %.2f ms  max: %.2f ms\n", NR, a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000, a[NR]*1000}'
}
latency 500
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$EPID/status; }
# Peak RSS since start: stops rising once the state is at its caps (the last RSS reading
# also moves with what the allocator has handed back after a scrape).
hwm() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$EPID/status; }
echo "RSS before events: $(rss)"

# Events: task k sends task-sent (name, queue, producer host); k%4==1 then succeeds, k%4==3
# fails, even k never finish (their uuids stay remembered until evicted); a worker heartbeat
# every 50 tasks. 20,000 task names, 2,000 worker and 1,500 producer hostnames, 3,000 queues,
# 500 exception types, all uuids distinct: every cap is exceeded in phase 1. Published in task.multi batches of 100 on
# 127.0.0.1, waiting for each 100 PUBLISH replies (bounded loop, nothing else touched).
for phase in $(seq 1 "$PHASES"); do
  python3 - "$RPORT" "$phase" "$PER_PHASE" <<'PY'
import base64, json, socket, sys
port, phase, per_phase = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
def events():
    k = (phase - 1) * per_phase  # tasks per phase < events per phase: uuids never repeat
    while True:
        # Labels vary independently, so the combinations outgrow the series cap too.
        worker = "w%d@h" % ((k * 7) % 2_000)
        yield {"type": "task-sent", "uuid": "%032x" % k, "name": "tasks.t%d" % ((k * 7919) % 20_000),
               "queue": "q%d" % ((k // 13) % 3_000), "hostname": "producer%d@h" % ((k // 7) % 1_500)}
        if k % 4 == 1:
            yield {"type": "task-succeeded", "uuid": "%032x" % k, "runtime": 0.01 * (k % 50),
                   "hostname": worker}
        elif k % 4 == 3:
            yield {"type": "task-failed", "uuid": "%032x" % k, "hostname": worker,
                   "exception": "Error%d('boom')" % ((k // 3) % 500)}
        if k % 50 == 0:
            yield {"type": "worker-heartbeat", "hostname": worker, "freq": 2.0, "active": 1}
        k += 1
gen = events()
buf, pending, sent = b"", 0, 0
while sent < per_phase:
    batch = [next(gen) for _ in range(min(100, per_phase - sent))]
    body = base64.b64encode(json.dumps(batch).encode()).decode()
    env = json.dumps({"body": body, "properties": {"body_encoding": "base64"}})
    buf += cmd("PUBLISH", "/0.celeryev/task.multi", env)
    sent += len(batch); pending += 1
    if pending == 100 or sent >= per_phase:
        s.sendall(buf); buf = b""
        got = 0
        while got < pending:
            got += s.recv(65536).count(b"\r\n")
        pending = 0
s.close()
PY
  want=$((phase * PER_PHASE))
  # Wait (up to 120 s) until the exporter has applied the whole phase.
  got=0
  for _ in $(seq 1 240); do
    got=$(curl -s "$URL" | awk '/^celery_events_total / {printf "%d", $2}')
    [ "${got:-0}" -ge "$want" ] && break
    sleep 0.5
  done
  resub=$(curl -s "$URL" | awk '/^celery_events_resubscriptions_total / {print $2}')
  echo "phase $phase: events applied $got of $want, resubscriptions ${resub:-?}, RSS $(rss), peak $(hwm)"
done
M=$(curl -s "$URL")
for f in sent succeeded failed; do
  echo "$M" | { grep -c "^celery_task_${f}_total{" || true; } | sed "s/^/celery_task_${f}_total series: /"
done
echo "$M" | { grep -c '^celery_worker_up{' || true; } | sed 's/^/celery_worker_up series: /'
echo "$M" | grep -E '^celery_exporter_(folded_events_total|tasks_)' || true
echo "scrape latency with the capped series:"
latency 50
echo "RSS at end: $(rss)"
grep -i -E 'warn|error' "$DIR/exporter.log" | head -20 || true

#!/usr/bin/env bash
# Measures what the README's Compose section states: the release images' sizes, and the
# idle resident memory (VmRSS) of the exporter and alerter services in compose.yml after
# they have run for a while, against their memory limits. Run by hand (not in tests/run.sh):
#   bash tests/compose_measure.sh            # IDLE=120 seconds by default
# Prometheus and Grafana are not started: their images cannot be pulled on the machine this
# is developed on. Everything it starts is taken down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${IDLE:-120}
tag=measure$$
project=measure$$
TAG=$tag bash tests/images.sh

dir=$(mktemp -d)
printf '%s' 'not-a-real-password' > "$dir/smtp_password"
export STACK_VERSION=$tag SMTP_PASSWORD_FILE=$dir/smtp_password DOCKER_GID
DOCKER_GID=$(stat -c %g /var/run/docker.sock)
EXPORTER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ALERTER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export EXPORTER_PORT ALERTER_PORT
compose() { docker-compose -p "$project" -f compose.yml "$@"; }
cleanup() {
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  docker rmi "exporter-alerter/exporter:$tag" "exporter-alerter/alerter:$tag" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
compose up -d exporter alerter >/dev/null

# Scraped every 15 s meanwhile, as Prometheus would.
end=$(( $(date +%s) + idle ))
while [ "$(date +%s)" -lt "$end" ]; do
  curl -fsS "127.0.0.1:$EXPORTER_PORT/metrics" -o /dev/null || true
  curl -fsS "127.0.0.1:$ALERTER_PORT/metrics" -o /dev/null || true
  sleep 15
done

printf '%-10s %-10s %-12s %-10s %s\n' service image_MiB idle_RSS_MiB limit_MiB health
for svc in exporter alerter; do
  id=$(compose ps -q "$svc")
  pid=$(docker inspect -f '{{.State.Pid}}' "$id")
  rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  limit=$(docker inspect -f '{{.HostConfig.Memory}}' "$id")
  health=$(docker inspect -f '{{.State.Health.Status}}' "$id")
  size=$(docker image inspect -f '{{.Size}}' "exporter-alerter/$svc:$tag")
  awk -v s="$svc" -v i="$size" -v r="$rss_kb" -v l="$limit" -v h="$health" \
    'BEGIN { printf "%-10s %-10.1f %-12.1f %-10d %s\n", s, i / 1048576, r / 1024, l / 1048576, h }'
done

#!/usr/bin/env bash
# A first real canary on loopback: HAProxy splits real traffic between two
# instances of a test service, Prometheus scrapes HAProxy's exporter and the
# services, and `deploy-agent rollout --target haproxy` moves the weights and
# judges them. See examples/haproxy/README.md for the walk-through.
#
#   bash examples/haproxy/run.sh            # the whole demo: up, a good canary, a bad one, down
#   bash examples/haproxy/run.sh up         # start HAProxy, Prometheus, two services, bounded load
#   bash examples/haproxy/run.sh canary good|bad   # deploy a canary and roll it out
#   bash examples/haproxy/run.sh status     # HAProxy's weights and what is running
#   bash examples/haproxy/run.sh down       # stop everything
#
# Needs haproxy and prometheus (Debian: apt-get install haproxy prometheus) and
# cargo. Ports (all on 127.0.0.1): 8080 traffic, 9999 HAProxy runtime API, 8404
# HAProxy exporter, 9090 Prometheus, 9101 stable, 9102 canary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="$here/.run"
FRONT=8080 API=9999 EXPORTER=8404 PROM=9090 STABLE=9101 CANARY=9102
RPS="${RPS:-150}"
LOAD_SECONDS="${LOAD_SECONDS:-900}"

say() { printf '\n== %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 2; }

bin_of() { # the binary cargo built, whatever the target dir
  local dir="${CARGO_TARGET_DIR:-$root/target}/quickstart"
  printf '%s' "$dir/$1"
}
agent() { "$(bin_of deploy-agent)" --config "$here/deploy-agent.toml" --journal "$run/journal.db" "$@"; }
testsvc() { "$(bin_of examples/testsvc)" "$@"; }

need() {
  local missing=()
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v cargo >/dev/null 2>&1 || missing+=(cargo)
  [ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} (Debian: apt-get install --no-install-recommends haproxy prometheus)"
  PATH="$PATH:/usr/sbin"
}

build() {
  say "building deploy-agent and the test service (first time: a few minutes)"
  (cd "$root" && cargo build --quiet --profile quickstart --bin deploy-agent --example testsvc)
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() { # name, command...: background, logged, pid remembered
  local name="$1"; shift
  "$@" >"$run/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
}

stop() {
  local name="$1"
  if [ -f "$run/$name.pid" ]; then
    kill "$(cat "$run/$name.pid")" 2>/dev/null || true
    rm -f "$run/$name.pid"
  fi
}

wait_for() { # what, url-or-port check command...
  local what="$1"; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$what did not come up; see $run/*.log"
}

haproxy_cmd() { testsvc haproxy --socket "127.0.0.1:$API" "$1"; }

service() { # name port version error-rate
  stop "$1"
  start "$1" "$(bin_of examples/testsvc)" serve --listen "127.0.0.1:$2" --version "$3" --error-rate "$4" --latency-ms 20
  wait_for "$1 (port $2)" testsvc get "http://127.0.0.1:$2/metrics"
}

up() {
  need
  build
  mkdir -p "$run"
  for p in $FRONT $API $EXPORTER $PROM $STABLE $CANARY; do
    port_free "$p" || die "port $p is in use (a previous run? try: bash $0 down)"
  done
  say "test services: stable on :$STABLE (1 % errors), canary on :$CANARY (1 % errors)"
  service stable "$STABLE" stable 0.01
  service canary "$CANARY" canary 0.01
  say "HAProxy: traffic on :$FRONT, runtime API on :$API, exporter on :$EXPORTER"
  sed -e "s/@FRONT@/$FRONT/; s/@API@/$API/; s/@EXPORTER@/$EXPORTER/; s/@STABLE@/$STABLE/; s/@CANARY@/$CANARY/" \
    "$here/haproxy.cfg" >"$run/haproxy.cfg"
  start haproxy haproxy -db -f "$run/haproxy.cfg"
  wait_for "HAProxy" testsvc get "http://127.0.0.1:$EXPORTER/metrics"
  say "Prometheus on :$PROM (scrapes every second)"
  sed -e "s/@EXPORTER@/$EXPORTER/; s/@STABLE@/$STABLE/; s/@CANARY@/$CANARY/" \
    "$here/prometheus.yml" >"$run/prometheus.yml"
  start prometheus prometheus --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/prometheus-data" \
    --web.listen-address="127.0.0.1:$PROM"
  wait_for "Prometheus" testsvc get "http://127.0.0.1:$PROM/-/ready"
  say "load: $RPS requests/s through HAProxy for at most $LOAD_SECONDS s"
  start load "$(bin_of examples/testsvc)" load --url "http://127.0.0.1:$FRONT/" --rps "$RPS" --seconds "$LOAD_SECONDS"
  # The preset's queries need a few scrapes of every series: wait until
  # doctor (the rollout's own preflight) is satisfied, at most 30 s.
  say "waiting for Prometheus's first scrapes"
  for _ in $(seq 1 30); do
    if agent doctor --service web --format json 2>/dev/null | grep -q '"ready": true'; then return 0; fi
    sleep 1
  done
  agent doctor --service web || die "the stack is up but not ready (above); see $run/*.log"
}

canary() {
  local kind="${1:-good}" rate
  case "$kind" in
    good) rate=0.01 ;;
    bad) rate=0.20 ;;
    *) die "canary good|bad, not \`$kind\`" ;;
  esac
  say "deploying a $kind canary (error rate $rate) on :$CANARY; HAProxy back to stable 100 / canary 0"
  service canary "$CANARY" canary "$rate"
  haproxy_cmd "set weight be_web/canary 0" >/dev/null
  haproxy_cmd "set weight be_web/stable 100" >/dev/null
  say "deploy-agent doctor --service web"
  agent doctor --service web || die "doctor found a problem (above)"
  say "deploy-agent rollout HEAD --service web --target haproxy (policy: examples/haproxy/policy.toml)"
  local code=0
  agent rollout HEAD --service web --target haproxy --policy "$here/policy.toml" --approve-as quickstart || code=$?
  say "HAProxy now: $(weights)"
  case "$kind:$code" in
    good:0) echo "promoted, as a good canary should be (exit 0)" ;;
    bad:4) echo "rolled back, as a bad canary should be (exit 4)" ;;
    *) die "a $kind canary ended with exit $code (0 promoted, 4 rolled back; see the output above)" ;;
  esac
}

weights() {
  printf 'stable %s, canary %s' \
    "$(haproxy_cmd "get weight be_web/stable" | cut -d' ' -f1)" \
    "$(haproxy_cmd "get weight be_web/canary" | cut -d' ' -f1)"
}

status() {
  for name in stable canary haproxy prometheus load; do
    if [ -f "$run/$name.pid" ] && kill -0 "$(cat "$run/$name.pid")" 2>/dev/null; then
      echo "$name: running (pid $(cat "$run/$name.pid"), log $run/$name.log)"
    else
      echo "$name: stopped"
    fi
  done
  echo "HAProxy weights: $(weights 2>/dev/null || echo unreachable)"
}

down() {
  for name in load prometheus haproxy canary stable; do stop "$name"; done
  say "stopped; journal and logs stay in $run (rm -rf it to start clean)"
}

case "${1:-all}" in
  up) up ;;
  canary) canary "${2:-good}" ;;
  status) status ;;
  down) down ;;
  all)
    started=$(date +%s)
    trap down EXIT
    up
    canary good
    canary bad
    say "history"
    agent history --service web
    echo "quickstart: done in $(( $(date +%s) - started )) s"
    ;;
  *) die "usage: run.sh [up | canary good|bad | status | down]" ;;
esac

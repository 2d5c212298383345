#!/usr/bin/env bash
# Runs `parley loadtest` against a freshly started server, the way
# BENCHMARKS.md reports the SFU: broadcasts of one publisher to N viewers
# and rooms where everyone publishes (N × N), with the server's CPU and
# memory. The load runs on the same machine: per server core is the figure
# to read, not packets per second.
#
#   scripts/bench-sfu.sh                      # every scenario, 15 s each
#   DURATION=30s scripts/bench-sfu.sh
#   SCENARIOS="channel-50" scripts/bench-sfu.sh
#   PROFILE=1 scripts/bench-sfu.sh            # plus a perf profile of the server per scenario
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
KBPS=${KBPS:-2500}
SCENARIOS=${SCENARIOS:-"channel-25 channel-50 channel-100 rooms-1x8 rooms-2x6"}
go build -o .bin/parley ./cmd/parley
DATA=$(mktemp -d)
PORT=$((20000 + RANDOM % 10000))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
KEY=$(.bin/parley account create bench --data-dir "$DATA" | sed -n 's/^api_key=//p')
.bin/parley serve --addr 127.0.0.1:$PORT --data-dir "$DATA" --sfu-udp-addr 127.0.0.1:0 --turn-enabled=false \
	--room-max-participants 100 --conns-per-ip 0 --log-level warn >"$DATA/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

for s in $SCENARIOS; do
	case $s in
	channel-*) args=(--channels --rooms 1 --publishers 1 --subscribers "${s#channel-}");;
	rooms-*) n=${s#rooms-}; args=(--rooms "${n%x*}" --publishers "${n#*x}" --subscribers 0);;
	*) echo "unknown scenario $s" >&2; exit 2;;
	esac
	echo "== $s: parley loadtest ${args[*]} --video-kbps $KBPS --duration $DURATION"
	if [ -n "${PROFILE:-}" ]; then
		(sleep 8; perf record -e cpu-clock -F 999 -g -p $PID -o "$DATA/perf.data" -- sleep 5 >/dev/null 2>&1) &
		PERF=$!
	fi
	.bin/parley loadtest --url "http://127.0.0.1:$PORT" --key "$KEY" --pid $PID "${args[@]}" \
		--video-kbps "$KBPS" --duration "$DURATION" --warmup 5s 2>"$DATA/loadtest.log" ||
		{ echo "loadtest failed:"; tail -5 "$DATA/loadtest.log"; }
	if [ -n "${PROFILE:-}" ]; then
		wait $PERF
		perf report -i "$DATA/perf.data" --no-children --sort dso -g none 2>/dev/null | grep '%' | head -5 || true
		perf report -i "$DATA/perf.data" --no-children --sort symbol -g none 2>/dev/null | grep '%' | head -25 || true
	fi
done

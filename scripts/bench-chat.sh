#!/usr/bin/env bash
# Build parley and run the chat benchmark the way BENCHMARKS.md reports it:
# every scenario 3 times, each against a freshly started server, medians and
# spread in a Markdown table. Extra arguments go to "parley bench chat"
# (e.g. --scenarios fanout --runs 1).
#
#   scripts/bench-chat.sh                       # the full run (~10 minutes)
#   scripts/bench-chat.sh --scenarios latency   # one scenario
#   PROFILE=1 scripts/bench-chat.sh --runs 1    # plus CPU profiles of the server
#
# Output: bench-out/chat-<timestamp>.txt (report) and .json (raw results).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${PARLEY_BIN:-bench-out/parley}
mkdir -p bench-out
go build -o "$bin" ./cmd/parley

# 19,000 idle sockets on each side need a high open-file limit; the tool
# raises its soft limit to the hard one and the server it starts inherits it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

stamp=$(date +%Y%m%d-%H%M%S)
args=(--runs 3 --markdown)
if [[ -n "${PROFILE:-}" ]]; then
	args+=(--profile-dir "bench-out/profiles-$stamp")
fi
"$bin" bench chat "${args[@]}" "$@" --json >"bench-out/chat-$stamp.json" 2> >(tee "bench-out/chat-$stamp.txt" >&2)
echo "report: bench-out/chat-$stamp.txt, results: bench-out/chat-$stamp.json" >&2
if [[ -n "${PROFILE:-}" ]]; then
	for p in "bench-out/profiles-$stamp"/cpu-*.prof "bench-out/profiles-$stamp"/run*/cpu-*.prof; do
		[[ -e "$p" ]] || continue
		echo "== $p" >&2
		go tool pprof -top -nodecount=25 "$bin" "$p" 2>/dev/null | head -35 >&2
	done
fi

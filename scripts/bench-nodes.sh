#!/usr/bin/env bash
# The many-node chat figures of BENCHMARKS.md: "parley bench chat" against
# (1) one node on PostgreSQL, and (2) three nodes on PostgreSQL + Redis, the
# group's members spread over the three (--url a,b,c). Each setup gets a
# fresh database and Redis prefix; every scenario runs 3 times against it
# (--runs 3: medians and spread). Extra arguments go to "parley bench chat".
#
#   scripts/bench-nodes.sh                         # both setups, every scenario (~15 minutes)
#   SETUPS=3 scripts/bench-nodes.sh --scenarios fanout --runs 1
#   SETUPS=1r scripts/bench-nodes.sh --scenarios idle   # one node on PostgreSQL + Redis
#   PROFILE=1 SETUPS=1 scripts/bench-nodes.sh --scenarios durable --runs 1   # + a CPU profile of the node
#
# Needs PostgreSQL on 127.0.0.1:5432 (scripts/deps-postgres.sh) and Redis on
# 127.0.0.1:6379 (scripts/deps-redis.sh). PG_PARAMS adds to the database URL
# (e.g. PG_PARAMS=pool_max_conns=32). Output: bench-out/nodes-<setup>-<timestamp>.{txt,json}.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${PARLEY_BIN:-bench-out/parley}
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432}
redis=${REDIS_URL:-redis://127.0.0.1:6379/0}
setups=${SETUPS:-1 3}
mkdir -p bench-out
go build -o "$bin" ./cmd/parley
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
stamp=$(date +%Y%m%d-%H%M%S)

pids=()
db=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
	if [[ -n "$db" ]]; then
		psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
		db=""
	fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for setup in $setups; do
	n=${setup%r}
	db="parley_bench_${stamp//-/_}_$setup"
	psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
	dburl="$pg/$db?sslmode=disable${PG_PARAMS:+&$PG_PARAMS}"
	secret=$(head -c 48 /dev/urandom | base64 -w0 | tr -d '/+=')
	shared=(--database-url "$dburl" --secret "$secret")
	label="$n node on PostgreSQL"
	if [[ $n -gt 1 || $setup == *r ]]; then
		shared+=(--redis-url "$redis" --redis-prefix "bench-$stamp-$setup:")
		label="$n node(s) on PostgreSQL + Redis"
	fi
	"$bin" migrate --data-dir "$(mktemp -d)" "${shared[@]}" >/dev/null
	acct=$("$bin" account create bench --data-dir "$(mktemp -d)" "${shared[@]}")
	account=$(sed -n 's/^account_id=//p' <<<"$acct")
	apikey=$(sed -n 's/^api_key=//p' <<<"$acct")
	urls=()
	profdir="bench-out/profile-nodes-$setup-$stamp"
	for i in $(seq 1 "$n"); do
		port=$(free_port)
		cmd=(serve)
		[[ -n "${PROFILE:-}" && $i -eq 1 ]] && cmd=(bench server --profile-dir "$profdir")
		"$bin" "${cmd[@]}" --addr "127.0.0.1:$port" --data-dir "$(mktemp -d)" --node-id "bench$i" "${shared[@]}" \
			--conns-per-ip 0 --conns-per-account 0 \
			--messages-per-second 1000000 --messages-burst 1000000 --account-budget-per-second 0 \
			--log-level warn --turn-listen 127.0.0.1:0 --sfu-udp-addr 127.0.0.1:0 \
			>>"bench-out/nodes-$setup-$stamp.server.log" 2>&1 &
		pids+=($!)
		urls+=("http://127.0.0.1:$port")
		# One after the other: the first node creates what the others read.
		for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
	done
	echo "== $label: ${urls[*]}" >&2
	[[ -n "${PROFILE:-}" ]] && kill -USR1 "${pids[0]}"
	"$bin" bench chat --runs 3 --markdown "$@" \
		--url "$(IFS=,; echo "${urls[*]}")" --server-pid "$(IFS=,; echo "${pids[*]}")" \
		--secret "$secret" --account "$account" --api-key "$apikey" \
		--json >"bench-out/nodes-$setup-$stamp.json" 2> >(tee "bench-out/nodes-$setup-$stamp.txt" >&2)
	if [[ -n "${PROFILE:-}" ]]; then
		kill -USR2 "${pids[0]}"
		for _ in $(seq 1 50); do [[ -e "$profdir/cpu.done" ]] && break; sleep 0.1; done
		go tool pprof -top -nodecount=30 "$bin" "$profdir/cpu.done" 2>/dev/null | head -40 >&2 || true
	fi
	cleanup
	echo "report: bench-out/nodes-$setup-$stamp.txt" >&2
done

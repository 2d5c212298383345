#!/usr/bin/env bash
# Relays coturn's own load client through coturn and through Parley's
# embedded TURN server on loopback, and prints, per run: messages sent and
# received, the client's transmit time, loss, and the server's CPU seconds
# (utime+stime from /proc). Installs Debian's coturn when it is missing.
#
#   scripts/bench-turn.sh                 # flood and paced, 3 runs each
#   RUNS=1 scripts/bench-turn.sh
#   BASELINE=HEAD~1 scripts/bench-turn.sh   # also runs that commit's parley, as "base"
#   MODES=flood scripts/bench-turn.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECRET=bench-secret-$RANDOM$RANDOM
command -v turnutils_uclient >/dev/null || {
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get install -y -qq --no-install-recommends coturn >/dev/null
}
go build -o .bin/parley ./cmd/parley
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT
SERVERS="coturn parley"
if [ -n "${BASELINE:-}" ]; then
	mkdir "$DATA/src" && git archive "$BASELINE" | tar -x -C "$DATA/src"
	(cd "$DATA/src" && go build -o "$DATA/parley-base" ./cmd/parley)
	SERVERS="coturn base parley"
fi

# udp_drops is the machine's count of UDP datagrams dropped for a full
# socket buffer (any socket: the server's or the load client's).
udp_drops() { awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }

run() { # server uclient-args
	local who=$1 args=$2 pid port
	case $who in
	coturn)
		port=34780
		turnserver -n --listening-port=$port --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --use-auth-secret \
			--static-auth-secret="$SECRET" --realm=parley --no-tls --no-dtls --allow-loopback-peers --no-cli \
			--min-port=50000 --max-port=60000 --log-file=/dev/null --no-stdout-log >/dev/null 2>&1 &
		pid=$!;;
	parley|base)
		port=34790
		rm -rf "$DATA/p"
		bin=.bin/parley; [ "$who" = base ] && bin=$DATA/parley-base
		$bin serve --addr 127.0.0.1:0 --data-dir "$DATA/p" --turn-listen 127.0.0.1:$port --turn-secret "$SECRET" \
			--turn-allow-private-peers --turn-public-ip 127.0.0.1 --turn-allocations-per-user 1000 --log-level warn >/dev/null 2>&1 &
		pid=$!;;
	esac
	sleep 1.5
	local a b out drops0 drops1
	a=$(awk '{print $14+$15}' /proc/$pid/stat)
	drops0=$(udp_drops)
	out=$(turnutils_uclient $args -W "$SECRET" -u bench -p $port 127.0.0.1 2>&1)
	drops1=$(udp_drops)
	b=$(awk '{print $14+$15}' /proc/$pid/stat)
	kill $pid; wait $pid 2>/dev/null || true
	local sent recv secs loss cpu
	sent=$(grep -o 'tot_send_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
	recv=$(grep -o 'tot_recv_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
	secs=$(grep -o 'Total transmit time is [0-9]*' <<<"$out" | awk '{print $5}')
	loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' <<<"$out" | tail -1 | grep -o '[0-9.]*%')
	cpu=$(echo "scale=2; ($b-$a)/100" | bc)
	printf '%-7s sent=%s recv=%s time=%ss recv/s=%s loss=%s kernel_drops=%s server_cpu=%ss recv_per_cpu_s=%s\n' \
		"$who" "$sent" "$recv" "$secs" "$((recv / (secs > 0 ? secs : 1)))" "$loss" "$((drops1 - drops0))" "$cpu" "$(echo "$recv/$cpu" | bc)"
}

for mode in "flood:-y -z 0 -m 10 -n 20000 -l 1000" "paced:-y -z 1 -m 20 -n 10000 -l 1000"; do
	[[ " ${MODES:-flood paced} " == *" ${mode%%:*} "* ]] || continue
	echo "== ${mode%%:*}: turnutils_uclient ${mode#*:}"
	for _ in $(seq "$RUNS"); do for s in $SERVERS; do run "$s" "${mode#*:}"; done; done
done

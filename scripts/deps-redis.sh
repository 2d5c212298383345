#!/bin/sh
# Starts the Redis the tests use (internal/bus/redis, internal/budget/redisbudget)
# when nothing answers on 127.0.0.1:6379: Debian's redis-server, installed if
# missing, in the background without persistence.
set -eu

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

answers() {
	command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
}

if answers; then
	exit 0
fi
if ! command -v redis-server >/dev/null; then
	echo "deps-redis: installing redis-server"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
fi
echo "deps-redis: starting redis-server on 127.0.0.1:6379"
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
for _ in 1 2 3 4 5 6 7 8 9 10; do
	answers && exit 0
	sleep 0.5
done
echo "deps-redis: redis-server did not answer on 127.0.0.1:6379" >&2
exit 1

#!/bin/bash
# Starts the S3-compatible server the tests use (internal/s3test: the blob
# store's conformance suite on S3, and the two-node attachment test) when
# nothing answers on 127.0.0.1:9333: tools/s3server (gofakes3, in memory),
# built from its own module into the cache folder. See
# docs/operations.md, "Blob storage", for why this server.
set -eu

HOST=127.0.0.1
PORT=9333
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/parley"
BIN="$CACHE/s3server"

answers() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

if answers; then
	exit 0
fi
mkdir -p "$CACHE"
echo "deps-s3: building tools/s3server into $BIN"
(cd "$ROOT/tools/s3server" && ${GO:-go} build -o "$BIN" .)
echo "deps-s3: starting s3server on $HOST:$PORT"
nohup setsid "$BIN" -addr "$HOST:$PORT" >"$CACHE/s3server.log" 2>&1 </dev/null &
for _ in $(seq 20); do
	answers && exit 0
	sleep 0.5
done
echo "deps-s3: s3server did not answer on $HOST:$PORT (see $CACHE/s3server.log)" >&2
exit 1

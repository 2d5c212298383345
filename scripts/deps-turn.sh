#!/bin/sh
# Installs what the TURN tests (test/e2e) need when it is missing: Debian's
# coturn, whose turnutils_uclient relays through the embedded TURN server
# as a client foreign to pion. Its turnserver is not started.
set -eu

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! command -v turnutils_uclient >/dev/null; then
	echo "deps-turn: installing coturn"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends coturn >/dev/null
fi

#!/bin/sh
# Installs HAProxy (Debian's haproxy) for the load-balancer test
# (test/e2e/lb_nodes_test.go runs the example of docs/scaling.md in front of
# three nodes). The test starts its own haproxy; none runs as a service.
set -eu

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if command -v haproxy >/dev/null; then
	exit 0
fi
echo "deps-lb: installing haproxy"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends haproxy >/dev/null
# Debian starts the packaged service; the test needs only the binary.
if command -v systemctl >/dev/null && systemctl is-active --quiet haproxy 2>/dev/null; then
	$SUDO systemctl stop haproxy || true
	$SUDO systemctl disable haproxy >/dev/null 2>&1 || true
fi
command -v haproxy >/dev/null || { echo "deps-lb: haproxy did not install" >&2; exit 1; }

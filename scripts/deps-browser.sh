#!/bin/sh
# Installs what the browser tests (test/browser) need when it is missing:
# Debian's chromium, Node.js with npm, and the test's npm packages
# (playwright-core, which drives the system chromium; it downloads no browser).
set -eu
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
	echo "deps-browser: installing $*"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

[ -x /usr/bin/chromium ] || apt_install chromium
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	apt_install nodejs npm
fi
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' || {
	echo "deps-browser: Node.js 18 or newer is needed (found $(node --version)); install it from https://nodejs.org or your distribution" >&2
	exit 1
}
# npm ci when the installed packages are missing or older than the lock file.
if [ ! -d test/browser/node_modules/playwright-core ] || [ test/browser/package-lock.json -nt test/browser/node_modules/.package-lock.json ]; then
	npm ci --prefix test/browser --no-audit --no-fund --loglevel=error
fi

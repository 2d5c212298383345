#!/bin/sh
# Installs what test/wordpress needs to run the WordPress plugin inside a real
# WordPress: Debian's wordpress package (with its default theme), php-cli and
# php-mysql. Does nothing when they are all there, so it is safe to run often.
# The test also needs MariaDB listening on 127.0.0.1:3306 (user root, no
# password): this script installs mariadb-server if missing and starts it when
# nothing listens there.
set -eu

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# mariadb_up: is a MariaDB answering on 127.0.0.1:3306 as root without a password?
mariadb_up() {
	mariadb-admin --protocol=TCP -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1
}

ensure_mariadb() {
	mariadb_up && return 0
	if [ ! -x /usr/sbin/mariadbd ]; then
		echo "deps-wordpress: installing mariadb-server"
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server >/dev/null
	fi
	echo "deps-wordpress: starting MariaDB"
	$SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
	for _ in $(seq 1 60); do
		mariadb_up && return 0
		sleep 0.5
	done
	echo "deps-wordpress: MariaDB does not answer on 127.0.0.1:3306 as root without a password;" >&2
	echo "  start it (start-stop-daemon --start --background --exec /usr/sbin/mariadbd) and let root in from localhost" >&2
	exit 1
}

PKGS="wordpress wordpress-theme-twentytwentythree php-cli php-mysql"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	ensure_mariadb
	exit 0
fi

echo "deps-wordpress: installing$missing"

# The wordpress package pulls in apache2; we serve WordPress with `php -S`,
# so stop apache2 again if the install started it.
apache_pid=/run/apache2/apache2.pid
apache_was_running=no
[ -f "$apache_pid" ] && apache_was_running=yes

$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null

if [ "$apache_was_running" = no ] && [ -f "$apache_pid" ]; then
	$SUDO apache2ctl stop || true
fi
ensure_mariadb

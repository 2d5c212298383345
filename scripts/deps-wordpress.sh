#!/bin/sh
# Installs what test/wordpress needs to run the WordPress plugin inside a real
# WordPress: Debian's wordpress package (with its default theme), php-cli and
# php-mysql. Does nothing when they are all there, so it is safe to run often.
# The test also needs MariaDB listening on 127.0.0.1:3306 (user root, no
# password); this script does not start it.
set -eu

PKGS="wordpress wordpress-theme-twentytwentythree php-cli php-mysql"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps-wordpress: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

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

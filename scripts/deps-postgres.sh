#!/bin/sh
# Makes sure PostgreSQL answers on 127.0.0.1:5432 for the tests of
# internal/store/postgres (user postgres, no password, database `test`, from
# which each test creates and drops a database of its own). When nothing
# answers there, it installs Debian's postgresql if missing and starts its
# cluster. On a server it installed itself it also lets local TCP clients in
# without a password (trust on 127.0.0.1 and ::1: a test machine only).
# Safe to run often: with PostgreSQL up it only checks the login.
set -eu

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pg_up() {
	command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432
}

installed_now=no
if ! pg_up; then
	if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
		echo "deps-postgres: installing postgresql"
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
		installed_now=yes
	fi
	version=$(ls /etc/postgresql | sort -V | tail -1)
	if [ "$installed_now" = yes ]; then
		hba=/etc/postgresql/$version/main/pg_hba.conf
		$SUDO sh -c "printf '%s\n' 'local all all trust' 'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust' > $hba"
		# The package may have started the cluster already: make it re-read pg_hba.conf.
		$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
	fi
	if ! pg_up; then
		echo "deps-postgres: starting PostgreSQL $version"
		$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	fi
	for _ in $(seq 1 60); do
		pg_up && break
		sleep 0.5
	done
	if ! pg_up; then
		echo "deps-postgres: PostgreSQL does not answer on 127.0.0.1:5432;" >&2
		echo "  start it: pg_ctlcluster --skip-systemctl-redirect $version main start" >&2
		exit 1
	fi
fi

# With PARLEY_TEST_POSTGRES_URL set, the tests use that server and login instead.
[ -z "${PARLEY_TEST_POSTGRES_URL:-}" ] || exit 0
if ! psql -X -q -h 127.0.0.1 -U postgres -Atc 'select 1' test >/dev/null 2>&1; then
	if psql -X -q -h 127.0.0.1 -U postgres -Atc 'select 1' postgres >/dev/null 2>&1; then
		echo "deps-postgres: creating database test"
		psql -X -q -h 127.0.0.1 -U postgres -c 'CREATE DATABASE test' postgres
	else
		echo "deps-postgres: PostgreSQL answers on 127.0.0.1:5432 but does not let user postgres into database test" >&2
		echo "  without a password; allow it (pg_hba.conf: host all all 127.0.0.1/32 trust) and CREATE DATABASE test," >&2
		echo "  or set PARLEY_TEST_POSTGRES_URL to a URL whose user may CREATE DATABASE" >&2
		exit 1
	fi
fi

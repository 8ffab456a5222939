#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback and prints its URL; with "stop DIR"
# stops it and removes DIR. PostgreSQL refuses to run as root, so as root the
# server runs as the postgres user (created by the Debian package).
set -euo pipefail

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# "halt DIR [fast|immediate]" stops the server and keeps it; "resume DIR"
# starts it again on its port (the outage tests).
if [ "${1:-}" = halt ]; then
	as_pg "$(cat "$2/bin")/pg_ctl" -D "$2/data" -m "${3:-fast}" -w stop >/dev/null
	exit 0
fi
if [ "${1:-}" = resume ]; then
	as_pg "$(cat "$2/bin")/pg_ctl" -D "$2/data" -l "$2/server.log" -w -o "$(cat "$2/opts")" start >/dev/null
	exit 0
fi

# "bouncer DIR" starts PgBouncer in transaction mode in front of the server
# in DIR and prints its URL, with DBNAME where a database's name goes: any
# database of the server is reached through it under its own name.
if [ "${1:-}" = bouncer ]; then
	dir=$2
	pgbouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
	if [ ! -x "$pgbouncer" ]; then
		echo "postgres.sh: pgbouncer not found (apt-get install pgbouncer)" >&2
		exit 1
	fi
	pgport=$(sed -E 's/^-p ([0-9]+).*/\1/' "$dir/opts")
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	echo '"postgres" ""' >"$dir/pgbouncer.users"
	cat >"$dir/pgbouncer.ini" <<-EOF
		[databases]
		* = host=127.0.0.1 port=$pgport
		[pgbouncer]
		listen_addr = 127.0.0.1
		listen_port = $port
		unix_socket_dir = $dir
		auth_type = trust
		auth_file = $dir/pgbouncer.users
		pool_mode = transaction
		max_client_conn = 2000
		default_pool_size = 20
		logfile = $dir/pgbouncer.log
		pidfile = $dir/pgbouncer.pid
	EOF
	[ "$(id -u)" = 0 ] && chown postgres "$dir"/pgbouncer.*
	as_pg "$pgbouncer" -d "$dir/pgbouncer.ini"
	echo "postgres://postgres@127.0.0.1:$port/DBNAME?sslmode=disable"
	exit 0
fi

if [ "${1:-}" = stop ]; then
	dir=$2
	[ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
	bin=$(cat "$dir/bin")
	as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	exit 0
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
	echo "postgres.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
	exit 1
fi
dir=$(mktemp -d /tmp/parley-pg.XXXXXX)
echo "$bin" >"$dir/bin"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >"$dir/initdb.log" 2>&1
# fsync stays on: the tests include crash-durability checks.
# PARLEY_PG_SHARED_BUFFERS sizes PostgreSQL's own cache (scripts/bench.sh
# gives it a quarter of the machine's memory, as PostgreSQL's manual
# suggests for a database server; the tests' clusters keep 256MB).
echo "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=${PARLEY_PG_SHARED_BUFFERS:-256MB}" >"$dir/opts"
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "$(cat "$dir/opts")" start >/dev/null
echo "$dir postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"

#!/usr/bin/env bash
# Start the loopback services the test tiers use (PostgreSQL 5432, MariaDB 3306, Redis 6379) when
# they are not already running, installing them from Debian if the machine lacks them, and
# install Debian's Chromium for the browser tests. A service that still cannot be had is
# reported; the tests that need it skip with that reason.
set -uo pipefail

log() { echo "[services] $*"; }

have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null 2>&1; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

wait_for() {  # name, command...
    local name=$1; shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then log "$name is up"; return 0; fi
        sleep 0.5
    done
    log "$name did not come up"; return 1
}

start_postgres() {
    have pg_isready || apt_install postgresql postgresql-client
    if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
        log "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    fi
    wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432 || return 0
    local psql_cmd=(psql -h 127.0.0.1 -U postgres -d postgres -tAc)
    [ "$(id -u)" = 0 ] && have runuser && psql_cmd=(runuser -u postgres -- psql -d postgres -tAc)
    if [ "$("${psql_cmd[@]}" "SELECT 1 FROM pg_database WHERE datname='raychat_test'")" != "1" ]; then
        "${psql_cmd[@]}" "CREATE DATABASE raychat_test" >/dev/null && log "created raychat_test"
    fi
}

start_mariadb() {
    have mariadb || apt_install mariadb-server mariadb-client
    if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
        log "starting MariaDB"
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    fi
    wait_for MariaDB mariadb-admin -h 127.0.0.1 -u root ping || return 0
    mariadb -h 127.0.0.1 -u root -e "CREATE DATABASE IF NOT EXISTS raychat_test CHARACTER SET utf8mb4"
}

start_redis() {
    have redis-server || apt_install redis-server
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        log "starting Redis"
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    fi
    wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping || return 0
}

install_chromium() {  # the browser tests (tests/e2e/browser/) drive Debian's Chromium
    [ -x /usr/bin/chromium ] || apt_install chromium
    if [ -x /usr/bin/chromium ]; then log "Chromium is installed"; else return 1; fi
}

start_postgres || log "PostgreSQL unavailable"
start_mariadb || log "MariaDB unavailable"
start_redis || log "Redis unavailable"
install_chromium || log "!!! Chromium unavailable: the browser tests will SKIP !!!"
exit 0

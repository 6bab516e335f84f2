#!/usr/bin/env bash
# Plugins + MariaDB stage: the `mysql` sink plugin installed over REST lands rows of a
# `random` -> WHERE -> `mysql` rule in the machine's MariaDB (127.0.0.1:3306, user root,
# empty password, database `test`), and the host-level mysql test of the plugin crate.
#  - installs mariadb-server (apt) if no server binary is present;
#  - starts MariaDB if nothing listens on 127.0.0.1:3306;
#  - creates database `test` if missing;
#  - runs the ignored MySQL tests with OORT_MYSQL_URL set, and fails if they fail or do not run.
set -euo pipefail
cd "$(dirname "$0")/.."

export OORT_MYSQL_URL="${OORT_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"

if ! command -v mariadbd >/dev/null && ! command -v mysqld >/dev/null; then
  echo "installing mariadb-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi
client=mariadb
command -v mariadb >/dev/null || client=mysql

db_up() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }
if ! db_up; then
  echo "starting MariaDB on 127.0.0.1:3306"
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null 2>&1 \
      || mysql_install_db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  server=mariadbd
  command -v mariadbd >/dev/null || server=mysqld
  ("$server" --user=mysql --bind-address=127.0.0.1 --port=3306 >/tmp/oort-mariadb.log 2>&1 &)
  for _ in $(seq 1 150); do db_up && break; sleep 0.2; done
  db_up || { echo "MariaDB did not start on 127.0.0.1:3306:"; cat /tmp/oort-mariadb.log; exit 1; }
fi
# root over TCP with an empty password (the test's URL); socket auth is the Debian default.
if ! "$client" -u root -h 127.0.0.1 -P 3306 -e "SELECT 1" >/dev/null 2>&1; then
  "$client" -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" \
    || { echo "cannot log in to MariaDB as root over TCP"; exit 1; }
fi
"$client" -u root -h 127.0.0.1 -P 3306 -e "CREATE DATABASE IF NOT EXISTS test"

log="$(mktemp)"
run() {
  # Each command must report exactly one passed test: a skipped (filtered out) test fails the stage.
  "$@" 2>&1 | tee "$log"
  grep -q "test result: ok. 1 passed" "$log" || { echo "plugins_mysql: expected 1 passed test from: $*"; exit 1; }
}
echo "== REST: random -> WHERE -> mysql sink plugin into MariaDB"
run cargo test -p oort --test plugins_rest -- --ignored --exact random_filter_mysql_over_rest_lands_rows
echo "== plugin host: random -> filter -> mysql"
run cargo test -p oort-plugin-host --test mysql -- --ignored --exact random_filter_mysql_lands_rows
echo "plugins mysql: ok"

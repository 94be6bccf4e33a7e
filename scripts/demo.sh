#!/bin/sh
# The README demo: with everything already built (make all), create a demo
# verifier file with htmutual, start apache2 on 127.0.0.1 with one location
# protected by Mutual authentication, fetch it with mutual-client (which
# prints the body only after the server has proved it knows the verifier),
# show a wrong password being refused, fetch a second location that reads
# the same verifier from SQLite through mod_dbd, and stop apache2 again.
#
# Environment: B (build directory, default build), HTTPD (default
# /usr/sbin/apache2), HTTPD_MODULES (default /usr/lib/apache2/modules).
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
HTTPD=${HTTPD:-/usr/sbin/apache2}
MODULES=${HTTPD_MODULES:-/usr/lib/apache2/modules}
REALM="demo realm"
SCOPE="127.0.0.1"
DEMO_USER="demo"
DEMO_PASSWORD="correct horse battery staple"

for f in "$B/mod_auth_mutual.so" "$B/htmutual" "$B/mutual-client" "$HTTPD"; do
    [ -e "$f" ] || { echo "demo: $f is missing (run make all first)" >&2; exit 1; }
done

root=$(mktemp -d /tmp/mutual-demo.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$root"
}
trap cleanup EXIT INT TERM

# a free port on the loopback interface
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
       2>/dev/null || echo 8480)
mkdir -p "$root/htdocs/private" "$root/logs" "$root/run" "$root/conf"
echo "Hello $DEMO_USER, this page is protected by HTTP Mutual authentication." \
    > "$root/htdocs/private/index.html"

echo "== 1. verifier file (htmutual stores J(pi), never the password)"
printf '%s\n' "$DEMO_PASSWORD" |
    "$B/htmutual" -c -i -s "$SCOPE" "$root/conf/mutual-users" "$REALM" "$DEMO_USER"
"$B/htmutual" -l "$root/conf/mutual-users"
# The same verifier in SQLite for /sql/ (AuthMutualProvider dbd through
# mod_dbd; docs/verifiers-sql.md): htmutual -e exports, one row per record.
"$B/htmutual" -e "$root/conf/mutual-users" | python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE mutual_verifiers (username TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (username, record))")
db.executemany("INSERT INTO mutual_verifiers (username, record) VALUES (?, ?)",
               (l.rstrip("\n").split(":", 1) for l in sys.stdin if l.strip()))
db.commit()' "$root/conf/verifiers.sqlite"
mkdir -p "$root/htdocs/sql"
cp "$root/htdocs/private/index.html" "$root/htdocs/sql/index.html"

user_lines=""
if [ "$(id -u)" -eq 0 ]; then
    if id www-data >/dev/null 2>&1; then user_lines="User www-data
Group www-data"; else user_lines="User nobody
Group nogroup"; fi
fi
cat > "$root/conf/httpd.conf" <<EOF
ServerRoot "$root"
DefaultRuntimeDir "$root/run"
PidFile "$root/run/httpd.pid"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
ErrorLog "$root/logs/error.log"
LogLevel warn
LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authn_core_module $MODULES/mod_authn_core.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule authz_user_module $MODULES/mod_authz_user.so
LoadModule mime_module $MODULES/mod_mime.so
LoadModule dir_module $MODULES/mod_dir.so
DirectoryIndex index.html
LoadModule dbd_module $MODULES/mod_dbd.so
LoadModule auth_mutual_module $PWD/$B/mod_auth_mutual.so
DBDriver sqlite3
DBDParams "$root/conf/verifiers.sqlite"
AuthMutualDBDUserQuery "SELECT record FROM mutual_verifiers WHERE username = %s"
$user_lines
TypesConfig /etc/mime.types
DocumentRoot "$root/htdocs"
<Directory "$root/htdocs">
    Require all granted
</Directory>
<Location "/private/">
    AuthType Mutual
    AuthName "$REALM"
    AuthMutualScope "$SCOPE"
    AuthMutualUserFile "$root/conf/mutual-users"
    Require valid-user
</Location>
<Location "/sql/">
    AuthType Mutual
    AuthName "$REALM"
    AuthMutualScope "$SCOPE"
    AuthMutualProvider dbd
    Require valid-user
</Location>
EOF
chmod -R a+rX "$root"

echo
echo "== 2. apache2 on http://127.0.0.1:$port/ with /private/ (DBM) and /sql/ (SQLite) protected:"
sed -n '/<Location/,/<\/Location>/p' "$root/conf/httpd.conf"
"$HTTPD" -d "$root" -f "$root/conf/httpd.conf" -DFOREGROUND &
pid=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "demo: apache2 did not start:" >&2
        cat "$root/logs/error.log" >&2 || true
        exit 1
    fi
    sleep 0.1
done

url="http://127.0.0.1:$port/private/"
echo
echo "== 3. mutual-client -u $DEMO_USER $url"
MUTUAL_PASSWORD="$DEMO_PASSWORD" "$B/mutual-client" -u "$DEMO_USER" "$url" 2>&1

echo
echo "== 4. the same with a wrong password (refused, exit status 3, no body)"
status=0
MUTUAL_PASSWORD="not the password" "$B/mutual-client" -u "$DEMO_USER" "$url" 2>&1 || status=$?
echo "exit status $status"
[ "$status" -eq 3 ] || { echo "demo: expected exit status 3" >&2; exit 1; }

echo
echo "== 5. mutual-client -u $DEMO_USER http://127.0.0.1:$port/sql/ (the verifier from SQLite)"
MUTUAL_PASSWORD="$DEMO_PASSWORD" "$B/mutual-client" -u "$DEMO_USER" "http://127.0.0.1:$port/sql/" 2>&1

echo
echo "== 6. stopping apache2"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=""
echo "demo done"

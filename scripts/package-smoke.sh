#!/bin/sh
# The Debian packages, end to end (issue 16), as an administrator would use
# them on this machine:
#   1. dpkg-buildpackage -us -uc -b in a clean copy of the tree (offline;
#      DEB_BUILD_OPTIONS="nocheck parallel=2": the suites ran before), then
#      lintian, which must report no error;
#   2. apt-get install of both .deb files into the machine's apache2;
#      a2enmod auth_mutual, apache2ctl configtest, apache2ctl -M lists the
#      module, man -w finds both man pages, htmutual and mutual-client are the
#      packaged ones;
#   3. a login with the packaged mutual-client against the machine's apache2
#      binary running the machine's enabled modules (/etc/apache2/mods-enabled,
#      so auth_mutual through the link a2enmod made) on a free 127.0.0.1 port,
#      with a verifier file made by the packaged htmutual, readable by
#      APACHE_RUN_USER; a wrong password is refused;
#   4. apt-get purge: nothing of the packages is left (files, mods-enabled
#      links, apache2's module state), the module is disabled and configtest
#      still passes.
# The machine is left as it was found: a module installed by "make install"
# is moved aside and put back, packages apt pulled in are purged again, and
# the trap undoes a run that fails half-way. Run as root (CI: .ci/run).
# Environment: SMOKE_KEEP=1 keeps the work directory.
set -eu
cd "$(dirname "$0")/.."
top=$PWD
PKG=libapache2-mod-auth-mutual
CLIENT_PKG=mutual-client
APT="apt-get -y -q -o DPkg::Lock::Timeout=900"
export DEBIAN_FRONTEND=noninteractive

say() { printf '== package-smoke: %s\n' "$*"; }
die() { printf 'package-smoke: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs and purges packages)"
sh scripts/install-deps.sh --package

installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }
for p in $PKG $CLIENT_PKG; do
    installed "$p" && die "$p is already installed; this test installs and purges it itself"
done

work=$(mktemp -d /tmp/package-smoke.XXXXXX)
chmod 755 "$work"   # apt's _apt user reads the .deb files from here
aside=$work/aside
mkdir -p "$aside"
httpd_pid=""
we_installed=""
# Paths the packages own or create; any that exist now (make install) are
# moved aside for the test and put back afterwards.
OURS="/usr/lib/apache2/modules/mod_auth_mutual.so
/etc/apache2/mods-available/auth_mutual.load
/etc/apache2/mods-available/auth_mutual.conf
/etc/apache2/mods-enabled/auth_mutual.load
/etc/apache2/mods-enabled/auth_mutual.conf
/usr/bin/htmutual
/usr/bin/mutual-client
/usr/share/man/man1/htmutual.1.gz
/usr/share/man/man1/mutual-client.1.gz"

state() {
    # What the packages may touch, to compare before and after.
    find /etc/apache2 /usr/lib/apache2/modules /var/lib/apache2 /usr/share/doc/$PKG \
        /usr/share/doc/$CLIENT_PKG -printf '%p %l %m\n' 2>/dev/null | sort
}

stop_httpd() {
    [ -n "$httpd_pid" ] || return 0
    kill -TERM "$httpd_pid" 2>/dev/null || true
    i=0
    while kill -0 "$httpd_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$httpd_pid" 2>/dev/null || true
    wait "$httpd_pid" 2>/dev/null || true
    httpd_pid=""
}

cleanup() {
    status=$?
    set +e
    stop_httpd
    if [ -n "$we_installed" ]; then
        for p in $PKG $CLIENT_PKG; do
            dpkg-query -W "$p" >/dev/null 2>&1 && $APT purge "$p" >/dev/null 2>&1
        done
    fi
    (cd "$aside" && find . \( -type f -o -type l \) | while read -r f; do
        mkdir -p "$(dirname "/${f#./}")" && mv "$f" "/${f#./}"
    done)
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

for f in $OURS; do
    if [ -e "$f" ] || [ -L "$f" ]; then
        dpkg -S "$f" >/dev/null 2>&1 && die "$f belongs to a package: $(dpkg -S "$f")"
        say "moving aside $f (not packaged: make install?); it is put back at the end"
        mkdir -p "$aside$(dirname "$f")"
        mv "$f" "$aside$f"
    fi
done
configtest_before=0
apache2ctl configtest >/dev/null 2>&1 || configtest_before=1
state > "$work/state.before"

# ---- 1. build ----------------------------------------------------------------
say "building the packages (dpkg-buildpackage -us -uc -b)"
mkdir "$work/src"
# The tracked and new (not ignored) files of this tree: a clean clone's view.
git ls-files -z -c -o --exclude-standard |
    (cd "$top" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
    tar -C "$top" --null -T - -cf - | tar -C "$work/src" -xf -
t0=$(date +%s)
if ! (cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
        dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1); then
    tail -40 "$work/build.log" >&2
    die "dpkg-buildpackage failed"
fi
say "built in $(( $(date +%s) - t0 )) s: $(cd "$work" && ls ./*.deb | tr '\n' ' ')"
deb=$(ls "$work"/${PKG}_*.deb)
client_deb=$(ls "$work"/${CLIENT_PKG}_*.deb)
lintian --no-cfg "$work"/*.changes >"$work/lintian.log" 2>&1 || true
cat "$work/lintian.log"
grep -q '^E:' "$work/lintian.log" && die "lintian reports errors"
say "lintian: no errors"

# ---- 2. install ----------------------------------------------------------------
say "apt-get install $deb $client_deb"
we_installed=1
$APT install --no-install-recommends "$deb" "$client_deb" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; die "apt-get install failed"; }
installed $PKG && installed $CLIENT_PKG || die "the packages are not installed"
a2enmod auth_mutual || die "a2enmod auth_mutual failed"
a2query -m auth_mutual || die "a2query does not report auth_mutual enabled"
apache2ctl configtest || die "apache2ctl configtest failed with the module enabled"
apache2ctl -M 2>/dev/null | grep -q 'auth_mutual_module' || die "apache2ctl -M does not list auth_mutual_module"
say "apache2ctl -M lists auth_mutual_module"
# (-a: a copy from "make install" under /usr/local may come first.)
for m in htmutual mutual-client; do
    man -w "$m" >/dev/null 2>&1 || die "man -w $m finds no man page"
    man -w -a "$m" | grep -qx "/usr/share/man/man1/$m.1.gz" ||
        die "man -w -a $m does not find the packaged page: $(man -w -a "$m" | tr '\n' ' ')"
    say "man -w $m: $(man -w "$m")"
    dpkg -S "/usr/bin/$m" >/dev/null 2>&1 || die "/usr/bin/$m does not belong to a package"
done
version=$(sed -n 's/^AC_INIT(\[[^]]*\], \[\([^]]*\)\].*/\1/p' configure.ac)
/usr/bin/htmutual --version | grep -qF "$version" || die "htmutual --version does not say $version"

# ---- 3. a login against the machine's apache2 ------------------------------------
set +u   # envvars reads unset variables
# shellcheck disable=SC1091
. /etc/apache2/envvars
set -u
run_user=${APACHE_RUN_USER:-www-data}
run_group=${APACHE_RUN_GROUP:-www-data}
# The system's modules may name these directories; keep everything in $work.
APACHE_RUN_DIR=$work/run APACHE_LOCK_DIR=$work/lock APACHE_LOG_DIR=$work/log
APACHE_PID_FILE=$work/run/apache2.pid
export APACHE_RUN_DIR APACHE_LOCK_DIR APACHE_LOG_DIR APACHE_PID_FILE
mkdir -p "$work/run" "$work/lock" "$work/log" "$work/htdocs/private" "$work/conf"
echo "packaged module says hello" > "$work/htdocs/private/index.html"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scope=127.0.0.1
realm="package smoke"
password="packaged correct horse"
printf '%s\n' "$password" | /usr/bin/htmutual -c -i -s "$scope" "$work/conf/users" "$realm" alice \
    >"$work/htmutual.out" 2>&1 || { cat "$work/htmutual.out" >&2; die "htmutual -c failed"; }
cat "$work/htmutual.out"
grep -q "$run_user" "$work/htmutual.out" ||
    die "htmutual did not warn that the new file is unreadable by $run_user"
chgrp "$run_group" "$work/conf/users" && chmod 640 "$work/conf/users"
cat > "$work/conf/apache2.conf" <<EOF
ServerRoot /etc/apache2
DefaultRuntimeDir $work/run
PidFile $work/run/apache2.pid
User $run_user
Group $run_group
ServerName 127.0.0.1
Listen 127.0.0.1:$port
ErrorLog $work/log/error.log
LogLevel warn
IncludeOptional /etc/apache2/mods-enabled/*.load
IncludeOptional /etc/apache2/mods-enabled/*.conf
DocumentRoot $work/htdocs
<Directory $work/htdocs>
    Require all granted
</Directory>
<Location /private/>
    AuthType Mutual
    AuthName "$realm"
    AuthMutualScope $scope
    AuthMutualUserFile $work/conf/users
    Require valid-user
</Location>
EOF
grep -q '^LoadModule auth_mutual_module /usr/lib/apache2/modules/mod_auth_mutual.so' \
    /etc/apache2/mods-enabled/auth_mutual.load || die "mods-enabled/auth_mutual.load is not the packaged snippet"
/usr/sbin/apache2 -d /etc/apache2 -f "$work/conf/apache2.conf" -DFOREGROUND &
httpd_pid=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 100 ] || ! kill -0 "$httpd_pid" 2>/dev/null; then
        cat "$work/log/error.log" >&2 || true
        die "apache2 did not start on 127.0.0.1:$port"
    fi
    sleep 0.1
done
url="http://127.0.0.1:$port/private/"
body=$(MUTUAL_PASSWORD="$password" /usr/bin/mutual-client -s -u alice "$url") || die "login with the packaged client failed"
[ "$body" = "packaged module says hello" ] || die "unexpected body: $body"
say "login as alice on $url: ok"
rc=0
MUTUAL_PASSWORD="wrong" /usr/bin/mutual-client -s -u alice "$url" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || die "a wrong password gave exit status $rc, not 3"
say "wrong password refused (exit 3)"
stop_httpd
# The one expected error: the wrong password (MUT01123). Anything else at
# error level or above, or a warning of the module, fails.
grep -q 'MUT01123' "$work/log/error.log" || die "the wrong password was not logged (MUT01123)"
if grep -E ':(error|crit|alert|emerg)\]|:warn\].*MUT[0-9]{5}' "$work/log/error.log" | grep -qv 'MUT01123'; then
    cat "$work/log/error.log" >&2
    die "unexpected problems in apache2's error log"
fi

# ---- 4. purge --------------------------------------------------------------------
say "apt-get purge $PKG $CLIENT_PKG"
$APT purge $PKG $CLIENT_PKG >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; die "apt-get purge failed"; }
for p in $PKG $CLIENT_PKG; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || echo not-installed)
    [ "$st" = not-installed ] || die "$p is still known to dpkg after purge ($st)"
done
we_installed=""
a2query -m auth_mutual >/dev/null 2>&1 && die "auth_mutual is still enabled after purge"
apache2ctl -M 2>/dev/null | grep -q auth_mutual_module && die "apache2ctl -M still lists auth_mutual_module"
for f in $OURS; do
    if [ -e "$f" ] || [ -L "$f" ]; then die "$f is left after purge"; fi
done
# Packages apt pulled in for ours go again (purged: they were absent).
new=$(sed -n 's/^Setting up \([^ :]*\).*/\1/p' "$work/apt.log" | grep -vx "$PKG\|$CLIENT_PKG" || true)
if [ -n "$new" ]; then
    say "purging what apt pulled in: $new"
    # shellcheck disable=SC2086
    $APT purge $new >/dev/null 2>&1 || die "cannot purge $new"
fi
state > "$work/state.after"
if ! cmp -s "$work/state.before" "$work/state.after"; then
    diff "$work/state.before" "$work/state.after" >&2 || true
    die "the machine differs after purge (above: < before, > after)"
fi
configtest_after=0
apache2ctl configtest >/dev/null 2>&1 || configtest_after=1
[ "$configtest_after" -eq "$configtest_before" ] || die "apache2ctl configtest changed its result after purge"
say "purged: the module is disabled and nothing is left"
say "all checks passed"

#!/bin/sh
# make install / make uninstall (issue 16): a staged install
# (make install DESTDIR=...) writes nothing outside DESTDIR, installs the
# module stripped, the a2enmod snippets into apxs's SYSCONFDIR/mods-available
# with the LoadModule path of apxs's LIBEXECDIR, the tools under prefix;
# make uninstall removes exactly that; the version and release date of
# configure.ac are the ones of the man pages, htmutual --version and
# debian/changelog.
# Run from the top of a configured tree (the integration runner does).
# Prints one line per check and "N passed, M failed"; exit 1 on failure.
set -u
B=${B:-build}
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

if [ ! -f Makefile ] || [ ! -x "$B/htmutual" ] || [ ! -f "$B/mod_auth_mutual.so" ]; then
    echo "not configured and built (run ./configure and make first)"
    exit 77
fi
query() { sed -n "s|^$1 *= *||p" Makefile | head -n 1; }
LIBEXECDIR=$(query APXS_LIBEXECDIR)
SYSCONFDIR=$(query APXS_SYSCONFDIR)
VERSION=$(query PACKAGE_VERSION)
DATE=$(query MUTUAL_RELEASE_DATE)

T=$(mktemp -d /tmp/test_install.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP
D=$T/stage
PREFIX=/opt/mutual-test

# The live directories a careless install writes to; none may change.
LIVE="$LIBEXECDIR $SYSCONFDIR/mods-available $SYSCONFDIR/mods-enabled /usr/bin /usr/local/bin
/usr/share/man/man1 /usr/local/share/man/man1 $PREFIX"
snapshot() {
    for d in $LIVE; do
        [ -e "$d" ] && find "$d" -maxdepth 1 -newer "$T/stamp" -print
        [ -e "$d" ] && ls -la --time-style=full-iso "$d" 2>/dev/null
    done
}
touch "$T/stamp"
sleep 1
snapshot > "$T/before" 2>&1

# 1. The staged install, as an unprivileged user when we are root (any
#    write outside DESTDIR then fails the install), else as ourselves.
mkdir -p "$D"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1 &&
    setpriv --reuid=nobody --regid=nogroup --clear-groups test -r Makefile 2>/dev/null; then
    chown nobody "$D"
    AS="setpriv --reuid=nobody --regid=nogroup --clear-groups"
    echo "# installing as nobody"
else
    AS=""
fi
# (-q first: an out-of-date tree would rebuild as nobody; never in CI.)
if make -q all >/dev/null 2>&1 || [ -z "$AS" ]; then :; else
    echo "# build tree not up to date: installing as $(id -un)"
    AS=""
fi
if $AS make -s install DESTDIR="$D" prefix="$PREFIX" >"$T/out" 2>&1; then
    ok "make install DESTDIR=... prefix=$PREFIX succeeds"
else
    not_ok "make install DESTDIR=... prefix=$PREFIX succeeds"
    sed 's/^/#   /' "$T/out"
fi
check "make install prints no apxs noise" sh -c "! grep -qi 'apxs\|dlname\|libtool' '$T/out'"

expected="$LIBEXECDIR/mod_auth_mutual.so
$PREFIX/bin/htmutual
$PREFIX/bin/mutual-client
$PREFIX/share/man/man1/htmutual.1
$PREFIX/share/man/man1/mutual-client.1
$SYSCONFDIR/mods-available/auth_mutual.conf
$SYSCONFDIR/mods-available/auth_mutual.load"
(cd "$D" && find . -type f | sed 's|^\.||' | sort) > "$T/files"
echo "$expected" | sort > "$T/expected"
if cmp -s "$T/files" "$T/expected"; then
    ok "DESTDIR holds exactly the module, the tools, the man pages and the snippets"
else
    not_ok "DESTDIR holds exactly the module, the tools, the man pages and the snippets"
    diff "$T/expected" "$T/files" | sed 's/^/#   /'
fi
snapshot > "$T/after" 2>&1
if cmp -s "$T/before" "$T/after"; then
    ok "nothing written outside DESTDIR"
else
    not_ok "nothing written outside DESTDIR"
    diff "$T/before" "$T/after" | sed 's/^/#   /'
fi

so=$D$LIBEXECDIR/mod_auth_mutual.so
check "the module is installed mode 644" test "$(stat -c %a "$so" 2>/dev/null)" = 644
check "the module is stripped" sh -c "readelf -S '$so' >'$T/sections' &&
    ! grep -q '\.symtab\|\.debug_info' '$T/sections'"
check "the tools are stripped" sh -c "readelf -S '$D$PREFIX/bin/htmutual' >'$T/sections' &&
    ! grep -q '\.symtab\|\.debug_info' '$T/sections'"
check "auth_mutual.load loads the module from apxs's LIBEXECDIR" \
    grep -qx "LoadModule auth_mutual_module $LIBEXECDIR/mod_auth_mutual.so" \
    "$D$SYSCONFDIR/mods-available/auth_mutual.load"
check "auth_mutual.load names its dependencies for a2enmod" \
    grep -q '^# Depends: authn_core authz_core' "$D$SYSCONFDIR/mods-available/auth_mutual.load"
check "the staged module loads into $HTTPD" sh -c "
    printf 'ServerRoot %s\nPidFile %s/pid\nErrorLog %s/error_log\nListen 127.0.0.1:1\n' \
        '$T' '$T' '$T' > '$T/httpd.conf'
    for m in mpm_event authn_core authz_core; do
        echo \"LoadModule \${m}_module $LIBEXECDIR/mod_\$m.so\" >> '$T/httpd.conf'
    done
    sed 's|$LIBEXECDIR|$D$LIBEXECDIR|' '$D$SYSCONFDIR/mods-available/auth_mutual.load' >> '$T/httpd.conf'
    cat '$D$SYSCONFDIR/mods-available/auth_mutual.conf' >> '$T/httpd.conf'
    '${HTTPD:-/usr/sbin/apache2}' -t -f '$T/httpd.conf' >'$T/configtest' 2>&1 ||
        { sed 's/^/#   /' '$T/configtest'; exit 1; }"

# 2. make uninstall removes exactly what make install put there.
mkdir -p "$D$SYSCONFDIR/mods-enabled"
ln -s ../mods-available/auth_mutual.load "$D$SYSCONFDIR/mods-enabled/auth_mutual.load"
if $AS make -s uninstall DESTDIR="$D" prefix="$PREFIX" >"$T/out" 2>&1; then
    not_ok "make uninstall refuses while the module is enabled"
else
    check "make uninstall refuses while the module is enabled" grep -q 'a2dismod auth_mutual' "$T/out"
fi
check "a refused uninstall removed nothing" test -f "$so"
rm "$D$SYSCONFDIR/mods-enabled/auth_mutual.load"
check "make uninstall succeeds" $AS make -s uninstall DESTDIR="$D" prefix="$PREFIX"
left=$(cd "$D" && find . -type f)
check "make uninstall leaves no file behind" test -z "$left"

# 3. One version and release date.
check "htmutual --version prints $VERSION ($DATE)" \
    sh -c "'$B/htmutual' --version | grep -qF 'mod_auth_mutual $VERSION ($DATE)'"
check "mutual-client --version prints $VERSION" \
    sh -c "'$B/mutual-client' --version | grep -q '^mutual-client $VERSION '"
for m in docs/htmutual.1 docs/mutual-client.1; do
    check "$m carries version $VERSION and date $DATE" \
        grep -qF "\"$DATE\" \"mod_auth_mutual $VERSION\"" "$m"
done
if [ -f debian/changelog ]; then
    check "debian/changelog's version is $VERSION" \
        sh -c "head -n 1 debian/changelog | grep -q '($VERSION\(-[^)]*\)\?)'"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/sh
# Installs the Debian 12 packages mod_auth_mutual needs to build, test and run
# its demo, when they are missing. Run as root (or through sudo). Idempotent.
#   sh scripts/install-deps.sh          the build, test and demo dependencies
#   sh scripts/install-deps.sh --fuzz   also clang 14 and its libFuzzer/sanitizer
#                                       runtimes, for `make fuzz` (docs/security.md)
#   sh scripts/install-deps.sh --package  also what building and checking the
#                                       Debian packages needs (scripts/package-smoke.sh)
set -eu
# Optional packages for the libFuzzer targets (fuzz/): clang++-14 and the
# compiler-rt runtimes (libclang_rt.fuzzer / asan / ubsan).
fuzz_packages() {
    echo "clang-14 libclang-rt-14-dev llvm-14"
}
PACKAGES="build-essential autoconf pkg-config apache2 apache2-dev libapr1-dev libaprutil1-dev
libssl-dev openssl libicu-dev libcurl4-openssl-dev libpsl-dev publicsuffix check libsubunit-dev nlohmann-json3-dev
python3 curl ca-certificates python3-h2 nghttp2-client"
# debian/control's Build-Depends beyond the above, lintian, man-db (man -w),
# git (the clean copy of the tree).
package_packages() {
    echo "debhelper dpkg-dev lintian man-db git"
}
# fail2ban: fail2ban-regex checks conf/fail2ban/ against the error log of the
# throttle tests (t/integration/test_throttle_fail2ban.sh).
PACKAGES="$PACKAGES fail2ban"
# Scale-out (docs/several-nodes.md): hiredis for the Redis session store, and
# the servers the tests start on loopback ports in temporary directories —
# redis-server (and redis-cli for the cluster), PostgreSQL, and the APR DBD
# drivers mod_dbd loads for the SQL verifier provider (SQLite, PostgreSQL).
PACKAGES="$PACKAGES libhiredis-dev redis-server redis-tools postgresql libaprutil1-dbd-sqlite3 libaprutil1-dbd-pgsql"
# The JavaScript client (js/, scripts/js-test.sh): node and npm, firefox-esr
# for the extension's browser tests and certutil (libnss3-tools) to trust the
# tests' generated CA. Debian 12's nodejs (18) needs Debian's npm package;
# NodeSource's nodejs bundles npm and conflicts with Debian's npm, so npm is
# only installed from Debian when node is absent or Debian's own.
js_packages() {
    p="firefox-esr libnss3-tools"
    if ! command -v node >/dev/null 2>&1; then
        p="$p nodejs npm"
    elif ! command -v npm >/dev/null 2>&1; then
        if dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -q nodesource; then
            echo "install-deps: warning: npm is missing, but nodejs comes from NodeSource" \
                 "(whose package includes npm; Debian's npm conflicts with it): reinstall" \
                 "NodeSource's nodejs" >&2
        else
            p="$p npm"
        fi
    fi
    echo "$p"
}
PACKAGES="$PACKAGES $(js_packages)"
case "${1:-}" in
    --fuzz) PACKAGES="$PACKAGES $(fuzz_packages)" ;;
    --package) PACKAGES="$PACKAGES $(package_packages)" ;;
    "") ;;
    *) echo "usage: sh scripts/install-deps.sh [--fuzz | --package]" >&2; exit 2 ;;
esac
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all build dependencies present"
    exit 0
fi
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

#!/bin/sh
# Runs the test suites with AddressSanitizer + UndefinedBehaviorSanitizer:
#
#   sh scripts/sanitize-integration.sh [unit|integration|smoke|all]   (default all)
#
#  unit         make SANITIZE=1 unit-check (Check suites built into build-san/)
#  integration  t/integration/run.py with B=build-san: the ASan-built module
#               inside Debian's own apache2 binary, the ASan-built tools
#  smoke        a self-contained live check of the ASan module in apache2:
#               htmutual writes a verifier, mutual-client authenticates, a
#               few malformed Authorization values are sent (no runner needed)
#  all          unit, then integration if t/integration/run.py exists, then smoke
#
# How the module runs under ASan (docs/security.md, "Sanitizers"):
#  * apache2 itself is not instrumented, so the ASan runtime must be the first
#    library of the process: LD_PRELOAD=<gcc's libasan.so.8> for EVERY apache2
#    invocation that loads the module (start, -t, -k stop / graceful), but
#    not for the test runner or the client tools (they are linked with it).
#    The runner passes HTTPD_LD_PRELOAD / HTTPD_ASAN_OPTIONS /
#    HTTPD_UBSAN_OPTIONS to the httpd process as LD_PRELOAD / ASAN_OPTIONS /
#    UBSAN_OPTIONS.
#  * detect_leaks=0 for httpd only: httpd frees its pools with the process
#    (and its children exit without freeing), which LeakSanitizer reports.
#    Leaks of the core are covered by the unit suites and the fuzzers.
#  * Reports go to the error log (httpd's stderr) and to files
#    $SAN_LOG_DIR/asan.<pid> / ubsan.<pid>; the run fails if either has one.
#    The directory is world-writable: children run as the User of httpd.
set -eu
cd "$(dirname "$0")/.."
what=${1:-all}
case "$what" in
    unit|integration|smoke|all) ;;
    *) echo "usage: sh scripts/sanitize-integration.sh [unit|integration|smoke|all]" >&2; exit 2 ;;
esac

if [ ! -f Makefile ] || [ Makefile.in -nt Makefile ]; then
    [ -x configure ] || autoreconf -fi
    ./configure -q
fi
HTTPD=${HTTPD:-$(sed -n 's/^HTTPD *= *//p' Makefile)}
[ -n "$HTTPD" ] || HTTPD=/usr/sbin/apache2
jobs=$(nproc 2>/dev/null || echo 2)

asan_runtime=$(readlink -f "$(${CXX:-g++} -print-file-name=libasan.so)")
if [ ! -f "$asan_runtime" ]; then
    echo "sanitize: gcc's libasan.so not found (install gcc)" >&2
    exit 1
fi
SAN_LOG_DIR=${SAN_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mutual-san.XXXXXX")}
mkdir -p "$SAN_LOG_DIR"
chmod 1777 "$SAN_LOG_DIR"
export SAN_LOG_DIR
export HTTPD_LD_PRELOAD="$asan_runtime"
export HTTPD_ASAN_OPTIONS="detect_leaks=0:log_path=$SAN_LOG_DIR/asan:abort_on_error=0"
export HTTPD_UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$SAN_LOG_DIR/ubsan"
# The tools and unit tests are linked with ASan: full checks, leaks included.
# verify_asan_link_order=0 because libdb is preloaded (below) ahead of the
# tools' own libasan; interception is unaffected (libdb defines no malloc).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:verify_asan_link_order=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0}
# Berkeley DB, which APR loads and unloads as a DSO, stays mapped so that its
# leaks after a panic on a damaged file are attributed to it and suppressed
# (scripts/lsan-suppressions.txt). Used only while tests run.
libdb=$(ls /usr/lib/*/libdb-5.3.so 2>/dev/null | head -n 1 || true)
with_libdb() {
    if [ -n "$libdb" ]; then LD_PRELOAD="$libdb${LD_PRELOAD:+ $LD_PRELOAD}" "$@"; else "$@"; fi
}

status=0

# Fails when a sanitizer wrote a report file or an error-log line.
check_reports() {
    found=0
    for f in "$SAN_LOG_DIR"/asan.* "$SAN_LOG_DIR"/ubsan.*; do
        [ -f "$f" ] || continue
        echo "sanitize: report in $f:" >&2
        head -n 40 "$f" >&2
        found=1
    done
    for log in "$@"; do
        [ -f "$log" ] || continue
        if grep -E 'AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$log" >&2; then
            echo "sanitize: sanitizer output in $log" >&2
            found=1
        fi
    done
    return $found
}

run_unit() {
    start=$(date +%s)
    make -j"$jobs" SANITIZE=1 all
    with_libdb make SANITIZE=1 unit-check || status=1
    echo "sanitize: unit suites under ASan+UBSan took $(( $(date +%s) - start )) s (including the build)"
}

run_integration() {
    if [ ! -f t/integration/run.py ]; then
        echo "sanitize: no t/integration/run.py yet; skipping the integration suite"
        return 0
    fi
    make -j"$jobs" SANITIZE=1 all
    start=$(date +%s)
    with_libdb env B=build-san HTTPD="$HTTPD" python3 t/integration/run.py "$@" || status=1
    check_reports || status=1
    echo "sanitize: integration suite under ASan+UBSan took $(( $(date +%s) - start )) s"
}

# ---- smoke: one live exchange against apache2 with the ASan module ----------
run_smoke() {
    make -j"$jobs" SANITIZE=1 all
    root=$(mktemp -d "${TMPDIR:-/tmp}/mutual-san-httpd.XXXXXX")
    chmod 755 "$root"
    port=${SMOKE_PORT:-$((20000 + $$ % 20000))}
    modules=$("$HTTPD" -V 2>/dev/null | sed -n 's/.*-D HTTPD_ROOT="\(.*\)"/\1/p')
    moddir=/usr/lib/apache2/modules
    [ -d "$moddir" ] || moddir="$modules/modules"
    user=nobody
    group=$(id -gn nobody 2>/dev/null || echo nogroup)
    build-san/htmutual -c -b -s 127.0.0.1 "$root/users" "San realm" alice 'correct horse' \
        || { echo "sanitize: htmutual failed" >&2; status=1; return; }
    chmod 644 "$root/users"* 2>/dev/null || true
    cat >"$root/httpd.conf" <<EOF
ServerRoot "$root"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$root/httpd.pid"
ErrorLog "$root/error.log"
LogLevel warn auth_mutual:debug
User $user
Group $group
LoadModule mpm_prefork_module $moddir/mod_mpm_prefork.so
LoadModule authn_core_module $moddir/mod_authn_core.so
LoadModule authz_core_module $moddir/mod_authz_core.so
LoadModule authz_user_module $moddir/mod_authz_user.so
LoadModule auth_mutual_module $PWD/build-san/mod_auth_mutual.so
StartServers 2
MaxConnectionsPerChild 0
DocumentRoot "$root"
<Location "/private">
    AuthType Mutual
    AuthName "San realm"
    AuthMutualScope 127.0.0.1
    AuthMutualUserFile "$root/users"
    Require valid-user
</Location>
EOF
    mkdir -p "$root/private"
    echo secret-page >"$root/private/index.html"
    chmod -R a+rX "$root"
    httpd_env() {
        env LD_PRELOAD="$HTTPD_LD_PRELOAD" ASAN_OPTIONS="$HTTPD_ASAN_OPTIONS" \
            UBSAN_OPTIONS="$HTTPD_UBSAN_OPTIONS" "$@"
    }
    httpd_env "$HTTPD" -f "$root/httpd.conf" -t >/dev/null 2>&1 \
        || { httpd_env "$HTTPD" -f "$root/httpd.conf" -t; status=1; return; }
    httpd_env "$HTTPD" -f "$root/httpd.conf" -k start </dev/null
    i=0
    while ! curl -s -o /dev/null "http://127.0.0.1:$port/" && [ $i -lt 50 ]; do
        sleep 0.1; i=$((i + 1))
    done
    url="http://127.0.0.1:$port/private/index.html"
    smoke_fail=0
    body=$(printf 'correct horse\n' | build-san/mutual-client -s -u alice --password-stdin "$url") \
        || { echo "sanitize: mutual-client failed to authenticate" >&2; smoke_fail=1; }
    [ "$body" = "secret-page" ] || { echo "sanitize: unexpected body '$body'" >&2; smoke_fail=1; }
    if printf 'wrong\n' | build-san/mutual-client -s -u alice --password-stdin "$url" >/dev/null 2>&1; then
        echo "sanitize: a wrong password authenticated" >&2; smoke_fail=1
    fi
    # Malformed and hostile Authorization values: each must get a 401, never a crash.
    long=$(head -c 20000 /dev/zero | tr '\0' 'a')
    for auth in 'Mutual' 'Mutual version=1' 'Mutual ,,,,' 'Mutual version=2, algorithm=x' \
        'Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, auth-scope="127.0.0.1", realm="San realm", user="alice", kc1=00' \
        'Mutual version=1, algorithm=iso-kam3-dl-2048-sha256, validation=host, auth-scope="127.0.0.1", realm="San realm", user="alice", kc1="AAAA"' \
        'Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, auth-scope="127.0.0.1", realm="San realm", sid=00112233445566778899aabbccddeeff, nc=99999999999999999999999, vkc=00' \
        "Mutual version=1, user*=UTF-8''%ff%fe, realm=\"x" \
        "Mutual realm=\"$long\""; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $auth" "$url")
        case "$code" in
            401|400|431) ;;
            *) echo "sanitize: Authorization '$(printf %.60s "$auth")...' got $code" >&2; smoke_fail=1 ;;
        esac
    done
    httpd_env "$HTTPD" -f "$root/httpd.conf" -k stop </dev/null
    i=0
    while [ -f "$root/httpd.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    check_reports "$root/error.log" || smoke_fail=1
    if grep -E 'exit signal|child pid [0-9]+ exit' "$root/error.log" >&2; then
        echo "sanitize: an httpd child died" >&2
        smoke_fail=1
    fi
    if [ $smoke_fail -eq 0 ]; then
        echo "sanitize: smoke: ASan module in $HTTPD authenticated, refused a wrong password and 9 hostile headers, no sanitizer report"
        if [ -n "${SMOKE_KEEP:-}" ]; then echo "sanitize: server root kept in $root"; else rm -rf "$root"; fi
    else
        echo "sanitize: smoke FAILED; server root kept in $root" >&2
        status=1
    fi
}

case "$what" in
    unit) run_unit ;;
    integration) run_integration ;;
    smoke) run_smoke ;;
    all) run_unit; run_integration; run_smoke ;;
esac
if [ $status -eq 0 ]; then
    rm -rf "$SAN_LOG_DIR"
    echo "sanitize: clean"
else
    echo "sanitize: FAILED (sanitizer logs in $SAN_LOG_DIR)" >&2
fi
exit $status

#!/bin/sh
# The JavaScript client's tests (js/): `npm ci`, then node --test for the
# core, the client and the library against the real module (build/ must hold
# mod_auth_mutual.so and htmutual: run make first), then the Firefox
# extension in headless firefox-esr through WebDriver BiDi.
#   sh scripts/js-test.sh            everything
#   MUTUAL_SKIP_BROWSER=1 sh ...     without the browser tests
# Ends with "N passed, N failed"; the exit status is non-zero if a test
# failed or a suite could not run.
set -u
cd "$(dirname "$0")/../js"
B=${B:-$(cd .. && pwd)/build}
export B
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "js-test: $tool is missing (sh scripts/install-deps.sh installs it)" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done
echo "js-test: node $(node --version), npm $(npm --version)"
if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "js-test: npm ci failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# run NAME FILES...: one node --test run; its TAP summary is added up.
run() {
    name=$1
    shift
    echo "js-test: $name"
    node --test "$@" >"$log" 2>&1
    status=$?
    grep -E '^not ok|^# (tests|pass|fail|skipped)' "$log" | sed 's/^/    /'
    p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
    f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
    if [ -z "$p" ] || [ -z "$f" ]; then
        cat "$log" >&2
        p=${p:-0}
        f=$((${f:-0} + 1))
    elif [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        cat "$log" >&2
        f=1
    elif [ "$f" -ne 0 ]; then
        # the failures in full, for the CI log
        sed -n '/^not ok/,/^\(ok\|not ok\) /p' "$log" | head -200 >&2
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

run "core, client and library (node --test)" test/*.test.js
if [ "${MUTUAL_SKIP_BROWSER:-}" = 1 ]; then
    echo "js-test: browser tests skipped (MUTUAL_SKIP_BROWSER=1)"
elif ! command -v "${FIREFOX:-firefox-esr}" >/dev/null 2>&1; then
    echo "js-test: ${FIREFOX:-firefox-esr} is missing (sh scripts/install-deps.sh installs it)" >&2
    failed=$((failed + 1))
else
    run "Firefox extension (headless ${FIREFOX:-firefox-esr}, WebDriver BiDi)" test/browser/*.test.js
    node firefox/build.mjs >/dev/null && echo "js-test: built $(ls dist/*.xpi)" ||
        { echo "js-test: the .xpi build failed" >&2; failed=$((failed + 1)); }
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/sh
# conf/fail2ban/filter.d/apache-mutual.conf against a real error log: the one
# test_throttle.py wrote (build/t/throttle-error.log; made here when missing),
# with failed logins from IPv4 and IPv6 clients (mod_remoteip), lock-outs and
# 429 answers. fail2ban-regex (Debian package fail2ban) must find every
# failure line and nothing else, and the client address without its port.
# Exit 0 pass, 77 skip (no fail2ban-regex), 1 fail.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
PYTHON=${PYTHON:-python3}
FILTER=conf/fail2ban/filter.d/apache-mutual.conf
LOG=$B/t/throttle-error.log

if ! command -v fail2ban-regex >/dev/null 2>&1; then
    echo "skip: fail2ban-regex not installed (Debian package fail2ban, scripts/install-deps.sh)"
    exit 77
fi
if [ ! -s "$LOG" ]; then
    "$PYTHON" t/integration/run.py t/integration/test_throttle.py >/dev/null 2>&1
fi
[ -s "$LOG" ] || { echo "FAIL: no error log at $LOG"; exit 1; }

failed=0
check() {  # check <description> <condition...>
    what=$1; shift
    if "$@"; then echo "ok - $what"; else echo "not ok - $what"; failed=1; fi
}

expected=$(grep -cE '\] MUT011(19|22|23|32): |\] MUT01807: ' "$LOG")
ips=$(fail2ban-regex -o ip "$LOG" "$FILTER" 2>/dev/null)
found=$(printf '%s\n' "$ips" | grep -c .)
check "the log has failure lines ($expected)" [ "$expected" -ge 20 ]
check "fail2ban-regex matches each failure line and no other ($found of $expected)" \
    [ "$found" -eq "$expected" ]
check "ten failures of 198.51.100.1 (5 wrong passwords, 5 unknown names)" \
    [ "$(printf '%s\n' "$ips" | grep -cx '198\.51\.100\.1')" -ge 10 ]
check "IPv6 client without its port" \
    sh -c "printf '%s\n' \"\$1\" | grep -qx '2001:db8:15:1::1'" _ "$ips"
check "the per-client lock-out line names 203.0.113.7" \
    sh -c "printf '%s\n' \"\$1\" | grep -qx '203\.0\.113\.7'" _ "$ips"
check "no address with a port left on it, never the proxy 127.0.0.1" \
    sh -c "! printf '%s\n' \"\$1\" | grep -qE ':0\$|^127\.0\.0\.1\$'" _ "$ips"
only429=$(mktemp)
grep -E '\] MUT0180[0-2]: ' "$LOG" >"$only429"
check "the log has 429 lines (MUT01800-MUT01802)" [ -s "$only429" ]
check "the 429 lines are not counted" \
    [ "$(fail2ban-regex -o ip "$only429" "$FILTER" 2>/dev/null | grep -c .)" -eq 0 ]
rm -f "$only429"
exit $failed

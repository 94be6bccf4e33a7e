#!/usr/bin/env bash
# Shell tests of htmutual (issue 4): every flag, the exit codes, UTF-8 names,
# several algorithms per user, foreign and damaged files, concurrent writers,
# the interactive prompt, and the KAT verifiers J for all twelve vectors.
#
# Environment: HTMUTUAL (binary, default build/htmutual), MUTUAL_KAT (default
# t/data/kam3-vectors.json), HTMUTUAL_WRITERS and HTMUTUAL_USERS_PER_WRITER
# (concurrency test, default 8 x 20), HTMUTUAL_RANDOM_ROUNDS and HTMUTUAL_SEED
# (comparison with an independent implementation on random inputs).
# Prints TAP-like lines and a final "N passed, M failed"; exits 1 on failure.
set -u

HTMUTUAL=${HTMUTUAL:-build/htmutual}
KAT=${MUTUAL_KAT:-t/data/kam3-vectors.json}
WRITERS=${HTMUTUAL_WRITERS:-8}
USERS_PER_WRITER=${HTMUTUAL_USERS_PER_WRITER:-20}
case $HTMUTUAL in /*) ;; *) HTMUTUAL=$PWD/$HTMUTUAL ;; esac
case $KAT in /*) ;; *) KAT=$PWD/$KAT ;; esac

if [ ! -x "$HTMUTUAL" ]; then
    echo "$HTMUTUAL is missing: run make first (or set HTMUTUAL)"
    echo "0 passed, 1 failed"
    exit 1
fi

T=$(mktemp -d /tmp/test_htmutual.XXXXXX)
# htmutual warns after writing a file apache2's user cannot read; only the
# cases about that warning (below) point it at an envvars file.
export HTMUTUAL_APACHE_ENVVARS=/nonexistent
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP
cd "$T" || exit 1

passed=0
failed=0
SCOPE=https://www.example.com
DL2=iso-kam3-dl-2048-sha256
DL4=iso-kam3-dl-4096-sha512
P256=iso-kam3-ec-p256-sha256
P521=iso-kam3-ec-p521-sha512

ok() {
    passed=$((passed + 1))
    echo "ok $((passed + failed)) - $1"
}
not_ok() {
    failed=$((failed + 1))
    echo "not ok $((passed + failed)) - $1"
    [ "${2:-}" = dump ] || return 0
    for f in "$T/out" "$T/err"; do
        [ -s "$f" ] && sed -e 's/^/#   /' "$f" | head -20
    done
    return 0
}
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# run WANT_EXIT DESCRIPTION COMMAND...: runs with stdout in $T/out, stderr in $T/err.
run() {
    local want=$1 desc=$2 got
    shift 2
    "$@" >"$T/out" 2>"$T/err" </dev/null
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$desc"; else not_ok "$desc (exit $got, want $want)" dump; fi
}
# run_in WANT DESCRIPTION INPUT COMMAND...: like run with INPUT on stdin.
run_in() {
    local want=$1 desc=$2 input=$3 got
    shift 3
    printf '%s' "$input" | "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$desc"; else not_ok "$desc (exit $got, want $want)" dump; fi
}
err_has() { grep -q -- "$1" "$T/err"; }
err_has_text() { grep -qF -- "$1" "$T/err"; }
out_has() { grep -q -- "$1" "$T/out"; }
sum() { cat "$@" | sha256sum | cut -d' ' -f1; }
users_in() { "$HTMUTUAL" -l "$@" 2>/dev/null | cut -f1 | sort -u | wc -l; }
no_leftovers() { ! ls "$T" | grep -q 'htmutual-new'; }

# ---- help and usage ----------------------------------------------------------
run 0 "--help exits 0" "$HTMUTUAL" --help
check "--help says realm and auth-scope are inputs of pi" grep -q "inputs of pi" "$T/out"
for flag in -a -s -c -n -b -i -D -x -v -l -e -T --version; do
    check "--help documents $flag" grep -q -- "^  $flag " "$T/out"
done
check "--help lists the exit codes" grep -q "^  10  unknown algorithm" "$T/out"
check "--help lists the four algorithms" test "$(grep -c 'iso-kam3-' "$T/out")" -ge 4
run 0 "-h exits 0" "$HTMUTUAL" -h
run 2 "no arguments: usage" "$HTMUTUAL"
check "no arguments: the synopsis is shown" err_has "^Usage: htmutual"
run 0 "-- ends the options (realm starting with -)" "$HTMUTUAL" -nb -s "$SCOPE" -- -realm alice pw
check "-- : the realm is taken as an operand" out_has "^alice:1;$P256;.*;-realm;"
run 2 "missing -s is a usage error" "$HTMUTUAL" -nb realm alice pw
check "missing -s: the message says what to do" err_has "-s AUTH-SCOPE is required"
run 2 "empty -s is a usage error" "$HTMUTUAL" -nb -s "" realm alice pw
run 2 "too few arguments" "$HTMUTUAL" -s "$SCOPE" file realm
run 2 "too many arguments" "$HTMUTUAL" -nb -s "$SCOPE" realm alice pw extra
run 2 "-b and -i together" "$HTMUTUAL" -nbi -s "$SCOPE" realm alice pw
run 2 "-c with -n" "$HTMUTUAL" -cnb -s "$SCOPE" realm alice pw
run 2 "-c with -v" "$HTMUTUAL" -cvb -s "$SCOPE" f realm alice pw
run 2 "-v with -D" "$HTMUTUAL" -vD -s "$SCOPE" f realm alice
run 2 "-D takes no password" "$HTMUTUAL" -Db -s "$SCOPE" f realm alice pw
run 2 "-l with -s" "$HTMUTUAL" -l -s "$SCOPE" f
run 2 "-n with -T" "$HTMUTUAL" -nb -T db -s "$SCOPE" realm alice pw
run 2 "unknown option" "$HTMUTUAL" -Z -s "$SCOPE" f realm alice
check "unknown option: usage is shown" err_has "htmutual --help"
run 2 "-a without its argument" "$HTMUTUAL" -s "$SCOPE" -a
run 10 "unknown algorithm" "$HTMUTUAL" -nb -a iso-kam3-ec-p384-sha384 -s "$SCOPE" realm alice pw
check "unknown algorithm: the supported ones are named" err_has "$P256"

# ---- -n -b: the KAT verifiers ------------------------------------------------
# J of every vector of kam3-vectors.json, through the user name and password
# preparation (the utf8 vectors have non-ASCII names and passwords). The
# record carries J in the algorithm's wire encoding: base64 (DL), hex (EC).
python3 - "$KAT" >"$T/kat.tsv" <<'EOF'
import json, sys
for v in json.load(open(sys.argv[1]))["vectors"]:
    i = v["inputs"]
    print("\t".join([v["name"], v["algorithm"], i["auth_scope"], i["realm"], i["user"],
                     i["password"], v["derived"]["J"]]))
EOF
kat_count=0
while IFS=$'\t' read -r name alg scope realm user password j; do
    kat_count=$((kat_count + 1))
    "$HTMUTUAL" -n -b -s "$scope" -a "$alg" "$realm" "$user" "$password" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ $rc -ne 0 ]; then not_ok "-n KAT $name (exit $rc)"; continue; fi
    check "-n prints the KAT J for $name" python3 - "$T/out" "$alg" "$scope" "$realm" "$user" "$j" <<'EOF'
import base64, sys, urllib.parse
out, alg, scope, realm, user, want = sys.argv[1:]
lines = open(out, encoding="utf-8").read().split("\n")
assert lines[1:] == [""], "one line expected"
key, record = lines[0].rsplit(":", 1)
assert key == user, (key, user)
fields = record.split(";")
assert len(fields) == 5 and fields[0] == "1" and fields[1] == alg, fields
assert urllib.parse.unquote(fields[2]) == scope and urllib.parse.unquote(fields[3]) == realm
got = base64.b64decode(fields[4], validate=True).hex() if "-dl-" in alg else fields[4]
assert got == want, (got, want)
EOF
done <"$T/kat.tsv"
check "all 12 KAT vectors were tried" test "$kat_count" -eq 12
# ---- -n against an independent RFC 8120/8121 implementation ----------------
# A from-scratch Python J(pi) (PBKDF2 from hashlib, MODP exponentiation and
# affine P-256/P-521 arithmetic, group constants from RFC 8121 Appendix A and
# FIPS 186-4), first checked against the KAT ascii vectors, then compared with
# htmutual -n for random users, passwords, realms and scopes (NFC-stable UTF-8
# included), HTMUTUAL_RANDOM_ROUNDS per algorithm (default 3); the seed is
# printed with each case and HTMUTUAL_SEED replays it.
cat >"$T/reference.py" <<'EOF'
import base64, hashlib, json, random, subprocess, sys, urllib.parse

htmutual, kat_path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
MODP2048 = int(
    "ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404dd"
    "ef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed"
    "ee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f"
    "83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3b"
    "e39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa0510"
    "15728e5a8aacaa68ffffffffffffffff", 16)
MODP4096 = int(
    "ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404dd"
    "ef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed"
    "ee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f"
    "83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3b"
    "e39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa0510"
    "15728e5a8aaac42dad33170d04507a33a85521abdf1cba64ecfb850458dbef0a8aea71575d060c7db3970f85a6e1e4c7"
    "abf5ae8cdb0933d71e8c94e04a25619dcee3d2261ad2ee6bf12ffa06d98a0864d87602733ec86a64521f2b18177b200c"
    "bbe117577a615d6c770988c0bad946e208e24fa074e5ab3143db5bfce0fd108e4b82d120a92108011a723c12a787e6d7"
    "88719a10bdba5b2699c327186af4e23c1a946834b6150bda2583e9ca2ad44ce8dbbbc2db04de8ef92e8efc141fbecaa6"
    "287c59474e6bc05d99b2964fa090c3a2233ba186515be7ed1f612970cee2d7afb81bdd762170481cd0069127d5b05aa9"
    "93b4ea988d8fddc186ffb7dc90a6c08f4df435c934063199ffffffffffffffff", 16)
P256 = (2**256 - 2**224 + 2**192 + 2**96 - 1,
        0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296,
        0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5)
P521 = (2**521 - 1,
        int("c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3d"
            "baa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66", 16),
        int("11839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e6"
            "62c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650", 16))
# name -> (hash, kind, group, element length in octets)
ALGORITHMS = {
    "iso-kam3-dl-2048-sha256": ("sha256", "dl", MODP2048, 256),
    "iso-kam3-dl-4096-sha512": ("sha512", "dl", MODP4096, 512),
    "iso-kam3-ec-p256-sha256": ("sha256", "ec", P256, 33),
    "iso-kam3-ec-p521-sha512": ("sha512", "ec", P521, 66),
}

def vi(i):
    out = [i & 127]
    i >>= 7
    while i:
        out.append(0x80 | (i & 127))
        i >>= 7
    return bytes(reversed(out))

def vs(s):
    b = s.encode("utf-8")
    return vi(len(b)) + b

def ec_add(p, a, b):  # affine, a = -3; None is the point at infinity
    if a is None: return b
    if b is None: return a
    if a[0] == b[0] and (a[1] + b[1]) % p == 0: return None
    if a == b:
        l = (3 * a[0] * a[0] - 3) * pow(2 * a[1], p - 2, p) % p
    else:
        l = (b[1] - a[1]) * pow(b[0] - a[0], p - 2, p) % p
    x = (l * l - a[0] - b[0]) % p
    return (x, (l * (a[0] - x) - a[1]) % p)

def ec_mul(p, k, point):
    result = None
    for bit in bin(k)[2:]:
        result = ec_add(p, result, result)
        if bit == "1":
            result = ec_add(p, result, point)
    return result

def reference_j(alg, scope, realm, user, password):
    hname, kind, group, length = ALGORITHMS[alg]
    salt = vs(alg) + vs(scope) + vs(realm) + vs(user)
    size = hashlib.new(hname).digest_size
    pi = int.from_bytes(hashlib.pbkdf2_hmac(hname, password.encode("utf-8"), salt, 16384, size), "big")
    if kind == "dl":
        return pow(2, pi, group).to_bytes(length, "big")
    p, gx, gy = group
    x, y = ec_mul(p, pi, (gx, gy))
    return (2 * x + (y & 1)).to_bytes(length, "big")

def htmutual_j(alg, scope, realm, user, password):
    # "--": a random realm may start with "-".
    run = subprocess.run([htmutual, "-n", "-b", "-s", scope, "-a", alg, "--", realm, user, password],
                         capture_output=True, stdin=subprocess.DEVNULL)
    if run.returncode != 0:
        raise AssertionError("exit %d: %s" % (run.returncode, run.stderr.decode("utf-8", "replace")))
    key, record = run.stdout.decode("utf-8").rstrip("\n").rsplit(":", 1)
    fields = record.split(";")
    assert key == user and fields[:2] == ["1", alg], (key, fields[:2])
    assert urllib.parse.unquote(fields[2]) == scope and urllib.parse.unquote(fields[3]) == realm
    return base64.b64decode(fields[4], validate=True) if "-dl-" in alg else bytes.fromhex(fields[4])

for v in json.load(open(kat_path))["vectors"]:
    if v["name"].endswith("/ascii"):
        i = v["inputs"]
        got = reference_j(v["algorithm"], i["auth_scope"], i["realm"], i["user"], i["password"]).hex()
        print(("PASS" if got == v["derived"]["J"] else "FAIL") +
              " the independent implementation reproduces the KAT J of " + v["name"])

seed = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else random.randrange(2**32)
rng = random.Random(seed)
letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@+!#"
accents = "éüßøñçåÉÖ测试日本"
def word(n, extra=""):
    return "".join(rng.choice(letters + extra) for _ in range(n))
for alg in ALGORITHMS:
    for r in range(rounds):
        user = word(rng.randint(1, 12), accents)
        password = word(rng.randint(1, 24), accents + " ;:,%\"'\\")
        password = password.strip() or "x"
        realm = word(rng.randint(0, 20), accents + " ;:,%\"\\")
        # A host the module accepts as AuthMutualScope (htmutual refuses others).
        label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(1, 12)))
        scope = rng.choice(["", "http://", "https://", "*."]) + label + ".example"
        case = "%s user=%r realm=%r scope=%r (seed %d)" % (alg, user, realm, scope, seed)
        try:
            ok = htmutual_j(alg, scope, realm, user, password) == reference_j(alg, scope, realm, user, password)
            print(("PASS " if ok else "FAIL ") + "-n J equals the independent J: " + case)
        except AssertionError as e:
            print("FAIL -n J equals the independent J: %s: %s" % (case, str(e).replace("\n", " ")))
EOF
python3 "$T/reference.py" "$HTMUTUAL" "$KAT" "${HTMUTUAL_RANDOM_ROUNDS:-3}" "${HTMUTUAL_SEED:-}" >"$T/reference.out" 2>"$T/err"
check "the independent implementation ran" test -s "$T/reference.out"
while IFS= read -r line; do
    case $line in
        PASS*) ok "${line#PASS }" ;;
        *) not_ok "${line#FAIL }" ;;
    esac
done <"$T/reference.out"
check "independent comparison: 4 KAT self-checks + random cases" \
    test "$(grep -c . "$T/reference.out")" -eq $((4 + 4 * ${HTMUTUAL_RANDOM_ROUNDS:-3}))

run 0 "-n -b" "$HTMUTUAL" -n -b -s "$SCOPE" realm alice secret1
check "-b warns that the password is visible" err_has "password is visible on the command line"
check "-n prints user:record on one line" test "$(wc -l <"$T/out")" -eq 1
check "-n output starts with the user" grep -q "^alice:1;$P256;" "$T/out"
check "-n with -b does not echo the password" test "$(grep -c secret1 "$T/out" "$T/err" | grep -vc ':0$')" -eq 0
cp "$T/out" "$T/n-b.out"
run_in 0 "-n -i" "secret1"$'\n' "$HTMUTUAL" -n -i -s "$SCOPE" realm alice
check "-i gives no command-line warning" test ! -s "$T/err"
check "-n -i and -n -b give the same verifier" cmp -s "$T/out" "$T/n-b.out"
run 0 "-n with two -a" "$HTMUTUAL" -nb -a $DL2 -a $P521 -s "$SCOPE" realm alice secret1
check "-n with two -a prints two entries" grep -q "^alice:1;$DL2;.*,1;$P521;" "$T/out"
run 0 "-n with a repeated -a" "$HTMUTUAL" -nb -a $P256 -a ISO-KAM3-EC-P256-SHA256 -s "$SCOPE" realm alice s
check "a repeated -a gives one entry" test "$(tr ',' '\n' <"$T/out" | wc -l)" -eq 1

# ---- -c, adding, -l, -v ------------------------------------------------------
run 1 "adding to a missing file without -c" "$HTMUTUAL" -b -s "$SCOPE" users.db realm alice pw1
check "missing file: the message suggests -c" err_has "use -c to create it"
check "missing file: nothing created" test ! -e users.db
(umask 000 && "$HTMUTUAL" -cb -s "$SCOPE" users.db Staff alice pw1 >"$T/out" 2>"$T/err")
check "-c creates the file" test -f users.db
check "-c creates mode 0600 even with umask 000" test "$(stat -c %a users.db)" = 600
check "-c leaves the lock file" test -f users.db.lock
check "-l lists the new user" grep -q "^alice	$P256	$SCOPE	Staff$" <("$HTMUTUAL" -l users.db)
run 0 "-e exports the file" "$HTMUTUAL" -e users.db
check "-e prints what -n prints (user:record)" \
    cmp -s "$T/out" <("$HTMUTUAL" -nb -s "$SCOPE" Staff alice pw1 2>/dev/null)
run 2 "-e with -s" "$HTMUTUAL" -e -s "$SCOPE" users.db
run 0 "-v right password" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff alice pw1
check "-v right password: says correct" err_has "correct"
run 3 "-v wrong password" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff alice wrong
check "-v wrong password: says so" err_has "password verification failed"
run 8 "-v unknown user" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff mallory pw1
run 8 "-v other realm (realm is an input of pi)" "$HTMUTUAL" -vb -s "$SCOPE" users.db staff alice pw1
run 8 "-v other auth-scope" "$HTMUTUAL" -vb -s "$SCOPE/" users.db Staff alice pw1
run_in 0 "-v -i right password" "pw1"$'\n' "$HTMUTUAL" -vi -s "$SCOPE" users.db Staff alice
run_in 3 "-v -i wrong password" "pw2"$'\n' "$HTMUTUAL" -vi -s "$SCOPE" users.db Staff alice
run_in 0 "-i adds a user" "pw-bob"$'\r\n' "$HTMUTUAL" -i -s "$SCOPE" users.db Staff bob
run 0 "-i strips CR LF" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff bob pw-bob

# Several algorithms and realms per user.
run 0 "-a twice adds two verifiers" "$HTMUTUAL" -b -a $DL2 -a $P521 -s "$SCOPE" users.db Staff carol pw-c
check "-l shows both algorithms" test "$(grep -c '^carol	' <("$HTMUTUAL" -l users.db))" -eq 2
run 0 "-v with -a (DL)" "$HTMUTUAL" -vb -a $DL2 -s "$SCOPE" users.db Staff carol pw-c
run 0 "-v with -a (EC)" "$HTMUTUAL" -vb -a $P521 -s "$SCOPE" users.db Staff carol pw-c
run 0 "-v without -a checks every algorithm" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff carol pw-c
run 8 "-v with an algorithm the user lacks" "$HTMUTUAL" -vb -a $P256 -s "$SCOPE" users.db Staff carol pw-c
run 0 "adding another realm" "$HTMUTUAL" -b -a $P256 -s "$SCOPE" users.db "Other realm" carol pw-o
run 0 "adding another scope" "$HTMUTUAL" -b -a $P256 -s "*.example.com" users.db Staff carol pw-s
check "carol has four verifiers" test "$(grep -c '^carol	' <("$HTMUTUAL" -l users.db))" -eq 4
run 0 "updating one verifier" "$HTMUTUAL" -b -a $DL2 -s "$SCOPE" users.db Staff carol new-c
check "updating says Updating" err_has "Updating password for user carol"
check "the update replaced, not added" test "$(grep -c '^carol	' <("$HTMUTUAL" -l users.db))" -eq 4
run 3 "updated verifier: old password fails" "$HTMUTUAL" -vb -a $DL2 -s "$SCOPE" users.db Staff carol pw-c
run 0 "updated verifier: new password matches" "$HTMUTUAL" -vb -a $DL2 -s "$SCOPE" users.db Staff carol new-c
run 0 "other verifiers kept (other algorithm)" "$HTMUTUAL" -vb -a $P521 -s "$SCOPE" users.db Staff carol pw-c
run 0 "other verifiers kept (other realm)" "$HTMUTUAL" -vb -s "$SCOPE" users.db "Other realm" carol pw-o
run 0 "other verifiers kept (other scope)" "$HTMUTUAL" -vb -s "*.example.com" users.db Staff carol pw-s
run 3 "-v without -a fails when one algorithm differs" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff carol new-c

# UTF-8 user names (prepared per RFC 7613: NFC, width mapping).
run 0 "UTF-8 user name" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff "Renée Zoë 测试" pässwörd
check "-l shows the UTF-8 name" grep -q "^Renée Zoë 测试	" <("$HTMUTUAL" -l users.db)
run 0 "-v UTF-8 user name" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff "Renée Zoë 测试" pässwörd
decomposed=$(printf 'Rene\xcc\x81e Zoe\xcc\x88 测试')
run 0 "-v with the NFD spelling finds the NFC user" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff "$decomposed" pässwörd
run 0 "-v with an NFD password matches" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff "Renée Zoë 测试" "$(printf 'pa\xcc\x88sswo\xcc\x88rd')"
run 0 "fullwidth letters map to the same user" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff "ｄａｖｅ" pw-d
check "fullwidth name stored as its ASCII form" grep -q "^dave	" <("$HTMUTUAL" -l users.db)
run 6 "control character in a user name" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff "$(printf 'ev\001il')" pw
check "bad user name: the message says why" err_has "is not allowed"
run 6 "colon in a user name" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff "a:b" pw
run 6 "invalid UTF-8 user name" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff "$(printf 'ab\xff')" pw
run_in 6 "empty password" $'\n' "$HTMUTUAL" -i -s "$SCOPE" users.db Staff erin
run 6 "control character in a password" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff erin "$(printf 'p\001w')"
run 5 "overlong user name" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff "$(head -c 300 /dev/zero | tr '\0' u)" pw
# The user-name limit is the server's (protocol_defaults.h: 256 octets as
# prepared; t/integration/test_hostile_input.py has the server's side).
run 0 "-n: a 256-octet user name (the server's limit)" "$HTMUTUAL" -nb -s "$SCOPE" Staff "$(head -c 256 /dev/zero | tr '\0' u)" pw
check "-n: the 256-octet name is the record's key" out_has "^$(head -c 256 /dev/zero | tr '\0' u):1;"
run 5 "-n: a 257-octet user name" "$HTMUTUAL" -nb -s "$SCOPE" Staff "$(head -c 257 /dev/zero | tr '\0' u)" pw
check "257 octets: the message names the limit" err_has "longer than 256 bytes"
run 5 "-n: 129 x U+00E9, 258 octets in 129 characters" "$HTMUTUAL" -nb -s "$SCOPE" Staff "$(for i in $(seq 129); do printf '\303\251'; done)" pw
run 0 "-n: 90 fullwidth letters, 270 octets typed, 90 prepared" "$HTMUTUAL" -nb -s "$SCOPE" Staff "$(for i in $(seq 90); do printf '\357\275\225'; done)" pw
check "-n: the fullwidth name is stored as 90 ASCII letters" out_has "^$(head -c 90 /dev/zero | tr '\0' u):1;"
run 5 "overlong password" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff erin "$(head -c 2000 /dev/zero | tr '\0' p)"
run 5 "overlong realm" "$HTMUTUAL" -b -s "$SCOPE" users.db "$(head -c 2000 /dev/zero | tr '\0' r)" erin pw
run_in 5 "overlong password on stdin" "$(head -c 2000 /dev/zero | tr '\0' p)"$'\n' "$HTMUTUAL" -i -s "$SCOPE" users.db Staff erin
check "failed additions added nobody" test "$(users_in users.db)" -eq 5

# ---- -D ------------------------------------------------------------------------
run 0 "-D with -a deletes one verifier" "$HTMUTUAL" -D -a $DL2 -s "$SCOPE" users.db Staff carol
check "-D with -a: three verifiers left" test "$(grep -c '^carol	' <("$HTMUTUAL" -l users.db))" -eq 3
run 8 "-D of that verifier again" "$HTMUTUAL" -D -a $DL2 -s "$SCOPE" users.db Staff carol
run 0 "-D without -a deletes the realm's verifiers" "$HTMUTUAL" -D -s "$SCOPE" users.db Staff carol
check "-D without -a: other realm and scope kept" test "$(grep -c '^carol	' <("$HTMUTUAL" -l users.db))" -eq 2
run 0 "-D the rest (other realm)" "$HTMUTUAL" -D -s "$SCOPE" users.db "Other realm" carol
run 0 "-D the rest (other scope)" "$HTMUTUAL" -D -s "*.example.com" users.db Staff carol
check "carol is gone" test "$(grep -c '^carol	' <("$HTMUTUAL" -l users.db))" -eq 0
run 8 "-D unknown user" "$HTMUTUAL" -D -s "$SCOPE" users.db Staff carol
check "-D unknown user: the message says how to list" err_has "htmutual -l"
run 0 "-D UTF-8 user by its NFD spelling" "$HTMUTUAL" -D -s "$SCOPE" users.db Staff "$decomposed"
check "after -D: alice, bob, dave" test "$("$HTMUTUAL" -l users.db | cut -f1 | tr '\n' ' ')" = "alice bob dave "

# ---- permissions, atomic replacement ------------------------------------------
chmod 640 users.db
run 0 "update of a 0640 file" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff frank pw-f
check "the file keeps mode 0640" test "$(stat -c %a users.db)" = 640
check "no temporary files left" no_leftovers
check "the lock file is 0600" test "$(stat -c %a users.db.lock)" = 600
if [ "$(id -u)" -eq 0 ]; then
    chown 65534:65534 users.db
    run 0 "update of a file owned by another user (as root)" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff frank pw-f
    check "the file keeps its owner and group" test "$(stat -c %u:%g:%a users.db)" = 65534:65534:640
    chown 0:0 users.db
else
    ok "# SKIP owner preservation needs root"
fi
ln -s users.db link.db
run 1 "a symbolic link is not replaced" "$HTMUTUAL" -b -s "$SCOPE" link.db Staff gina pw-g
check "a symbolic link: the message names the target command" err_has "readlink -f link.db"
check "a symbolic link stays a link" test -L link.db
run 0 "-l through a symbolic link" "$HTMUTUAL" -l link.db
before=$(sum users.db)
mkdir users.db.htmutual-new
run 1 "a failing write" "$HTMUTUAL" -b -s "$SCOPE" users.db Staff gina pw-g
check "a failing write: the message says the file was not changed" err_has "users.db"
check "a failing write leaves the file intact" test "$(sum users.db)" = "$before"
rmdir users.db.htmutual-new
run 0 "-v still works after the failed write" "$HTMUTUAL" -vb -s "$SCOPE" users.db Staff frank pw-f
run 0 "-c over an existing verifier file" "$HTMUTUAL" -cb -s "$SCOPE" users.db Staff alice pw-new
check "-c replaced the users" test "$("$HTMUTUAL" -l users.db | cut -f1 | tr '\n' ' ')" = "alice "
check "-c over an existing file keeps its mode" test "$(stat -c %a users.db)" = 640

# Permission problems are exit 1 with advice, never "invalid file" (7).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
    mkdir perm && chmod 755 perm
    "$HTMUTUAL" -cb -s "$SCOPE" perm/users.db Staff alice pw 2>/dev/null
    before=$(sum perm/users.db)
    as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    run 1 "unprivileged: adding to a file in a root directory" as_nobody "$HTMUTUAL" -b -s "$SCOPE" perm/users.db Staff bob pw
    check "unprivileged: the message says who may write" err_has "run htmutual as a user who may write to perm"
    run 1 "unprivileged: -l of a 0600 file" as_nobody "$HTMUTUAL" -l perm/users.db
    check "unprivileged -l: the message says Permission denied" err_has "Permission denied"
    run 1 "unprivileged: -v of a 0600 file" as_nobody "$HTMUTUAL" -vb -s "$SCOPE" perm/users.db Staff alice pw
    check "unprivileged: the file is untouched" test "$(sum perm/users.db)" = "$before"
else
    ok "# SKIP permission tests need root and setpriv"
fi

# ---- -T --------------------------------------------------------------------------
for type in db gdbm sdbm; do
    run 0 "-T $type: create" "$HTMUTUAL" -cb -T $type -s "$SCOPE" t-$type Staff alice pw-$type
    run 0 "-T $type: add" "$HTMUTUAL" -b -T $type -a $DL4 -s "$SCOPE" t-$type Staff bob pw-b
    run 0 "-T $type: -v" "$HTMUTUAL" -vb -T $type -s "$SCOPE" t-$type Staff alice pw-$type
    run 3 "-T $type: -v wrong" "$HTMUTUAL" -vb -T $type -s "$SCOPE" t-$type Staff alice nope
    check "-T $type: -l" test "$(users_in -T $type t-$type)" -eq 2
    run 0 "-T $type: -D" "$HTMUTUAL" -D -T $type -s "$SCOPE" t-$type Staff bob
    check "-T $type: -l after -D" test "$(users_in -T $type t-$type)" -eq 1
done
check "-T sdbm writes FILE.dir and FILE.pag" test -f t-sdbm.dir -a -f t-sdbm.pag
check "-T sdbm files are 0600" test "$(stat -c %a t-sdbm.dir t-sdbm.pag | sort -u)" = 600
run 0 "-T is case-insensitive (SDBM)" "$HTMUTUAL" -l -T SDBM t-sdbm
run 1 "-T sdbm on a db file: missing" "$HTMUTUAL" -l -T sdbm t-db
run 10 "-T with an unknown type" "$HTMUTUAL" -l -T nosuchdbm t-db
check "unknown -T: the message names the types" err_has "default, db, gdbm, sdbm"
before=$(sum t-sdbm.dir t-sdbm.pag)
run 5 "-T sdbm: a record over 1008 bytes" "$HTMUTUAL" -b -T sdbm -a $DL4 -a $DL2 -s "$SCOPE" t-sdbm Staff alice pw
check "-T sdbm too large: the message suggests db or gdbm" err_has "type db or gdbm"
check "-T sdbm too large: file intact" test "$(sum t-sdbm.dir t-sdbm.pag)" = "$before"

# ---- foreign and damaged files ---------------------------------------------------
printf 'alice:$apr1$abc$def\n' >plain.txt
chmod 644 plain.txt
before=$(sum plain.txt)
run 7 "a text file: adding refuses" "$HTMUTUAL" -b -s "$SCOPE" plain.txt Staff bob pw
check "a text file: the message is clear" err_has "is not a DBM file"
run 7 "a text file: -c refuses to replace it" "$HTMUTUAL" -cb -s "$SCOPE" plain.txt Staff bob pw
check "a text file: -c says to remove it first" err_has "remove plain.txt first"
run 7 "a text file: -D refuses" "$HTMUTUAL" -D -s "$SCOPE" plain.txt Staff alice
run 7 "a text file: -l refuses" "$HTMUTUAL" -l plain.txt
run 7 "a text file: -v refuses" "$HTMUTUAL" -vb -s "$SCOPE" plain.txt Staff alice pw
check "a text file is untouched" test "$(sum plain.txt)" = "$before" -a "$(stat -c %a plain.txt)" = 644

if command -v htdbm >/dev/null 2>&1; then
    htdbm -cb -TDB basic.db alice secret >/dev/null 2>&1
    htdbm -b -TDB basic.db bob secret >/dev/null 2>&1
    before=$(sum basic.db)
    run 7 "an htdbm file: adding refuses" "$HTMUTUAL" -b -s "$SCOPE" basic.db Staff carol pw
    check "an htdbm file: names the file, the user and the reason" \
        err_has "basic.db: not a htmutual verifier file (user \"alice\": unknown record format version); refusing to modify it"
    run 7 "an htdbm file: -D refuses" "$HTMUTUAL" -D -s "$SCOPE" basic.db Staff alice
    run 7 "an htdbm file: -c refuses" "$HTMUTUAL" -cb -s "$SCOPE" basic.db Staff carol pw
    run 7 "an htdbm file: -v refuses" "$HTMUTUAL" -vb -s "$SCOPE" basic.db Staff alice secret
    run 7 "an htdbm file: -l reports the bad records" "$HTMUTUAL" -l basic.db
    check "an htdbm file is untouched" test "$(sum basic.db)" = "$before"
else
    ok "# SKIP htdbm not installed (apache2-utils)"
fi

# One damaged record among good ones: the file is refused as a whole.
"$HTMUTUAL" -cb -T sdbm -s "$SCOPE" dmg Staff user1 pw1 2>/dev/null
for i in 2 3 4 5 6; do "$HTMUTUAL" -b -T sdbm -s "$SCOPE" dmg Staff user$i pw$i 2>/dev/null; done
check "sdbm file for damaging has 6 users" test "$(users_in -T sdbm dmg)" -eq 6
python3 - dmg.pag <<'EOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
i = data.find(b";iso-kam3-ec-p256-sha256;")
assert i > 0
data[i + 1:i + 9] = b"XXXXXXXX"   # same length: the sdbm page stays well-formed
open(path, "wb").write(data)
EOF
before=$(sum dmg.dir dmg.pag)
run 7 "a damaged record: adding refuses" "$HTMUTUAL" -b -T sdbm -s "$SCOPE" dmg Staff user7 pw7
check "a damaged record: says which user and why" err_has "not a htmutual verifier file (user \"user[0-9]\": unknown algorithm)"
run 7 "a damaged record: -l reports it" "$HTMUTUAL" -l -T sdbm dmg
check "a damaged record: -l still lists the good users" test "$(users_in -T sdbm dmg)" -eq 5
check "a damaged record: file untouched" test "$(sum dmg.dir dmg.pag)" = "$before"
# Garbage over the sdbm page structure itself.
cp dmg.dir junk.dir
head -c 1024 /dev/urandom >junk.pag
before=$(sum junk.dir junk.pag)
"$HTMUTUAL" -b -T sdbm -s "$SCOPE" junk Staff user7 pw7 >"$T/out" 2>"$T/err"
rc=$?
check "random bytes as an sdbm file: refused (exit 7)" test $rc -eq 7
check "random bytes as an sdbm file: untouched" test "$(sum junk.dir junk.pag)" = "$before"

# ---- concurrency -------------------------------------------------------------------
"$HTMUTUAL" -cb -s "$SCOPE" conc.db Staff seed pw-seed 2>/dev/null
for w in $(seq 1 "$WRITERS"); do
    (
        for u in $(seq 1 "$USERS_PER_WRITER"); do
            "$HTMUTUAL" -b -s "$SCOPE" conc.db Staff "w$w-u$u" "pw-$w-$u" 2>>"$T/conc-$w.err" ||
                echo "writer $w user $u failed" >>"$T/conc-$w.err"
        done
    ) &
done
wait
total=$((WRITERS * USERS_PER_WRITER + 1))
check "$WRITERS concurrent writers x $USERS_PER_WRITER users: -l shows all $total" \
    test "$(users_in conc.db)" -eq "$total"
check "concurrent writers: no failures" test -z "$(cat "$T"/conc-*.err | grep -v -e '^Adding' -e 'password is visible')"
run 0 "concurrent writers: a late user verifies" "$HTMUTUAL" -vb -s "$SCOPE" conc.db Staff "w$WRITERS-u$USERS_PER_WRITER" "pw-$WRITERS-$USERS_PER_WRITER"
run 0 "concurrent writers: the seed user survived" "$HTMUTUAL" -vb -s "$SCOPE" conc.db Staff seed pw-seed
check "concurrent writers: no temporary files left" no_leftovers

# A writer waits for the lock, and meanwhile its -b password is already
# wiped from its command line (/proc/PID/cmdline, what ps shows).
if command -v flock >/dev/null 2>&1; then
    exec 9>conc.db.lock
    flock -x 9
    "$HTMUTUAL" -b -s "$SCOPE" conc.db Staff waiter Sekrit-In-Argv 2>"$T/err" &
    waiter=$!
    sleep 1
    check "a writer waits while another holds the lock" kill -0 $waiter
    check "the -b password is wiped from the process's command line" \
        sh -c "! tr '\\0' ' ' </proc/$waiter/cmdline | grep -q Sekrit-In-Argv"
    flock -u 9
    exec 9>&-
    wait $waiter
    check "the waiting writer finishes once the lock is released" test $? -eq 0
    run 0 "the waiting writer's user verifies" "$HTMUTUAL" -vb -s "$SCOPE" conc.db Staff waiter Sekrit-In-Argv
else
    ok "# SKIP flock(1) not installed"
fi

# ---- the interactive prompt (a pseudo-terminal through python3's pty) ----------------
cat >"$T/pty_run.py" <<'EOF'
# pty_run.py KEYS ARGS...: runs ARGS on a new pseudo-terminal (its controlling
# terminal, so /dev/tty works), answers each prompt with the next line of KEYS
# ("\n" is Enter; a last piece without "\n", e.g. "\x03" for Ctrl-C, is sent
# as is), prints what the terminal showed, exits with the child's status.
import os, pty, select, sys, time
keys = sys.argv[1].encode().decode("unicode_escape").encode("latin-1")
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b""
def pump(done, timeout=30.0):
    global out
    end = time.time() + timeout
    while not done() and time.time() < end:
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            return False
        if not chunk:
            return False
        out += chunk
    return True
pieces = keys.split(b"\n")
for i, piece in enumerate(pieces):
    last = i == len(pieces) - 1
    if last and not piece:
        break
    seen = len(out)
    if not pump(lambda: out[seen:].rstrip().endswith(b":")):
        break
    os.write(fd, piece if last else piece + b"\n")
pump(lambda: False)  # to the end of the output
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
EOF
tty_run() { python3 "$T/pty_run.py" "$@"; }
"$HTMUTUAL" -cb -s "$SCOPE" tty.db Staff seed pw 2>/dev/null
run 0 "prompt: asked twice, user added" tty_run 's3cret-tty\ns3cret-tty\n' "$HTMUTUAL" -s "$SCOPE" tty.db Staff ttyuser
check "prompt: asks New password" out_has "New password:"
check "prompt: asks Re-type new password" out_has "Re-type new password:"
check "prompt: the password is not echoed" test "$(grep -c 's3cret-tty' "$T/out")" -eq 0
run 0 "prompt: the typed password verifies" "$HTMUTUAL" -vb -s "$SCOPE" tty.db Staff ttyuser s3cret-tty
run 3 "prompt: mismatching confirmation" tty_run 'one-pw\ntwo-pw\n' "$HTMUTUAL" -s "$SCOPE" tty.db Staff ttyuser2
check "prompt: mismatch says the passwords differ" out_has "passwords differ"
check "prompt: mismatch adds nobody" test "$(users_in tty.db)" -eq 2
run 0 "prompt: -v asks once" tty_run 's3cret-tty\n' "$HTMUTUAL" -v -s "$SCOPE" tty.db Staff ttyuser
run 3 "prompt: -v wrong password" tty_run 'nope\n' "$HTMUTUAL" -v -s "$SCOPE" tty.db Staff ttyuser
run 4 "prompt: Ctrl-C at the prompt" tty_run '\x03' "$HTMUTUAL" -s "$SCOPE" tty.db Staff ttyuser3
check "prompt: Ctrl-C says nothing was changed" out_has "interrupted; nothing was changed \[MUT04020\]"
run 4 "prompt: Ctrl-C at the confirmation" tty_run 'first-pw\n\x03' "$HTMUTUAL" -s "$SCOPE" tty.db Staff ttyuser3
check "prompt: Ctrl-C adds nobody" test "$(users_in tty.db)" -eq 2
run 2 "no terminal and no -i" setsid "$HTMUTUAL" -s "$SCOPE" tty.db Staff nottyuser
check "no terminal: the message suggests -i" err_has "use -i"

# ---- issue 16: -s as the module checks it, -x, --version, advice that works ---------
VERSION=$(sed -n 's/^AC_INIT(\[[^]]*\], \[\([^]]*\)\].*/\1/p' "$OLDPWD/configure.ac" 2>/dev/null)
run 0 "--version exits 0" "$HTMUTUAL" --version
check "--version names configure.ac's version ($VERSION)" \
    test -n "$VERSION" -a "$(cut -d' ' -f3 "$T/out")" = "$VERSION"
# The module's words for an AuthMutualScope it refuses (apache2 -t).
module_says() {
    local mod=$MODULE_SO conf=$T/scope.conf
    printf 'ServerRoot %s\nErrorLog %s/scope.log\nPidFile %s/scope.pid\nListen 127.0.0.1:1\n' \
        "$T" "$T" "$T" >"$conf"
    printf 'LoadModule mpm_event_module %s/mod_mpm_event.so\n' "$MODULES" >>"$conf"
    printf 'LoadModule authn_core_module %s/mod_authn_core.so\n' "$MODULES" >>"$conf"
    printf 'LoadModule authz_core_module %s/mod_authz_core.so\n' "$MODULES" >>"$conf"
    printf 'LoadModule auth_mutual_module %s\n<Location />\nAuthMutualScope "%s"\n</Location>\n' \
        "$mod" "$1" >>"$conf"
    "$APACHE2" -t -f "$conf" 2>&1 | sed -n 's/.*AuthMutualScope "[^"]*": //p' | head -n 1
}
MODULE_SO=$OLDPWD/${B:-build}/mod_auth_mutual.so
MODULES=${HTTPD_MODULES:-/usr/lib/apache2/modules}
APACHE2=${HTTPD:-/usr/sbin/apache2}
for bad in 'HTTP://Example.com' 'http://example.com:80' 'http://example.com/path' '*.com' \
           'https://www.example.com:443' 'Example.com' 'example.com:8080'; do
    run 2 "-s $bad refused (exit 2)" "$HTMUTUAL" -nb -s "$bad" Staff alice pw
    if [ -x "$APACHE2" ] && [ -f "$MODULE_SO" ]; then
        said=$(module_says "$bad")
        check "-s $bad: the module refuses it too" test -n "$said"
        check "-s $bad: htmutual gives the module's reason" err_has_text "-s \"$bad\": $said"
    fi
    check "-s $bad: nothing printed" test ! -s "$T/out"
done
for good in 'http://example.com:8080' 'https://www.example.com' '*.example.com' 'example.com' '127.0.0.1'; do
    run 0 "-s $good accepted" "$HTMUTUAL" -nb -s "$good" Staff alice pw
done
run 2 "-s twice is refused" "$HTMUTUAL" -nb -s "$SCOPE" -s "*.example.com" Staff alice pw
check "-s twice: the message names both" err_has '"https://www.example.com" and "\*.example.com"'

run 10 "-T ndbm (not in this APR-util) is refused" "$HTMUTUAL" -cb -T ndbm -s "$SCOPE" nd.db Staff alice pw
check "-T ndbm: no stray lock file or DBM" test ! -e nd.db.lock -a ! -e nd.db -a ! -e nd.db.db
run 10 "-T ndbm: -D refused the same way" "$HTMUTUAL" -x -T ndbm nd.db alice
check "-T ndbm -D: no stray lock file" test ! -e nd.db.lock

"$HTMUTUAL" -cb -s "$SCOPE" x.db Staff alice pw 2>/dev/null
"$HTMUTUAL" -b -s "$SCOPE" x.db Staff bob pw 2>/dev/null
"$HTMUTUAL" -b -s "$SCOPE" x.db Other bob pw 2>/dev/null
run 0 "-x is -D (htdbm's letter)" "$HTMUTUAL" -x -s "$SCOPE" x.db Other bob
check "-x removed one verifier" test "$(grep -c '^bob	' <("$HTMUTUAL" -l x.db))" -eq 1
run 0 "-x FILE USER removes the whole user" "$HTMUTUAL" -x x.db bob
check "-x FILE USER: bob is gone, alice stays" test "$("$HTMUTUAL" -l x.db | cut -f1 | tr '\n' ' ')" = "alice "
run 8 "-x FILE USER of an unknown user" "$HTMUTUAL" -x x.db nobody-here
run 2 "-x FILE REALM USER without -s" "$HTMUTUAL" -x x.db Staff alice
check "-x without -s: the message says -s is required" err_has "-s AUTH-SCOPE is required"
run 8 "-D may name a scope the module refuses (old verifiers)" "$HTMUTUAL" -D -s "HTTP://X" x.db Staff alice
check "-D of an old scope: looked up, not refused" err_has 'no verifier for auth-scope "HTTP://X"'
run 8 "-v may name a scope the module refuses (old verifiers)" "$HTMUTUAL" -vb -s "HTTP://X" x.db Staff alice pw
rm -f x.db x.db.lock

# The damaged record of the foreign/damaged section above: -l's advice works.
cp dmg.dir dmg2.dir && cp dmg.pag dmg2.pag
run 7 "damaged record: -l reports it" "$HTMUTUAL" -l -T sdbm dmg2
advice=$(sed -n 's/.*remove the user with: \(htmutual -x [^[]*\) \[MUT04052\]$/\1/p' "$T/err")
check "damaged record: -l gives a command ($advice)" test -n "$advice"
run 0 "damaged record: the advised command works" sh -c "PATH=$(dirname "$HTMUTUAL"):\$PATH; $advice"
run 0 "damaged record: -l is clean afterwards" "$HTMUTUAL" -l -T sdbm dmg2
check "damaged record: the five good users remain" test "$(users_in -T sdbm dmg2)" -eq 5
run 0 "damaged record: adding works again" "$HTMUTUAL" -b -T sdbm -s "$SCOPE" dmg2 Staff user7 pw7

# A file the server cannot read: htmutual says so, with the fix.
printf '# Debian envvars\nexport APACHE_RUN_USER=nobody\nexport APACHE_RUN_GROUP="nogroup"\n' >envvars
chmod 755 "$T"
mkdir -m 755 rd
run 0 "a new 0600 file: written" env HTMUTUAL_APACHE_ENVVARS=envvars "$HTMUTUAL" -cb -s "$SCOPE" rd/u.db Staff alice pw
check "a new 0600 file: warns that nobody (APACHE_RUN_USER) cannot read it" \
    err_has "rd/u.db is not readable by nobody (APACHE_RUN_USER in envvars).*MUT01108.*chgrp nogroup rd/u.db && chmod 640 rd/u.db"
run 0 "-D on an unreadable file: warns too" env HTMUTUAL_APACHE_ENVVARS=envvars "$HTMUTUAL" -D -s "$SCOPE" rd/u.db Staff alice
check "-D: the warning is there" err_has "MUT04904"
chmod 644 rd/u.db
run 0 "a readable file: no warning" env HTMUTUAL_APACHE_ENVVARS=envvars "$HTMUTUAL" -b -s "$SCOPE" rd/u.db Staff alice pw
check "a readable file: no warning" sh -c "! grep -q 'MUT0490' '$T/err'"
chmod 700 rd
run 0 "a directory nobody may enter: written" env HTMUTUAL_APACHE_ENVVARS=envvars "$HTMUTUAL" -b -s "$SCOPE" rd/u.db Staff bob pw
check "a directory nobody may enter: warns about the directory" err_has "the directory .*/rd is not searchable by nobody"
chmod 755 rd
run 0 "no envvars file: no warning" env HTMUTUAL_APACHE_ENVVARS=/nonexistent "$HTMUTUAL" -cb -s "$SCOPE" rd/v.db Staff alice pw
check "no envvars file: silent" sh -c "! grep -q 'MUT0490' '$T/err'"
run 0 "-l of a 0600 file: no warning (nothing written)" env HTMUTUAL_APACHE_ENVVARS=envvars "$HTMUTUAL" -l rd/v.db
check "-l: silent" sh -c "! grep -q 'MUT0490' '$T/err'"

# ---- -l format ---------------------------------------------------------------------
"$HTMUTUAL" -cb -s "$SCOPE" fmt.db "tab	realm" "ctl" pw 2>/dev/null
check "-l escapes control characters in realms" grep -q '^ctl	'"$P256"'	'"$SCOPE"'	tab\\x09realm$' <("$HTMUTUAL" -l fmt.db)
run 0 "-D of the last user" "$HTMUTUAL" -D -s "$SCOPE" fmt.db "tab	realm" ctl
run 0 "-l of an empty file" "$HTMUTUAL" -l fmt.db
check "-l of an empty file prints nothing" test ! -s "$T/out"
run 1 "-l of a missing file" "$HTMUTUAL" -l nosuchfile
check "-l of a missing file: the message says so" err_has "does not exist"
check "-l of a missing file creates nothing" test ! -e nosuchfile.lock -a ! -e nosuchfile
run 1 "-v of a missing file" "$HTMUTUAL" -vb -s "$SCOPE" nosuchfile Staff alice pw
check "-v of a missing file creates nothing" test ! -e nosuchfile.lock -a ! -e nosuchfile

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

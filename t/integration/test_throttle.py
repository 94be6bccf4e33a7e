"""Online-guessing throttle, per-client key-exchange budget and metrics
(issue #15, RFC 8120 section 17.3) in a real apache2 (event MPM, several
children), judged by the independent client mutualref.

Client addresses other than 127.0.0.1 come through mod_remoteip
(X-Forwarded-For from the trusted 127.0.0.1), so one machine plays several
clients, IPv6 ones included. Every location has its own user file and every
case its own client addresses: the cases do not share counters.

The error log this module writes is kept as build/t/throttle-error.log for
the fail2ban filter check (test_fail2ban_filter.sh)."""

import os
import re
import shutil
import time

import mutualref as m
from httpd_fixture import (Httpd, Skip, add_users, assert_status, build_dir, expect_log,
                           location, require_module, require_tool)

EC256 = "iso-kam3-ec-p256-sha256"
WRONG_VKC = "MUT01123"
UNKNOWN_USER = "MUT01122"
LOCKED_OUT = "MUT01804"
CLIENT_LOCKED_OUT = "MUT01807"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


def setup_module():
    require_module()
    require_tool("htmutual")
    conf = [
        "RemoteIPHeader X-Forwarded-For",
        "RemoteIPInternalProxy 127.0.0.1",
        # room for 4 pending key exchanges per stripe (16 stripes)
        "AuthMutualSessionTableSize 256",
        "AuthMutualMaxKeyExchanges 64",
        location("/user/", "user realm", [EC256], user_file="{root}/conf/users-user",
                 extra="AuthMutualMaxFailures 5 60"),
        location("/client/", "client realm", [EC256], user_file="{root}/conf/users-client",
                 extra="AuthMutualMaxFailuresPerClient 3 60"),
        location("/pending/", "pending realm", [EC256], user_file="{root}/conf/users-pending",
                 extra="AuthMutualMaxPendingPerClient 5 60"),
        location("/short/", "short realm", [EC256], user_file="{root}/conf/users-short",
                 extra="AuthMutualMaxFailures 2 2"),
        location("/nofile/", "nofile realm", [EC256], user_file="{root}/conf/no-such-file"),
        '<Location "/mutual-status">\n    SetHandler mutual-status\n</Location>',
        '<Location "/server-status">\n    SetHandler server-status\n</Location>',
    ]
    h = Httpd("throttle", conf="\n".join(conf), mpm="event", modules=["remoteip", "status"])
    for area in ("user", "client", "pending", "short"):
        add_users(h, area + " realm", PASSWORDS, [EC256],
                  user_file="{root}/conf/users-" + area)
        h.write_file(area + "/index.html", "welcome to /%s/\n" % area)
    return h.start()


def teardown_module(h):
    try:
        os.makedirs(os.path.join(build_dir(), "t"), exist_ok=True)
        shutil.copyfile(h.error_log, os.path.join(build_dir(), "t", "throttle-error.log"))
    except OSError:
        pass
    h.cleanup()


def xff(address):
    return [("X-Forwarded-For", address)]


def metrics(h):
    r = h.get("/mutual-status")
    assert r.status == 200, r
    ctype = r.header("Content-Type") or ""
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    out = {}
    for line in r.body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = int(value)
    return out


def fail_login(h, path, user, password, client):
    """One full failed login (INIT, KEX, VFY -> 401-INIT auth-failed)."""
    c = h.client(user, password)
    try:
        c.get(path, headers=xff(client))
    except m.AuthenticationFailed as e:
        assert e.reason == "auth-failed", (e.reason, e.response)
        return
    finally:
        c.close()
    raise AssertionError("login of %s with a wrong password succeeded" % user)


def kex_answer(h, path, user, password, client):
    """The answer to a req-KEX-C1 (after a 401-INIT) for user from client."""
    c = h.client(user, password)
    try:
        _, challenge = c.initial(path, xff(client))
        assert challenge is not None
        try:
            resp, _ = c.key_exchange(path, challenge, xff(client))
            return resp
        except m.AuthenticationFailed as e:
            return e.response
    finally:
        c.close()


def login_ok(h, path, user, client):
    c = h.client(user, PASSWORDS[user])
    try:
        r = c.get(path, headers=xff(client))
        assert r.status == 200 and r.authenticated, r
    finally:
        c.close()


def assert_429(resp, limit, what):
    assert resp.status == 429, "%s: expected 429, got %d %s" % (what, resp.status, resp.headers)
    retry = resp.header("Retry-After")
    assert retry is not None and re.fullmatch(r"[0-9]+", retry), (what, retry)
    assert 1 <= int(retry) <= limit, (what, retry)
    # no key exchange was made: no challenge, no session
    assert resp.header("WWW-Authenticate") is None, (what, resp.header("WWW-Authenticate"))
    return int(retry)


# ---------------------------------------------------------------------------


@expect_log(WRONG_VKC, UNKNOWN_USER, LOCKED_OUT)
def test_five_failures_lock_a_name_even_with_the_right_password(h):
    before = metrics(h)
    client = "198.51.100.1"
    for i in range(5):
        fail_login(h, "/user/index.html", "alice", "wrong %d" % i, client)
    # the right password now: 429 + Retry-After at the key exchange
    resp = kex_answer(h, "/user/index.html", "alice", PASSWORDS["alice"], client)
    assert_429(resp, 60, "alice after 5 failures")
    # from another address too: the name is locked, not the client
    resp = kex_answer(h, "/user/index.html", "alice", PASSWORDS["alice"], "198.51.100.2")
    assert_429(resp, 60, "alice from another client")

    # an unknown name: the same answers, the same counting
    for i in range(4):
        fail_login(h, "/user/index.html", "mallory", "guess %d" % i, client)
    resp = kex_answer(h, "/user/index.html", "mallory", "guess", client)
    assert resp.status == 401 and resp.header("WWW-Authenticate"), \
        "an unknown name is not locked before its fifth failure: %d" % resp.status
    fail_login(h, "/user/index.html", "mallory", "guess 4", client)
    resp = kex_answer(h, "/user/index.html", "mallory", "guess", client)
    assert_429(resp, 60, "unknown name after 5 failures")
    # the same answer as for the known name: status, header names, body
    known = kex_answer(h, "/user/index.html", "alice", PASSWORDS["alice"], client)
    shape = lambda r: (r.status, sorted(n.lower() for n, _ in r.headers if n.lower() != "date"),
                       r.body)
    assert shape(resp) == shape(known), (shape(resp), shape(known))

    # another user still logs in, from the same client
    login_ok(h, "/user/index.html", "bob", client)

    after = metrics(h)
    d = lambda k: after.get(k, 0) - before.get(k, 0)
    assert d('mutual_verifications_total{result="failure"}') == 10, (before, after)
    assert d('mutual_verifications_total{result="success"}') == 1, (before, after)
    assert d("mutual_throttled_total") == 4, (before, after)
    # 10 failed logins + 1 refused-then-allowed mallory KEX + bob
    assert d('mutual_key_exchanges_total{algorithm="%s"}' % EC256) == 12, (before, after)


@expect_log(WRONG_VKC, LOCKED_OUT)
def test_lock_out_ends_after_the_window(h):
    client = "198.51.100.20"
    for i in range(2):
        fail_login(h, "/short/index.html", "carol", "wrong %d" % i, client)
    resp = kex_answer(h, "/short/index.html", "carol", PASSWORDS["carol"], client)
    wait = assert_429(resp, 2, "carol after 2 failures")
    time.sleep(wait + 0.2)
    login_ok(h, "/short/index.html", "carol", client)


@expect_log(WRONG_VKC, UNKNOWN_USER, CLIENT_LOCKED_OUT)
def test_per_client_failures_lock_the_address_not_the_users(h):
    bad = "203.0.113.7"
    # three different names (one unknown): the client is counted
    fail_login(h, "/client/index.html", "alice", "x", bad)
    fail_login(h, "/client/index.html", "nobody", "x", bad)
    fail_login(h, "/client/index.html", "bob", "x", bad)
    resp = kex_answer(h, "/client/index.html", "carol", PASSWORDS["carol"], bad)
    assert_429(resp, 60, "client after 3 failures")
    # the users themselves log in from elsewhere
    login_ok(h, "/client/index.html", "alice", "203.0.113.8")
    login_ok(h, "/client/index.html", "bob", "203.0.113.9")


@expect_log(WRONG_VKC, CLIENT_LOCKED_OUT)
def test_per_client_counts_ipv6_by_64(h):
    for i in range(3):
        fail_login(h, "/client/index.html", "alice", "x", "2001:db8:15:1::%x" % (i + 1))
    # another address of the same /64
    resp = kex_answer(h, "/client/index.html", "alice", PASSWORDS["alice"], "2001:db8:15:1:ffff::9")
    assert_429(resp, 60, "same /64")
    # the next /64 is another client
    login_ok(h, "/client/index.html", "alice", "2001:db8:15:2::1")


def test_pending_budget_refuses_without_kam3_work_and_spares_other_clients(h):
    path = "/pending/index.html"
    # the legitimate client starts its key exchange first
    good = h.client("alice", PASSWORDS["alice"])
    _, challenge = good.initial(path, xff("192.0.2.10"))
    _, session = good.key_exchange(path, challenge, xff("192.0.2.10"))

    # one valid kc1 reused by the flooding address (the attack)
    alg = m.ALGORITHMS[EC256]
    kc1 = alg.encode_element(alg.client_kc1(alg.random_secret()))
    auth = m.kex_c1_header(EC256, challenge.validation, challenge.auth_scope, challenge.realm,
                           "nobody", kc1)
    before = metrics(h)
    conn = m.Connection("127.0.0.1", h.port, None)
    statuses = []
    try:
        for _ in range(300):
            r = conn.request("GET", path, [("Authorization", auth), ("X-Forwarded-For", "192.0.2.66")])
            statuses.append(r.status)
            if r.status == 429:
                assert re.fullmatch(r"[0-9]+", r.header("Retry-After") or ""), r.headers
                assert r.header("WWW-Authenticate") is None
    finally:
        conn.close()
    after = metrics(h)
    assert statuses.count(401) == 5 and statuses.count(429) == 295, \
        "budget of 5: %d x 401, %d x 429" % (statuses.count(401), statuses.count(429))
    kex = 'mutual_key_exchanges_total{algorithm="%s"}' % EC256
    assert after.get(kex, 0) - before.get(kex, 0) == 5, "no KAM3 work for the refused 295"
    assert after["mutual_throttled_total"] - before["mutual_throttled_total"] == 295

    # the pending exchange of the other client survived the flood
    r = good.verify(path, session, headers=xff("192.0.2.10"))
    assert r.status == 200 and r.authenticated, r
    good.close()


@expect_log(WRONG_VKC, LOCKED_OUT)
def test_lock_outs_and_counters_survive_a_graceful_restart(h):
    client = "198.51.100.40"
    for i in range(5):
        fail_login(h, "/user/index.html", "carol", "wrong %d" % i, client)
    before = metrics(h)
    h.graceful()
    after = metrics(h)
    for name, value in before.items():
        if name.endswith("_total") or "_total{" in name:
            assert after.get(name, 0) >= value, (name, value, after.get(name))
    assert after['mutual_verifications_total{result="failure"}'] >= 5
    resp = kex_answer(h, "/user/index.html", "carol", PASSWORDS["carol"], client)
    assert_429(resp, 60, "carol after a graceful restart")


def test_status_exposition_format(h):
    r = h.get("/mutual-status")
    text = r.body.decode()
    for family, kind in (("mutual_key_exchanges_total", "counter"),
                         ("mutual_verifications_total", "counter"),
                         ("mutual_throttled_total", "counter"),
                         ("mutual_sessions", "gauge"),
                         ("mutual_session_capacity", "gauge"),
                         ("mutual_evictions_total", "counter"),
                         ("mutual_store_errors_total", "counter")):
        assert "# TYPE %s %s\n" % (family, kind) in text, family
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        assert re.fullmatch(r'[a-z_]+(\{[a-z_]+="[^"\\\n]*"\})? [0-9]+', line), line
    v = metrics(h)
    assert v["mutual_session_capacity"] == 256, v
    assert 'mutual_sessions{state="key-exchanging"}' in v and \
        'mutual_sessions{state="authenticated"}' in v


@expect_log("MUT01108")
def test_store_errors_are_counted(h):
    before = metrics(h)
    resp = kex_answer(h, "/nofile/index.html", "alice", "pw", "198.51.100.60")
    assert_status(resp, 401, "internal-error")
    after = metrics(h)
    assert after["mutual_store_errors_total"] - before["mutual_store_errors_total"] == 1


def test_mod_status_shows_the_figures(h):
    r = h.get("/server-status?auto")
    assert r.status == 200, r
    text = r.body.decode()
    m_ = re.search(r"^MutualVerificationsFailure: ([0-9]+)$", text, re.M)
    assert m_ and int(m_.group(1)) >= 10, text
    assert re.search(r"^MutualThrottled: [0-9]+$", text, re.M), text
    r = h.get("/server-status")
    assert r.status == 200 and b"<h2>mod_auth_mutual</h2>" in r.body, r.body[-2000:]


def test_directive_syntax_is_checked_at_startup(h):
    for line, message in (("AuthMutualMaxFailures 5", "<count> <seconds> or off"),
                          ("AuthMutualMaxFailuresPerClient 0 60", "out of range"),
                          ("AuthMutualMaxPendingPerClient 20 ten", "not a decimal number")):
        bad = Httpd("throttle-bad", conf=location("/x/", "x realm", [EC256], extra=line))
        try:
            bad.start()
        except RuntimeError as e:
            assert message in str(e), (line, str(e)[-600:])
        else:
            raise AssertionError("apache2 started with %r" % line)
        finally:
            bad.cleanup()
    # "off" switches an inherited limit off
    ok = Httpd("throttle-off", conf=location("/x/", "x realm", [EC256],
                                             extra="AuthMutualMaxFailures off"))
    try:
        ok.start()
    finally:
        ok.cleanup()

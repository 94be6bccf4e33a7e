"""AuthMutualSessionStore redis://: one apache2 (event MPM, several child
processes) keeping its sessions in a real redis-server on a loopback port.

Logins for the four algorithms with mutualref (the independent client) and
build/mutual-client; replays refused; sessions really live in Redis (a
FLUSHALL ends them) and sit there encrypted; the same req-VFY-C sent on
many connections at once is accepted at most once; Redis stopped -> 503 with
Retry-After, never a 200, and one error line per outage per process; Redis
back -> logins again within 15 s, without restarting httpd; startup refused
without AuthMutualSessionStoreKey (or with a short key)."""

import re
import threading
import time

import mutualref as m
from httpd_fixture import (Httpd, add_users, assert_status, expect_log, location, mutual_client,
                           require_module, require_tool, timeout)
from redis_servers import RedisCluster, RedisServer, write_store_key

EC256, EC521 = "iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512"
DL2048, DL4096 = "iso-kam3-dl-2048-sha256", "iso-kam3-dl-4096-sha512"
AREAS = {"/ec256/": EC256, "/ec521/": EC521, "/dl2048/": DL2048, "/dl4096/": DL4096}
USER, PASSWORD = "alice-in-redis", "alice's redis secret"
WRONG_VKC, UNKNOWN_USER = "MUT01123", "MUT01122"
OUTAGE = "MUT02010"     # error: the store is unavailable (once per outage per process)
BACK = "MUT02011"       # notice: it answers again


class Context:
    def __init__(self, redis, httpd):
        self.redis, self.httpd = redis, httpd

    # the runner's log protocol goes to the httpd
    def begin_case(self):
        self.httpd.begin_case()

    def end_case(self, expected=(), final=False):
        return self.httpd.end_case(expected, final)


# Generous: the tests share a loaded machine, and a Redis answering late
# is (rightly) a 503. Stopping Redis refuses connections at once.
STORE_TIMEOUT_MS = 2000


def store_conf(url, key="{root}/conf/store.key"):
    lines = ["AuthMutualSessionStore %s" % url, "AuthMutualSessionStoreTimeout %d" % STORE_TIMEOUT_MS]
    if key:
        lines.append('AuthMutualSessionStoreKey "%s"' % key)
    return "\n".join(lines) + "\n"


def setup_module():
    require_module()
    require_tool("htmutual")
    redis = RedisServer().start()
    conf = [location(path, "%s realm" % alg, [alg]) for path, alg in AREAS.items()]
    conf.append('<Location "/ec256/logout">\n    SetHandler mutual-logout\n</Location>')
    h = Httpd("redis-store", conf="\n".join(conf), mpm="event", server_conf=store_conf(redis.url))
    write_store_key(h.path("conf", "store.key"))
    for path, alg in AREAS.items():
        add_users(h, "%s realm" % alg, {USER: PASSWORD}, [alg])
        h.write_file(path.strip("/") + "/index.html", "welcome to %s\n" % alg)
    h.start()
    return Context(redis, h)


def teardown_module(ctx):
    try:
        ctx.httpd.cleanup()
    finally:
        ctx.redis.cleanup()


def login(ctx, path="/ec256/"):
    c = ctx.httpd.client(USER, PASSWORD)
    r = c.get(path + "index.html")
    assert r.status == 200 and r.authenticated, r
    return c


def session_keys(redis):
    return [k for k in redis.cli("--scan", "--pattern", "mutual:*").splitlines() if ":s:" in k]


# ---------------------------------------------------------------------------


def test_startup_notice_names_the_store(ctx):
    text = ctx.httpd.log_from(0)
    assert "MUT02105" in text and ctx.redis.url in text, text[-2000:]
    assert "MUT01009" not in text   # no shared-memory table


def test_mutualref_all_algorithms(ctx):
    for path, alg in AREAS.items():
        c = ctx.httpd.client(USER, PASSWORD)
        r = c.get(path + "index.html")
        assert r.status == 200 and r.authenticated, (alg, r)
        assert c.session.algorithm.name == alg and c.requests == 3, (alg, c.requests)
        for _ in range(5):   # reuse: one request each, across the children
            r = c.get(path + "index.html")
            assert r.status == 200 and r.authenticated, (alg, r)
        assert c.requests == 8, c.requests


def test_mutual_client_all_algorithms(ctx):
    require_tool("mutual-client")
    for path, alg in AREAS.items():
        url = ctx.httpd.url(path + "index.html")
        p = mutual_client(url, USER, PASSWORD, alg, args=[url])
        assert p.returncode == 0, "%s: exit %d\n%s%s" % (alg, p.returncode, p.stdout, p.stderr)
        assert p.stdout.count("welcome to " + alg) == 2, p.stdout
        assert p.stderr.count("[req-KEX-C1]") == 1, p.stderr


def test_replay_refused(ctx):
    c = login(ctx)
    s = c.session
    assert c.verify("/ec256/index.html", s, nc=2).status == 200
    r = c.verify("/ec256/index.html", s, nc=2)   # replay
    assert_status(r, 401, "stale-session", "replayed nc")
    r = c.verify("/ec256/index.html", s, nc=3)   # the session is inactive now
    assert_status(r, 401, "stale-session", "session after a replay")


def test_sessions_live_in_redis_encrypted(ctx):
    c = login(ctx)
    keys = session_keys(ctx.redis)
    assert keys, "no session in Redis"
    sid = c.session.sid.lower()
    key = [k for k in keys if k.endswith(":s:" + sid)]
    assert key, (sid, keys[:5])
    ttl = int(ctx.redis.cli("TTL", key[0]))
    assert 0 < ttl <= 300, ttl
    dump = ctx.redis.cli("--no-raw", "HGETALL", key[0])
    assert USER not in dump and "alice" not in dump, dump
    # A FLUSHALL ends every session: the next reuse is 401-STALE, then the
    # client's new key exchange succeeds.
    assert ctx.redis.cli("FLUSHALL") == "OK"
    r = c.verify("/ec256/index.html", c.session)
    assert_status(r, 401, "stale-session", "reuse after FLUSHALL")
    c.session = None
    r = c.get("/ec256/index.html")
    assert r.status == 200 and r.authenticated, r


@expect_log(WRONG_VKC, UNKNOWN_USER)
def test_unknown_user_looks_like_known_until_vfy(ctx):
    # The fake session of an unknown user is stored like any other (sealed
    # in Redis) and fails only at req-VFY-C, with the same 401s as shm.
    known, unknown = ctx.httpd.client(USER, "x"), ctx.httpd.client("mallory", "x")
    shapes = []
    for c in (known, unknown):
        _, challenge = c.initial("/ec256/index.html")
        resp, session = c.key_exchange("/ec256/index.html", challenge)
        s1 = resp.challenges[0]
        shapes.append((resp.status, sorted(s1.params), len(s1.sid), len(s1.ks1),
                       len(resp.body), resp.header("Content-Type")))
        assert any(k.endswith(":s:" + session.sid.lower()) for k in session_keys(ctx.redis))
        r = c.verify("/ec256/index.html", session)
        assert_status(r, 401, "auth-failed", "VFY of %s" % c.user)
    assert shapes[0] == shapes[1], "401-KEX-S1 differs:\n known   %s\n unknown %s" % tuple(shapes)


def test_logout_ends_the_session_in_redis(ctx):
    c = login(ctx)
    sid = c.session.sid.lower()
    assert any(k.endswith(":s:" + sid) for k in session_keys(ctx.redis))
    r = c.get("/ec256/logout")
    assert r.status == 200 and b"logged out" in r.body, r
    assert not any(k.endswith(":s:" + sid) for k in session_keys(ctx.redis))
    r = c.verify("/ec256/index.html", c.session)
    assert_status(r, 401, "stale-session", "reuse after logout")


def test_sessions_survive_a_graceful_restart(ctx):
    c = login(ctx)
    ctx.httpd.graceful()
    r = c.get("/ec256/index.html")
    assert r.status == 200 and r.authenticated and c.requests == 4, (r, c.requests)


def test_one_vfy_sent_on_many_connections_is_accepted_once(ctx):
    doubles = 0
    for _ in range(15):
        c = login(ctx)
        header = c.session.authorization(c.session.next_nc())
        statuses = []
        gate = threading.Barrier(6)

        def send():
            conn = m.Connection("127.0.0.1", ctx.httpd.port, persistent=False)
            try:
                gate.wait()
                statuses.append(conn.request("GET", "/ec256/index.html",
                                             [("Authorization", header)]).status)
            finally:
                conn.close()

        threads = [threading.Thread(target=send) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(statuses) == 6, statuses
        assert statuses.count(200) <= 1 and all(s in (200, 401) for s in statuses), statuses
        doubles += statuses.count(200) > 1
    assert doubles == 0


def kex_header(challenge):
    """A req-KEX-C1 value with a fresh K_c1."""
    alg = m.ALGORITHMS[challenge.algorithm]
    k_c1 = alg.client_kc1(alg.random_secret())
    return m.kex_c1_header(alg.name, challenge.validation, challenge.auth_scope, challenge.realm,
                           USER, alg.encode_element(k_c1))


def _outage_lines(text):
    """{pid: count} of the outage lines in error-log text."""
    counts = {}
    for line in text.splitlines():
        if OUTAGE in line:
            pid = re.search(r"\[pid (\d+)", line)
            counts[pid.group(1) if pid else "?"] = counts.get(pid.group(1) if pid else "?", 0) + 1
    return counts


@timeout(90)
@expect_log(OUTAGE)
def test_redis_down_503_then_back_within_15_seconds(ctx):
    h, redis = ctx.httpd, ctx.redis
    c = login(ctx)
    session = c.session
    _, challenge = h.client(USER, PASSWORD).initial("/ec256/index.html")   # no store needed
    offset = h.log_size()
    redis.stop()
    statuses, retry_after = [], set()
    started = time.time()
    for i in range(40):
        # session reuse (req-VFY-C) and new logins (req-KEX-C1), on fresh
        # connections so that both children see the outage
        conn = m.Connection("127.0.0.1", h.port, persistent=False)
        try:
            if i % 2 == 0:
                r = conn.request("GET", "/ec256/index.html",
                                 [("Authorization", session.authorization(session.next_nc()))])
            else:
                r = conn.request("GET", "/ec256/index.html", [("Authorization", kex_header(challenge))])
        finally:
            conn.close()
        statuses.append(r.status)
        if r.status == 503:
            retry_after.add(r.header("Retry-After"))
            assert r.header("WWW-Authenticate") is None and r.header("Authentication-Info") is None, r
    elapsed = time.time() - started
    assert 200 not in statuses, statuses
    assert statuses.count(503) >= 20, statuses
    assert retry_after and all(v and v.isdigit() and int(v) > 0 for v in retry_after), retry_after
    # refused connections: nobody waits for the timeout, let alone 40 of them
    assert elapsed < 40 * STORE_TIMEOUT_MS / 1000.0 / 4, \
        "requests waited too long while Redis was down: %.1f s" % elapsed
    text = h.log_from(offset, settle=0.3)
    per_process = _outage_lines(text)
    assert per_process and all(n == 1 for n in per_process.values()), per_process
    assert PASSWORD not in text and USER.encode().hex() not in text

    redis.start()   # same port, empty
    started = time.time()
    while True:
        try:
            again = h.client(USER, PASSWORD)
            r = again.get("/ec256/index.html")
            if r.status == 200 and r.authenticated:
                break
        except (m.AuthenticationFailed, m.ServerAuthenticationFailed, m.ProtocolError):
            pass
        assert time.time() - started < 15, "no login within 15 s after Redis came back"
        time.sleep(0.2)
    # no second outage line; a process that logged one says it is back at
    # its next request to the store (the login above may have been served
    # by another child: a few more logins on fresh connections reach it)
    deadline = time.time() + 10
    while True:
        text = h.log_from(offset, settle=0.3)
        if BACK in text or time.time() > deadline:
            break
        h.client(USER, PASSWORD).get("/ec256/index.html")
    per_process = _outage_lines(text)
    assert all(n == 1 for n in per_process.values()), per_process
    assert BACK in text, text[-3000:]
    # the old session went with the old Redis data
    r = c.verify("/ec256/index.html", session)
    assert_status(r, 401, "stale-session", "session from before the outage")


@timeout(120)
def test_cluster_of_three_masters(ctx):
    # The same module against a 3-master Redis Cluster (redis-cli --cluster
    # create): sessions spread over the masters by hash tag, MOVED followed.
    cluster = RedisCluster().start()
    h = Httpd("redis-cluster", conf=location("/ec256/", "cluster realm", [EC256]) +
              location("/dl2048/", "cluster dl realm", [DL2048]),
              server_conf=store_conf(cluster.url))
    try:
        write_store_key(h.path("conf", "store.key"))
        add_users(h, "cluster realm", {USER: PASSWORD}, [EC256])
        add_users(h, "cluster dl realm", {USER: PASSWORD}, [DL2048])
        h.write_file("ec256/index.html", "cluster\n")
        h.write_file("dl2048/index.html", "cluster\n")
        h.start()
        clients = []
        for i in range(24):
            path = "/ec256/" if i % 3 else "/dl2048/"
            c = h.client(USER, PASSWORD)
            r = c.get(path + "index.html")
            assert r.status == 200 and r.authenticated, r
            r = c.get(path + "index.html")
            assert r.status == 200 and r.authenticated, r
            clients.append((c, path))
        c, path = clients[0]
        s = c.session
        assert c.verify(path + "index.html", s, nc=9).status == 200
        assert_status(c.verify(path + "index.html", s, nc=9), 401, "stale-session", "replay")
        masters_used = sum(1 for n in cluster.nodes if any(":s:" in k for k in
                                                          n.cli("--scan", "--pattern", "mutual:*").splitlines()))
        assert masters_used >= 2, "sessions on %d master(s)" % masters_used
        problems = h.end_case()
        assert not problems, problems
    finally:
        h.cleanup()
        cluster.cleanup()


def _refused_start(conf, key_bytes=None):
    h = Httpd("redis-nokey", conf=location("/x/", "x realm", [EC256]), server_conf=conf)
    if key_bytes is not None:
        with open(h.path("conf", "store.key"), "wb") as f:
            f.write(key_bytes)
    try:
        h.start(wait=10)
    except RuntimeError as e:
        return str(e)
    finally:
        h.cleanup()
    raise AssertionError("apache2 started with %r" % conf)


def test_startup_refused_without_store_key(ctx):
    out = _refused_start(store_conf(ctx.redis.url, key=None))
    assert "MUT02100" in out and "AuthMutualSessionStoreKey" in out, out[-2000:]


def test_startup_refused_with_a_short_store_key(ctx):
    out = _refused_start(store_conf(ctx.redis.url), key_bytes=b"too short\n")
    assert "MUT02102" in out and "32 octets" in out, out[-2000:]


def test_startup_refused_with_a_bad_url(ctx):
    out = _refused_start(store_conf("redis://127.0.0.1:99999"))
    assert "AuthMutualSessionStore" in out and "bad port" in out, out[-2000:]

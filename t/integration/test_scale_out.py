"""Scale-out: two httpd nodes behind a round-robin balancer (issue #14).

cluster_fixture.Cluster starts two nodes (event MPM, several children,
Debian's `Mutex file:${APACHE_LOCK_DIR} default`, the built module,
`AuthMutualHost` = the balancer's origin) and a third apache2 as a
`balancer://` with `lbmethod=byrequests` and no stickiness in front.

1. With the default shm session store every login through the balancer fails:
   req-KEX-C1 and req-VFY-C land on different nodes and the req-VFY-C gets
   401-STALE (the bug the issue reports).
2. The nodes share one redis-server (AuthMutualSessionStore redis://...):
   logins and reuse through the balancer, replays across nodes, one (sid, nc)
   sent to both nodes at the same instant, Redis down and back, a graceful
   restart under load, a Redis Cluster, verifiers from SQLite through mod_dbd.

The cases of part 2 need directives of other branches of issue #14; each
skips, saying so, when the built module does not know its directive.
"""

import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import httpd_fixture
from cluster_fixture import Cluster
from httpd_fixture import (SCOPE, Servers, Skip, add_users, assert_status, expect_log,
                           location, mutual_client, require_module, require_tool, timeout)

EC256, EC521 = "iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512"
DL2048, DL4096 = "iso-kam3-dl-2048-sha256", "iso-kam3-dl-4096-sha512"
ALGORITHMS = [EC256, EC521, DL2048, DL4096]
REALM = "scale realm"
USERS = {"alice": "alice's secret", "bob": "bob-pw"}
LOAD_USERS = {"load%d" % i: "load password %d" % i for i in range(6)}
PAGE = "served by node {node}\n"
STALE_VFY = "MUT01114"  # req-VFY-C for a sid this node does not know (info)


@functools.lru_cache(maxsize=None)
def directive_known(directive_line):
    """Whether the built module accepts a server-config directive (apache2 -t
    on a minimal configuration); an unknown one is 'Invalid command'."""
    d = tempfile.mkdtemp(prefix="mutual-directive-")
    try:
        conf = os.path.join(d, "httpd.conf")
        with open(conf, "w") as f:
            f.write('ServerRoot "%s"\nLoadModule mpm_event_module %s/mod_mpm_event.so\n'
                    'LoadModule auth_mutual_module "%s"\n%s\n'
                    % (d, httpd_fixture.MODULE_DIR, httpd_fixture.module_path(),
                       directive_line))
        p = subprocess.run([httpd_fixture.httpd_binary(), "-t", "-f", conf],
                           capture_output=True, text=True, timeout=30)
        return "Invalid command" not in p.stdout + p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


SQL_REALM = "sql realm"
SQL_USERS = {"carol": "carol's SQL password", "dave": "dave-sql"}
# verifiers from SQLite through mod_dbd (helper B's AuthMutualProvider dbd);
# the table holds what `htmutual -n` prints after "user:"
DBD_SERVER_CONF = """
DBDriver sqlite3
DBDParams "{root}/conf/verifiers.sqlite"
"""
SQL_QUERY = "SELECT record FROM mutual_verifiers WHERE username = %s"


def node_conf(user_file, extra=""):
    # the same AuthMutualUserFile path on every node: the path is part of a
    # session's protection space (docs/several-nodes.md)
    return location("/p/", REALM, ALGORITHMS, user_file=user_file,
                    extra="AuthMutualHost {balancer}\n" + extra) + "\n"


def sql_conf():
    return ('<Location "/sql/">\n    AuthType Mutual\n    AuthName "%s"\n'
            '    AuthMutualScope "%s"\n    AuthMutualHost {balancer}\n'
            "    AuthMutualAlgorithms %s %s\n    AuthMutualProvider dbd\n"
            '    AuthMutualDBDUserQuery "%s"\n    Require valid-user\n</Location>\n'
            % (SQL_REALM, SCOPE, EC256, DL2048, SQL_QUERY))


def with_sql():
    return directive_known('AuthMutualDBDUserQuery "SELECT 1 WHERE 1 = %s"')


def temp_dir(ctx, prefix):
    """A directory removed at teardown, readable by httpd's children."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    ctx.temp_dirs.append(d)
    return d


def make_cluster(ctx, name, node_server_conf="", **kw):
    """A cluster whose nodes protect /p/ with one users file made by
    htmutual at the same path for every node (as /etc/apache2/mutual-users
    copied to each node) and, when the module has AuthMutualProvider dbd,
    /sql/ from one SQLite file per node (copies of one file)."""
    sql = with_sql()
    users = os.path.join(temp_dir(ctx, "mutual-%s-verifiers-" % name), "users")
    c = Cluster(name, node_conf=node_conf(users) + (sql_conf() if sql else ""),
                node_server_conf=node_server_conf + (DBD_SERVER_CONF if sql else ""),
                node_modules=["dbd"] if sql else [], **kw)
    first = c.nodes[0]
    add_users(first, REALM, dict(USERS, **LOAD_USERS), ALGORITHMS, user_file=users)
    if sql:
        make_sqlite(first.path("conf", "verifiers.sqlite"))
        for n in c.nodes[1:]:
            shutil.copy(first.path("conf", "verifiers.sqlite"), n.path("conf", "verifiers.sqlite"))
    for n in c.nodes:
        n.write_file("p/index.html", PAGE.format(node=n.number))
        n.write_file("sql/index.html", PAGE.format(node=n.number))
        n.write_file("free/index.html", PAGE.format(node=n.number))
    return c


def make_sqlite(path):
    """The verifier table, filled from `htmutual -n` output as an
    administrator would (docs/several-nodes.md, SQL verifiers)."""
    import sqlite3
    require_tool("htmutual")
    db = sqlite3.connect(path)
    # docs/verifiers-sql.md's SQLite schema
    db.execute("CREATE TABLE mutual_verifiers (username TEXT NOT NULL, record TEXT NOT NULL, "
               "PRIMARY KEY (username, record))")
    for user, password in SQL_USERS.items():
        for alg in (EC256, DL2048):
            p = subprocess.run([httpd_fixture.tool_path("htmutual"), "-n", "-b", "-s", SCOPE,
                                "-a", alg, SQL_REALM, user, password],
                               capture_output=True, text=True, timeout=60, check=True)
            name, _, record = p.stdout.strip().partition(":")
            assert name == user and record.startswith("1;"), p.stdout
            db.execute("INSERT INTO mutual_verifiers (username, record) VALUES (?, ?)",
                       (name, record))
    db.commit()
    db.close()


class Context(Servers):
    """What the runner sees: the clusters (and store servers) started so far,
    each scanned after every case and stopped at the end."""

    def __init__(self):
        super().__init__()
        self.shm = None
        self.temp_dirs = []  # shared verifier files, store keys
        self.stores = []     # redis_servers' servers and clusters


def setup_module():
    require_module()
    require_tool("htmutual")
    ctx = Context()
    try:
        cl = make_cluster(ctx, "scale-shm")
        ctx.append(cl)
        ctx.shm = cl.start()
    except BaseException:
        ctx.cleanup()
        raise
    return ctx


def teardown_module(ctx):
    try:
        ctx.cleanup()
    finally:
        for store in ctx.stores:
            store.cleanup()
        for d in ctx.temp_dirs:
            shutil.rmtree(d, ignore_errors=True)


def protected(served):
    """served_by() without the fixture's /alive.txt polls."""
    return {n: [e for e in entries if " /alive.txt " not in e[0]]
            for n, entries in served.items()}


def node_of(response):
    """The node number a /p/index.html body names."""
    body = response.body.decode("latin-1")
    assert body.startswith("served by node "), response
    return int(body.split()[-1])


# ---------------------------------------------------------------------------
# 1. the bug: the default shm store behind a round-robin balancer


def test_balancer_alternates_between_the_nodes(ctx):
    # the fixture itself: round robin, no stickiness, on one kept-alive
    # client connection too
    conn = mutualref_connection(ctx.shm.balancer)
    try:
        seen = [node_of(conn.request("GET", "/free/index.html")) for _ in range(10)]
    finally:
        conn.close()
    assert all(a != b for a, b in zip(seen, seen[1:])), seen
    assert set(seen) == {0, 1}, seen
    # every node has its own ServerRoot, port and Debian Mutex line
    roots = {n.root for n in ctx.shm.nodes} | {ctx.shm.balancer.root}
    ports = {n.port for n in ctx.shm.nodes} | {ctx.shm.balancer.port}
    assert len(roots) == 3 and len(ports) == 3, (roots, ports)
    for n in ctx.shm.nodes:
        with open(n.conf_path) as f:
            assert "Mutex file:${APACHE_LOCK_DIR} default" in f.read()


def test_shm_store_login_through_balancer_fails_with_401_stale(ctx):
    cl = ctx.shm
    marks = cl.access_offsets()
    c = cl.client("alice", USERS["alice"], algorithms=[EC256])
    resp, challenge = c.initial("/p/index.html")
    assert_status(resp, 401, None, "normal request")
    assert challenge is not None, resp
    for attempt in range(3):
        _, session = c.key_exchange("/p/index.html", challenge)
        r = c.verify("/p/index.html", session)
        # req-KEX-C1 and req-VFY-C are consecutive requests: round robin
        # sends them to different nodes, which share no session
        assert_status(r, 401, "stale-session", "req-VFY-C attempt %d" % attempt)
        challenge = c.choose([x.check() for x in r.challenges])
    # 7 requests alternate between the nodes (4 on one, 3 on the other); every
    # req-VFY-C named a sid its node never made
    served = protected(cl.served_by(marks))
    assert sorted(len(e) for e in served.values()) == [3, 4], served
    unknown = sum(n.count_log(STALE_VFY) for n in cl.nodes)
    assert unknown == 3, "%d unknown-sid lines for 3 req-VFY-C" % unknown


def test_shm_store_mutual_client_through_balancer_gives_up(ctx):
    require_tool("mutual-client")
    p = mutual_client(ctx.shm.url("/p/index.html"), "alice", USERS["alice"], EC256)
    assert p.returncode != 0, "exit 0 through a balancer without a shared store\n%s%s" % (
        p.stdout, p.stderr)
    assert "served by node" not in p.stdout, p.stdout
    assert "stale" in p.stderr.lower(), p.stderr


def test_shm_store_each_node_alone_works(ctx):
    # the same nodes work when a client talks to one of them directly
    for i, n in enumerate(ctx.shm.nodes):
        c = ctx.shm.node_client(i, "alice", USERS["alice"], algorithms=[EC256])
        r = c.get("/p/index.html")
        assert r.status == 200 and r.authenticated, r
        assert node_of(r) == i, r


@expect_log("MUT01122")  # a fake session (user not in the table) reached req-VFY-C
def test_sqlite_verifiers_at_each_node_directly(ctx):
    require_directive(DBD_DIRECTIVE, 'AuthMutualDBDUserQuery "SELECT 1 WHERE 1 = %s"',
                      "issue-14s")
    for i in (0, 1):
        for user, alg in (("carol", EC256), ("dave", DL2048)):
            c = ctx.shm.node_client(i, user, SQL_USERS[user], algorithms=[alg])
            r = c.get("/sql/index.html")
            assert r.status == 200 and r.authenticated and node_of(r) == i, r
    # not in the table: a fake session, 401-INIT at req-VFY-C
    c = ctx.shm.node_client(0, "alice", USERS["alice"], algorithms=[EC256])
    resp, challenge = c.initial("/sql/index.html")
    _, s = c.key_exchange("/sql/index.html", challenge)
    assert_status(c.verify("/sql/index.html", s), 401, "auth-failed", "unknown SQL user")


# ---------------------------------------------------------------------------
# 2. the nodes share Redis


STORE_DIRECTIVE = "AuthMutualSessionStore"
DBD_DIRECTIVE = "AuthMutualDBDUserQuery"


def require_directive(directive, line, branch):
    if not directive_known(line):
        raise Skip("the built module does not know %s (issue #14, branch %s not merged "
                   "or not built)" % (directive, branch))


def store_conf(url, key_file, timeout_ms=1000):
    return ('AuthMutualSessionStore "%s"\nAuthMutualSessionStoreKey "%s"\n'
            "AuthMutualSessionStoreTimeout %d\n" % (url, key_file, timeout_ms))


def redis_fixture():
    try:
        import redis_servers
    except ImportError as e:
        raise Skip("t/integration/redis_servers.py is missing (%s)" % e)
    return redis_servers


def make_store_key(ctx):
    """The shared store key, made as docs/several-nodes.md says: 64 hex
    digits from openssl, root only (the parent reads it before dropping
    privileges). Not `openssl rand -out FILE 32`: a binary key whose last
    octet is a line feed or carriage return is shortened by the module's
    reader and refused at startup (2 in 256 keys; see the guide)."""
    d = temp_dir(ctx, "mutual-store-key-")
    path = os.path.join(d, "mutual-store.key")
    subprocess.run(["sh", "-c", "umask 077 && openssl rand -hex 32 > \"$1\"", "sh", path],
                   check=True, timeout=30)
    assert os.path.getsize(path) == 65 and os.stat(path).st_mode & 0o077 == 0
    return path


REDIS_USER, REDIS_PASSWORD, REDIS_DB = "mutual", "redis-password-1", 2
# docs/several-nodes.md's line of redis.conf, less "user default off" (the
# fixture's redis-cli is the default user)
REDIS_ACL = ("user %s on >%s ~mutual:* +@read +@write +@scripting +ping +select +asking"
             % (REDIS_USER, REDIS_PASSWORD))


def start_redis(server):
    """Start (or restart) the redis-server and give it the guide's ACL user
    (docs/several-nodes.md, Redis), whom the nodes' URL names
    (redis://user:password@host:port/db). Without persistence a restarted
    Redis has forgotten its users, as its sessions."""
    server.start()
    assert server.cli("ACL", "SETUSER", *REDIS_ACL.split()[1:]) == "OK"


def redis_cluster(ctx):
    """The two nodes on one redis-server (started on first use)."""
    if getattr(ctx, "redis", None) is None:
        require_directive(STORE_DIRECTIVE, "AuthMutualSessionStore shm", "issue-14r")
        redis_servers = redis_fixture()
        ctx.redis_server = redis_servers.RedisServer()
        ctx.stores.append(ctx.redis_server)
        start_redis(ctx.redis_server)
        url = "redis://%s:%s@127.0.0.1:%d/%d" % (REDIS_USER, REDIS_PASSWORD,
                                                 ctx.redis_server.port, REDIS_DB)
        key = make_store_key(ctx)
        cl = make_cluster(ctx, "scale-redis", node_server_conf=store_conf(url, key))
        ctx.append(cl)
        ctx.redis = cl.start()
    return ctx.redis


def redis_cluster_store(ctx):
    """(cluster, masters): the two nodes on a 3-master Redis Cluster
    (started on first use)."""
    if getattr(ctx, "rcluster", None) is None:
        require_directive(STORE_DIRECTIVE, "AuthMutualSessionStore shm", "issue-14r")
        redis_servers = redis_fixture()
        masters = redis_servers.RedisCluster()
        ctx.stores.append(masters)
        masters.start()
        key = make_store_key(ctx)
        cl = make_cluster(ctx, "scale-rcluster", node_server_conf=store_conf(masters.url, key))
        ctx.append(cl)
        ctx.rcluster = (cl.start(), masters)
    return ctx.rcluster


def login_through(cl, user, algorithm, reuses=5, path="/p/index.html", password=None):
    """A mutualref login through the balancer plus `reuses` reuse requests;
    returns (client, nodes that answered 200)."""
    password = password or USERS.get(user) or LOAD_USERS[user]
    c = cl.client(user, password, algorithms=[algorithm])
    nodes = set()
    for i in range(1 + reuses):
        r = c.get(path)
        assert r.status == 200 and r.authenticated, "%s request %d: %r" % (algorithm, i, r)
        nodes.add(node_of(r))
    return c, nodes


def test_redis_logins_and_reuse_through_balancer_all_algorithms(ctx):
    cl = redis_cluster(ctx)
    for alg in ALGORITHMS:
        c, nodes = login_through(cl, "alice", alg, reuses=5)
        # one login (INIT, KEX, VFY) then one request per reuse: no re-keying
        assert c.requests == 3 + 5, "%s: %d requests" % (alg, c.requests)
        assert nodes == {0, 1}, "%s: 200s only from nodes %s" % (alg, nodes)
    # the sessions are in the URL's database, under the module's prefix,
    # written as the ACL user
    keys = ctx.redis_server.cli("-n", str(REDIS_DB), "--scan", "--pattern", "*").split()
    assert keys and all(k.startswith("mutual:") for k in keys), keys
    assert ctx.redis_server.cli("-n", "0", "DBSIZE") == "0"
    # what a session costs Redis (docs/several-nodes.md, Sizing): the four
    # algorithms' sessions of alice, and the shards' pending sets
    sizes = sorted(int(ctx.redis_server.cli("-n", str(REDIS_DB), "MEMORY", "USAGE", k, "SAMPLES", "0"))
                   for k in keys if ":s:" in k)
    sealed = sorted(int(ctx.redis_server.cli("-n", str(REDIS_DB), "HSTRLEN", k, "b"))
                    for k in keys if ":s:" in k)
    print("    Redis memory per session key: %s bytes (sealed records %s)" % (sizes, sealed))
    assert len(sizes) == 4 and sizes[0] < 2048 and sizes[-1] < 8192, sizes


def test_redis_mutual_client_through_balancer_all_algorithms(ctx):
    require_tool("mutual-client")
    cl = redis_cluster(ctx)
    url = cl.url("/p/index.html")
    for alg in ALGORITHMS:
        p = mutual_client(url, "bob", USERS["bob"], alg, args=[url, url, url])
        assert p.returncode == 0, "%s: exit %d\n%s%s" % (alg, p.returncode, p.stdout, p.stderr)
        # one key exchange, four verifications, bodies from both nodes
        assert p.stderr.count("[req-KEX-C1]") == 1, p.stderr
        assert p.stderr.count("[req-VFY-C]") == 4, p.stderr
        assert "served by node 0" in p.stdout and "served by node 1" in p.stdout, p.stdout


def test_redis_replays_refused_across_nodes(ctx):
    cl = redis_cluster(ctx)
    c, _ = login_through(cl, "alice", EC256, reuses=0)
    s = c.session
    direct = [cl.node_client(i, "alice", USERS["alice"]) for i in (0, 1)]
    r = direct[0].verify("/p/index.html", s, nc=5)
    assert r.status == 200 and r.authenticated and node_of(r) == 0, r
    # the same nc at the other node is a replay
    assert_status(direct[1].verify("/p/index.html", s, nc=5), 401, "stale-session",
                  "nc=5 replayed at node 1")
    # and the replay ended the session at both nodes (RFC 8120 §11: inactive)
    for i in (0, 1):
        assert_status(direct[i].verify("/p/index.html", s, nc=20 + i), 401, "stale-session",
                      "fresh nc after the replay, node %d" % i)
    # through the balancer: the same req-VFY-C twice in a row reaches both
    # nodes (round robin); the second is refused
    c, _ = login_through(cl, "bob", DL2048, reuses=0)
    s = c.session
    nc = s.next_nc()
    marks = cl.access_offsets()
    first = c.request("/p/index.html", [("Authorization", s.authorization(nc))])
    second = c.request("/p/index.html", [("Authorization", s.authorization(nc))])
    assert first.status == 200 and c.check_vks(first, s, nc).authenticated, first
    assert_status(second, 401, "stale-session", "replay through the balancer")
    served = protected(cl.served_by(marks))
    assert sorted(len(e) for e in served.values()) == [1, 1], served


@timeout(300)
def test_redis_same_vfy_at_both_nodes_never_two_200s(ctx):
    cl = redis_cluster(ctx)
    rounds = 300
    conns = [mutualref_connection(n) for n in cl.nodes]
    kex = cl.node_client(0, "alice", USERS["alice"], algorithms=[EC256])
    _, challenge = kex.initial("/p/index.html")
    barrier = threading.Barrier(2)
    outcome = [None, None]

    def send(i, data):
        try:
            barrier.wait(10)
            outcome[i] = conns[i].send_raw(data).status
        except Exception as e:  # noqa: BLE001 -- reported by the round
            outcome[i] = repr(e)

    tally = {}
    for rnd in range(rounds):
        # a new session for every round (the loser's replay ends it), made
        # at alternating nodes
        maker = cl.node_client(rnd % 2, "alice", USERS["alice"], algorithms=[EC256])
        _, s = maker.key_exchange("/p/index.html", challenge)
        maker.close()
        nc = s.next_nc()
        data = ("GET /p/index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n\r\n"
                % s.authorization(nc)).encode("latin-1")
        ts = [threading.Thread(target=send, args=(i, data)) for i in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        key = tuple(outcome)
        tally[key] = tally.get(key, 0) + 1
        assert key.count(200) == 1, "round %d: node answers %s (tally %s)" % (rnd, key, tally)
    for conn in conns:
        conn.close()
    print("    %d rounds: %s" % (rounds, tally))
    # both nodes won some rounds: the requests really raced
    assert tally.get((200, 401), 0) and tally.get((401, 200), 0), tally


def mutualref_connection(h):
    return httpd_fixture.mutualref.Connection("127.0.0.1", h.port, None, persistent=True)


# the Redis store's log lines: the outage (error, once per outage and
# process) and the return (notice)
STORE_DOWN = "MUT02010"
STORE_BACK = "MUT02011"
STORE_TIMEOUT_MS = 1000


def error_lines_by_pid(text, tag):
    """{pid: number of error-level lines carrying tag} in an error-log text."""
    out = {}
    for line in text.splitlines():
        m = httpd_fixture.LOG_LINE.match(line)
        pid = re.search(r"\[pid (\d+)", line)
        if m and m.group("level") in httpd_fixture.FAIL_LEVELS and tag in line and pid:
            out[int(pid.group(1))] = out.get(int(pid.group(1)), 0) + 1
    return out


def vfy(c, s, path="/p/index.html"):
    nc = s.next_nc()
    t = time.time()
    r = c.request(path, [("Authorization", s.authorization(nc))])
    return r, time.time() - t


@timeout(300)
@expect_log(STORE_DOWN)
def test_redis_down_503_then_logins_within_15s_of_its_return(ctx):
    cl = redis_cluster(ctx)
    server = ctx.redis_server
    clients = [login_through(cl, u, EC256, reuses=1)[0] for u in list(LOAD_USERS)[:4]]
    marks = [n.log_size() for n in cl.nodes]
    # background load through the balancer all along: logins and reuse
    stop_load = threading.Event()
    records = []  # (sent, answered, status)

    def background(user):
        c = cl.client(user, LOAD_USERS[user], algorithms=[EC256])
        while not stop_load.is_set():
            t = time.time()
            try:
                r = c.get("/p/index.html")
                records.append((t, time.time(), r.status))
            except httpd_fixture.mutualref.MutualError as e:  # a 503 at some step
                status = getattr(getattr(e, "response", None), "status", None)
                m = re.match(r"HTTP (\d+) ", str(e))  # ServerAuthenticationFailed
                records.append((t, time.time(), status or (int(m.group(1)) if m else str(e))))
                c = cl.client(user, LOAD_USERS[user], algorithms=[EC256])
            except OSError as e:  # reported by the assertions below
                records.append((t, time.time(), "%s: %s" % (type(e).__name__, e)))
                c = cl.client(user, LOAD_USERS[user], algorithms=[EC256])
            time.sleep(0.01)

    load = [threading.Thread(target=background, args=(u,)) for u in list(LOAD_USERS)[4:]]
    for t in load:
        t.start()
    try:
        time.sleep(1)
        server.stop()
        down_at = time.time()
        statuses, slowest = {}, 0.0
        end = time.time() + 5
        while time.time() < end:
            for c in clients:
                # a reuse request: never accepted without its check in Redis
                r, took = vfy(c, c.session)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                slowest = max(slowest, took)
                assert r.status == 503, "reuse while Redis is down: %r" % r
                assert re.fullmatch(r"\d+", r.header("Retry-After") or ""), r.headers
            # a new login: the key exchange cannot create its session
            fresh = cl.client("alice", USERS["alice"], algorithms=[EC256])
            resp, challenge = fresh.initial("/p/index.html")
            assert_status(resp, 401, None, "normal request while Redis is down")
            t = time.time()
            r = fresh.request("/p/index.html", [("Authorization", mutualref_kex_header(fresh, challenge))])
            slowest = max(slowest, time.time() - t)
            assert r.status == 503 and r.header("Retry-After"), "req-KEX-C1 while down: %r" % r
        # requests never waited much longer than the store's timeout
        assert slowest < STORE_TIMEOUT_MS / 1000.0 + 2, "a request took %.1f s" % slowest
        # one error line per outage and process, not one per request
        for n, mark in zip(cl.nodes, marks):
            per_pid = error_lines_by_pid(n.log_from(mark), STORE_DOWN)
            assert per_pid, "node %d logged no outage" % n.number
            assert max(per_pid.values()) == 1, "node %d: %s" % (n.number, per_pid)
        print("    while down: %s, slowest %.2f s" % (statuses, slowest))

        start_redis(server)
        t0 = time.time()
        deadline = t0 + 15
        # while Redis was down, the background load got no 200 (nor any other
        # acceptance): 503s, or 401s that need no store (401-INIT)
        during = [r for r in records if r[0] > down_at and r[1] < t0]
        assert during, "no background request while Redis was down"
        assert not [r for r in during if r[2] == 200], [r for r in during if r[2] == 200][:5]
        assert {r[2] for r in during} <= {503, 401}, {r[2] for r in during}

        def retried(what, fn, until=deadline):
            # each httpd process retries Redis after its own back-off (at most
            # 2 s) and answers 503 until then: a client retries after Retry-After
            while True:
                try:
                    return fn()
                except (AssertionError, httpd_fixture.mutualref.MutualError) as e:
                    assert time.time() < until, "%s: not back %.0f s after Redis's return: %s" % (
                        what, until - t0, e)
                    time.sleep(0.2)

        retried("a login through the balancer", lambda: login_through(cl, "alice", EC256, reuses=1))
        first = time.time() - t0

        def reuse_or_rekey(c):
            # the restarted Redis lost the sessions: 401-STALE, then a new login
            r = c.get("/p/index.html")
            assert r.status == 200 and r.authenticated, r

        for c in clients:
            retried("client %s" % c.user, lambda: reuse_or_rekey(c))
        everything = time.time() - t0
        # every algorithm again (the Python DL-4096 client alone may take
        # seconds on a busy machine: not part of the 15 s)
        for alg in ALGORITHMS:
            retried("a login with %s" % alg, lambda: login_through(cl, "bob", alg, reuses=2),
                    until=time.time() + 60)
        # background load past the last back-off (see `settled` below)
        time.sleep(max(1.0, t0 + 2 + STORE_TIMEOUT_MS / 1000.0 + 1.5 - time.time()))
    finally:  # a failure above must not leave load running or Redis stopped
        stop_load.set()
        for t in load:
            t.join(30)
        if server.proc is None:
            start_redis(server)
    # A process still in its back-off when Redis returned (at most 2 s after a
    # failed probe, which may itself take the store's timeout) answers 503
    # until that back-off ends: the background load counts from then on.
    settled = t0 + max(everything, 2 + STORE_TIMEOUT_MS / 1000.0 + 0.5)
    after = [r for r in records if r[0] > settled]
    print("    after Redis came back: first login %.2f s, all four earlier clients %.2f s; "
          "background load: %d requests while down (all refused), %d after recovery"
          % (first, everything, len(during), len(after)))
    assert everything < 15
    assert after and all(r[2] == 200 for r in after), [r for r in after if r[2] != 200][:5]
    # and each node said so (notice level), once per process that had lost it
    for n, mark in zip(cl.nodes, marks):
        text = n.log_from(mark)
        assert STORE_BACK in text, "node %d logged no return of the store" % n.number
        for pid, lost in error_lines_by_pid(text, STORE_DOWN).items():
            back = len(re.findall(r"\[pid %d:[^\]]*\] %s" % (pid, STORE_BACK), text))
            assert back <= lost, "node %d pid %d: %d returns for %d outages" % (
                n.number, pid, back, lost)


def mutualref_kex_header(c, challenge):
    alg = httpd_fixture.mutualref.ALGORITHMS[challenge.algorithm]
    return httpd_fixture.mutualref.kex_c1_header(
        alg.name, challenge.validation, challenge.auth_scope, challenge.realm, c.user,
        alg.encode_element(alg.client_kc1(alg.random_secret())))


@timeout(300)
def test_redis_graceful_restart_of_one_node_under_load_no_failed_login(ctx):
    cl = redis_cluster(ctx)
    node = cl.nodes[0]
    errors, done = [], []
    stop = threading.Event()
    start = threading.Barrier(len(LOAD_USERS) + 1)

    def worker(user):
        logins = requests = 0
        try:
            start.wait(30)
            while not stop.is_set():
                c = cl.client(user, LOAD_USERS[user], algorithms=[EC256])
                logins += 1
                for _ in range(4):  # a login and three reuses, again and again
                    r = c.get("/p/index.html")
                    requests += 1
                    if not (r.status == 200 and r.authenticated):
                        errors.append("%s: %r" % (user, r))
                # nothing was re-keyed: 3 + 3 requests
                if c.requests != 6:
                    errors.append("%s needed %d requests for a login and 3 reuses"
                                  % (user, c.requests))
                c.close()
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append("%s: %s: %s" % (user, type(e).__name__, e))
        done.append((logins, requests))

    ts = [threading.Thread(target=worker, args=(u,)) for u in LOAD_USERS]
    for t in ts:
        t.start()
    start.wait(30)
    generations = node.count_log(r"resuming normal operations")
    time.sleep(1.5)
    p = subprocess.run([httpd_fixture.httpd_binary(), "-d", node.root, "-f", node.conf_path,
                        "-k", "graceful"], capture_output=True, text=True, timeout=30,
                       env=httpd_fixture.httpd_environment())
    assert p.returncode == 0, p.stdout + p.stderr
    deadline = time.time() + 30
    while node.count_log(r"resuming normal operations") == generations:
        assert time.time() < deadline, "node 0 did not restart"
        time.sleep(0.1)
    time.sleep(2)
    stop.set()
    for t in ts:
        t.join(60)
    assert not any(t.is_alive() for t in ts), "client threads hung"
    assert not errors, "\n".join(errors[:20])
    logins = sum(d[0] for d in done)
    print("    %d logins, %d requests around the graceful restart" % (
        logins, sum(d[1] for d in done)))
    assert logins >= len(LOAD_USERS) * 2, done


def test_redis_sqlite_verifiers_through_balancer(ctx):
    require_directive(DBD_DIRECTIVE, 'AuthMutualDBDUserQuery "SELECT 1 WHERE 1 = %s"',
                      "issue-14s")
    cl = redis_cluster(ctx)
    for user, alg in (("carol", EC256), ("dave", DL2048)):
        c, nodes = login_through(cl, user, alg, reuses=3, path="/sql/index.html",
                                 password=SQL_USERS[user])
        assert c.requests == 3 + 3 and nodes == {0, 1}, (user, c.requests, nodes)
    p = mutual_client(cl.url("/sql/index.html"), "carol", SQL_USERS["carol"], EC256,
                      args=[cl.url("/sql/index.html")])
    assert p.returncode == 0, "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    assert "served by node 0" in p.stdout and "served by node 1" in p.stdout, p.stdout


def test_redis_flush_logs_everybody_out(ctx):
    # docs/several-nodes.md, Operations: the flush command, as the ACL user
    cl = redis_cluster(ctx)
    c, _ = login_through(cl, "alice", EC256, reuses=1)
    r = ctx.redis_server
    flush = ("redis-cli -h 127.0.0.1 -p {port} --user {user} -n {db} --scan --pattern 'mutual:*' |"
             " xargs -r redis-cli -h 127.0.0.1 -p {port} --user {user} -n {db} del").format(
                 port=r.port, user=REDIS_USER, db=REDIS_DB)
    p = subprocess.run(["sh", "-c", flush], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, REDISCLI_AUTH=REDIS_PASSWORD))
    assert p.returncode == 0, p.stdout + p.stderr
    assert r.cli("-n", str(REDIS_DB), "DBSIZE") == "0"
    s = c.session
    assert_status(c.verify("/p/index.html", s), 401, "stale-session", "session after the flush")
    # and a new login works at once
    login_through(cl, "alice", EC256, reuses=1)


@timeout(300)
def test_redis_cluster_logins_through_balancer(ctx):
    cl, masters = redis_cluster_store(ctx)
    users = dict(USERS, **LOAD_USERS)
    for i, user in enumerate(users):
        alg = ALGORITHMS[i % 2]  # the EC ones: many logins, quickly
        c, nodes = login_through(cl, user, alg, reuses=3)
        assert c.requests == 6 and nodes == {0, 1}, (user, c.requests, nodes)
    # the sessions are spread over the masters' slots: redirections followed
    counts = [int(n.cli("DBSIZE")) for n in masters.nodes]
    print("    session keys per master: %s" % counts)
    assert sum(1 for n in counts if n) >= 2, counts
    # replays are refused across nodes in the cluster too
    c, _ = login_through(cl, "alice", EC256, reuses=0)
    s = c.session
    direct = [cl.node_client(i, "alice", USERS["alice"]) for i in (0, 1)]
    assert direct[0].verify("/p/index.html", s, nc=7).status == 200
    assert_status(direct[1].verify("/p/index.html", s, nc=7), 401, "stale-session",
                  "replay at the other node, Redis Cluster")

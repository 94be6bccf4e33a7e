"""Restarts and processes.

Two servers: the event MPM (threads) and prefork with MaxConnectionsPerChild 1
(every connection in a fresh process, so every step of an exchange crosses
processes and the nonce state lives only in shared memory).

* Graceful restarts under concurrent load (both MPMs): client threads keep
  requesting while the server is restarted gracefully several times. The
  session table (shared memory, mutexes, hash key) survives a graceful
  restart with unchanged geometry, so every request ends in a verified 200
  with the right body and no client sees a 401-STALE; the test never
  retries. test_key_exchange_straddling_a_graceful_restart checks the case a
  conforming client could not hide (RFC 8120 §10 step 10): a key exchange
  answered by the old generation and verified by the new one. Were the table
  recreated, the load test would count such sequences instead of failing.
* Replays under concurrency (both MPMs): an attacker thread replays every
  Authorization header right after the legitimate request carrying it was
  accepted. Every replay is refused with 401-STALE, every legitimate request
  is accepted (a replay ends the session, RFC 8120 §6, and the client
  re-keys transparently).
* Racing copies (both MPMs): three identical req-VFY-C messages released
  at once on three connections (three processes under prefork): exactly one
  is accepted, the others get 401-STALE.
"""

import threading
import time

import mutualref as m
from httpd_fixture import (Httpd, Servers, add_users, location, mutual_client,
                           require_module, require_tool, timeout)

EC256, DL2048 = "iso-kam3-ec-p256-sha256", "iso-kam3-dl-2048-sha256"
REALM = "process realm"
USERS = {"user%d" % i: "password %d" % i for i in range(8)}
PATH = "/p/index.html"
BODY = b"process content\n"


class ProtocolClient(m.Client):
    """mutualref.Client (RFC 8120 §10: a 401-STALE to a reused session starts
    a new key exchange; a 401-STALE to the req-VFY-C that follows a key
    exchange ends the sequence, since req-KEX-C1 "SHOULD NOT be sent more
    than once in the sequence" and step 10 accepts only 401-INIT and
    200-VFY-S), counting the 401-STALE answers it saw."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.stales = 0

    def request(self, path, headers=(), method="GET", body=b""):
        resp = super().request(path, headers, method, body)
        if resp.status == 401 and resp.mutual_reason == "stale-session":
            self.stales += 1
        return resp


def step10_stale(error):
    """The one way a restart can end a sequence: the key exchange was answered
    by the old generation and the req-VFY-C right after it by the new one."""
    if isinstance(error, m.AuthenticationFailed):
        return error.reason == "stale-session" and error.stage == "vfy"
    return error.returncode == 5 and "asked for a second key exchange" in error.stderr


def keyed_session_survives_graceful_restart(h):
    """KEX before a graceful restart, its req-VFY-C after it (on a new
    connection, so that a process of the new generation answers): verified?"""
    c = client(h, "user0", persistent=False)
    _, challenge = c.initial(PATH)
    _, s = c.key_exchange(PATH, challenge)
    h.graceful()
    r = c.verify(PATH, s)
    assert r.status == 200 or (r.status == 401 and r.mutual_reason == "stale-session"), r
    return r.status == 200


def setup_module():
    require_module()
    require_tool("htmutual")
    servers = Servers()
    for mpm in ("event", "prefork"):
        h = Httpd("processes-" + mpm, conf=location("/p/", REALM, [EC256, DL2048]), mpm=mpm)
        add_users(h, REALM, USERS, [EC256, DL2048])
        h.write_file("p/index.html", BODY.decode())
        servers.append(h)
    for h in servers:
        h.start()
    return servers


def teardown_module(servers):
    servers.cleanup()


def client(h, user, alg=EC256, persistent=True):
    return ProtocolClient(h.base, user, USERS[user], algorithms=[alg], persistent=persistent)


def accepted(r):
    return r.status == 200 and r.authenticated and r.body == BODY


# ---- graceful restart under load ---------------------------------------------------


def wait_for_first_generation(h):
    # the parent logs "resuming normal operations" after forking the first
    # children, so right after start-up the line may still be missing
    deadline = time.time() + 10
    while h.count_log(r"resuming normal operations") < 1 and time.time() < deadline:
        time.sleep(0.05)


def _graceful_under_load(h, restarts=3, threads=6, persistent=True, min_requests=60, interval=1.0):
    wait_for_first_generation(h)
    # Sessions do not survive a restart (docs/session-table.md). Then a
    # sequence whose KEX and VFY straddle the restart ends with a 401-STALE at
    # RFC 8120 §10 step 10, which no conforming client can hide: while that
    # holds (test_key_exchange_straddling_a_graceful_restart fails), such
    # endings are counted and reported here instead of failing this test.
    tolerate_step10 = not keyed_session_survives_graceful_restart(h)
    generations = h.count_log(r"resuming normal operations")
    stop = threading.Event()
    errors, clients = [], []
    runs = {"mutual-client": 0, "requests": 0, "step10": 0}
    lock = threading.Lock()

    def straddled(error, what):
        if tolerate_step10 and step10_stale(error):
            with lock:
                runs["step10"] += 1
        else:
            errors.append(what)

    def worker(user, alg):
        c = client(h, user, alg, persistent)
        with lock:
            clients.append(c)
        n = 0
        while not stop.is_set():
            try:
                r = c.get(PATH)
                n += 1
                if not accepted(r):
                    errors.append("%s request %d: %r" % (user, n, r))
            except Exception as e:  # noqa: BLE001 -- reported below
                straddled(e, "%s request %d: %s: %s" % (user, n, type(e).__name__, e))
                c.session = c.challenge = None
        with lock:
            runs["requests"] += n

    def cli_worker(user):
        while not stop.is_set():
            p = mutual_client(h.url(PATH), user, USERS[user], args=[h.url(PATH)] * 3)
            with lock:
                runs["mutual-client"] += 1
            if p.returncode != 0 or p.stdout.encode() != BODY * 4:
                straddled(p, "mutual-client %s: exit %d %s" % (user, p.returncode, p.stderr[-3000:]))

    users = list(USERS)
    ts = [threading.Thread(target=worker, args=(users[i], (EC256, DL2048)[i % 2])) for i in range(threads)]
    ts.append(threading.Thread(target=cli_worker, args=(users[-1],)))
    for t in ts:
        t.start()
    try:
        for _ in range(restarts):
            time.sleep(interval)
            h.graceful()
        time.sleep(interval)
    finally:
        stop.set()
        for t in ts:
            t.join(120)
    assert not any(t.is_alive() for t in ts), "client threads hung"
    assert not errors, "\n".join(errors[:10])
    assert h.count_log(r"resuming normal operations") == generations + restarts
    stales = sum(c.stales for c in clients)
    if not tolerate_step10:
        # the table survives graceful restarts: clients see nothing at all
        assert stales == 0 and runs["step10"] == 0, (stales, runs)
    assert runs["requests"] >= min_requests and runs["mutual-client"] >= 1, runs
    print("    %s: %d restarts, %d mutualref requests + %d mutual-client runs verified; "
          "%d x 401-STALE answered by re-keying; %d sequences ended by a 401-STALE at step 10"
          % (h.mpm, restarts, runs["requests"], runs["mutual-client"], stales, runs["step10"]))


def test_key_exchange_straddling_a_graceful_restart(servers):
    # The issue asks that clients see nothing of a graceful restart but
    # transparent re-keying. A key exchange answered just before the restart
    # must therefore still verify just after it: the session table has to
    # survive graceful restarts (RFC 8120 §10 step 10 leaves a client no way
    # to re-key after a 401-STALE to that req-VFY-C).
    h = servers[0]
    wait_for_first_generation(h)
    assert keyed_session_survives_graceful_restart(h), \
        "a session keyed before a graceful restart answers 401-STALE after it"


@timeout(240)
def test_graceful_restarts_under_load_event(servers):
    _graceful_under_load(servers[0])


@timeout(240)
def test_graceful_restarts_under_load_prefork(servers):
    # prefork forks at most a few children per second: fewer requests
    _graceful_under_load(servers[1], restarts=2, threads=4, persistent=False, min_requests=4,
                         interval=3.0)


# ---- replays under concurrency --------------------------------------------------------


def _replays(h, threads, requests, persistent):
    mark = h.access_log_size()
    captured = []  # Authorization headers of accepted requests
    cond = threading.Condition()
    done = threading.Event()
    errors, replays = [], {"refused": 0, "accepted": []}

    def legitimate(user, alg):
        c = client(h, user, alg, persistent)
        original = c.verify

        def verify(path, session, nc=None, headers=(), method="GET", body=b""):
            nc = session.next_nc() if nc is None else nc
            r = original(path, session, nc, headers, method, body)
            if r.status == 200:
                with cond:
                    captured.append(session.authorization(nc))
                    cond.notify()
            return r
        c.verify = verify
        try:
            for i in range(requests):
                r = c.get(PATH)
                if not accepted(r):
                    errors.append("%s request %d refused: %r" % (user, i, r))
        except Exception as e:  # noqa: BLE001
            errors.append("%s: %s: %s" % (user, type(e).__name__, e))

    def attacker():
        conn = m.Connection("127.0.0.1", h.port, persistent=persistent)
        while True:
            with cond:
                while not captured and not done.is_set():
                    cond.wait(0.5)
                if not captured and done.is_set():
                    return
                authorization = captured.pop(0)
            r = conn.request("GET", PATH, [("Authorization", authorization)])
            if r.status == 401 and r.mutual_reason == "stale-session":
                replays["refused"] += 1
            else:
                replays["accepted"].append((authorization, r))

    users = list(USERS)[:threads]
    ts = [threading.Thread(target=legitimate, args=(u, (EC256, DL2048)[i % 2])) for i, u in enumerate(users)]
    att = threading.Thread(target=attacker)
    att.start()
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    done.set()
    att.join(300)
    assert not any(t.is_alive() for t in ts + [att]), "threads hung"
    assert not errors, "\n".join(errors[:10])
    assert not replays["accepted"], "replays not refused: %s" % replays["accepted"][:3]
    assert replays["refused"] >= threads * requests, replays["refused"]
    entries = [e for e in h.access_entries(mark) if "/alive.txt" not in e[0]]
    if not persistent:  # MaxConnectionsPerChild 1: one process per request
        pids = [pid for _, _, pid in entries]
        assert len(set(pids)) == len(pids), "a prefork child served two requests"
    print("    %s: %d legitimate requests accepted, %d replays refused, %d requests in %d processes"
          % (h.mpm, threads * requests, replays["refused"], len(entries),
             len(set(pid for _, _, pid in entries))))


@timeout(300)
def test_replays_refused_event(servers):
    _replays(servers[0], threads=6, requests=15, persistent=True)


@timeout(300)
def test_replays_refused_prefork_one_connection_per_child(servers):
    _replays(servers[1], threads=4, requests=10, persistent=False)


# ---- identical requests racing each other ----------------------------------------------


def _race(h, rounds, copies=3):
    outcomes = []
    for i in range(rounds):
        user = list(USERS)[i % len(USERS)]
        c = client(h, user, EC256)
        assert accepted(c.get(PATH))
        s = c.session
        nc = s.next_nc()
        data = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: %s\r\nConnection: close\r\n\r\n"
                % (PATH, h.port, s.authorization(nc))).encode()
        conns = [m.Connection("127.0.0.1", h.port, persistent=False) for _ in range(copies)]
        for conn in conns:
            conn.open()  # connected (and, under prefork, in its own process) before the race
        gate = threading.Barrier(copies)
        results = [None] * copies

        def fire(k):
            gate.wait()
            results[k] = conns[k].send_raw(data)
        ts = [threading.Thread(target=fire, args=(k,)) for k in range(copies)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        ok = [r for r in results if r.status == 200]
        stale = [r for r in results if r.status == 401 and r.mutual_reason == "stale-session"]
        assert len(ok) == 1 and len(stale) == copies - 1, "round %d: %r" % (i, results)
        c.check_vks(ok[0], s, nc)
        outcomes.append(len(ok))
    return outcomes


@timeout(240)
def test_racing_identical_requests_event(servers):
    assert sum(_race(servers[0], rounds=15)) == 15


@timeout(240)
def test_racing_identical_requests_prefork(servers):
    assert sum(_race(servers[1], rounds=10)) == 10

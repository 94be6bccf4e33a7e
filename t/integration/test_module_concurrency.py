"""Threads and generations: the event MPM (and worker) under concurrent
clients, replays refused after the fact, and a graceful restart in the middle
of a run from which every client recovers through 401-STALE and re-keying."""

import threading
import time

from httpd_fixture import (Httpd, Servers, add_users, assert_status, location,
                           require_module, require_tool)

EC256, DL2048 = "iso-kam3-ec-p256-sha256", "iso-kam3-dl-2048-sha256"
REALM = "concurrent realm"
USERS = {"user%d" % i: "password %d" % i for i in range(8)}


def setup_module():
    require_module()
    require_tool("htmutual")
    servers = Servers()
    for mpm in ("event", "worker"):
        h = Httpd("concurrency-" + mpm, conf=location("/p/", REALM, [EC256, DL2048]), mpm=mpm)
        add_users(h, REALM, USERS, [EC256, DL2048])
        h.write_file("p/index.html", "concurrent\n")
        servers.append(h)
    for h in servers:
        h.start()
    return servers


def teardown_module(servers):
    servers.cleanup()


def run_clients(h, threads, requests, pace=0.0, during=None, algorithms=(EC256,)):
    """`threads` clients (one user each) doing `requests` gets each; returns
    the clients. Any exception or unauthenticated answer fails."""
    errors, clients = [], []
    start = threading.Barrier(threads + 1)

    def worker(user, alg):
        c = h.client(user, USERS[user], algorithms=[alg])
        clients.append(c)
        try:
            start.wait()
            for i in range(requests):
                r = c.get("/p/index.html")
                if not (r.status == 200 and r.authenticated and r.body == b"concurrent\n"):
                    errors.append("%s request %d: %r" % (user, i, r))
                if pace:
                    time.sleep(pace)
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append("%s: %s: %s" % (user, type(e).__name__, e))

    users = list(USERS)[:threads]
    ts = [threading.Thread(target=worker, args=(u, algorithms[i % len(algorithms)]))
          for i, u in enumerate(users)]
    for t in ts:
        t.start()
    start.wait()
    if during:
        during()
    for t in ts:
        t.join(120)
    assert not any(t.is_alive() for t in ts), "client threads hung"
    assert not errors, "\n".join(errors[:20])
    return clients


def _concurrent(h):
    clients = run_clients(h, threads=8, requests=20)
    for c in clients:
        # one login (3 requests) then 19 reuses of one round trip each
        assert c.requests == 22, "%s needed %d requests" % (c.user, c.requests)
        s = c.session
        for nc in (1, s.last_nc):
            assert_status(c.verify("/p/index.html", s, nc=nc), 401, "stale-session",
                          "%s replay nc=%d" % (c.user, nc))


def test_event_mpm_8_threads_x_20_requests_then_replays_refused(servers):
    _concurrent(servers[0])


def test_worker_mpm_8_threads_x_20_requests_then_replays_refused(servers):
    _concurrent(servers[1])


def test_same_user_many_sessions_at_once(servers):
    h = servers[0]
    errors = []

    def login():
        try:
            c = h.client("user0", USERS["user0"])
            for _ in range(5):
                assert c.get("/p/index.html").authenticated
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=login) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors


def test_graceful_restart_mid_run(servers):
    h = servers[0]
    generations = h.count_log(r"resuming normal operations")

    def restart_twice():
        time.sleep(0.5)
        h.graceful()
        time.sleep(0.7)
        h.graceful()

    clients = run_clients(h, threads=6, requests=25, pace=0.05, during=restart_twice,
                          algorithms=(EC256, DL2048))
    assert h.count_log(r"resuming normal operations") == generations + 2
    extra = sum(c.requests - (25 + 2) for c in clients)  # 27: one login + 24 reuses
    print("    requests spent on 401-STALE and re-keying: %d" % extra)
    # the new generation serves new clients and old sessions are either kept
    # or answered with 401-STALE, never an error
    for c in clients:
        r = c.verify("/p/index.html", c.session)
        assert r.status == 200 or r.mutual_reason == "stale-session", r

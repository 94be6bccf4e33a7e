"""Prefork MPM with MaxConnectionsPerChild 1: every message of the exchange
lands in a different process, so the session state can only come from the
shared-memory table. The access log records each request's pid to prove it."""

import mutualref as m
from httpd_fixture import (Httpd, add_users, assert_status, expect_log, location,
                           mutual_client, require_module, require_tool)

EC256, DL2048 = "iso-kam3-ec-p256-sha256", "iso-kam3-dl-2048-sha256"
PASSWORD = "prefork pw"


def setup_module():
    require_module()
    require_tool("htmutual")
    conf = location("/ec/", "prefork ec", [EC256]) + location("/dl/", "prefork dl", [DL2048])
    h = Httpd("prefork", conf=conf, mpm="prefork")
    add_users(h, "prefork ec", {"alice": PASSWORD}, [EC256])
    add_users(h, "prefork dl", {"alice": PASSWORD}, [DL2048])
    h.write_file("ec/index.html", "prefork ec\n")
    h.write_file("dl/index.html", "prefork dl\n")
    return h.start()


def teardown_module(h):
    h.cleanup()


def one_process_per_request(h, offset, expected_count):
    entries = [e for e in h.access_entries(offset) if "/alive.txt" not in e[0]]  # startup polls
    assert len(entries) == expected_count, entries
    pids = [pid for _, _, pid in entries]
    assert len(set(pids)) == len(pids), "a process served two requests: %s" % pids
    return entries


def _exchange_and_reuse(h, path):
    mark = h.access_log_size()
    c = h.client("alice", PASSWORD, persistent=False)
    r = c.get(path)
    assert r.authenticated and c.requests == 3, (r, c.requests)
    for _ in range(6):
        assert c.get(path).authenticated
    assert c.requests == 9
    entries = one_process_per_request(h, mark, 9)
    # (log lines are written after each response, so their order may differ)
    assert sorted(s for _, s, _ in entries) == [200] * 7 + [401, 401], entries
    return c


def test_exchange_and_reuse_across_processes_ec(h):
    _exchange_and_reuse(h, "/ec/index.html")


def test_exchange_and_reuse_across_processes_dl(h):
    _exchange_and_reuse(h, "/dl/index.html")


def test_replay_refused_across_processes(h):
    c = _exchange_and_reuse(h, "/ec/index.html")
    s = c.session
    mark = h.access_log_size()
    for nc in (1, 4):  # both used, each replay in a new process
        assert_status(c.verify("/ec/index.html", s, nc=nc), 401, "stale-session", "replay nc=%d" % nc)
    # the first replay made the session inactive in every process
    assert_status(c.verify("/ec/index.html", s, nc=100), 401, "stale-session", "after replay")
    one_process_per_request(h, mark, 3)


@expect_log("MUT01123")
def test_wrong_password_across_processes(h):
    c = h.client("alice", "wrong", persistent=False)
    try:
        c.get("/ec/index.html")
    except m.AuthenticationFailed as e:
        assert e.stage == "vfy"
        assert_status(e.response, 401, "auth-failed")
    else:
        raise AssertionError("wrong password accepted")


def test_mutual_client_against_prefork(h):
    require_tool("mutual-client")
    p = mutual_client(h.url("/ec/index.html"), "alice", PASSWORD, EC256)
    assert p.returncode == 0, "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    assert "prefork ec" in p.stdout

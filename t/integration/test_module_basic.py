"""mod_auth_mutual in a real apache2 (event MPM): the protocol flows.

One server, several protected locations (one per algorithm, several
algorithms at once, Require user, short session lifetime, small nc-max,
explicit vh, a CGI). Every verifier is written by build/htmutual, so each
successful login also proves htmutual and the module agree on the record
format. mutualref (independent Python client) and build/mutual-client both
authenticate."""

import re
import time

import mutualref as m
from httpd_fixture import (Httpd, SCOPE, add_users, assert_status, expect_log, location,
                           mutual_client, require_module, require_tool)

EC256, EC521 = "iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512"
DL2048, DL4096 = "iso-kam3-dl-2048-sha256", "iso-kam3-dl-4096-sha512"

# location -> (realm, algorithms)
AREAS = {
    "/ec256/": ("ec256 realm", [EC256]),
    "/ec521/": ("ec521 realm", [EC521]),
    "/dl2048/": ("dl2048 realm", [DL2048]),
    "/dl4096/": ("dl4096 realm", [DL4096]),
}
MULTI = [EC521, EC256, DL2048]  # offered in this order
PASSWORDS = {"alice": "alice's secret", "bob": "bob-pw", "Ren\u00e9e Zo\u00eb": "p\u00e4ss w\u00f6rd"}
WRONG_VKC = "MUT01123"    # wrong vkc: password mismatch or wrong vh
UNKNOWN_USER = "MUT01122"  # fake session reached VFY
AUTHZ_DENIED = "AH01631"   # mod_authz_core: authorization failure
PROXIED_VH = "https://front.example:8443"
PROXIED_SCOPE = "front.example"  # the auth-scope must cover the proxy's origin

CGI = """#!/bin/sh
cat >/dev/null
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf 'AUTH_TYPE=%s\\n' "$AUTH_TYPE"
printf 'REMOTE_USER=%s\\n' "$REMOTE_USER"
"""


def setup_module():
    require_module()
    require_tool("htmutual")
    conf = ["ScriptSock {root}/run/cgid.sock",
            '<Directory "{htdocs}/cgi">\n    Options +ExecCGI\n    SetHandler cgi-script\n</Directory>']
    for path, (realm, algs) in AREAS.items():
        extra = "ErrorDocument 404 /errors/404.html" if path == "/ec256/" else ""
        if path == "/ec256/":
            extra += '\nAuthMutualPath "/ec256/" "/cgi/"'
        conf.append(location(path, realm, algs, extra=extra))
    conf.append(location("/multi/", "multi realm", MULTI))
    conf.append(location("/authz/", "authz realm", [EC256], require="Require user bob"))
    conf.append(location("/short/", "short realm", [EC256], extra="AuthMutualSessionTime 2"))
    conf.append(location("/ncmax/", "ncmax realm", [EC256],
                         extra="AuthMutualNcMax 5\nAuthMutualNcWindow 256"))
    conf.append(location("/proxied/", "proxied realm", [EC256], scope=PROXIED_SCOPE,
                         extra='AuthMutualHost "%s"' % PROXIED_VH))
    conf.append(location("/cgi/", "ec256 realm", [EC256]))
    # the users file holds alice only for "ec256 realm": a misconfiguration here
    conf.append(location("/misconfigured/", "misconfigured realm", [EC256]))
    conf.append(location("/nofile/", "nofile realm", [EC256],
                         user_file="{root}/conf/no-such-file"))
    # a reverse proxy (to this same server's unprotected /backend/)
    conf.append(location("/proxy/", "ec256 realm", [EC256],
                         extra="ProxyPass http://127.0.0.1:{port}/backend/"))
    # same realm and algorithm as /ec256/ but another user file: another protection space
    conf.append(location("/otherfile/", "ec256 realm", [EC256], user_file="{root}/conf/users2"))
    conf.append(location("/forcedtls/", "forced realm", [EC256],
                         extra="AuthMutualValidation tls-server-end-point"))
    # (AuthType Mutual without AuthName now fails startup: test_module_config.py)
    conf.append("DirectoryIndex index.html")
    h = Httpd("basic", conf="\n".join(conf), mpm="event",
              modules=["cgid", "proxy", "proxy_http", "dir"])
    for path, (realm, algs) in AREAS.items():
        users = PASSWORDS if path == "/ec256/" else {"alice": PASSWORDS["alice"]}
        add_users(h, realm, users, algs)
        h.write_file(path.strip("/") + "/index.html", "welcome to %s\n" % realm)
    # alice has verifiers for several algorithms in one record
    add_users(h, "multi realm", {"alice": PASSWORDS["alice"]}, MULTI)
    add_users(h, "authz realm", {"alice": PASSWORDS["alice"], "bob": PASSWORDS["bob"]}, [EC256])
    for realm in ("short realm", "ncmax realm"):
        add_users(h, realm, {"alice": PASSWORDS["alice"]}, [EC256])
    add_users(h, "proxied realm", {"alice": PASSWORDS["alice"]}, [EC256], scope=PROXIED_SCOPE)
    add_users(h, "ec256 realm", {"alice": PASSWORDS["alice"]}, [EC256],
              user_file="{root}/conf/users2")
    for d in ("multi", "authz", "short", "ncmax", "proxied", "misconfigured", "nofile", "backend",
              "otherfile", "forcedtls", "noname"):
        h.write_file(d + "/index.html", "welcome to /%s/\n" % d)
    h.write_file("errors/404.html", "custom not found page\n")
    h.write_file("cgi/env.cgi", CGI, mode=0o755)
    return h.start()


def teardown_module(h):
    h.cleanup()


def alice(h, **kw):
    return h.client("alice", PASSWORDS["alice"], **kw)


def login(h, path, user="alice", **kw):
    c = h.client(user, PASSWORDS[user], **kw)
    r = c.get(path)
    assert r.status == 200 and r.authenticated, r
    return c, r


# ---------------------------------------------------------------------------


def test_401_init_offers_each_configured_algorithm(h):
    r = h.get("/multi/index.html")
    assert_status(r, 401, "initial")
    ch = [c.check() for c in r.challenges]
    assert [c.algorithm for c in ch] == MULTI, ch
    for c in ch:
        assert (c.version, c.validation, c.auth_scope, c.realm, c.reason) == \
            ("1", "host", SCOPE, "multi realm", "initial"), c
    assert r.header("Authentication-Info") is None


def test_unprotected_resource_is_untouched(h):
    r = h.get("/alive.txt", [("Authorization", "Mutual version=1, garbage")])
    assert r.status == 200 and r.body == b"alive\n", r
    assert r.header("WWW-Authenticate") is None and r.header("Authentication-Info") is None


def _login_all_flows(h, path, algorithm):
    c = alice(h)
    r = c.get(path + "index.html")
    assert r.status == 200 and r.authenticated, r
    assert r.body.decode().startswith("welcome to"), r.body
    assert c.requests == 3, "INIT + KEX + VFY, got %d requests" % c.requests
    assert c.session.algorithm.name == algorithm
    return c


def test_mutualref_ec_p256(h):
    _login_all_flows(h, "/ec256/", EC256)


def test_mutualref_ec_p521(h):
    _login_all_flows(h, "/ec521/", EC521)


def test_mutualref_dl_2048(h):
    _login_all_flows(h, "/dl2048/", DL2048)


def test_mutualref_dl_4096(h):
    _login_all_flows(h, "/dl4096/", DL4096)


def test_mutualref_chooses_among_several_offered_algorithms(h):
    # one htmutual record holding verifiers for three algorithms
    for alg in MULTI:
        c = alice(h, algorithms=[alg])
        r = c.get("/multi/index.html")
        assert r.authenticated and c.session.algorithm.name == alg, (alg, r)


def test_mutual_client_all_algorithms(h):
    require_tool("mutual-client")
    for path, (realm, algs) in AREAS.items():
        p = mutual_client(h.url(path + "index.html"), "alice", PASSWORDS["alice"], algs[0])
        assert p.returncode == 0, "%s: exit %d\n%s%s" % (path, p.returncode, p.stdout, p.stderr)
        assert ("welcome to " + realm) in p.stdout, p.stdout


@expect_log(WRONG_VKC)
def test_mutual_client_wrong_password_exit_3(h):
    require_tool("mutual-client")
    p = mutual_client(h.url("/ec256/index.html"), "alice", "not the password", EC256)
    assert p.returncode == 3, "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    assert "welcome" not in p.stdout


def test_mutual_client_reuses_the_session_across_urls(h):
    require_tool("mutual-client")
    url = h.url("/ec256/index.html")
    p = mutual_client(url, "alice", PASSWORDS["alice"], EC256, args=[url, h.url("/cgi/env.cgi")])
    assert p.returncode == 0, "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    assert p.stderr.count("[req-KEX-C1]") == 1, p.stderr
    assert p.stderr.count("[req-VFY-C]") == 3, p.stderr
    assert "REMOTE_USER=alice" in p.stdout


@expect_log(AUTHZ_DENIED)
def test_mutual_client_authz_failed_exit_7(h):
    require_tool("mutual-client")
    p = mutual_client(h.url("/authz/index.html"), "alice", PASSWORDS["alice"], EC256)
    assert p.returncode == 7, "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)


def test_session_reuse_costs_one_round_trip(h):
    c = _login_all_flows(h, "/ec256/", EC256)
    for i in range(50):
        before = c.requests
        r = c.get("/ec256/index.html")
        assert r.status == 200 and r.authenticated, (i, r)
        assert c.requests == before + 1, "reuse %d took %d requests" % (i, c.requests - before)
    assert c.session.last_nc == 51


def test_kex_without_prior_401(h):
    # RFC 8120 §2.3 case A: the client knows the realm and starts with req-KEX-C1
    c = alice(h)
    c.challenge = m.Challenge({"version": "1", "algorithm": EC256, "validation": "host",
                               "auth-scope": SCOPE, "realm": "ec256 realm"})
    r = c.get("/ec256/index.html")
    assert r.authenticated and c.requests == 2, (r, c.requests)


def test_401_kex_s1_parameters(h):
    c = alice(h)
    _, challenge = c.initial("/ec256/index.html")
    resp, session = c.key_exchange("/ec256/index.html", challenge)
    s1 = resp.challenges[0]
    assert resp.status == 401 and s1.kind == "kex-s1", resp
    assert len(s1.sid) >= 20, "sid shorter than 80 bits: %s" % s1.sid
    assert s1.integer("nc-window") >= 128 and s1.integer("nc-max") >= 1 and s1.integer("time") >= 1
    assert set(s1.path.split()) == {"/ec256/", "/cgi/"}, s1.path
    assert "reason" not in s1.params and "vks" not in s1.params
    # the same session serves the next VFY
    r = c.verify("/ec256/index.html", session)
    assert r.status == 200 and r.authenticated


def test_utf8_user_name_via_ext_parameter(h):
    c, r = login(h, "/ec256/index.html", user="Ren\u00e9e Zo\u00eb")
    assert c.requests == 3


@expect_log(WRONG_VKC)
def test_wrong_password_fails_at_vfy(h):
    c = h.client("alice", "wrong password")
    try:
        c.get("/ec256/index.html")
    except m.AuthenticationFailed as e:
        assert e.stage == "vfy", e
        assert_status(e.response, 401, "auth-failed")
        assert e.response.header("Authentication-Info") is None
        assert b"welcome" not in e.response.body
    else:
        raise AssertionError("a wrong password authenticated")


@expect_log(WRONG_VKC, UNKNOWN_USER)
def test_unknown_user_looks_like_known_until_vfy(h):
    known, unknown = h.client("alice", "x"), h.client("mallory", "x")
    shapes = []
    for c in (known, unknown):
        _, challenge = c.initial("/ec256/index.html")
        resp, session = c.key_exchange("/ec256/index.html", challenge)
        s1 = resp.challenges[0]
        shapes.append((resp.status, sorted(s1.params), len(s1.sid), len(s1.ks1),
                       s1.params["nc-max"], s1.params["nc-window"], s1.params["time"],
                       s1.path, len(resp.body), resp.header("Content-Type")))
        r = c.verify("/ec256/index.html", session)
        assert_status(r, 401, "auth-failed", "VFY of %s" % c.user)
    assert shapes[0] == shapes[1], "401-KEX-S1 differs:\n known   %s\n unknown %s" % tuple(shapes)


def test_replayed_nc_is_stale_and_kills_the_session(h):
    c, _ = login(h, "/ec256/index.html")
    s = c.session
    assert c.verify("/ec256/index.html", s, nc=2).status == 200
    r = c.verify("/ec256/index.html", s, nc=2)  # replay
    assert_status(r, 401, "stale-session", "replayed nc")
    r = c.verify("/ec256/index.html", s, nc=3)  # fresh nc, but the session is now inactive
    assert_status(r, 401, "stale-session", "session after a replay")


def test_nc_out_of_order_within_window_accepted(h):
    c, _ = login(h, "/ec256/index.html")
    s = c.session
    for nc in (10, 5, 7, 140, 100):
        r = c.verify("/ec256/index.html", s, nc=nc)
        assert r.status == 200 and r.authenticated, (nc, r)


def test_nc_below_window_is_stale(h):
    c, _ = login(h, "/ec256/index.html")
    s = c.session
    assert c.verify("/ec256/index.html", s, nc=300).status == 200
    window = s.nc_window
    r = c.verify("/ec256/index.html", s, nc=300 - window)  # not larger than largest-nc - window
    assert_status(r, 401, "stale-session", "nc below the window")
    assert_status(c.verify("/ec256/index.html", s, nc=301), 401, "stale-session",
                  "session after a nonce below the window")


def test_nc_above_nc_max_is_stale(h):
    c, _ = login(h, "/ncmax/index.html")
    s = c.session
    assert (s.nc_max, s.nc_window) == (5, 256), (s.nc_max, s.nc_window)
    assert c.verify("/ncmax/index.html", s, nc=5).status == 200
    r = c.verify("/ncmax/index.html", s, nc=6)
    assert_status(r, 401, "stale-session", "nc above nc-max")
    # RFC 8120 §11: a session answered with 401-STALE is changed to inactive
    assert_status(c.verify("/ncmax/index.html", s, nc=4), 401, "stale-session", "after nc-max")
    # the client re-keys and goes on
    c.session = None
    c.challenge = r.challenges[0]
    assert c.get("/ncmax/index.html").authenticated


def test_huge_nc_is_stale_not_an_error(h):
    c, _ = login(h, "/ec256/index.html")
    r = c.verify("/ec256/index.html", c.session, nc=2 ** 80)
    assert_status(r, 401, "stale-session", "nc = 2^80")


def test_unknown_sid_is_stale(h):
    c, _ = login(h, "/ec256/index.html")
    s = c.session
    s.sid = "%0*x" % (len(s.sid), int(s.sid, 16) ^ 1)
    r = c.verify("/ec256/index.html", s)
    assert_status(r, 401, "stale-session", "unknown sid")


def test_expired_session_is_stale_then_rekeys(h):
    c, _ = login(h, "/short/index.html")
    assert c.session.time == 2, c.session.time
    time.sleep(3.5)
    before = c.requests
    r = c.get("/short/index.html")  # VFY -> 401-STALE -> KEX -> VFY
    assert r.authenticated, r
    assert c.requests - before == 3, "expected STALE + KEX + VFY, got %d" % (c.requests - before)


@expect_log(AUTHZ_DENIED)
def test_require_user_denial_is_authz_failed(h):
    try:
        login(h, "/authz/index.html", user="alice")
    except m.AuthenticationFailed as e:
        assert e.stage == "vfy", e
        assert_status(e.response, 401, "authz-failed")
        assert e.response.header("Authentication-Info") is None, e.response.headers
        assert b"welcome" not in e.response.body
    else:
        raise AssertionError("alice passed Require user bob")
    c, r = login(h, "/authz/index.html", user="bob")
    assert r.body == b"welcome to /authz/\n"


def test_error_document_carries_authentication_info(h):
    c, _ = login(h, "/ec256/index.html")
    r = c.get("/ec256/no-such-file")  # check_vks raises without a valid vks
    assert r.status == 404 and r.authenticated, r
    assert b"custom not found page" in r.body, r.body


def test_plain_404_carries_authentication_info(h):
    c, _ = login(h, "/ec521/index.html")
    r = c.get("/ec521/no-such-file")
    assert r.status == 404 and r.authenticated, r


@expect_log(WRONG_VKC)
def test_explicit_vh_for_reverse_proxies(h):
    c = alice(h, vh=PROXIED_VH.encode())
    assert c.get("/proxied/index.html").authenticated
    # a client that sees the origin directly computes another vh: refused
    try:
        alice(h).get("/proxied/index.html")
    except m.AuthenticationFailed as e:
        assert_status(e.response, 401, "auth-failed")
    else:
        raise AssertionError("vh mismatch accepted")


def test_cgi_sees_auth_type_and_remote_user(h):
    c, _ = login(h, "/ec256/index.html")
    r = c.get("/cgi/env.cgi")  # same realm: the session is reused
    assert r.status == 200 and r.authenticated, r
    body = r.body.decode()
    assert "AUTH_TYPE=Mutual\n" in body, body
    assert "REMOTE_USER=alice\n" in body, body


def test_post_with_body_after_authentication(h):
    c, _ = login(h, "/cgi/env.cgi")
    r = c.verify("/cgi/env.cgi", c.session, method="POST", body=b"x=1")
    assert r.status == 200 and r.authenticated, r


def test_proxied_response_carries_authentication_info(h):
    c, _ = login(h, "/ec256/index.html")
    r = c.get("/proxy/index.html")  # check_vks raises without a valid vks
    assert r.status == 200 and r.authenticated and r.body == b"welcome to /backend/\n", r
    r = c.get("/proxy/missing")
    assert r.status == 404 and r.authenticated, r


@expect_log(UNKNOWN_USER, "MUT01203")  # record made for another realm
def test_verifier_for_another_realm_is_reported(h):
    mark = h.log_size()
    try:
        login(h, "/misconfigured/index.html")
    except m.AuthenticationFailed as e:
        assert e.stage == "vfy", e  # a fake session: fails only at VFY
        assert_status(e.response, 401, "auth-failed")
    else:
        raise AssertionError("a verifier of another realm authenticated")
    log = h.log_from(mark)
    assert re.search(r"MUT01203: .*misconfigured realm", log), log


@expect_log("MUT01108")  # cannot open verifier file
def test_missing_user_file_is_internal_error(h):
    mark = h.log_size()
    try:
        login(h, "/nofile/index.html")
    except m.AuthenticationFailed as e:
        assert e.stage == "kex", e
        assert_status(e.response, 401, "internal-error")
    else:
        raise AssertionError("authenticated without a user file")
    assert re.search(r"MUT01108: .*no-such-file", h.log_from(mark))


def test_directory_index_internal_redirect_verifies_once(h):
    # mod_dir maps /ec256/ to /ec256/index.html by an internal redirect; the
    # redirect must reuse the verification, not count the nc a second time
    c, _ = login(h, "/ec256/")
    assert c.get("/ec256/").body == b"welcome to ec256 realm\n"
    assert c.get("/ec256/index.html").authenticated


def test_session_belongs_to_its_user_file(h):
    c, _ = login(h, "/ec256/index.html")
    before = c.requests
    r = c.get("/otherfile/index.html")  # same realm, other user file: STALE, re-key
    assert r.authenticated and r.body == b"welcome to /otherfile/\n", r
    assert c.requests - before == 3, c.requests - before


@expect_log("MUT01013")
def test_tls_server_end_point_without_tls_is_internal_error(h):
    r = h.get("/forcedtls/index.html")
    assert_status(r, 401, "internal-error")


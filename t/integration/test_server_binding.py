"""Issue #10: every exchange is bound to the server's own identity, its
origin and the serving location's policy (RFC 8120 §6, §7, §11).

One apache2 (event MPM) listening on two plain ports and one TLS port, with
a default virtual host (ServerName 127.0.0.1) and a named one (ServerName
www.example.test, ServerAlias Alias.Example.Test *.wild.example.test). The
independent client (mutualref, written from the RFC) plays the victim and
the attacker: a relay on another port forwards its exchange byte for byte,
sessions are carried to another port and over TLS, a location's stricter
limits meet a session made elsewhere in the realm, subrequests (mod_rewrite
LA-U, mod_include) and ErrorDocument 401 run inside the exchange."""

import copy
import re
import socket
import threading
import time

import mutualref as m
from scripted_servers import splice
from httpd_fixture import (Httpd, add_users, assert_status, expect_log, free_port, location,
                           make_certificate, mutual_client, require_module, require_tool)

EC256 = "iso-kam3-ec-p256-sha256"
REALM = "bind realm"
NAMED_SCOPE = "*.example.test"
NAMED_REALM = "named realm"
PASSWORDS = {"alice": "alice's secret", "bob": "bob-pw"}
MULTI_REALM = "multi realm"
MULTI = [EC256, "iso-kam3-dl-2048-sha256"]
WRONG_VKC = "MUT01123"
FOREIGN_HOST = "MUT01401"


class Relay:
    """A man in the middle on another port of the same host: forwards every
    byte to the real server unchanged (the victim's Host header included)."""

    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=splice, args=(client, upstream), daemon=True).start()

    def close(self):
        self.closed = True
        self.listener.close()


def setup_module():
    require_module()
    require_tool("htmutual")
    p2, p3 = free_port(), free_port()
    while p3 == p2:
        p3 = free_port()
    h = Httpd("binding", mpm="event", loglevel="info auth_mutual:debug",
              modules=["socache_shmcb", "ssl", "rewrite", "include", "dir"])
    h.port2, h.port3 = p2, p3
    cert, key = make_certificate(h.path("conf"))
    lau = "\n".join([
        "    RewriteEngine On",
        "    RewriteCond %{{REQUEST_URI}} ^/lau/",
        "    RewriteCond %{{LA-U:REMOTE_USER}} (.+)",
        "    RewriteRule ^ - [E=LAU_USER:%1]",
        '    Header always set X-LAU-User "%{{LAU_USER}}e" env=LAU_USER',
    ])
    h.server_conf = "\n".join([
        "Listen 127.0.0.1:%d" % p2,
        "Listen 127.0.0.1:%d https" % p3,
        'SSLSessionCache "shmcb:{root}/run/ssl_scache(512000)"',
        "<VirtualHost 127.0.0.1:{port} 127.0.0.1:%d>" % p2,
        "    ServerName 127.0.0.1",
        lau,
        "</VirtualHost>",
        "<VirtualHost 127.0.0.1:{port} 127.0.0.1:%d>" % p2,
        "    ServerName www.example.test",
        "    ServerAlias Alias.Example.Test *.wild.example.test",
        "</VirtualHost>",
        "<VirtualHost 127.0.0.1:%d>" % p3,
        "    ServerName 127.0.0.1",
        "    SSLEngine on",
        '    SSLCertificateFile "%s"' % cert,
        '    SSLCertificateKeyFile "%s"' % key,
        lau,
        "</VirtualHost>",
    ])
    conf = [
        location("/private/", REALM, [EC256],
                 extra='AuthMutualNcWindow 1024\nAuthMutualPath "/private/" "http://127.0.0.1/ssi/"'),
        location("/multi/", MULTI_REALM, MULTI),
        location("/strict/", REALM, [EC256],
                 extra="AuthMutualNcMax 5\nAuthMutualSessionTime 60\nAuthMutualNcWindow 128"),
        location("/brief/", REALM, [EC256], extra="AuthMutualSessionTime 2"),
        location("/lau/", REALM, [EC256]),
        location("/errdoc/", REALM, [EC256], extra="ErrorDocument 401 /private/two.html"),
        location("/authzdoc/", REALM, [EC256], require="Require user bob",
                 extra="ErrorDocument 401 /errors/401.html"),
        location("/named/", NAMED_REALM, [EC256], scope=NAMED_SCOPE,
                 user_file="{root}/conf/named"),
        '<Directory "{htdocs}/ssi">\n    Options +Includes\n'
        "    AddOutputFilter INCLUDES .shtml\n</Directory>",
        '<Directory "{htdocs}/private">\n    Options +Includes\n'
        "    AddOutputFilter INCLUDES .shtml\n</Directory>",
        "DirectoryIndex index.html",
        '<Directory "{htdocs}/noscope">\n    AllowOverride AuthConfig\n</Directory>',
        '<Directory "{htdocs}/edited">\n    AllowOverride AuthConfig\n</Directory>',
    ]
    h.conf = "\n".join(conf)
    add_users(h, REALM, PASSWORDS, [EC256])
    add_users(h, MULTI_REALM, {"alice": PASSWORDS["alice"]}, MULTI)
    h.write_file("noscope/.htaccess", 'AuthType Mutual\nAuthName "noscope realm"\n'
                 'AuthMutualUserFile "%s"\nRequire valid-user\n' % h.path("conf", "users"))
    h.write_file("noscope/index.html", "no scope\n")
    add_users(h, NAMED_REALM, {"alice": PASSWORDS["alice"]}, [EC256], scope=NAMED_SCOPE,
              user_file="{root}/conf/named")
    for d in ("private", "multi", "strict", "brief", "lau", "errdoc", "authzdoc", "named"):
        h.write_file(d + "/index.html", "welcome to /%s/\n" % d)
    h.write_file("private/two.html", "the protected page two\n")
    h.write_file("private/a.html", "included part A\n")
    h.write_file("private/b.html", "included part B\n")
    page = ('<!--#include virtual="/private/a.html" -->'
            '<!--#include virtual="/private/b.html" -->end of page\n')
    h.write_file("ssi/page.shtml", page)
    h.write_file("private/page.shtml", page)
    h.write_file("errors/401.html", "custom 401 page\n")
    h.write_file("strict/part.html", "the strict part\n")
    h.write_file("private/strict.shtml", '<!--#include virtual="/strict/part.html" -->end\n')
    return h.start()


def teardown_module(h):
    h.cleanup()


def client(h, port=None, user="alice", tls=False, **kw):
    scheme = "https" if tls else "http"
    if tls:
        kw.setdefault("ssl_context", m.insecure_tls_context())
    return m.Client("%s://127.0.0.1:%d" % (scheme, port or h.port), user, PASSWORDS[user], **kw)


def with_host(c, host):
    """Send `host` as the Host header (the connection still goes to 127.0.0.1)."""
    conn = c.conn

    def request(method, target, headers=(), body=b""):
        lines = ["%s %s HTTP/1.1" % (method, target), "Host: %s" % host]
        lines += ["%s: %s" % (n, v) for n, v in headers]
        if body or method in ("POST", "PUT"):
            lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return conn.send_raw(data, method)

    conn.request = request
    return c


def moved(session, vh):
    """The same session (keys, sid, nc) with the vh of another origin: what
    a client (or an attacker holding the session) computes there."""
    s = copy.copy(session)
    s.vh = vh
    return s


def vfy_refused_with(c, path, reason):
    try:
        c.login(path)
    except m.AuthenticationFailed as e:
        assert e.reason == reason, (e.reason, e.response)
        return e.response
    raise AssertionError("the exchange succeeded")


# --------------------------------------------------------------------------
# 1. vh is the server's own origin, never the client's Host


@expect_log(WRONG_VKC, FOREIGN_HOST)
def test_relayed_exchange_for_another_vh_is_refused(h):
    relay = Relay(h.port)
    try:
        # the victim talks to the relay; its vh names the relay's port
        c = client(h, relay.port)
        vfy_refused_with(c, "/private/", "auth-failed")
        log = h.log_since_mark()
        assert "vh is http://127.0.0.1:%d" % h.port in log, log[-2000:]
    finally:
        relay.close()


@expect_log(WRONG_VKC, FOREIGN_HOST)
def test_host_header_port_is_not_the_vh(h):
    # Host names the second port, the connection is to the first one
    c = with_host(client(h, vh=m.host_vh("http", "127.0.0.1", h.port2)),
                  "127.0.0.1:%d" % h.port2)
    vfy_refused_with(c, "/private/", "auth-failed")
    # the vh of the connection's own port succeeds whatever Host says
    c = with_host(client(h), "127.0.0.1:%d" % h.port2)
    r = c.get("/private/")
    assert r.status == 200 and r.authenticated, r


@expect_log(WRONG_VKC, FOREIGN_HOST)
def test_host_that_is_not_ours_gets_the_server_name(h):
    c = with_host(client(h, vh=m.host_vh("http", "evil.example", h.port)),
                  "evil.example:%d" % h.port)
    vfy_refused_with(c, "/private/", "auth-failed")
    c = with_host(client(h), "evil.example:%d" % h.port)   # vh of ServerName 127.0.0.1
    r = c.get("/private/")
    assert r.status == 200 and r.authenticated, r


def test_server_name_and_aliases_are_ours_case_insensitively(h):
    for host in ("www.example.test", "Alias.Example.Test", "WWW.Example.Test",
                 "x.wild.example.test"):
        c = m.Client("http://127.0.0.1:%d" % h.port, "alice", PASSWORDS["alice"],
                     vh=m.host_vh("http", host, h.port))
        with_host(c, "%s:%d" % (host, h.port))
        r = c.get("/named/")
        assert r.status == 200 and r.authenticated, (host, r)


def test_legitimate_exchange_succeeds_on_every_port(h):
    for port, tls in ((h.port, False), (h.port2, False), (h.port3, True)):
        c = client(h, port, tls=tls)
        r = c.get("/private/")
        assert r.status == 200 and r.authenticated, (port, r)
        r = c.get("/private/two.html")
        assert r.status == 200 and r.authenticated, (port, r)


# --------------------------------------------------------------------------
# 2. sessions are local to their origin and validation method


def test_session_made_on_one_port_is_refused_on_another(h):
    c = client(h)
    r = c.get("/private/")
    assert r.authenticated
    other = client(h, h.port2)
    s = moved(c.session, m.host_vh("http", "127.0.0.1", h.port2))
    r = other.verify("/private/", s)
    assert_status(r, 401, "stale-session", "session of port %d on port %d" % (h.port, h.port2))
    # still alive at home
    r = c.get("/private/")
    assert r.status == 200 and r.authenticated, r


def test_session_made_over_http_is_refused_over_tls_and_back(h):
    plain = client(h)
    assert plain.get("/private/").authenticated
    tls = client(h, h.port3, tls=True)
    assert tls.get("/private/").authenticated
    # the plain session presented over TLS with the TLS validation
    s = moved(plain.session, tls.session.vh)
    s.validation = "tls-server-end-point"
    r = tls.verify("/private/", s)
    assert_status(r, 401, "stale-session", "HTTP session over TLS")
    # the TLS session presented over plain HTTP with validation=host
    s = moved(tls.session, m.host_vh("http", "127.0.0.1", h.port))
    s.validation = "host"
    r = plain.verify("/private/", s)
    assert_status(r, 401, "stale-session", "TLS session over HTTP")


# --------------------------------------------------------------------------
# 3. the serving location's limits hold for sessions made elsewhere


def test_location_nc_max_holds_for_sessions_made_elsewhere(h):
    c = client(h)
    assert c.get("/private/").authenticated
    r = c.verify("/strict/", c.session, nc=50)
    assert_status(r, 401, "stale-session", "nc 50 under AuthMutualNcMax 5")
    # below the location's nc-max a session of the realm is fine
    c = client(h)
    assert c.get("/private/").authenticated
    r = c.verify("/strict/", c.session, nc=4)
    assert r.status == 200 and r.authenticated, r


def test_location_nc_window_holds_for_sessions_made_elsewhere(h):
    c = client(h)
    assert c.get("/private/").authenticated       # nc 1, window 1024
    assert c.verify("/private/", c.session, nc=400).authenticated
    # 200 below the largest nc: inside /private/'s window, not /strict/'s 128
    r = c.verify("/strict/", c.session, nc=200)
    assert_status(r, 401, "stale-session", "nc below the location's window")


def test_location_lifetime_holds_for_sessions_made_elsewhere(h):
    c = client(h)
    assert c.get("/private/").authenticated      # lifetime 300 s
    assert c.verify("/brief/", c.session).authenticated
    time.sleep(2.2)                               # /brief/: AuthMutualSessionTime 2
    r = c.verify("/brief/", c.session)
    assert_status(r, 401, "stale-session", "session older than the location's lifetime")


@expect_log("unable to include", "MUT01412")
def test_location_limits_hold_for_subrequests_too(h):
    # a page of the lax location includes a file of the strict one: the
    # include reuses the page's verification only within its own limits
    c = client(h)
    assert c.get("/private/").authenticated
    r = c.verify("/private/strict.shtml", c.session, nc=50)
    assert r.status == 200 and r.authenticated, r
    assert b"the strict part" not in r.body, r.body
    assert "MUT01412" in h.log_since_mark()
    c = client(h)
    assert c.get("/private/").authenticated
    r = c.verify("/private/strict.shtml", c.session, nc=3)
    assert b"the strict part" in r.body, r.body


# --------------------------------------------------------------------------
# 4. subrequests reuse the verification of the request the client sent


def test_rewrite_la_u_remote_user_login_succeeds(h):
    for port, tls in ((h.port, False), (h.port3, True)):
        c = client(h, port, tls=tls)
        r = c.get("/lau/")
        assert r.status == 200 and r.authenticated, r
        assert r.header("X-LAU-User") == "alice", r.headers
        r = c.get("/lau/")               # the session goes on
        assert r.status == 200 and r.authenticated, r


def test_ssi_with_two_protected_includes_keeps_the_session(h):
    # a protected page: one verification, reused by both includes, and the
    # Authentication-Info of the page's nc on the response
    c = client(h)
    assert c.get("/private/").authenticated
    r = c.verify("/private/page.shtml", c.session)    # raises unless the vks is right
    assert r.status == 200 and r.authenticated, r
    assert b"included part A" in r.body and b"included part B" in r.body, r.body
    r = c.get("/private/")                            # the session was not destroyed
    assert r.status == 200 and r.authenticated, r
    # an unprotected page including two protected files: the first include
    # verifies, the second reuses it, the session lives on. (Its headers are
    # on the wire before the includes run: no Authentication-Info can follow,
    # docs/interop.md.)
    nc = c.session.next_nc()
    r = c.request("/ssi/page.shtml", [("Authorization", c.session.authorization(nc))])
    assert r.status == 200, r
    assert b"included part A" in r.body and b"included part B" in r.body, r.body
    r = c.get("/private/")
    assert r.status == 200 and r.authenticated, r


# --------------------------------------------------------------------------
# 6. ErrorDocument 401 into a Mutual location


def test_error_document_401_runs_one_exchange(h):
    c = client(h)
    _, challenge = c.initial("/errdoc/")
    before = h.log_size()
    resp, session = c.key_exchange("/errdoc/", challenge)
    log = h.log_from(before)
    assert len(re.findall(r"MUT01112", log)) == 1, log
    assert len(resp.challenges) == 1, resp.header_all("WWW-Authenticate")
    assert b"the protected page two" not in resp.body, resp.body
    r = c.verify("/errdoc/", session)
    assert r.status == 200 and r.authenticated, r


@expect_log("AH01631", "MUT01020")
def test_authz_failed_error_document_has_no_authentication_info(h):
    c = client(h)
    _, challenge = c.initial("/authzdoc/")
    _, session = c.key_exchange("/authzdoc/", challenge)
    r = c.verify("/authzdoc/", session)
    assert_status(r, 401, "authz-failed")
    assert r.header("Authentication-Info") is None, r.headers
    assert b"custom 401 page" in r.body, r.body


# --------------------------------------------------------------------------
# 7. RFC audit


@expect_log("MUT01113", "MUT01119")
def test_malformed_vkc_rejects_a_key_exchanging_session(h):
    c = client(h)
    _, challenge = c.initial("/private/")
    _, session = c.key_exchange("/private/", challenge)
    bad = session.authorization(1).replace("vkc=", "vkc=!!")
    r = c.request("/private/", [("Authorization", bad)])
    assert_status(r, 401, "invalid-parameters")
    r = c.verify("/private/", session, nc=2)
    assert_status(r, 401, "auth-failed", "the correct vkc after a malformed one")


# --------------------------------------------------------------------------
# 5. a new table geometry discards the old table for good


def _shared_mappings(pid):
    """Anonymous shared mappings (apr_shm without a file) of a process."""
    with open("/proc/%d/maps" % pid) as f:
        return sum(1 for line in f if "/dev/zero" in line or "SYSV" in line)


def test_geometry_change_never_revives_a_session(h):
    g = Httpd("geometry", conf=location("/private/index.html", REALM, [EC256]),
              server_conf="AuthMutualSessionTableSize 64")
    try:
        add_users(g, REALM, PASSWORDS, [EC256])
        g.write_file("private/index.html", "welcome\n")
        g.start()
        mappings = _shared_mappings(g.proc.pid)

        def resize(size):
            g.server_conf = "AuthMutualSessionTableSize %d" % size
            with open(g.conf_path, "w") as f:
                f.write(g.config())
            g.graceful()

        c = m.Client(g.base, "alice", PASSWORDS["alice"])
        assert c.get("/private/index.html").authenticated                  # nc 1
        resize(128)
        r = c.verify("/private/index.html", c.session)                     # nc 2: a new, empty table
        assert_status(r, 401, "stale-session", "session after a new geometry")
        resize(64)
        r = c.verify("/private/index.html", c.session)                     # nc 3, a delayed request
        assert_status(r, 401, "stale-session", "session of the first geometry after going back")
        # the parent keeps one table, not one per geometry it has seen
        assert _shared_mappings(g.proc.pid) == mappings, open("/proc/%d/maps" % g.proc.pid).read()
        c = m.Client(g.base, "alice", PASSWORDS["alice"])
        assert c.get("/private/index.html").authenticated
        problems = [p for p in g.end_case(()) if "MUT" in p]
        assert not problems, problems
    finally:
        g.cleanup()


# --------------------------------------------------------------------------
# 7. RFC audit: startup checks and the challenge's shape


def startup_refused(name, conf="", server_conf="", tls=False, files=None):
    """Start a server that must refuse its configuration; its output."""
    g = Httpd(name, conf=conf, server_conf=server_conf, tls=tls)
    try:
        for path, data in (files or {}).items():
            with open(g.path("conf", path), "wb") as f:
                f.write(data)
        try:
            g.start()
        except RuntimeError as e:
            return str(e)
        raise AssertionError("apache2 accepted the configuration")
    finally:
        g.cleanup()


def starts(name, conf="", tls=False):
    g = Httpd(name, conf=conf, tls=tls)
    try:
        g.start()
    finally:
        g.cleanup()


def test_401_init_has_one_www_authenticate_field(h):
    r = h.get("/multi/")
    assert_status(r, 401, "initial")
    assert len(r.header_all("WWW-Authenticate")) == 1, r.header_all("WWW-Authenticate")
    assert [c.check().algorithm for c in r.challenges] == MULTI, r.challenges
    for alg in MULTI:
        c = client(h, algorithms=[alg])
        r = c.get("/multi/")
        assert r.status == 200 and r.authenticated, (alg, r)
    p = mutual_client(h.url("/multi/"), "alice", PASSWORDS["alice"])
    assert p.returncode == 0 and "AUTH-SUCCEED" in p.stdout + p.stderr, (p.stdout, p.stderr)


def test_path_outside_the_auth_scope_is_refused_at_startup(h):
    out = startup_refused("path-outside", conf=location(
        "/p/", REALM, [EC256], extra='AuthMutualPath "/p/" "http://other.example/p/"'))
    assert re.search(r"MUT01407: AuthMutualPath \"http://other.example/p/\" at \S+httpd.conf:\d+",
                     out), out
    # an absolute URI inside the scope is sent
    c = client(h)
    _, challenge = c.initial("/private/")
    resp, _ = c.key_exchange("/private/", challenge)
    assert "http://127.0.0.1/ssi/" in resp.header("WWW-Authenticate"), resp.headers


def test_validation_host_on_a_tls_virtual_host_is_refused_at_startup(h):
    conf = location("/p/", REALM, [EC256], extra="AuthMutualValidation host")
    out = startup_refused("tls-host", conf=conf, tls=True)
    assert re.search(r"MUT01408: AuthMutualValidation host at \S+httpd.conf:\d+", out), out
    # behind a TLS-terminating proxy (AuthMutualHost) it is accepted
    starts("tls-host-proxy", tls=True, conf=location(
        "/p/", REALM, [EC256], scope="front.example",
        extra='AuthMutualValidation host\nAuthMutualHost "https://front.example:443"'))


def test_auth_name_sent_exactly_or_refused(h):
    for realm, problem in ((b"tab\there", b"control character"),
                           (b"quote\\\"d", b"quote or a backslash"),
                           (b"latin1 \xe9t\xe9", b"not valid UTF-8")):
        bad = (b'<Location "/p/">\nAuthType Mutual\nAuthName "' + realm +
               b'"\nAuthMutualScope "127.0.0.1"\nRequire valid-user\n</Location>\n')
        out = startup_refused("authname", conf='Include "{root}/conf/bad.conf"',
                              files={"bad.conf": bad})
        assert re.search(r"MUT01409: AuthName at \S+bad.conf:3 .*" + problem.decode(), out), out
    # UTF-8 realms are fine (the named realm above is ASCII; this one is not)
    starts("authname-utf8", conf=location("/p/", "r\u00e9alm", [EC256]))


def test_session_time_below_60_is_a_warning(h):
    out = h.startup_output()
    assert re.search(r"MUT01406: AuthMutualSessionTime 2 at \S+httpd.conf:\d+", out), out


@expect_log("MUT01405")
def test_auth_scope_must_cover_the_servers_origin(h):
    # www.example.test is this server (named virtual host), /private/'s
    # auth-scope is 127.0.0.1: a client would refuse the challenge
    r = with_host(client(h), "www.example.test:%d" % h.port).request("/private/")
    assert_status(r, 401, "internal-error")
    c = with_host(client(h, vh=m.host_vh("http", "www.example.test", h.port)),
                  "www.example.test:%d" % h.port)
    try:
        c.login("/private/")
        raise AssertionError("login succeeded")
    except m.AuthenticationFailed as e:
        assert e.reason == "internal-error", e
    assert "MUT01405" in h.log_since_mark()


@expect_log("MUT01012")
def test_htaccess_without_scope_sends_no_empty_auth_scope(h):
    r = h.get("/noscope/")
    assert_status(r, 401, "internal-error")
    assert "auth-scope" not in r.header("WWW-Authenticate"), r.header("WWW-Authenticate")


def edited_htaccess(h, realm):
    h.write_file("edited/.htaccess", 'AuthType Mutual\nAuthName "%s"\nAuthMutualScope "127.0.0.1"\n'
                 'AuthMutualUserFile "%s"\nRequire valid-user\n' % (realm, h.path("conf", "users")))


def test_one_connection_gets_each_locations_own_challenge(h):
    """check_authn keeps the policy it built last per connection: one
    keep-alive connection that alternates between locations, and an
    .htaccess edited between two of its requests (its configuration lives in
    the request pool, where the next request's may reuse the addresses),
    still get each location's own realm."""
    h.write_file("edited/index.html", "edited\n")
    edited_htaccess(h, "edited realm A")
    conn = m.Connection("127.0.0.1", h.port, None, persistent=True)
    try:
        def realm_of(path):
            r = conn.request("GET", path)
            assert_status(r, 401, "initial")
            found = re.search(r'realm="([^"]*)"', r.header("WWW-Authenticate"))
            assert found, r.header("WWW-Authenticate")
            return found.group(1)

        assert realm_of("/private/") == REALM
        sock = conn.sock
        assert realm_of("/multi/") == MULTI_REALM
        assert realm_of("/private/") == REALM
        assert realm_of("/edited/") == "edited realm A"
        edited_htaccess(h, "edited realm B")  # the same length
        assert realm_of("/edited/") == "edited realm B"
        assert realm_of("/private/") == REALM
        assert conn.sock is sock, "the connection was not kept alive"
    finally:
        conn.close()

"""Issue #12 item 5: Mutual proxy authentication (RFC 8120 §14).

Two apache2 instances: a forward proxy (mod_proxy, ProxyRequests On) with
AuthType Mutual inside <Proxy "*">, and an origin behind it (plain HTTP, and
TLS for CONNECT) that echoes whether it saw any credentials. The
independent client (mutualref in proxy mode) authenticates to the proxy:
407, Proxy-Authenticate, Proxy-Authorization, Proxy-Authentication-Info,
vh = the proxy's own http://host:port."""

import socket
import ssl

import mutualref as m
import os
import subprocess

from httpd_fixture import (Httpd, Servers, add_users, assert_status, expect_log, free_port,
                           location, make_certificate, require_module, require_tool, tool_path,
                           SCOPE)

EC256 = "iso-kam3-ec-p256-sha256"
REALM = "proxy realm"
LOCAL_REALM = "local realm"
PASSWORDS = {"alice": "alice's proxy secret"}
WRONG_VKC = "MUT01123"


def setup_module():
    require_module()
    require_tool("htmutual")
    origin = Httpd("origin", with_mutual=False)
    origin.tls_port = free_port()
    while origin.tls_port == origin.port:
        origin.tls_port = free_port()
    origin.modules += ["socache_shmcb", "ssl"]
    cert, key = make_certificate(origin.path("conf"))
    origin.server_conf = "\n".join([
        "Listen 127.0.0.1:%d https" % origin.tls_port,
        'SSLSessionCache "shmcb:{root}/run/ssl_scache(512000)"',
        "<VirtualHost 127.0.0.1:%d>" % origin.tls_port,
        "    ServerName 127.0.0.1",
        "    SSLEngine on",
        '    SSLCertificateFile "%s"' % cert,
        '    SSLCertificateKeyFile "%s"' % key,
        "</VirtualHost>",
        'Header always set X-Saw-Proxy-Authorization "expr=[%{{req:Proxy-Authorization}}]"',
        'Header always set X-Saw-Authorization "expr=[%{{req:Authorization}}]"',
    ])
    origin.write_file("page.html", "origin page\n")
    origin.write_file("two.html", "origin page two\n")
    origin.start()

    proxy = Httpd("proxy", loglevel="info auth_mutual:debug proxy:warn",
                  modules=["proxy", "proxy_http", "proxy_connect"])
    proxy.server_conf = "\n".join([
        "ProxyRequests On",
        "ProxyVia Off",
        "AllowCONNECT %d" % origin.tls_port,
    ])
    proxy.conf = "\n".join([
        '<Proxy "*">',
        "    AuthType Mutual",
        '    AuthName "%s"' % REALM,
        '    AuthMutualScope "%s"' % SCOPE,
        '    AuthMutualUserFile "{root}/conf/users"',
        "    AuthMutualAlgorithms %s" % EC256,
        '    AuthMutualPath "/ignored/"',
        "    AuthMutualLogoutTimeout 60",
        "    Require valid-user",
        "</Proxy>",
        '<Proxy "http://127.0.0.1:%d/bob/*">' % origin.port,
        "    Require user bob",
        "</Proxy>",
        location("/local/", LOCAL_REALM, [EC256]),
    ])
    add_users(proxy, REALM, PASSWORDS, [EC256])
    add_users(proxy, LOCAL_REALM, PASSWORDS, [EC256])
    proxy.write_file("local/index.html", "the proxy's own page\n")
    proxy.start()
    return Servers([proxy, origin])


def teardown_module(servers):
    servers.cleanup()


def proxy_client(proxy, password=None, **kw):
    return m.Client(proxy.base, "alice", password or PASSWORDS["alice"], proxy=True, **kw)


def target(origin, path="/page.html"):
    return "http://127.0.0.1:%d%s" % (origin.port, path)


def test_forward_proxy_answers_407_with_proxy_authenticate(servers):
    proxy, origin = servers
    r = proxy_client(proxy).request(target(origin))
    assert r.status == 407, r
    assert r.header("WWW-Authenticate") is None, r.headers
    assert r.header("Authentication-Control") is None, r.headers   # §14: no RFC 8053
    [c] = r.challenges                                           # Proxy-Authenticate
    c.check()
    assert (c.kind, c.reason, c.realm, c.auth_scope, c.validation) == \
        ("init", "initial", REALM, SCOPE, "host"), c


def test_client_authenticates_through_the_proxy(servers):
    proxy, origin = servers
    c = proxy_client(proxy)
    r = c.get(target(origin))
    # a verifiable Proxy-Authentication-Info with vh = the proxy's origin
    assert r.status == 200 and r.authenticated, r
    assert c.session.vh == m.host_vh("http", "127.0.0.1", proxy.port), c.session.vh
    assert r.body == b"origin page\n", r.body
    assert r.header("Authentication-Info") is None, r.headers
    # the origin never sees the proxy's credentials
    assert r.header("X-Saw-Proxy-Authorization") == "[]", r.headers
    assert r.header("X-Saw-Authorization") == "[]", r.headers
    # the session covers every target of the proxy
    r = c.get(target(origin, "/two.html"))
    assert r.status == 200 and r.authenticated and r.body == b"origin page two\n", r
    # a replayed nc is refused with 407-STALE
    r = c.verify(target(origin), c.session, nc=c.session.last_nc)
    assert_status(r, 407, "stale-session", "replayed nc through the proxy")


def test_kex_s1_has_no_path_and_no_control(servers):
    proxy, origin = servers
    c = proxy_client(proxy)
    _, challenge = c.initial(target(origin))
    kex, session = c.key_exchange(target(origin), challenge)
    assert kex.status == 407, kex
    [s1] = kex.challenges
    assert s1.kind == "kex-s1" and s1.path is None, s1
    r = c.verify(target(origin), session)
    assert r.status == 200 and r.authenticated, r
    assert r.header("Authentication-Control") is None, r.headers


@expect_log(WRONG_VKC)
def test_wrong_password_is_407_auth_failed(servers):
    proxy, origin = servers
    c = proxy_client(proxy, password="wrong")
    try:
        c.get(target(origin))
        raise AssertionError("wrong password accepted by the proxy")
    except m.AuthenticationFailed as e:
        assert e.response.status == 407 and e.reason == "auth-failed", e.response


@expect_log("AH01631")
def test_authorization_denial_is_407_authz_failed(servers):
    proxy, origin = servers
    c = proxy_client(proxy)
    try:
        c.get(target(origin, "/bob/page.html"))
        raise AssertionError("alice passed Require user bob")
    except m.AuthenticationFailed as e:
        assert e.response.status == 407 and e.reason == "authz-failed", e.response
        assert e.response.header("Proxy-Authentication-Info") is None, e.response.headers


def test_proxy_own_locations_still_use_401(servers):
    proxy, _ = servers
    c = m.Client(proxy.base, "alice", PASSWORDS["alice"])
    r, challenge = c.initial("/local/index.html")
    assert_status(r, 401, "initial")
    assert r.header("Proxy-Authenticate") is None, r.headers
    r = c.get("/local/index.html")
    assert r.status == 200 and r.authenticated, r


def _connect(proxy, origin, authorization=None):
    """One CONNECT on a fresh connection; (socket, status, headers)."""
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
    lines = ["CONNECT 127.0.0.1:%d HTTP/1.1" % origin.tls_port,
             "Host: 127.0.0.1:%d" % origin.tls_port]
    if authorization:
        lines.append("Proxy-Authorization: " + authorization)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    rfile = s.makefile("rb")
    status_line = rfile.readline()
    status = int(status_line.split()[1])
    headers = []
    while True:
        line = rfile.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    length = int(dict((n.lower(), v) for n, v in headers).get("content-length", "0"))
    if status != 200 and length:
        rfile.read(length)
    resp = m.Response(status, "", headers, b"")
    resp.proxy = True
    return s, rfile, resp


def test_connect_through_the_proxy(servers):
    proxy, origin = servers
    c = proxy_client(proxy)
    s, _, r = _connect(proxy, origin)
    s.close()
    assert r.status == 407 and r.challenges, r
    challenge = c.choose([x.check() for x in r.challenges])
    alg = m.ALGORITHMS[challenge.algorithm]
    S_c1 = alg.random_secret()
    K_c1 = alg.client_kc1(S_c1)
    auth = m.kex_c1_header(alg.name, challenge.validation, challenge.auth_scope,
                           challenge.realm, c.user, alg.encode_element(K_c1))
    s, _, r = _connect(proxy, origin, auth)
    s.close()
    assert r.status == 407, r
    [s1] = [x for x in r.challenges if x.kind == "kex-s1"]
    K_s1 = alg.decode_element(s1.ks1)
    z = alg.client_z(S_c1, c.pi(challenge), K_c1, K_s1)
    session = m.Session(s1, c.user, alg, K_c1, K_s1, z, c.vh("host"), s1.sid)
    nc = session.next_nc()
    s, rfile, r = _connect(proxy, origin, session.authorization(nc))
    try:
        assert r.status == 200, r
        c.check_vks(r, session, nc)          # Proxy-Authentication-Info on the CONNECT 200
        assert r.authenticated
        tls = m.insecure_tls_context().wrap_socket(s, server_hostname="127.0.0.1")
        tls.sendall(b"GET /page.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        page = m.read_response(tls.makefile("rb"))
        assert page.status == 200 and page.body == b"origin page\n", page
        tls.close()
    finally:
        s.close()
    # the same nc again: refused
    s, _, r = _connect(proxy, origin, session.authorization(nc))
    s.close()
    assert_status(r, 407, "stale-session", "replayed CONNECT")


def run_mutual_client(proxy, url, password=None, args=()):
    require_tool("mutual-client")
    env = dict(os.environ, MUTUAL_PROXY_PASSWORD=password or PASSWORDS["alice"])
    env.pop("MUTUAL_PASSWORD", None)
    cmd = [tool_path("mutual-client"), "-v", "-x", proxy.base, "-U", "alice",
           "--allow-unauthenticated"] + list(args) + [url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def test_mutual_client_through_the_proxy(servers):
    proxy, origin = servers
    p = run_mutual_client(proxy, target(origin))
    # the origin itself is not protected (exit 8 says so); the proxy was
    # authenticated on the way, its vks checked
    assert p.stdout == "origin page\n", (p.returncode, p.stdout, p.stderr)
    assert p.returncode == 8, (p.returncode, p.stderr)
    assert "[proxy 200-VFY-S]" in p.stderr and "< Proxy-Authentication-Info:" in p.stderr, p.stderr
    # CONNECT: the proxy's 200 carries Proxy-Authentication-Info too
    p = run_mutual_client(proxy, "https://127.0.0.1:%d/page.html" % origin.tls_port, args=["-k"])
    assert p.stdout == "origin page\n", (p.returncode, p.stdout, p.stderr)
    assert p.returncode == 8 and "[proxy 200-VFY-S]" in p.stderr, (p.returncode, p.stderr)


@expect_log(WRONG_VKC)
def test_mutual_client_with_a_wrong_proxy_password(servers):
    proxy, origin = servers
    p = run_mutual_client(proxy, target(origin), password="not it")
    assert p.returncode == 3 and p.stdout == "", (p.returncode, p.stdout, p.stderr)

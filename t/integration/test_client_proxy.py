"""mutual-client through a proxy that requires Mutual authentication
(RFC 8120 §14), in front of the real module.

The proxy is scripted here in Python on mutualref, written from §14: 407 and
Proxy-Authenticate where an origin uses 401 and WWW-Authenticate,
Proxy-Authorization, Proxy-Authentication-Info; vh is the proxy's
"http://host:port"; it omits auth-scope, which then is the proxy's host name
(pi is salted with "127.0.0.1"); its path parameter does not apply. It
proxies http targets (absolute-form requests, forwarded to the origin) and
https targets (CONNECT, then a byte tunnel). One request per connection.

The module authenticates the same client as the origin: both exchanges run,
each with its own realm, user and password."""

import os
import secrets
import socket
import subprocess
import urllib.parse

import mutualref as m
from scripted_servers import Listener, read_head, splice
from httpd_fixture import (Httpd, Servers, add_users, location, require_module, require_tool,
                           tool_path)

EC256, DL2048 = "iso-kam3-ec-p256-sha256", "iso-kam3-dl-2048-sha256"
USER, PASSWORD = "alice", "origin pw"
PROXY_USER, PROXY_PASSWORD, PROXY_REALM = "pat", "proxy pw", "proxy realm"


def setup_module():
    require_module()
    require_tool("htmutual")
    require_tool("mutual-client")
    servers = Servers()
    for name, tls in (("proxied", False), ("proxied-tls", True)):
        h = Httpd(name, conf=location("/p/", "origin realm", [EC256]), tls=tls)
        add_users(h, "origin realm", {USER: PASSWORD}, [EC256])
        h.write_file("p/a.html", "origin page\n")
        servers.append(h)
    for h in servers:
        h.start()
    return servers


def teardown_module(servers):
    servers.cleanup()


class MutualProxy(Listener):
    def __init__(self, algorithm=EC256, fake=False):
        self.alg = m.ALGORITHMS[algorithm]
        self.fake = fake  # without the verifier: accepts any vkc, its vks cannot be right
        password = "a guess" if fake else PROXY_PASSWORD
        self.J = self.alg.J(self.alg.pi(password, "127.0.0.1", PROXY_REALM, PROXY_USER))
        self.sessions = {}
        self.log = []        # (method, kind of Proxy-Authorization, answer status)
        self.forwarded = []  # request lines that reached an origin
        super().__init__()
        self.vh = ("http://127.0.0.1:%d" % self.port).encode()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def common(self):
        return 'version=1, algorithm=%s, validation=host, realm="%s"' % (self.alg.name, PROXY_REALM)

    def wire(self, text):
        return '"%s"' % text if self.alg.wire_quoted else text

    def authenticate(self, value):
        """(None, extra headers) when the request may pass, else (407 headers, None)."""
        A = self.alg
        if not value:
            return [("Proxy-Authenticate", "Mutual " + self.common() + ", reason=initial")], None
        p = m.parse_challenges(value)[0][1]
        if "kc1" in p:
            if p.get("user") != PROXY_USER:
                return [("Proxy-Authenticate", "Mutual " + self.common() + ", reason=auth-failed")], None
            K_c1 = A.decode_element(p["kc1"])
            S_s1 = A.random_secret()
            K_s1 = A.server_ks1(self.J, K_c1, S_s1)
            sid = secrets.token_hex(16)
            self.sessions[sid] = (K_c1, K_s1, A.server_z(K_c1, K_s1, S_s1), set())
            return [("Proxy-Authenticate", "Mutual " + self.common() +
                     ", sid=%s, ks1=%s, nc-max=100, nc-window=128, time=300, path=\"/nowhere/\""
                     % (sid, self.wire(A.encode_element(K_s1))))], None
        sid, nc = p["sid"], int(p["nc"])
        if sid not in self.sessions or nc in self.sessions[sid][3]:
            return [("Proxy-Authenticate", "Mutual " + self.common() + ", reason=stale-session")], None
        K_c1, K_s1, z, used = self.sessions[sid]
        if not self.fake and A.decode_hash(p["vkc"]) != A.vk_c(K_c1, K_s1, z, nc, self.vh):
            return [("Proxy-Authenticate", "Mutual " + self.common() + ", reason=auth-failed")], None
        used.add(nc)
        vks = A.encode_hash(A.vk_s(K_c1, K_s1, z, nc, self.vh))
        return None, [("Proxy-Authentication-Info", "version=1, sid=%s, vks=%s" % (sid, self.wire(vks)))]

    def handle(self, conn, number):
        try:
            rfile = conn.makefile("rb")
            head = read_head(rfile)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = [l.split(":", 1) for l in lines[1:] if ":" in l]
            auth = next((v.strip() for k, v in headers if k.lower() == "proxy-authorization"), "")
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
            body = rfile.read(length) if length else b""
            kind = "vkc" if "vkc=" in auth else "kc1" if "kc1=" in auth else "none"
            refuse, extra = self.authenticate(auth)
            if refuse is not None:
                self.log.append((method, kind, 407))
                text = "".join("%s: %s\r\n" % h for h in refuse)
                conn.sendall(("HTTP/1.1 407 Proxy Authentication Required\r\n%s"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n" % text).encode())
                return
            self.log.append((method, kind, 200))
            extra_text = "".join("%s: %s\r\n" % h for h in extra).encode()
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n" + extra_text + b"\r\n")
                self.forwarded.append(lines[0])
                pending = rfile.peek() if hasattr(rfile, "peek") else b""
                splice(conn, upstream, rfile.read(len(pending)) if pending else b"")
                return
            url = urllib.parse.urlsplit(target)
            upstream = socket.create_connection((url.hostname, url.port or 80))
            path = url.path + ("?" + url.query if url.query else "")
            kept = [(k, v) for k, v in headers
                    if k.lower() not in ("proxy-authorization", "connection", "proxy-connection")]
            request = "%s %s HTTP/1.1\r\n%sConnection: close\r\n\r\n" % (
                method, path, "".join("%s:%s\r\n" % (k, v) for k, v in kept))
            upstream.sendall(request.encode("latin-1") + body)
            self.forwarded.append(lines[0])
            data = b""
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                data += chunk
            upstream.close()
            status_end = data.index(b"\r\n") + 2
            conn.sendall(data[:status_end] + extra_text + data[status_end:])
        except (OSError, ValueError, m.ProtocolError):
            pass


def run(args, proxy_password=PROXY_PASSWORD, timeout=60):
    env = dict(os.environ, MUTUAL_PASSWORD=PASSWORD)
    env.pop("MUTUAL_PROXY_PASSWORD", None)
    env.pop("http_proxy", None)
    env.pop("https_proxy", None)
    if proxy_password is not None:
        env["MUTUAL_PROXY_PASSWORD"] = proxy_password
    return subprocess.run([tool_path("mutual-client"), "-v"] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=env, start_new_session=True,
                          stdin=subprocess.DEVNULL)


def detail(p, proxy):
    return "exit %d\nstdout=%r\nstderr=%s\nproxy log=%r" % (
        p.returncode, p.stdout[:300], p.stderr[-4000:], proxy.log)


def test_http_target_through_a_mutual_proxy(servers):
    h = servers[0]
    proxy = MutualProxy()
    try:
        p = run(["-u", USER, "-x", proxy.url, "-U", PROXY_USER, h.url("/p/a.html"),
                 h.url("/p/a.html")])
    finally:
        proxy.close()
    assert p.returncode == 0, detail(p, proxy)
    assert p.stdout == "origin page\n" * 2, detail(p, proxy)
    assert p.stderr.count("AUTH-SUCCEED") == 2, detail(p, proxy)
    # One key exchange with the proxy, then a req-VFY-C with every request.
    kinds = [k for _, k, _ in proxy.log]
    assert kinds[:3] == ["none", "kc1", "vkc"], detail(p, proxy)
    assert kinds.count("kc1") == 1 and all(k == "vkc" for k in kinds[2:]), detail(p, proxy)
    # The origin ran its own exchange (normal, KEX, VFY) and then reused it.
    assert len(proxy.forwarded) == 4, detail(p, proxy)
    assert "[proxy 200-VFY-S]" in p.stderr and "Proxy-Authorization:" in p.stderr, detail(p, proxy)


def test_https_target_through_a_mutual_proxy_tunnel(servers):
    h = servers[1]
    proxy = MutualProxy(DL2048)
    try:
        p = run(["-u", USER, "-k", "-x", proxy.url, "-U", PROXY_USER, h.url("/p/a.html")])
    finally:
        proxy.close()
    assert p.returncode == 0, detail(p, proxy)
    assert p.stdout == "origin page\n", detail(p, proxy)
    assert all(method == "CONNECT" for method, _, _ in proxy.log), detail(p, proxy)
    assert [k for _, k, _ in proxy.log][:3] == ["none", "kc1", "vkc"], detail(p, proxy)


def test_proxy_without_the_verifier_is_refused(servers):
    h = servers[0]
    proxy = MutualProxy(fake=True)
    try:
        p = run(["-u", USER, "-x", proxy.url, "-U", PROXY_USER, "--allow-unauthenticated",
                 h.url("/p/a.html")])
    finally:
        proxy.close()
    assert p.returncode == 4, detail(p, proxy)
    assert p.stdout == "", detail(p, proxy)
    assert "proxy http://127.0.0.1:%d/" % proxy.port in p.stderr, detail(p, proxy)


def test_proxy_credentials_missing(servers):
    h = servers[0]
    proxy = MutualProxy()
    try:
        p = run(["-u", USER, "-x", proxy.url, h.url("/p/a.html")], proxy_password=None)
    finally:
        proxy.close()
    assert p.returncode == 3, detail(p, proxy)
    assert not proxy.forwarded, detail(p, proxy)

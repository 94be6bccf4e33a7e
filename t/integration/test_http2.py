"""Issue #12 item 7: the Mutual exchange over HTTP/2 (mod_http2): h2c with
prior knowledge on a plain port, h2 (ALPN) over TLS with
tls-server-end-point. The independent client (mutualref) runs its exchange
over an HTTP/2 transport built on python3-h2 (Debian's package; the tests
are skipped when it is missing); nghttp (nghttp2-client) checks the 401
challenge as an unrelated HTTP/2 implementation sees it.

Covered: 401-INIT, 401-KEX-S1, 200-VFY-S with a verifiable
Authentication-Info (HTTP/2 header fields are lower case), session reuse
on several streams of one connection (also concurrent streams with
different nc), a replayed nc (401-STALE), optional authentication,
Authentication-Control and logout."""

import os
import shutil
import socket
import ssl
import subprocess
import sys

import mutualref as m
from httpd_fixture import (Httpd, Skip, add_users, assert_status, expect_log, location,
                           require_module, require_tool)

try:
    import h2.config
    import h2.connection
    import h2.events
except ImportError:  # a Python other than Debian's: use Debian's python3-h2
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import h2.config
        import h2.connection
        import h2.events
    except ImportError:
        h2 = None

EC256 = "iso-kam3-ec-p256-sha256"
REALM = "h2 realm"
PASSWORDS = {"alice": "alice's secret"}
MOD_HTTP2 = "/usr/lib/apache2/modules/mod_http2.so"


class H2Connection:
    """One HTTP/2 connection (h2c prior knowledge, or h2 over TLS with
    ALPN); the request() interface of mutualref.Connection, so that a
    mutualref.Client runs over it. `send()` opens a stream without waiting,
    `wait(stream)` collects its response."""

    def __init__(self, host, port, ssl_context=None, timeout=30):
        self.host, self.port, self.timeout = host, port, timeout
        self.ssl_context = ssl_context
        self.sock = None
        self.responses = {}
        self.streams_opened = 0

    def open(self):
        if self.sock is not None:
            return
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.ssl_context is not None:
            self.ssl_context.set_alpn_protocols(["h2"])
            s = self.ssl_context.wrap_socket(s, server_hostname=self.host)
            if s.selected_alpn_protocol() != "h2":
                raise m.ProtocolError("ALPN did not select h2: %r" % s.selected_alpn_protocol())
        self.sock = s
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                     header_encoding="latin-1"))
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def peer_certificate(self):
        self.open()
        return self.sock.getpeercert(binary_form=True)

    def send(self, method, target, headers=(), body=b""):
        self.open()
        stream = self.h2.get_next_available_stream_id()
        scheme = "https" if self.ssl_context is not None else "http"
        fields = [(":method", method), (":scheme", scheme),
                  (":authority", "%s:%d" % (self.host, self.port)), (":path", target)]
        fields += [(n.lower(), v) for n, v in headers]
        self.h2.send_headers(stream, fields, end_stream=not body)
        if body:
            self.h2.send_data(stream, body, end_stream=True)
        self.sock.sendall(self.h2.data_to_send())
        self.responses[stream] = {"headers": None, "body": b"", "done": False}
        self.streams_opened += 1
        return stream

    def wait(self, stream):
        state = self.responses[stream]
        while not state["done"]:
            data = self.sock.recv(65536)
            if not data:
                raise m.ConnectionClosed("HTTP/2 connection closed")
            for event in self.h2.receive_data(data):
                got = self.responses.get(getattr(event, "stream_id", None))
                if isinstance(event, h2.events.ResponseReceived):
                    got["headers"] = event.headers
                elif isinstance(event, h2.events.DataReceived):
                    got["body"] += event.data
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    got["done"] = True
                elif isinstance(event, h2.events.StreamReset):
                    raise m.ProtocolError("stream %d reset" % event.stream_id)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    raise m.ConnectionClosed("GOAWAY")
            self.sock.sendall(self.h2.data_to_send())
        del self.responses[stream]
        head = [(n.decode("latin-1") if isinstance(n, bytes) else n,
                 v.decode("latin-1") if isinstance(v, bytes) else v) for n, v in state["headers"]]
        status = int(dict(head)[":status"])
        fields = [(n, v) for n, v in head if not n.startswith(":")]
        return m.Response(status, "", fields, state["body"])

    def request(self, method, target, headers=(), body=b""):
        return self.wait(self.send(method, target, headers, body))


def h2_client(h, tls=False, user="alice"):
    port = h.tls_port if tls else h.port
    scheme = "https" if tls else "http"
    c = m.Client("%s://127.0.0.1:%d" % (scheme, port), user, PASSWORDS[user],
                 ssl_context=m.insecure_tls_context() if tls else None)
    c.conn.close()
    c.conn = H2Connection("127.0.0.1", port, m.insecure_tls_context() if tls else None)
    return c


def setup_module():
    require_module()
    require_tool("htmutual")
    if h2 is None:
        raise Skip("python3-h2 is not installed")
    if not os.path.exists(MOD_HTTP2):
        raise Skip("mod_http2 is not installed")
    h = Httpd("http2", mpm="event", loglevel="info auth_mutual:debug http2:info",
              modules=["http2", "socache_shmcb", "ssl"])
    from httpd_fixture import free_port, make_certificate
    h.tls_port = free_port()
    while h.tls_port == h.port:
        h.tls_port = free_port()
    cert, key = make_certificate(h.path("conf"))
    h.server_conf = "\n".join([
        "Protocols h2c http/1.1",
        "Listen 127.0.0.1:%d https" % h.tls_port,
        'SSLSessionCache "shmcb:{root}/run/ssl_scache(512000)"',
        "<VirtualHost 127.0.0.1:%d>" % h.tls_port,
        "    ServerName 127.0.0.1",
        "    Protocols h2 http/1.1",
        "    SSLEngine on",
        '    SSLCertificateFile "%s"' % cert,
        '    SSLCertificateKeyFile "%s"' % key,
        "</VirtualHost>",
    ])
    h.conf = "\n".join([
        location("/private/", REALM, [EC256], extra="AuthMutualLogoutTimeout 60"),
        location("/opt/", REALM, [EC256], extra="AuthMutualOptional On"),
        '<Location "/private/logout">\n    SetHandler mutual-logout\n</Location>',
    ])
    add_users(h, REALM, PASSWORDS, [EC256])
    for d in ("private", "opt"):
        h.write_file(d + "/index.html", "welcome to /%s/ over h2\n" % d)
        h.write_file(d + "/two.html", "page two of /%s/\n" % d)
    return h.start()


def teardown_module(h):
    h.cleanup()


def exchange_and_replay(c):
    r = c.get("/private/index.html")
    assert r.status == 200 and r.authenticated, r
    assert r.body == b"welcome to /private/ over h2\n", r.body
    assert r.header("authentication-info") is not None, r.headers
    assert r.authentication_control(REALM) == {"realm": REALM, "logout-timeout": "60"}, r.headers
    session = c.session
    # session reuse on new streams of the same connection
    for nc in (2, 3):
        r = c.verify("/private/two.html", session, nc=nc)
        assert r.status == 200 and r.authenticated, r
    assert c.conn.streams_opened == 5, c.conn.streams_opened  # INIT, KEX, VFY x3
    # a replayed nc (same Authorization on another stream): 401-STALE
    r = c.verify("/private/two.html", session, nc=3)
    assert_status(r, 401, "stale-session", "replayed nc over HTTP/2")
    assert r.header("authentication-info") is None, r.headers


def test_h2c_exchange_authentication_info_and_replay(h):
    exchange_and_replay(h2_client(h))


def test_h2_over_tls_exchange_and_replay(h):
    c = h2_client(h, tls=True)
    exchange_and_replay(c)
    assert c.session.validation == "tls-server-end-point", c.session.validation


def test_concurrent_streams_with_different_nc(h):
    c = h2_client(h)
    assert c.get("/private/index.html").authenticated
    s = c.session
    streams = [(nc, c.conn.send("GET", "/private/two.html",
                                [("Authorization", s.authorization(nc))])) for nc in range(2, 12)]
    for nc, stream in streams:
        r = c.conn.wait(stream)
        assert r.status == 200, (nc, r)
        c.check_vks(r, s, nc)
    # the same nc on two concurrent streams: exactly one succeeds
    a = c.conn.send("GET", "/private/two.html", [("Authorization", s.authorization(20))])
    b = c.conn.send("GET", "/private/two.html", [("Authorization", s.authorization(20))])
    statuses = sorted([c.conn.wait(a).status, c.conn.wait(b).status])
    assert statuses == [200, 401], statuses


def test_optional_and_logout_over_h2(h):
    c = h2_client(h)
    r = c.request("/opt/index.html")
    assert r.status == 200 and r.optional_challenges, r.headers
    assert r.header("www-authenticate") is None, r.headers
    assert c.get("/private/index.html").authenticated
    r = c.verify("/private/logout", c.session)
    assert r.status == 200 and r.authenticated, r
    assert r.authentication_control(REALM)["logout-timeout"] == "0", r.headers
    r = c.verify("/private/index.html", c.session)
    assert_status(r, 401, "stale-session", "after logout over HTTP/2")


def test_nghttp_sees_one_challenge(h):
    nghttp = shutil.which("nghttp")
    if nghttp is None:
        raise Skip("nghttp (nghttp2-client) is not installed")
    p = subprocess.run([nghttp, "-v", "-n", h.url("/private/index.html")],
                       capture_output=True, text=True, timeout=30)
    out = p.stdout
    assert ":status: 401" in out, out[-2000:]
    lines = [l for l in out.splitlines() if "www-authenticate:" in l]
    assert len(lines) == 1 and "reason=initial" in lines[0] and REALM in lines[0], lines

"""A req-VFY-C never reaches the server over a connection with another
certificate than the one its session was keyed over (RFC 8120 §7, §17.5).

The real module serves HTTPS (KeepAlive Off, so every request of the
exchange opens a new connection). In front of it sits a man in the middle
on its own port: the first connections it passes through untouched (the
client sees the real certificate and authenticates), the later ones it
intercepts with its own certificate (one a user accepted with -k) and relays
every request to the real server over TLS, recording the status the real
server answered.

`mutual-client -k URL URL` then must not let the relayed session's vkc reach
the server: it refuses to send it, re-keys on the intercepted connection, and
the vkc of the new session is bound to the intruder's certificate, which the
real server refuses. No relayed request is answered 200, and nothing of the
second URL is written.

The other side of the same rule: a server whose certificate legitimately
changes between connections (load-balanced front ends) keeps working; each
new certificate costs one key exchange, never a refused request or a
forgotten password."""

import http.server
import secrets
import socket
import ssl
import threading

import mutualref as m
from scripted_servers import Listener, read_head, splice
from httpd_fixture import (Httpd, add_users, expect_log, location, make_certificate,
                           mutual_client, require_module, require_tool)

EC256 = "iso-kam3-ec-p256-sha256"
REALM, USER, PASSWORD = "binding realm", "alice", "binding pw"


def setup_module():
    require_module()
    require_tool("htmutual")
    require_tool("mutual-client")
    h = Httpd("binding", conf=location("/p/", REALM, [EC256]), tls=True,
              server_conf="KeepAlive Off")
    add_users(h, REALM, {USER: PASSWORD}, [EC256])
    h.write_file("p/a.html", "first page\n")
    h.write_file("p/b.html", "SECOND PAGE\n")
    h.start()
    return h


def teardown_module(h):
    h.cleanup()


class Intruder(Listener):
    """TCP pass-through for the first `passthrough` connections, then TLS
    interception with its own certificate, relaying to the real server."""

    def __init__(self, backend_port, cert, key, passthrough):
        self.backend_port = backend_port
        self.passthrough = passthrough
        self.relayed = []  # (request line, Authorization, status from the real server)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        super().__init__()

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def handle(self, client, number):
        if number <= self.passthrough:
            splice(client, socket.create_connection(("127.0.0.1", self.backend_port)))
        else:
            self.intercept(client)

    def intercept(self, raw):
        try:
            client = self.context.wrap_socket(raw, server_side=True)
            rfile = client.makefile("rb")
            request = read_head(rfile)
            if request is None:
                return
            head = request.decode("latin-1")
            auth = ""
            for line in head.split("\r\n")[1:]:
                if line.lower().startswith("authorization:"):
                    auth = line.split(":", 1)[1].strip()
            backend = m.insecure_tls_context().wrap_socket(
                socket.create_connection(("127.0.0.1", self.backend_port)),
                server_hostname="127.0.0.1")
            backend.sendall(request)
            data = b""
            while True:
                chunk = backend.recv(65536)
                if not chunk:
                    break
                data += chunk
            backend.close()
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
            self.relayed.append((head.split("\r\n")[0], auth, status))
            client.sendall(data)
            client.close()
        except (OSError, ssl.SSLError, ValueError):
            pass


@expect_log(r"MUT01123")  # the real server refuses the vkc bound to the intruder
def test_relayed_session_never_authenticates_a_request(h):
    cert, key = make_certificate(h.path("conf"), name="intruder")
    # Three connections for the first URL (401-INIT, 401-KEX-S1, 200-VFY-S),
    # then everything is intercepted.
    intruder = Intruder(h.port, cert, key, passthrough=3)
    try:
        p = mutual_client(intruder.url("/p/b.html"), USER, PASSWORD, EC256,
                          args=["-k", intruder.url("/p/a.html")])
    finally:
        intruder.close()
    detail = "exit %d\nstdout=%r\nstderr=%s\nrelayed=%r" % (
        p.returncode, p.stdout, p.stderr, intruder.relayed)
    assert "first page" in p.stdout, detail           # the real server, authenticated
    assert "SECOND PAGE" not in p.stdout, detail      # nothing through the intruder
    assert p.returncode != 0, detail
    # The client noticed before sending and re-keyed on the new connection.
    assert "req-VFY-C not sent" in p.stderr, detail
    assert intruder.relayed, detail
    # No relayed request ran on the real server.
    assert all(status != 200 for _, _, status in intruder.relayed), detail
    # The first relayed request is the re-key, not the old session's req-VFY-C.
    assert "kc1=" in intruder.relayed[0][1], detail
    assert not any("vkc=" in auth and "nc=2" in auth for _, auth, _ in intruder.relayed), detail


def test_same_certificate_on_new_connections_reuses_the_session(h):
    # The control: every connection reaches the real server (Connection:
    # close on each response) and the session is reused by the second URL.
    intruder = Intruder(h.port, *make_certificate(h.path("conf"), name="unused"),
                        passthrough=100)
    try:
        p = mutual_client(intruder.url("/p/b.html"), USER, PASSWORD, EC256,
                          args=["-k", intruder.url("/p/a.html")])
    finally:
        intruder.close()
    assert p.returncode == 0, p.stderr
    assert "first page" in p.stdout and "SECOND PAGE" in p.stdout, p.stderr
    assert "session reused" in p.stderr and "req-VFY-C not sent" not in p.stderr, p.stderr
    assert intruder.connections == 4, intruder.connections


# ---- a legitimate certificate rotation --------------------------------------------


class RotatingServer(http.server.HTTPServer):
    """A server written from RFC 8120 on mutualref that presents another
    certificate on every new connection (two load-balanced front ends with
    their own certificates and one session store). vh of a request is the
    tls-server-end-point of the certificate of its own connection. Every
    AUTH-SUCCEED response closes the connection, so the next URL arrives on
    a new connection with the other certificate."""

    def __init__(self, certificates):
        super().__init__(("127.0.0.1", 0), RotatingHandler)
        self.alg = m.ALGORITHMS[EC256]
        self.J = self.alg.J(self.alg.pi(PASSWORD, "127.0.0.1", REALM, USER))
        self.contexts, self.vh = [], {}
        for cert, key in certificates:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            with open(cert) as f:
                der = ssl.PEM_cert_to_DER_cert(f.read())
            self.vh[id(context)] = m.tls_server_end_point(der)
            self.contexts.append(context)
        self.accepted = 0
        self.sessions, self.log = {}, []
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def get_request(self):
        sock, address = super().get_request()
        context = self.contexts[self.accepted % len(self.contexts)]
        self.accepted += 1
        return context.wrap_socket(sock, server_side=True), address

    def close(self):
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class RotatingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, headers, body=b"", close=False):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv, A = self.server, self.server.alg
        vh = srv.vh[id(self.connection.context)]
        common = ('version=1, algorithm=%s, validation=tls-server-end-point, '
                  'auth-scope="127.0.0.1", realm="%s"' % (A.name, REALM))
        auth = self.headers.get("Authorization")
        if not auth:
            srv.log.append("normal")
            return self.reply(401, [("WWW-Authenticate", "Mutual %s, reason=initial" % common)])
        p = m.parse_challenges(auth)[0][1]
        if "kc1" in p:
            srv.log.append("kex")
            K_c1 = A.decode_element(p["kc1"])
            S_s1 = A.random_secret()
            K_s1 = A.server_ks1(srv.J, K_c1, S_s1)
            sid = secrets.token_hex(16)
            srv.sessions[sid] = (K_c1, K_s1, A.server_z(K_c1, K_s1, S_s1))
            return self.reply(401, [("WWW-Authenticate", "Mutual %s, sid=%s, ks1=%s, nc-max=100, "
                                     "nc-window=128, time=300"
                                     % (common, sid, A.encode_element(K_s1)))])
        K_c1, K_s1, z = srv.sessions[p["sid"]]
        nc = int(p["nc"])
        if A.decode_hash(p["vkc"]) != A.vk_c(K_c1, K_s1, z, nc, vh):
            srv.log.append("vfy refused")
            return self.reply(401, [("WWW-Authenticate", "Mutual %s, reason=auth-failed" % common)])
        srv.log.append("vfy ok")
        vks = A.encode_hash(A.vk_s(K_c1, K_s1, z, nc, vh))
        return self.reply(200, [("Authentication-Info", "version=1, sid=%s, vks=%s"
                                 % (p["sid"], vks))], b"rotated page\n", close=True)


def test_certificate_rotation_rekeys_and_keeps_working(h):
    certificates = [make_certificate(h.path("conf"), name="front-%d" % i) for i in (1, 2)]
    server = RotatingServer(certificates)
    try:
        url = "https://127.0.0.1:%d/page" % server.port
        p = mutual_client(url, USER, PASSWORD, EC256, args=["-k", url, url])
    finally:
        server.close()
    detail = "exit %d\nstderr=%s\nlog=%r" % (p.returncode, p.stderr, server.log)
    assert p.returncode == 0, detail
    assert p.stdout == "rotated page\n" * 3, detail
    # Each later URL: the session's req-VFY-C withheld, a re-key on the new
    # connection, never a refused vkc, never "credentials rejected".
    assert p.stderr.count("req-VFY-C not sent; re-keying") == 2, detail
    assert server.log == ["normal", "kex", "vfy ok"] + ["kex", "vfy ok"] * 2, detail
    assert "session reused" not in p.stderr, detail

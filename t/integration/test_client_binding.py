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
second URL is written."""

import socket
import ssl

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

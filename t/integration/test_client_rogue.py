"""The client's anti-phishing property against a rogue server.

A small HTTP server in a thread on 127.0.0.1, built on mutualref, plays the
server side of RFC 8120 WITHOUT the user's verifier J(pi): it derives a J
from a guessed password, so it can run a well-formed key exchange but cannot
compute the z the client computes. In each misbehaviour build/mutual-client
must exit with the status docs/mutual-client.1 names (4: the server failed
to authenticate itself; 5: protocol error; 8: not Mutual), write NO byte of
the rogue's body (nor its headers with -i) to standard output, and create no
-o file. An "honest" mode of the same server, holding the right verifier,
proves the harness is a faithful server: the client accepts it (exit 0)."""

import http.server
import os
import secrets
import socketserver
import tempfile
import threading

import mutualref as m
from httpd_fixture import mutual_client, require_tool

REALM, SCOPE = "rogue realm", "127.0.0.1"
USER, PASSWORD = "alice", "the real password"
BODY = b"PHISHING PAGE: type your card number here\n"
MARK = b"PHISHING"
EC256, DL2048 = "iso-kam3-ec-p256-sha256", "iso-kam3-dl-2048-sha256"


class Rogue(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode, algorithm=EC256):
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = mode
        self.alg = m.ALGORITHMS[algorithm]
        self.port = self.server_address[1]
        self.vh = ("http://127.0.0.1:%d" % self.port).encode()
        self.sessions = {}
        self.requests = []
        password = PASSWORD if mode in ("honest", "no-scope", "auth-info-on-normal",
                                        "stale-after-kex") else "a guess"
        # Without auth-scope the scope is the single-server one (RFC 8120
        # §4.1): pi is salted with "http://127.0.0.1:<port>".
        self.scope = "http://127.0.0.1:%d" % self.port if mode == "no-scope" else SCOPE
        self.J = self.alg.J(self.alg.pi(password, self.scope, REALM, USER))
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path="/secret.html"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.shutdown()
        self.server_close()
        self.thread.join(5)

    def common(self):
        if self.mode == "no-scope":
            return ('version=1, algorithm=%s, validation=host, realm="%s"'
                    % (self.alg.name, REALM))
        return ('version=1, algorithm=%s, validation=host, auth-scope="%s", realm="%s"'
                % (self.alg.name, SCOPE, REALM))

    def wire(self, text):
        return '"%s"' % text if self.alg.wire_quoted else text


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, headers, body=BODY):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        srv, A, mode = self.server, self.server.alg, self.server.mode
        auth = self.headers.get("Authorization")
        srv.requests.append(auth)
        if mode == "basic-only":
            return self.reply(401, [("WWW-Authenticate", 'Basic realm="%s"' % REALM)])
        if not auth:
            if mode == "auth-info-on-normal":  # a 200-VFY-S nobody asked for
                return self.reply(200, [("Authentication-Info", "version=1, sid=%s, vks=%s" % (
                    secrets.token_hex(16), srv.wire(A.encode_hash(secrets.randbelow(2 ** 64)))))])
            if mode == "kex-s1-first":  # a 401-KEX-S1 nobody asked for
                return self.reply(401, [("WWW-Authenticate", "Mutual " + srv.common() +
                                         ", sid=%s, ks1=%s, nc-max=100, nc-window=128, time=300"
                                         % (secrets.token_hex(16), srv.wire(A.encode_element(
                                             A.client_kc1(A.random_secret())))))])
            return self.reply(401, [("WWW-Authenticate", "Mutual " + srv.common() + ", reason=initial")])
        p = m.parse_challenges(auth)[0][1]  # credentials share the challenge grammar
        if "kc1" in p:
            if mode == "normal-after-kex":
                return self.reply(200, [])
            if mode == "stale-after-kex":  # 401-STALE answers only req-VFY-C
                return self.reply(401, [("WWW-Authenticate", "Mutual " + srv.common() +
                                         ", reason=stale-session")])
            K_c1 = A.decode_element(p["kc1"])
            if mode == "reflect-kc1":
                K_s1, z = K_c1, secrets.randbelow(2 ** 200)  # echo the client's own key
            else:
                S_s1 = A.random_secret()
                K_s1 = A.server_ks1(srv.J, K_c1, S_s1)
                z = A.server_z(K_c1, K_s1, S_s1)
            if mode == "bad-ks1":
                K_s1 = next(v for v in range(2, 1000) if not A.is_valid_element(v))
            elif mode == "ks1-out-of-range":
                K_s1 = A.q if isinstance(A, m.DlAlgorithm) else 2 * A.curve.p
            sid = secrets.token_hex(16)
            srv.sessions[sid] = (K_c1, K_s1, z)
            return self.reply(401, [("WWW-Authenticate", "Mutual " + srv.common() +
                                     ", sid=%s, ks1=%s, nc-max=100, nc-window=128, time=300"
                                     % (sid, srv.wire(A.encode_element(K_s1))))])
        sid, nc = p["sid"], int(p["nc"])
        K_c1, K_s1, z = srv.sessions[sid]
        vks = A.vk_s(K_c1, K_s1, z, nc, srv.vh)
        if mode == "no-auth-info":
            return self.reply(200, [])
        if mode == "vks-other-sid":
            sid = secrets.token_hex(16)
        if mode == "vks-truncated":
            text = A.encode_hash(vks)[:-4]
        elif mode == "vks-random":
            text = A.encode_hash(secrets.randbelow(2 ** (8 * A.hash_length)))
        else:
            text = A.encode_hash(vks)
        return self.reply(200, [("Authentication-Info", "version=1, sid=%s, vks=%s" % (sid, srv.wire(text)))])

    do_HEAD = do_GET


def run_against(mode, algorithm=EC256, args=(), output=True):
    """mutual-client against a rogue in `mode`; returns (process, rogue, -o path)."""
    require_tool("mutual-client")
    rogue = Rogue(mode, algorithm)
    tmp = tempfile.mkdtemp(prefix="mutual-rogue-")
    out = os.path.join(tmp, "out.html")
    try:
        extra = list(args) + (["-o", out] if output else [])
        p = mutual_client(rogue.url(), USER, PASSWORD, args=extra, timeout=60)
        created = os.path.exists(out)
    finally:
        rogue.close()
        if os.path.exists(out):
            os.unlink(out)
        os.rmdir(tmp)
    return p, rogue, created


SAYS = {4: "FAILED to prove knowledge of the verifier", 5: "UNAUTHENTICATED", 8: "UNAUTHENTICATED"}


def refused(mode, status, algorithm=EC256, args=()):
    for output in (True, False):
        p, rogue, created = run_against(mode, algorithm, args, output)
        detail = "%s (-o %s): exit %d\nstdout=%r\nstderr=%s" % (mode, output, p.returncode,
                                                             p.stdout[:200], p.stderr[-1500:])
        assert p.returncode == status, detail
        assert MARK.decode() not in p.stdout and p.stdout == "", detail
        assert not created, "%s: -o file was created" % mode
        assert "AUTH-SUCCEED" not in p.stderr, detail
        if status != 5 or mode != "kex-s1-first":  # that one is reported as AUTH-REQUIRED
            assert SAYS[status] in p.stderr, detail
    return p, rogue


# ---- the control: the same server holding the verifier is accepted -------------


def test_honest_server_is_accepted():
    p, rogue, created = run_against("honest", output=False)
    assert p.returncode == 0, "exit %d\n%s" % (p.returncode, p.stderr)
    assert p.stdout.encode() == BODY and "AUTH-SUCCEED" in p.stderr
    assert len(rogue.requests) == 3  # INIT, KEX, VFY: a faithful server


def test_honest_server_is_accepted_dl():
    p, rogue, created = run_against("honest", DL2048)
    assert p.returncode == 0 and created, "exit %d\n%s" % (p.returncode, p.stderr)


# ---- servers without the verifier ----------------------------------------------------


def test_fake_vks_from_a_guessed_verifier():
    _, rogue = refused("fake-vks", 4)
    assert len(rogue.requests) == 3  # the client went all the way, then refused


def test_fake_vks_dl():
    refused("fake-vks", 4, DL2048)


def test_fake_vks_even_with_allow_unauthenticated():
    # "Bodies of responses whose verification failed are never written"
    refused("fake-vks", 4, args=["--allow-unauthenticated", "-i"])


def test_random_vks():
    refused("vks-random", 4)


def test_truncated_vks():
    refused("vks-truncated", 4)


def test_vks_for_another_sid():
    refused("vks-other-sid", 4)


def test_missing_authentication_info():
    refused("no-auth-info", 4)


def test_reflected_kc1_as_ks1():
    refused("reflect-kc1", 4)


def test_invalid_ks1_point():
    refused("bad-ks1", 5)


def test_ks1_out_of_range():
    refused("ks1-out-of-range", 5)


def test_ks1_out_of_range_dl():
    refused("ks1-out-of-range", 5, DL2048)


def test_normal_response_to_the_key_exchange():
    refused("normal-after-kex", 5)


def test_unsolicited_kex_s1():
    refused("kex-s1-first", 5)


def test_downgrade_to_basic():
    refused("basic-only", 8)


# ---- RFC 8120 §10.1: responses that end the sequence as fatal errors ------------------


def test_authentication_info_on_a_normal_response_is_fatal():
    # Even with --allow-unauthenticated: neither the body nor the headers.
    refused("auth-info-on-normal", 5, args=["--allow-unauthenticated", "-i"])


def test_stale_answering_the_key_exchange_is_fatal():
    p, rogue = refused("stale-after-kex", 5, args=["--allow-unauthenticated"])
    assert "401-STALE in response to req-KEX-C1" in p.stderr, p.stderr


# ---- an independent server that omits auth-scope (RFC 8120 §4.1) ---------------------


def test_omitted_auth_scope_is_single_server_for_every_algorithm():
    for name in sorted(m.ALGORITHMS):
        p, rogue, created = run_against("no-scope", name, output=False)
        assert p.returncode == 0, "%s: exit %d\n%s" % (name, p.returncode, p.stderr)
        assert p.stdout.encode() == BODY and "AUTH-SUCCEED" in p.stderr, p.stderr
        assert len(rogue.requests) == 3

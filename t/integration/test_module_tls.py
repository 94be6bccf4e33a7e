"""HTTPS with generated self-signed certificates: validation is chosen
automatically (tls-server-end-point on TLS, RFC 8120 §7) and vh is the
RFC 5929 §4.1 hash of the server certificate, which mutualref computes from
ssl.getpeercert(binary_form=True) with the certificate's own signature hash
(SHA-256 for the RSA certificate, SHA-384 for the ECDSA P-384 one)."""

import ssl

import mutualref as m
from httpd_fixture import (Httpd, Servers, SCOPE, add_users, assert_status, expect_log,
                           location, mutual_client, require_module, require_tool)

EC256, EC521 = "iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512"
DL2048 = "iso-kam3-dl-2048-sha256"
PASSWORD = "tls pw"
REALM = "tls realm"


def setup_module():
    require_module()
    require_tool("htmutual")
    conf = (location("/p/", REALM, [EC256, DL2048, EC521]) +
            # validation=host on TLS only with AuthMutualHost (a TLS-terminating
            # proxy in front, here played by the client itself); without it the
            # server refuses to start (test_server_binding.py)
            location("/host/", "tls host realm", [EC256],
                     extra='AuthMutualValidation host\nAuthMutualHost "https://127.0.0.1:{port}"'))
    servers = Servers()
    for name, key, digest in (("tls-rsa", "rsa:2048", "sha256"), ("tls-p384", "ec:P-384", "sha384")):
        h = Httpd(name, conf=conf, tls=True, cert_key=key, cert_digest=digest)
        add_users(h, REALM, {"alice": PASSWORD}, [EC256, DL2048, EC521])
        add_users(h, "tls host realm", {"alice": PASSWORD}, [EC256])
        h.write_file("p/index.html", "over tls\n")
        h.write_file("host/index.html", "host validation over tls\n")
        servers.append(h)
    for h in servers:
        h.start()
    return servers


def teardown_module(servers):
    servers.cleanup()


def test_tls_offers_tls_server_end_point(servers):
    r = servers[0].get("/p/index.html")
    assert_status(r, 401, "initial")
    assert {c.validation for c in r.challenges} == {"tls-server-end-point"}, r.challenges
    assert [c.algorithm for c in r.challenges] == [EC256, DL2048, EC521]


def _der(h):
    with open(h.cert) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def test_certificate_hashes_differ_as_rfc5929_says(servers):
    hashes = [m.certificate_signature_hash(_der(h)) for h in servers]
    assert hashes == ["sha256", "sha384"], hashes


def _login(h, alg):
    c = h.client("alice", PASSWORD, algorithms=[alg])
    r = c.get("/p/index.html")
    assert r.authenticated and r.body == b"over tls\n", r
    assert c.session.validation == "tls-server-end-point"
    assert c.session.vh == m.tls_server_end_point(_der(h))
    for _ in range(5):
        assert c.get("/p/index.html").authenticated
    assert c.requests == 8
    return c


def test_mutualref_tls_rsa_sha256_all_offered_algorithms(servers):
    for alg in (EC256, DL2048, EC521):
        _login(servers[0], alg)


def test_mutualref_tls_ecdsa_sha384_certificate(servers):
    c = _login(servers[1], EC256)
    assert len(c.session.vh) == 48  # SHA-384


@expect_log("MUT01123")
def test_wrong_channel_binding_is_refused(servers):
    # a client whose TLS peer had another certificate (a man in the middle)
    h = servers[0]
    c = h.client("alice", PASSWORD, vh=m.tls_server_end_point(_der(servers[1])))
    try:
        c.get("/p/index.html")
    except m.AuthenticationFailed as e:
        assert_status(e.response, 401, "auth-failed")
    else:
        raise AssertionError("vh of another certificate accepted")


@expect_log("MUT01103")
def test_host_validation_on_tls_location_is_refused(servers):
    h = servers[0]
    c = h.client("alice", PASSWORD)
    c.challenge = m.Challenge({"version": "1", "algorithm": EC256, "validation": "host",
                               "auth-scope": SCOPE, "realm": REALM})
    try:
        c.get("/p/index.html")
    except m.AuthenticationFailed as e:
        assert e.stage == "kex", e
        assert_status(e.response, 401, "invalid-parameters")
    else:
        raise AssertionError("validation=host accepted where tls-server-end-point is offered")


def test_explicit_host_validation_with_authmutualhost_over_tls(servers):
    h = servers[0]
    c = h.client("alice", PASSWORD)
    r = c.get("/host/index.html")
    assert r.authenticated and c.session.validation == "host", r
    assert c.session.vh == ("https://127.0.0.1:%d" % h.port).encode()


def test_mutual_client_over_https(servers):
    require_tool("mutual-client")
    for h in servers:
        p = mutual_client(h.url("/p/index.html"), "alice", PASSWORD, EC256,
                          args=["--cacert", h.cert])
        assert p.returncode == 0, "%s: exit %d\n%s%s" % (h.name, p.returncode, p.stdout, p.stderr)
        assert "over tls" in p.stdout

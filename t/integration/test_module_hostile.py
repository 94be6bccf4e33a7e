"""Malformed and hostile Authorization headers against the real module.

Each case sends one hostile request and asserts the exact status and Mutual
reason (RFC 8120 §4/§11 as docs/directives.md maps them: malformed input ->
401-INIT reason=invalid-parameters, unknown/expired sid and bad nonce numbers
-> 401-STALE, a wrong vkc -> auth-failed) and that the module wrote exactly
one tagged MUT log line for it. httpd's own limits answer 400 before the
module runs. The last case proves a legitimate client still authenticates,
and the runner's error-log scan proves no child crashed."""

import re

import mutualref as m
from httpd_fixture import (Httpd, SCOPE, add_users, assert_status, expect_log, location,
                           require_module, require_tool)

EC256, DL2048 = "iso-kam3-ec-p256-sha256", "iso-kam3-dl-2048-sha256"
REALM = {EC256: "ec realm", DL2048: "dl realm"}
PATH = {EC256: "/ec/", DL2048: "/dl/"}
PASSWORD = "correct horse"

# the module's log tags for client mistakes (error level, like mod_auth_basic)
CLIENT_FAULT_TAGS = ("MUT01102", "MUT01103", "MUT01105", "MUT01106",
                     "MUT01113", "MUT01119", "MUT01122", "MUT01123", "MUT01136")
MUT_LINE = re.compile(r"\] MUT\d{5}: ")


def setup_module():
    require_module()
    require_tool("htmutual")
    conf = "LimitRequestFieldSize 32768\n"
    for alg in (EC256, DL2048):
        conf += location(PATH[alg], REALM[alg], [alg])
    h = Httpd("hostile", conf=conf)
    for alg in (EC256, DL2048):
        add_users(h, REALM[alg], {"alice": PASSWORD}, [alg])
        h.write_file(PATH[alg].strip("/") + "/index.html", "protected\n")
    return h.start()


def teardown_module(h):
    h.cleanup()


# ---- building headers parameter by parameter ------------------------------

def render(params):
    return "Mutual " + ", ".join("%s=%s" % (n, v) for n, v in params)


def replace(params, name, value):
    return [(n, value if n == name else v) for n, v in params]


def without(params, name):
    return [(n, v) for n, v in params if n != name]


def wire(alg, text):
    return '"%s"' % text if m.ALGORITHMS[alg].wire_quoted else text


def kex_params(alg=EC256, kc1=None, user='"alice"'):
    a = m.ALGORITHMS[alg]
    if kc1 is None:
        kc1 = a.client_kc1(a.random_secret())
    kc1_text = a.encode_element(kc1) if isinstance(kc1, int) else kc1
    return [("version", "1"), ("algorithm", alg), ("validation", "host"),
            ("auth-scope", '"%s"' % SCOPE), ("realm", m.quote(REALM[alg])),
            ("user", user), ("kc1", wire(alg, kc1_text))]


def session_for(h, alg=EC256):
    """A freshly authenticated session (nc 1 used)."""
    c = h.client("alice", PASSWORD)
    assert c.get(PATH[alg] + "index.html").authenticated
    return c, c.session


def vfy_params(session, nc=None, vkc=None, sid=None):
    nc = session.next_nc() if nc is None else nc
    a = session.algorithm
    vkc_text = a.encode_hash(session.vkc(nc)) if vkc is None else vkc
    return [("version", "1"), ("algorithm", a.name), ("validation", "host"),
            ("auth-scope", '"%s"' % SCOPE), ("realm", m.quote(session.realm)),
            ("sid", sid or session.sid), ("nc", str(nc)), ("vkc", wire(a.name, vkc_text))]


def send(h, path, authorization):
    """One request with this Authorization value (str or bytes) as it is."""
    if isinstance(authorization, str):
        authorization = authorization.encode("latin-1")
    data = (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path.encode(), h.port) +
            b"Authorization: " + authorization + b"\r\nConnection: close\r\n\r\n")
    return h.raw(data)


def b64_other_pad_bits(text):
    """The same base64 text with non-zero (non-canonical) pad bits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = text.rstrip("=")
    pads = len(text) - len(body)
    unused = {1: 2, 2: 4}[pads]
    last = alphabet.index(body[-1])
    return body[:-1] + alphabet[last ^ (1 << (unused - 1))] + "=" * pads


def off_curve_x():
    ec = m.ALGORITHMS[EC256]
    x = 1
    while ec.P_inverse(2 * x) is not None:
        x += 1
    return 2 * x


# ---- the cases ------------------------------------------------------------
# Each entry: name -> (builder(h) -> (path, authorization), expected), where
# expected is "kex-s1" (the input is valid), a reason (401 with that reason)
# or an int status (httpd answers before the module).

DLQ = m.ALGORITHMS[DL2048].q
DL_LEN = m.ALGORITHMS[DL2048].element_length
EC_LEN = m.ALGORITHMS[EC256].element_length


def dl_kc1(value_int):
    return m.DlAlgorithm.encode_number(value_int, DL_LEN)


def vfy_case(mutate, alg=EC256):
    def build(h):
        c, s = session_for(h, alg)
        return PATH[alg] + "index.html", mutate(c, s)
    return build


def kex_case(mutate, alg=EC256):
    def build(h):
        return PATH[alg] + "index.html", render(mutate(kex_params(alg)))
    return build


def ec_kc1_with_leading_zero():
    ec = m.ALGORITHMS[EC256]
    while True:
        K = ec.client_kc1(ec.random_secret())
        if K >> (8 * (EC_LEN - 1)) == 0:
            return K


INV = "invalid-parameters"
STALE = "stale-session"

CASES = {
    # --- sanity: the builders produce valid messages
    "valid_kex_ec": (kex_case(lambda p: p), "kex-s1"),
    "valid_kex_dl": (kex_case(lambda p: p, DL2048), "kex-s1"),
    "ec_kc1_upper_case_hex_is_fine": (
        kex_case(lambda p: replace(p, "kc1", dict(p)["kc1"].upper())), "kex-s1"),
    "ec_kc1_quoted_is_fine": (kex_case(lambda p: replace(p, "kc1", '"%s"' % dict(p)["kc1"])), "kex-s1"),
    "parameter_names_case_insensitive": (
        kex_case(lambda p: [(n.upper(), v) for n, v in p]), "kex-s1"),
    "unknown_parameter_ignored": (kex_case(lambda p: p + [("x-extension", "1")]), "kex-s1"),
    # --- base64-fixed-number (DL)
    "dl_kc1_missing_padding": (
        kex_case(lambda p: replace(p, "kc1", '"%s"' % dict(p)["kc1"].strip('"').rstrip("=")), DL2048), INV),
    "dl_kc1_excess_padding": (
        kex_case(lambda p: replace(p, "kc1", dict(p)["kc1"][:-1] + '="'), DL2048), INV),
    "dl_kc1_non_canonical_pad_bits": (
        kex_case(lambda p: replace(p, "kc1", '"%s"' % b64_other_pad_bits(dict(p)["kc1"].strip('"'))),
                 DL2048), INV),
    "dl_kc1_invalid_base64_character": (
        kex_case(lambda p: replace(p, "kc1", '"*' + dict(p)["kc1"][2:]), DL2048), INV),
    "dl_kc1_too_short_255_octets": (
        kex_case(lambda p: replace(p, "kc1", '"%s"' % m.DlAlgorithm.encode_number(12345, DL_LEN - 1)),
                 DL2048), INV),
    "dl_kc1_too_long_257_octets": (
        kex_case(lambda p: replace(p, "kc1", '"%s"' % m.DlAlgorithm.encode_number(12345, DL_LEN + 1)),
                 DL2048), INV),
    "dl_kc1_zero": (kex_case(lambda p: replace(p, "kc1", '"%s"' % dl_kc1(0)), DL2048), INV),
    "dl_kc1_one": (kex_case(lambda p: replace(p, "kc1", '"%s"' % dl_kc1(1)), DL2048), INV),
    "dl_kc1_q_minus_1": (kex_case(lambda p: replace(p, "kc1", '"%s"' % dl_kc1(DLQ - 1)), DL2048), INV),
    "dl_kc1_q": (kex_case(lambda p: replace(p, "kc1", '"%s"' % dl_kc1(DLQ)), DL2048), INV),
    "dl_kc1_q_plus_1": (kex_case(lambda p: replace(p, "kc1", '"%s"' % dl_kc1(DLQ + 1)), DL2048), INV),
    # --- hex-fixed-number / points (EC)
    "ec_kc1_off_curve": (
        kex_case(lambda p: replace(p, "kc1", m.EcAlgorithm.encode_number(off_curve_x(), EC_LEN))), INV),
    "ec_kc1_x_not_below_p": (
        kex_case(lambda p: replace(p, "kc1", m.EcAlgorithm.encode_number(
            2 * m.P256.p, EC_LEN))), INV),
    "ec_kc1_leading_zero_dropped_32_octets": (
        kex_case(lambda p: replace(p, "kc1", m.OCTETS(ec_kc1_with_leading_zero(), EC_LEN)[1:].hex())), INV),
    "ec_kc1_odd_number_of_digits": (kex_case(lambda p: replace(p, "kc1", dict(p)["kc1"][:-1])), INV),
    "ec_kc1_not_hex": (kex_case(lambda p: replace(p, "kc1", "zz" + dict(p)["kc1"][2:])), INV),
    "ec_kc1_all_ones_66_digits": (kex_case(lambda p: replace(p, "kc1", "ff" * EC_LEN)), INV),
    # --- message structure
    "version_2": (kex_case(lambda p: replace(p, "version", "2")), INV),
    "version_missing": (kex_case(lambda p: without(p, "version")), INV),
    "algorithm_missing": (kex_case(lambda p: without(p, "algorithm")), INV),
    "user_missing": (kex_case(lambda p: without(p, "user")), INV),
    "kc1_missing_and_no_vkc": (kex_case(lambda p: without(p, "kc1")), INV),
    "duplicate_user": (kex_case(lambda p: p + [("user", '"bob"')]), INV),
    "duplicate_kc1": (kex_case(lambda p: p + [("kc1", dict(p)["kc1"])]), INV),
    "user_and_user_star": (kex_case(lambda p: p + [("user*", "UTF-8''alice")]), INV),
    "kc1_and_vkc_together": (kex_case(lambda p: p + [("vkc", "00" * 32)]), INV),
    "server_parameter_ks1_in_request": (kex_case(lambda p: p + [("ks1", dict(p)["kc1"])]), INV),
    "realm_star_forbidden": (
        kex_case(lambda p: without(p, "realm") + [("realm*", "UTF-8''ec%20realm")]), INV),
    "unterminated_quoted_string": (kex_case(lambda p: replace(p, "user", '"alice')), INV),
    "garbage_after_parameter": (kex_case(lambda p: replace(p, "user", '"alice" junk')), INV),
    "token68_form": (lambda h: ("/ec/index.html", "Mutual YWxpY2U6c2VjcmV0"), INV),
    "scheme_only": (lambda h: ("/ec/index.html", "Mutual"), INV),
    "other_scheme_is_initial": (lambda h: ("/ec/index.html", "Basic YWxpY2U6c2VjcmV0"), "initial"),
    "too_many_parameters": (kex_case(lambda p: p + [("x%d" % i, "1") for i in range(80)]), INV),
    # --- the protection space
    "wrong_realm": (kex_case(lambda p: replace(p, "realm", '"another realm"')), INV),
    "algorithm_not_offered_here": (
        lambda h: ("/ec/index.html", render(replace(kex_params(DL2048), "realm", '"ec realm"'))), INV),
    "unknown_algorithm": (kex_case(lambda p: replace(p, "algorithm", "iso-kam3-ec-p384-sha384")), INV),
    "validation_tls_on_plain_http": (
        kex_case(lambda p: replace(p, "validation", "tls-server-end-point")), INV),
    "wrong_auth_scope": (kex_case(lambda p: replace(p, "auth-scope", '"example.com"')), INV),
    # --- user names
    "user_star_invalid_utf8": (
        kex_case(lambda p: without(p, "user") + [("user*", "UTF-8''ali%C3%28ce")]), INV),
    "user_star_bad_percent_encoding": (
        kex_case(lambda p: without(p, "user") + [("user*", "UTF-8''ali%G1ce")]), INV),
    "user_star_truncated_percent": (
        kex_case(lambda p: without(p, "user") + [("user*", "UTF-8''alice%C")]), INV),
    "user_star_latin1_charset": (
        kex_case(lambda p: without(p, "user") + [("user*", "ISO-8859-1''alice")]), INV),
    "user_star_language_tag": (
        kex_case(lambda p: without(p, "user") + [("user*", "UTF-8'en'alice")]), INV),
    "user_raw_invalid_utf8_octets": (
        lambda h: ("/ec/index.html", render(kex_params(EC256)).replace('"alice"', '"ali\xc3\x28ce"')),
        INV),
    "user_with_bom": (
        kex_case(lambda p: without(p, "user") + [("user*", "UTF-8''%EF%BB%BFalice")]), INV),
    "user_empty": (kex_case(lambda p: replace(p, "user", '""')), INV),
    "user_256_octets_is_fine": (kex_case(lambda p: replace(p, "user", '"%s"' % ("u" * 256))), "kex-s1"),
    # unacceptable names get a fake 401-KEX-S1 (RFC 8120 §11, Note 2)
    "user_257_octets": (kex_case(lambda p: replace(p, "user", '"%s"' % ("u" * 257))), "kex-s1"),
    "user_4000_octets": (kex_case(lambda p: replace(p, "user", '"%s"' % ("u" * 4000))), "kex-s1"),
    "user_with_nul": (kex_case(lambda p: without(p, "user") + [("user*", "UTF-8''ali%00ce")]), INV),
    # --- req-VFY-C
    "vfy_nc_leading_zeros_007": (
        vfy_case(lambda c, s: render(replace(vfy_params(s, nc=7), "nc", "007"))), INV),
    "vfy_nc_negative": (vfy_case(lambda c, s: render(replace(vfy_params(s, nc=2), "nc", "-2"))), INV),
    "vfy_nc_not_a_number": (vfy_case(lambda c, s: render(replace(vfy_params(s, nc=2), "nc", "0x2"))), INV),
    "vfy_nc_missing": (vfy_case(lambda c, s: render(without(vfy_params(s), "nc"))), INV),
    "vfy_nc_beyond_2_64": (vfy_case(lambda c, s: render(vfy_params(s, nc=2 ** 64 + 2))), STALE),
    "vfy_sid_missing": (vfy_case(lambda c, s: render(without(vfy_params(s), "sid"))), INV),
    "vfy_sid_not_hex": (vfy_case(lambda c, s: render(vfy_params(s, sid="zz" + s.sid[2:]))), INV),
    "vfy_sid_odd_length": (vfy_case(lambda c, s: render(vfy_params(s, sid=s.sid[:-1]))), INV),
    "vfy_sid_wrong_length": (vfy_case(lambda c, s: render(vfy_params(s, sid=s.sid[:-2]))), STALE),
    "vfy_sid_unknown": (
        vfy_case(lambda c, s: render(vfy_params(s, sid="%0*x" % (len(s.sid), int(s.sid, 16) ^ 0xFF)))),
        STALE),
    "vfy_vkc_wrong_length": (vfy_case(lambda c, s: render(vfy_params(s, vkc="00" * 31))), INV),
    "vfy_vkc_not_hex": (vfy_case(lambda c, s: render(vfy_params(s, vkc="g" * 64))), INV),
    "vfy_vkc_wrong_value": (vfy_case(lambda c, s: render(vfy_params(s, vkc="00" * 32))), "auth-failed"),
    "vfy_dl_vkc_bad_base64": (
        vfy_case(lambda c, s: render(vfy_params(s, vkc="A" * 43)), DL2048), INV),
    "vfy_kc1_and_vkc_together": (
        vfy_case(lambda c, s: render(vfy_params(s) + [("kc1", "02" + "00" * 32)])), INV),
    "vfy_kc2_and_vkc_together": (vfy_case(lambda c, s: render(vfy_params(s) + [("kc2", "00")])), INV),
    "vfy_other_realm": (vfy_case(lambda c, s: render(replace(vfy_params(s), "realm", '"x"'))), INV),
    "vfy_version_2": (vfy_case(lambda c, s: render(replace(vfy_params(s), "version", "2"))), INV),
    "two_authorization_headers": (
        vfy_case(lambda c, s: (render(vfy_params(s)) + "\r\nAuthorization: " +
                               render(vfy_params(s)))), INV),
    # --- httpd's own limits
    "header_line_64_kib": (lambda h: ("/ec/index.html", "Mutual " + "a" * 65536), 400),
    "header_value_20_kib": (
        kex_case(lambda p: p + [("x-padding", '"%s"' % ("p" * 20480))]), INV),
}


def _make_case(name, build, expected):
    tags = CLIENT_FAULT_TAGS

    @expect_log(*tags)
    def case(h):
        path, authorization = build(h)
        mark = h.log_size()
        r = send(h, path, authorization)
        if expected == "kex-s1":
            assert r.status == 401 and r.challenges and r.challenges[0].kind == "kex-s1", \
                "%s: expected 401-KEX-S1, got %r" % (name, r)
        elif isinstance(expected, int):
            assert r.status == expected, "%s: expected HTTP %d, got %r" % (name, expected, r)
            return
        else:
            assert_status(r, 401, expected, name)
            assert all(c.reason == expected for c in r.challenges), r.challenges
        if expected not in ("kex-s1", "initial"):  # another scheme is no error
            lines = [l for l in h.log_from(mark).splitlines() if MUT_LINE.search(l)]
            assert len(lines) == 1, "%s: expected one MUT log line, got:\n%s" % (name, "\n".join(lines))
    case.__name__ = "test_" + name
    return case


for _order, (_name, (_build, _expected)) in enumerate(CASES.items()):
    _case = _make_case(_name, _build, _expected)
    _case.case_order = _order
    globals()[_case.__name__] = _case
del _order, _name, _build, _expected, _case


def test_vfy_nc_zero_is_a_nonce_like_any_other(h):
    # RFC 8120 §6: clients may count "from zero up to the value of nc-max";
    # 0 is above (largest-nc - nc-window) here, so it is a fresh nonce number.
    c, s = session_for(h)
    r = c.verify(PATH[EC256] + "index.html", s, nc=0)  # checks vks
    assert r.status == 200 and r.authenticated, r
    assert_status(c.verify(PATH[EC256] + "index.html", s, nc=0), 401, STALE, "nc 0 replayed")


@expect_log("MUT01123", "MUT01119")
def test_rejected_session_stays_rejected(h):
    # a wrong vkc rejects a key-exchanging session; its sid never works again
    c = h.client("alice", "wrong password")
    _, challenge = c.initial(PATH[EC256] + "index.html")
    _, s = c.key_exchange(PATH[EC256] + "index.html", challenge)
    assert_status(c.verify(PATH[EC256] + "index.html", s), 401, "auth-failed", "wrong password")
    mark = h.log_size()
    assert_status(c.verify(PATH[EC256] + "index.html", s), 401, "auth-failed", "rejected sid reused")
    assert "MUT01119" in h.log_from(mark)


def test_zz_legitimate_client_still_authenticates(h):
    for alg in (EC256, DL2048):
        c = h.client("alice", PASSWORD)
        assert c.get(PATH[alg] + "index.html").authenticated
        for _ in range(3):
            assert c.get(PATH[alg] + "index.html").authenticated

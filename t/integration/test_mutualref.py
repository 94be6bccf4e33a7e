"""mutualref against the known-answer vectors and the RFC's own examples.

No httpd here: this proves the independent client before it is used to judge
the module. Every one of the 12 vectors of kam3-vectors.json is checked for
pi (and its salt), J, K_c1, t_1, K_s1, t_2, z (client and server side), VK_c,
VK_s, their wire encodings and the canonical header strings."""

import json
import os

import mutualref as m

HERE = os.path.dirname(os.path.abspath(__file__))
KAT = os.environ.get("MUTUAL_KAT") or os.path.join(
    HERE, "..", "data", "kam3-vectors.json")


def load_vectors():
    with open(KAT, encoding="utf-8") as f:
        return json.load(f)["vectors"]


def eq(actual, expected, what):
    assert actual == expected, "%s: got %r, expected %r" % (what, actual, expected)


def check_vector(v):
    inp, der, hx, hdr = v["inputs"], v["derived"], v["hex"], v["headers"]
    alg = m.ALGORITHMS[v["algorithm"]]
    L = alg.element_length
    user = bytes.fromhex(inp["user_hex"]).decode("utf-8")
    password = bytes.fromhex(inp["password_hex"]).decode("utf-8")
    realm = bytes.fromhex(inp["realm_hex"]).decode("utf-8")
    scope, vh, nc = inp["auth_scope"], inp["vh"].encode("ascii"), inp["nc"]
    S_c1, S_s1 = int(inp["S_c1"], 16), int(inp["S_s1"], 16)

    eq(alg.pi_salt(scope, realm, user).hex(), der["pi_salt"], "pi salt")
    pi = alg.pi(password, scope, realm, user)
    eq(m.OCTETS(pi, alg.hash_length).hex(), der["pi"], "pi")
    J = alg.J(pi)
    eq(m.OCTETS(J, L).hex(), der["J"], "J")

    K_c1 = alg.client_kc1(S_c1)
    eq(m.OCTETS(K_c1, L).hex(), hx["K_c1"], "K_c1")
    eq(alg.encode_element(K_c1), der["K_c1"], "K_c1 wire")
    assert alg.is_valid_element(K_c1)
    eq(m.OCTETS(alg.t1(K_c1), alg.hash_length).hex(), der["t_1"], "t_1")

    K_s1 = alg.server_ks1(J, K_c1, S_s1)
    eq(m.OCTETS(K_s1, L).hex(), hx["K_s1"], "K_s1")
    eq(alg.encode_element(K_s1), der["K_s1"], "K_s1 wire")
    eq(alg.decode_element(der["K_s1"]), K_s1, "K_s1 decoded")
    assert alg.is_valid_element(K_s1)
    eq(m.OCTETS(alg.t2(K_c1, K_s1), alg.hash_length).hex(), der["t_2"], "t_2")

    z_client = alg.client_z(S_c1, pi, K_c1, K_s1)
    z_server = alg.server_z(K_c1, K_s1, S_s1)
    eq(m.OCTETS(z_client, L).hex(), der["z"], "z (client)")
    eq(z_server, z_client, "z (server)")

    vkc = alg.vk_c(K_c1, K_s1, z_client, nc, vh)
    vks = alg.vk_s(K_c1, K_s1, z_client, nc, vh)
    eq(m.OCTETS(vkc, alg.hash_length).hex(), hx["VK_c"], "VK_c")
    eq(m.OCTETS(vks, alg.hash_length).hex(), hx["VK_s"], "VK_s")
    eq(alg.encode_hash(vkc), der["VK_c"], "VK_c wire")
    eq(alg.encode_hash(vks), der["VK_s"], "VK_s wire")

    # canonical headers: what the client sends must match byte for byte
    init = m.mutual_challenges([hdr["401-INIT WWW-Authenticate"]])
    eq(len(init), 1, "401-INIT challenges")
    init = init[0].check()
    eq((init.algorithm, init.auth_scope, init.realm, init.reason, init.kind),
       (v["algorithm"], scope, realm, "initial", "init"), "401-INIT fields")
    kex = m.kex_c1_header(init.algorithm, init.validation, init.auth_scope,
                          init.realm, user, alg.encode_element(K_c1))
    wire = lambda s: s.encode("utf-8").decode("latin-1")  # header octets as latin-1
    eq(kex, wire(hdr["req-KEX-C1 Authorization"]), "req-KEX-C1")

    s1 = m.mutual_challenges([wire(hdr["401-KEX-S1 WWW-Authenticate"])])[0].check()
    eq(s1.kind, "kex-s1", "401-KEX-S1 kind")
    eq(alg.decode_element(s1.ks1), K_s1, "ks1 in 401-KEX-S1")
    eq(s1.realm, realm, "realm in 401-KEX-S1")
    session = m.Session(s1, user, alg, K_c1, K_s1, z_client, vh, s1.sid)
    eq(session.authorization(nc), wire(hdr["req-VFY-C Authorization"]), "req-VFY-C")
    info = m.parse_auth_info(hdr["200-VFY-S Authentication-Info"])
    eq(info["sid"], s1.sid, "sid in 200-VFY-S")
    eq(alg.decode_hash(info["vks"]), session.vks(nc), "vks in 200-VFY-S")


def _make_vector_case(index):
    def case():
        check_vector(load_vectors()[index])
    return case


for _i in range(12):
    _case = _make_vector_case(_i)
    _case.__name__ = "test_kat_vector_%02d" % _i
    _case.case_order = _i
    globals()[_case.__name__] = _case
del _i, _case


def test_kat_file_has_twelve_vectors_covering_all_algorithms():
    vectors = load_vectors()
    eq(len(vectors), 12, "number of vectors")
    eq(sorted({v["algorithm"] for v in vectors}), sorted(m.ALGORITHM_NAMES), "algorithms")


def test_rfc8120_vi_vs_examples():
    # RFC 8120 §12.1
    eq(m.VI(0), b"\000", "VI(0)")
    eq(m.VI(100), b"d", "VI(100)")
    eq(m.VI(10000), b"\316\020", "VI(10000)")
    eq(m.VI(1000000), b"\275\204@", "VI(1000000)")
    eq(m.VS(b""), b"\000", "VS('')")
    eq(m.VS(b"Tea"), b"\003Tea", "VS(Tea)")
    eq(m.VS("Caf\u00e9".encode()), b"\005Caf\303\251", "VS(Cafe)")
    eq(m.VS(b"a" * 10000)[:3], b"\316\020a", "VS(10000 a)")
    eq(len(m.VS(b"a" * 10000)), 10002, "len VS(10000 a)")


def test_group_parameters():
    for name in ("iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512"):
        alg = m.ALGORITHMS[name]
        c = alg.curve
        assert c.on_curve(c.G), name
        eq(c.mul(c.n, c.G), None, "[n]G is 0_E for %s" % name)
        eq(alg.element_length, {256: 33, 521: 66}[c.p.bit_length()], "EC natural length")
    for name, bits in (("iso-kam3-dl-2048-sha256", 2048), ("iso-kam3-dl-4096-sha512", 4096)):
        alg = m.ALGORITHMS[name]
        eq(alg.q.bit_length(), bits, name)
        eq(pow(alg.g, alg.order, alg.q), 1, "g has order r")
        eq(alg.element_length, bits // 8, "DL natural length")


def test_strict_number_decoding():
    dl = m.ALGORITHMS["iso-kam3-dl-2048-sha256"]
    ec = m.ALGORITHMS["iso-kam3-ec-p256-sha256"]
    good = dl.encode_hash(5)
    eq(dl.decode_hash(good), 5, "round trip")
    for bad in (good.rstrip("="), good + "=", good[:-2] + "B=", good[:-4], "", "a b=",
                good.replace("A", "-", 1)):
        try:
            dl.decode_hash(bad)
        except m.ProtocolError:
            continue
        raise AssertionError("accepted base64 %r" % bad)
    for bad in ("0" * 63, "0" * 66, "zz" * 32, ""):
        try:
            ec.decode_hash(bad)
        except m.ProtocolError:
            continue
        raise AssertionError("accepted hex %r" % bad)
    eq(ec.decode_hash("AB" * 32), int("ab" * 32, 16), "upper-case hex accepted")


def test_ec_point_validation():
    ec = m.ALGORITHMS["iso-kam3-ec-p256-sha256"]
    K = ec.client_kc1(12345)
    assert ec.is_valid_element(K)
    assert ec.is_valid_element(K ^ 1)  # the other y is a valid point too
    x = 0
    while ec.P_inverse(2 * x) is not None:  # find an x off the curve
        x += 1
    assert not ec.is_valid_element(2 * x)
    assert not ec.is_valid_element(2 * ec.curve.p)  # x = p is out of range


def test_header_grammar():
    items = m.parse_challenges(
        'Basic realm="x", Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, '
        'validation=host, auth-scope="a, b", realm="r\\"q", reason=initial, '
        'Mutual version=1, algorithm=iso-kam3-dl-2048-sha256, validation=host, '
        'realm="r", reason=initial')
    eq([s for s, _ in items], ["Basic", "Mutual", "Mutual"], "schemes")
    eq(items[1][1]["auth-scope"], "a, b", "quoted comma")
    eq(items[1][1]["realm"], 'r"q', "quoted-pair")
    eq(m.parse_auth_info('version=1, sid=0a, vks="x="'), {"version": "1", "sid": "0a", "vks": "x="},
       "Authentication-Info")
    eq(m.parse_challenges("Mutual user*=UTF-8''Ren%C3%A9e")[0][1]["user"], "Ren\u00e9e", "ext-value")
    for bad in ('Mutual a=1, a=2', 'Mutual a="x', "Mutual user*=ISO-8859-1''x",
                "Mutual user*=UTF-8''%ZZ", 'Mutual a=1 b'):
        try:
            m.parse_challenges(bad)
        except m.HeaderSyntaxError:
            continue
        raise AssertionError("accepted %r" % bad)
    eq(m.string_param("user", "bob"), 'user="bob"', "ASCII user")
    eq(m.string_param("user", "Ren\u00e9e of France"),
       "user*=UTF-8''Ren%C3%A9e%20of%20France", "RFC 8120 §3.1 example")

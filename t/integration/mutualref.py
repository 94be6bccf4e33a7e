"""mutualref: an independent client side of HTTP Mutual authentication.

Written from the RFC text only (RFC 8120 §3, §4, §6, §7, §12 and RFC 8121 §3),
in pure Python with the standard library: hashlib for PBKDF2 and the hashes,
pow() for the discrete-logarithm groups, and a small affine/Jacobian point
arithmetic for P-256 and P-521. It shares no code with the C++ core, so a
module that authenticates against it and against mutual-client agrees with two
independent readings of the specification.

Layers, bottom up:
  * RFC 8120 §12.1 support functions: VI, VS, OCTETS, INT.
  * Algorithms (RFC 8121 §3): DlAlgorithm, EcAlgorithm, ALGORITHMS[name].
  * Header grammar (RFC 7235 §2.1 / RFC 7615 / RFC 5987) and builders.
  * An HTTP/1.1 transport on raw sockets (plain or TLS) that sends any bytes.
  * Client: the client decision procedure (initial request, req-KEX-C1,
    req-VFY-C, session reuse, 401-STALE recovery), counting round trips.
"""

import base64
import hashlib
import re
import secrets
import socket
import ssl
import urllib.parse

VERSION = "1"

# --------------------------------------------------------------------------
# RFC 8120 §12.1 support functions


def VI(n):
    """Big-endian radix-128 with continuation bits, first octet never 0x80."""
    if n < 0:
        raise ValueError("VI of a negative number")
    digits = [n & 0x7F]
    n >>= 7
    while n:
        digits.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(digits))


def VS(s):
    """VI(length) | s, for octet strings."""
    return VI(len(s)) + s


def OCTETS(n, length):
    """Radix-256 big-endian octet string of the natural length `length`."""
    return n.to_bytes(length, "big")


def INT(octets):
    return int.from_bytes(octets, "big")


def octet(i):
    return bytes([i])


class ProtocolError(Exception):
    """The peer sent something the protocol does not allow."""


# --------------------------------------------------------------------------
# RFC 8121 §3: the four iso-kam3 algorithms

N_ITER_PI = 16384


class Algorithm:
    """What every iso-kam3 algorithm shares: pi, VK_c, VK_s and the t_i."""

    name = ""
    hash_name = ""
    element_length = 0  # natural length of K_c1, K_s1, z (octets)
    order = 0  # r

    @property
    def hash_length(self):
        return hashlib.new(self.hash_name).digest_size

    def H(self, data):
        return hashlib.new(self.hash_name, data).digest()

    # RFC 8120 §12.2
    def pi_salt(self, auth_scope, realm, user):
        return (VS(self.name.encode()) + VS(auth_scope.encode("utf-8")) +
                VS(realm.encode("utf-8")) + VS(user.encode("utf-8")))

    def pi(self, password, auth_scope, realm, user):
        key = hashlib.pbkdf2_hmac(self.hash_name, password.encode("utf-8"),
                                  self.pi_salt(auth_scope, realm, user),
                                  N_ITER_PI, self.hash_length)
        return INT(key)

    def t1(self, K_c1):
        return INT(self.H(octet(1) + OCTETS(K_c1, self.element_length)))

    def t2(self, K_c1, K_s1):
        L = self.element_length
        return INT(self.H(octet(2) + OCTETS(K_c1, L) + OCTETS(K_s1, L)))

    def _vk(self, tag, K_c1, K_s1, z, nc, vh):
        L = self.element_length
        return INT(self.H(octet(tag) + OCTETS(K_c1, L) + OCTETS(K_s1, L) +
                          OCTETS(z, L) + VI(nc) + VS(vh)))

    def vk_c(self, K_c1, K_s1, z, nc, vh):
        return self._vk(4, K_c1, K_s1, z, nc, vh)

    def vk_s(self, K_c1, K_s1, z, nc, vh):
        return self._vk(3, K_c1, K_s1, z, nc, vh)

    def random_secret(self):
        return 1 + secrets.randbelow(self.order - 1)

    # wire encodings of kc1/ks1 (element) and vkc/vks (hash)
    def encode_element(self, n):
        return self.encode_number(n, self.element_length)

    def decode_element(self, text):
        return self.decode_number(text, self.element_length)

    def encode_hash(self, n):
        return self.encode_number(n, self.hash_length)

    def decode_hash(self, text):
        return self.decode_number(text, self.hash_length)


class DlAlgorithm(Algorithm):
    """RFC 8121 §3.2 over an RFC 3526 MODP group, g = 2, r = (q-1)/2."""

    wire_quoted = True

    def __init__(self, name, hash_name, q_hex):
        self.name = name
        self.hash_name = hash_name
        self.q = int(q_hex, 16)
        self.g = 2
        self.order = (self.q - 1) // 2
        self.element_length = (self.q.bit_length() + 7) // 8

    def J(self, pi):
        return pow(self.g, pi, self.q)

    def random_secret(self):
        # S_c1 in [1, r-1] and S_c1 > log(q)/log(g) so that g^S_c1 > q.
        while True:
            s = super().random_secret()
            if s > self.q.bit_length():
                return s

    def is_valid_element(self, K):
        return 1 < K < self.q - 1

    def client_kc1(self, S_c1):
        return pow(self.g, S_c1, self.q)

    def client_z(self, S_c1, pi, K_c1, K_s1):
        r = self.order
        e = (S_c1 + self.t2(K_c1, K_s1)) * pow(S_c1 * self.t1(K_c1) + pi, -1, r) % r
        return pow(K_s1, e, self.q)

    # server side, used only to check the known-answer vectors
    def server_ks1(self, J, K_c1, S_s1):
        return pow(J * pow(K_c1, self.t1(K_c1), self.q) % self.q, S_s1, self.q)

    def server_z(self, K_c1, K_s1, S_s1):
        return pow(K_c1 * pow(self.g, self.t2(K_c1, K_s1), self.q) % self.q, S_s1, self.q)

    # base64-fixed-number (RFC 8120 §3.2.3), canonical form quoted
    @staticmethod
    def encode_number(n, length):
        return base64.b64encode(OCTETS(n, length)).decode("ascii")

    @staticmethod
    def decode_number(text, length):
        if not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", text or ""):
            raise ProtocolError("base64-fixed-number: invalid characters")
        try:
            raw = base64.b64decode(text, validate=True)
        except Exception as e:
            raise ProtocolError("base64-fixed-number: %s" % e)
        if base64.b64encode(raw).decode("ascii") != text:
            raise ProtocolError("base64-fixed-number: non-canonical padding")
        if len(raw) != length:
            raise ProtocolError("base64-fixed-number: %d octets, natural length %d"
                                % (len(raw), length))
        return INT(raw)


class Curve:
    """A short Weierstrass curve y^2 = x^3 + ax + b over GF(p), cofactor 1."""

    def __init__(self, p, a, b, gx, gy, n):
        self.p, self.a, self.b, self.n = p, a, b, n
        self.G = (gx, gy)

    def on_curve(self, pt):
        if pt is None:
            return False
        x, y = pt
        p = self.p
        return 0 <= x < p and 0 <= y < p and (y * y - (x * x * x + self.a * x + self.b)) % p == 0

    # Jacobian coordinates (X, Y, Z) with x = X/Z^2, y = Y/Z^3; None is 0_E.
    def _to_jacobian(self, pt):
        return None if pt is None else (pt[0], pt[1], 1)

    def _to_affine(self, P):
        if P is None:
            return None
        X, Y, Z = P
        p = self.p
        zi = pow(Z, -1, p)
        zi2 = zi * zi % p
        return (X * zi2 % p, Y * zi2 * zi % p)

    def _double(self, P):
        if P is None:
            return None
        X, Y, Z = P
        p = self.p
        if Y == 0:
            return None
        YY = Y * Y % p
        S = 4 * X * YY % p
        ZZ = Z * Z % p
        M = (3 * X * X + self.a * ZZ * ZZ) % p
        X3 = (M * M - 2 * S) % p
        Y3 = (M * (S - X3) - 8 * YY * YY) % p
        Z3 = 2 * Y * Z % p
        return (X3, Y3, Z3)

    def _add(self, P, Q):
        if P is None:
            return Q
        if Q is None:
            return P
        p = self.p
        X1, Y1, Z1 = P
        X2, Y2, Z2 = Q
        Z1Z1 = Z1 * Z1 % p
        Z2Z2 = Z2 * Z2 % p
        U1 = X1 * Z2Z2 % p
        U2 = X2 * Z1Z1 % p
        S1 = Y1 * Z2 * Z2Z2 % p
        S2 = Y2 * Z1 * Z1Z1 % p
        if U1 == U2:
            return self._double(P) if S1 == S2 else None
        Hh = (U2 - U1) % p
        R = (S2 - S1) % p
        HH = Hh * Hh % p
        HHH = Hh * HH % p
        V = U1 * HH % p
        X3 = (R * R - HHH - 2 * V) % p
        Y3 = (R * (V - X3) - S1 * HHH) % p
        Z3 = Z1 * Z2 * Hh % p
        return (X3, Y3, Z3)

    def add(self, pt1, pt2):
        return self._to_affine(self._add(self._to_jacobian(pt1), self._to_jacobian(pt2)))

    def mul(self, k, pt):
        """[k] * pt by double-and-add (k >= 0)."""
        R = None
        Q = self._to_jacobian(pt)
        for bit in bin(k)[2:] if k > 0 else "":
            R = self._double(R)
            if bit == "1":
                R = self._add(R, Q)
        return self._to_affine(R)

    def sqrt(self, v):
        """A square root mod p (p = 3 mod 4 for both curves), or None."""
        p = self.p
        assert p % 4 == 3
        y = pow(v, (p + 1) // 4, p)
        return y if y * y % p == v % p else None


class EcAlgorithm(Algorithm):
    """RFC 8121 §3.3 over a NIST prime curve; P(p) = 2x + (y mod 2)."""

    wire_quoted = False

    def __init__(self, name, hash_name, curve):
        self.name = name
        self.hash_name = hash_name
        self.curve = curve
        self.order = curve.n
        # P(p) < 2p, so the natural length covers bit_length(p) + 1 bits.
        self.element_length = (curve.p.bit_length() + 1 + 7) // 8

    def P(self, pt):
        if pt is None:
            raise ProtocolError("P() of the point at infinity")
        x, y = pt
        return 2 * x + (y & 1)

    def P_inverse(self, z):
        """The point p with P(p) = z, or None when z represents no point."""
        x, ybit = z >> 1, z & 1
        c = self.curve
        if not 0 <= x < c.p:
            return None
        y = c.sqrt((x * x * x + c.a * x + c.b) % c.p)
        if y is None:
            return None
        if y & 1 != ybit:
            if y == 0:
                return None
            y = c.p - y
        return (x, y)

    def is_valid_element(self, K):
        pt = self.P_inverse(K)
        return pt is not None and self.curve.on_curve(pt)  # cofactor 1: not 0_E

    def J_point(self, pi):
        return self.curve.mul(pi, self.curve.G)

    def J(self, pi):
        return self.P(self.J_point(pi))

    def client_kc1(self, S_c1):
        return self.P(self.curve.mul(S_c1, self.curve.G))

    def client_z(self, S_c1, pi, K_c1, K_s1):
        r = self.order
        e = (S_c1 + self.t2(K_c1, K_s1)) * pow(S_c1 * self.t1(K_c1) + pi, -1, r) % r
        pt = self.P_inverse(K_s1)
        if pt is None:
            raise ProtocolError("ks1 is not a curve point")
        return self.P(self.curve.mul(e, pt))

    # server side, used only to check the known-answer vectors
    def server_ks1(self, J, K_c1, S_s1):
        c = self.curve
        Jp, Kp = self.P_inverse(J), self.P_inverse(K_c1)
        return self.P(c.mul(S_s1, c.add(Jp, c.mul(self.t1(K_c1), Kp))))

    def server_z(self, K_c1, K_s1, S_s1):
        c = self.curve
        return self.P(c.mul(S_s1, c.add(self.P_inverse(K_c1),
                                        c.mul(self.t2(K_c1, K_s1), c.G))))

    # hex-fixed-number (RFC 8120 §3.2.3), canonical form an unquoted token
    @staticmethod
    def encode_number(n, length):
        return OCTETS(n, length).hex()

    @staticmethod
    def decode_number(text, length):
        if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", text or ""):
            raise ProtocolError("hex-fixed-number: invalid syntax")
        if len(text) != 2 * length:
            raise ProtocolError("hex-fixed-number: %d octets, natural length %d"
                                % (len(text) // 2, length))
        return int(text, 16)


MODP_2048 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF")

MODP_4096 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF")

P256 = Curve(
    p=2**256 - 2**224 + 2**192 + 2**96 - 1,
    a=-3,
    b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551)

P521 = Curve(
    p=2**521 - 1,
    a=-3,
    b=int("0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF1"
          "09E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00", 16),
    gx=int("00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D"
           "3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66", 16),
    gy=int("011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E"
           "662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650", 16),
    n=int("01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
          "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16))

ALGORITHMS = {
    a.name: a for a in (
        DlAlgorithm("iso-kam3-dl-2048-sha256", "sha256", MODP_2048),
        DlAlgorithm("iso-kam3-dl-4096-sha512", "sha512", MODP_4096),
        EcAlgorithm("iso-kam3-ec-p256-sha256", "sha256", P256),
        EcAlgorithm("iso-kam3-ec-p521-sha512", "sha512", P521),
    )
}
ALGORITHM_NAMES = list(ALGORITHMS)

# --------------------------------------------------------------------------
# Header grammar: RFC 7230 §3.2.6 tokens/quoted-strings, RFC 7235 §2.1
# challenges/credentials, RFC 7615 Authentication-Info, RFC 5987 ext-values.
# Header values are handled as latin-1 str (one char per octet).

TCHAR = set("!#$%&'*+-.^_`|~0123456789"
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
ATTR_CHAR = set("!#$&+-.^_`|~0123456789"
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class HeaderSyntaxError(ProtocolError):
    pass


class _Scanner:
    def __init__(self, text):
        self.s, self.i = text, 0

    def eof(self):
        return self.i >= len(self.s)

    def peek(self, k=0):
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def ows(self):
        while self.peek() in (" ", "\t") and not self.eof():
            self.i += 1

    def token(self):
        j = self.i
        while not self.eof() and self.s[self.i] in TCHAR:
            self.i += 1
        return self.s[j:self.i]

    def quoted_string(self):
        assert self.peek() == '"'
        self.i += 1
        out = []
        while True:
            if self.eof():
                raise HeaderSyntaxError("unterminated quoted-string")
            c = self.s[self.i]
            self.i += 1
            if c == '"':
                return "".join(out)
            if c == "\\":
                if self.eof():
                    raise HeaderSyntaxError("unterminated quoted-pair")
                c = self.s[self.i]
                self.i += 1
            if ord(c) < 0x20 and c != "\t" or c == "\x7f":
                raise HeaderSyntaxError("control character in quoted-string")
            out.append(c)

    def param_ahead(self):
        """True when an auth-param (token BWS "=" BWS value) starts here."""
        save = self.i
        try:
            if not self.token():
                return False
            self.ows()
            if self.peek() != "=":
                return False
            self.i += 1
            self.ows()
            c = self.peek()
            return c == '"' or (c != "" and c in TCHAR)
        finally:
            self.i = save


def _decode_ext_value(text):
    """RFC 5987 ext-value: charset "'" [language] "'" value-chars."""
    m = re.fullmatch(r"([^']*)'([^']*)'(.*)", text, re.S)
    if not m:
        raise HeaderSyntaxError("ext-value without charset'language'")
    if m.group(1).lower() != "utf-8":
        raise HeaderSyntaxError("ext-value charset is not UTF-8")
    raw = bytearray()
    v = m.group(3)
    i = 0
    while i < len(v):
        c = v[i]
        if c == "%":
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", v[i + 1:i + 3]):
                raise HeaderSyntaxError("bad percent-encoding")
            raw.append(int(v[i + 1:i + 3], 16))
            i += 3
        elif c in ATTR_CHAR:
            raw.append(ord(c))
            i += 1
        else:
            raise HeaderSyntaxError("character %r not allowed in ext-value" % c)
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise HeaderSyntaxError("ext-value is not UTF-8")


def _utf8(latin1_text):
    try:
        return latin1_text.encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise HeaderSyntaxError("string is not UTF-8")


def _parse_params(sc, params):
    """auth-params until the end or the start of another challenge."""
    while True:
        name = sc.token().lower()
        sc.ows()
        if not name or sc.peek() != "=":
            raise HeaderSyntaxError("expected auth-param at %d" % sc.i)
        sc.i += 1
        sc.ows()
        if sc.peek() == '"':
            value = sc.quoted_string()
        else:
            value = sc.token()
            if not value:
                raise HeaderSyntaxError("empty auth-param value for %s" % name)
        if name.endswith("*"):
            name = name[:-1]
            value = _decode_ext_value(value)
        else:
            value = _utf8(value)
        if name in params:
            raise HeaderSyntaxError("duplicate parameter %s" % name)
        params[name] = value
        sc.ows()
        if sc.eof():
            return
        if sc.peek() != ",":
            raise HeaderSyntaxError("expected ',' at %d" % sc.i)
        while sc.peek() in (",", " ", "\t") and not sc.eof():
            sc.i += 1
        if sc.eof() or not sc.param_ahead():
            return


def parse_challenges(value):
    """WWW-Authenticate value -> [(scheme, {name: value})] (1#challenge)."""
    sc = _Scanner(value)
    items = []
    while True:
        while sc.peek() in (",", " ", "\t") and not sc.eof():
            sc.i += 1
        if sc.eof():
            return items
        scheme = sc.token()
        if not scheme:
            raise HeaderSyntaxError("expected auth-scheme at %d" % sc.i)
        params = {}
        had_space = sc.peek() == " "
        sc.ows()
        if had_space and not sc.eof() and sc.peek() != ",":
            if sc.param_ahead():
                _parse_params(sc, params)
            else:  # token68: not used by Mutual, skipped
                while not sc.eof() and sc.peek() != ",":
                    sc.i += 1
        items.append((scheme, params))


def parse_auth_info(value):
    """Authentication-Info value (RFC 7615: #auth-param) -> {name: value}."""
    sc = _Scanner(value)
    params = {}
    sc.ows()
    if sc.eof():
        return params
    _parse_params(sc, params)
    if not sc.eof():
        raise HeaderSyntaxError("trailing data in Authentication-Info")
    return params


def quote(text):
    """A quoted-string for text (str, UTF-8 on the wire)."""
    raw = text.encode("utf-8").decode("latin-1")
    return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_param(name, text):
    """RFC 8120 §3.1: plain syntax for ASCII, name*=UTF-8'' otherwise."""
    if all(ord(c) < 0x80 for c in text):
        return "%s=%s" % (name, quote(text))
    enc = "".join(chr(b) if chr(b) in ATTR_CHAR else "%%%02X" % b
                  for b in text.encode("utf-8"))
    return "%s*=UTF-8''%s" % (name, enc)


class Challenge:
    """One Mutual challenge (401-INIT, 401-STALE or 401-KEX-S1)."""

    def __init__(self, params):
        self.params = params
        self.version = params.get("version")
        self.algorithm = (params.get("algorithm") or "").lower()
        self.validation = (params.get("validation") or "").lower()
        self.auth_scope = params.get("auth-scope")
        self.realm = params.get("realm")
        self.reason = params.get("reason")
        self.sid = params.get("sid")
        self.ks1 = params.get("ks1")
        self.path = params.get("path")

    def integer(self, name):
        v = self.params.get(name)
        if v is None or not re.fullmatch(r"0|[1-9][0-9]*", v):
            raise ProtocolError("%s is not an integer: %r" % (name, v))
        return int(v)

    @property
    def kind(self):
        if self.ks1 is not None:
            return "kex-s1"
        if self.reason == "stale-session":
            return "stale"
        return "init"

    def check(self):
        if self.version != VERSION:
            raise ProtocolError("challenge version %r" % self.version)
        for name in ("algorithm", "validation", "realm"):
            if self.params.get(name) is None:
                raise ProtocolError("challenge without %s" % name)
        exclusive = [n for n in self.params if n == "reason" or n == "vks" or re.fullmatch(r"ks\d+", n)]
        if len(exclusive) != 1:
            raise ProtocolError("challenge must carry exactly one of reason/ks#/vks: %s" % exclusive)
        if any(n == "vkc" or re.fullmatch(r"kc\d+", n) for n in self.params):
            raise ProtocolError("challenge carries client parameters")
        return self

    def __repr__(self):
        return "Challenge(%r)" % self.params


def mutual_challenges(www_authenticate_values):
    """Every Mutual challenge of a list of WWW-Authenticate header values."""
    out = []
    for value in www_authenticate_values:
        for scheme, params in parse_challenges(value):
            if scheme.lower() == "mutual":
                out.append(Challenge(params))
    return out


def _common_params(algorithm, validation, auth_scope, realm):
    parts = ["version=%s" % VERSION, "algorithm=%s" % algorithm,
             "validation=%s" % validation]
    if auth_scope is not None:
        parts.append(string_param("auth-scope", auth_scope))
    parts.append("realm=%s" % quote(realm))  # realm never uses RFC 5987
    return parts


def kex_c1_header(algorithm, validation, auth_scope, realm, user, kc1_text):
    alg = ALGORITHMS[algorithm]
    kc1 = '"%s"' % kc1_text if alg.wire_quoted else kc1_text
    parts = _common_params(algorithm, validation, auth_scope, realm)
    parts += [string_param("user", user), "kc1=%s" % kc1]
    return "Mutual " + ", ".join(parts)


def vfy_c_header(algorithm, validation, auth_scope, realm, sid, nc, vkc_text):
    alg = ALGORITHMS[algorithm]
    vkc = '"%s"' % vkc_text if alg.wire_quoted else vkc_text
    parts = _common_params(algorithm, validation, auth_scope, realm)
    parts += ["sid=%s" % sid, "nc=%d" % nc, "vkc=%s" % vkc]
    return "Mutual " + ", ".join(parts)


# --------------------------------------------------------------------------
# RFC 8120 §7: host validation (vh)

_SIG_HASH = {
    # RFC 5929 §4.1: MD5 and SHA-1 are replaced by SHA-256.
    "1.2.840.113549.1.1.4": "sha256",   # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "sha256",   # sha1WithRSAEncryption
    "1.2.840.10045.4.1": "sha256",      # ecdsa-with-SHA1
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}


def _der_item(der, i):
    """(tag, content_start, content_end) of the DER element at i."""
    tag = der[i]
    length = der[i + 1]
    i += 2
    if length & 0x80:
        k = length & 0x7F
        length = INT(der[i:i + k])
        i += k
    return tag, i, i + length


def _oid_text(content):
    first = content[0]
    arcs = [first // 40, first % 40] if first < 80 else [2, first - 80]
    n = 0
    for b in content[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(n)
            n = 0
    return ".".join(map(str, arcs))


def certificate_signature_hash(der):
    """The hash name RFC 5929 §4.1 picks for a DER certificate."""
    tag, start, _ = _der_item(der, 0)            # Certificate SEQUENCE
    tag, s1, e1 = _der_item(der, start)          # tbsCertificate
    tag, s2, _ = _der_item(der, e1)              # signatureAlgorithm SEQUENCE
    tag, s3, e3 = _der_item(der, s2)             # algorithm OID
    if tag != 0x06:
        raise ProtocolError("certificate: no signature algorithm OID")
    oid = _oid_text(der[s3:e3])
    if oid not in _SIG_HASH:
        raise ProtocolError("tls-server-end-point: unsupported signature algorithm %s" % oid)
    return _SIG_HASH[oid]


def tls_server_end_point(der):
    return hashlib.new(certificate_signature_hash(der), der).digest()


def host_vh(scheme, host, port):
    return ("%s://%s:%d" % (scheme.lower(), host.lower(), port)).encode("ascii")


# --------------------------------------------------------------------------
# HTTP/1.1 over raw sockets


class Response:
    def __init__(self, status, reason, headers, body, raw_head=b""):
        self.status = status
        self.reason_phrase = reason
        self.headers = headers  # [(name, value)] with latin-1 values
        self.body = body
        self.raw_head = raw_head
        self.authenticated = False  # set by Client after a verified vks
        self.session = None
        # RFC 8120 §14: a proxy's answer (set by a Client in proxy mode):
        # challenges in Proxy-Authenticate, vks in Proxy-Authentication-Info
        self.proxy = False

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def header(self, name):
        values = self.header_all(name)
        return values[0] if values else None

    @property
    def challenges(self):
        return mutual_challenges(self.header_all(
            "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"))

    @property
    def mutual_reason(self):
        """The reason of the first Mutual challenge, or None."""
        ch = self.challenges
        return ch[0].reason if ch else None

    @property
    def auth_info(self):
        values = self.header_all(
            "Proxy-Authentication-Info" if self.proxy else "Authentication-Info")
        if not values:
            return None
        if len(values) > 1:
            raise ProtocolError("several Authentication-Info headers")
        return parse_auth_info(values[0])

    @property
    def optional_challenges(self):
        """Mutual challenges of Optional-WWW-Authenticate (RFC 8053 §3)."""
        return mutual_challenges(self.header_all("Optional-WWW-Authenticate"))

    def authentication_control(self, realm, scheme="Mutual"):
        """The parameters of the Authentication-Control entry (RFC 8053 §4)
        for scheme and realm, or None. Entries share the challenge grammar
        (auth-scheme 1*SP 1#param, RFC 5987 ext-values decoded)."""
        found = None
        for value in self.header_all("Authentication-Control"):
            for s, params in parse_challenges(value):
                if s.lower() == scheme.lower() and params.get("realm") == realm:
                    if found is not None:
                        raise ProtocolError("two Authentication-Control entries for %r" % realm)
                    found = params
        return found

    def __repr__(self):
        return "<Response %d %s %s>" % (self.status, self.reason_phrase,
                                        self.header_all("WWW-Authenticate"))


class ConnectionClosed(Exception):
    pass


def read_status_and_challenge(rfile):
    """Status, WWW-Authenticate and whether the server closes, of one
    response (a lean reader for load loops: no chunked bodies)."""
    line = rfile.readline()
    if not line:
        raise ConnectionClosed("closed")
    status = int(line.split()[1])
    length, www, close = 0, b"", False
    while True:
        line = rfile.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"www-authenticate":
            www = value
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if length:
        rfile.read(length)
    return status, www, close


def read_response(rfile, method="GET"):
    """Read one HTTP/1.1 response from a binary file object."""
    line = rfile.readline(65537)
    if not line:
        raise ConnectionClosed("connection closed before a response")
    head = [line]
    m = re.match(rb"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?\r?\n$", line)
    if not m:
        raise ProtocolError("bad status line %r" % line[:100])
    status = int(m.group(3))
    reason = (m.group(4) or b"").decode("latin-1")
    headers = []
    while True:
        line = rfile.readline(65537)
        head.append(line)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    hdict = {n.lower(): v for n, v in headers}
    body = b""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        pass
    elif hdict.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(rfile.read(size))
            rfile.readline()
        body = b"".join(chunks)
    elif "content-length" in hdict:
        body = rfile.read(int(hdict["content-length"]))
    else:
        body = rfile.read()
    return Response(status, reason, headers, body, b"".join(head))


class Connection:
    """One HTTP/1.1 connection, reopened transparently when the server closed
    it; `persistent=False` opens a new connection for every request."""

    def __init__(self, host, port, ssl_context=None, server_hostname=None,
                 persistent=True, timeout=30):
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname or host
        self.persistent = persistent
        self.timeout = timeout
        self.sock = None
        self.rfile = None
        self.connects = 0

    def open(self):
        if self.sock is None:
            s = socket.create_connection((self.host, self.port), timeout=self.timeout)
            if self.ssl_context is not None:
                s = self.ssl_context.wrap_socket(s, server_hostname=self.server_hostname)
            self.sock = s
            self.rfile = s.makefile("rb")
            self.connects += 1
        return self.sock

    def close(self):
        if self.rfile is not None:
            self.rfile.close()
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = self.rfile = None

    def peer_certificate(self):
        return self.open().getpeercert(binary_form=True)

    def send_raw(self, data, method="GET"):
        """Send request bytes as they are, read one response."""
        for attempt in (1, 2):
            fresh = self.sock is None
            self.open()
            try:
                self.sock.sendall(data)
                resp = read_response(self.rfile, method)
                break
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
                self.close()
                if fresh or attempt == 2:
                    raise
        if (not self.persistent or
                (resp.header("Connection") or "").lower() == "close"):
            self.close()
        return resp

    def request(self, method, target, headers=(), body=b""):
        lines = ["%s %s HTTP/1.1" % (method, target),
                 "Host: %s:%d" % (self.host, self.port)]
        for name, value in headers:
            lines.append("%s: %s" % (name, value))
        if body or method in ("POST", "PUT"):
            lines.append("Content-Length: %d" % len(body))
        if not self.persistent:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return self.send_raw(data, method)


def raw_request(host, port, data, ssl_context=None, timeout=30, method="GET"):
    """One request of arbitrary bytes on a fresh connection."""
    conn = Connection(host, port, ssl_context, persistent=False, timeout=timeout)
    try:
        return conn.send_raw(data, method)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# The client (RFC 8120 §10)


class MutualError(Exception):
    pass


class AuthenticationFailed(MutualError):
    """The server answered 401-INIT (wrong password, unknown user, authz...)."""

    def __init__(self, reason, response, stage):
        super().__init__("authentication failed at %s: reason=%s (HTTP %d)"
                         % (stage, reason, response.status))
        self.reason, self.response, self.stage = reason, response, stage


class ServerAuthenticationFailed(MutualError):
    """The server did not prove knowledge of J(pi): missing or wrong vks."""


class Session:
    """Client-side state of one authenticated (or key-exchanging) sid."""

    def __init__(self, challenge, user, alg, K_c1, K_s1, z, vh, sid):
        self.algorithm = alg
        self.validation = challenge.validation
        self.auth_scope = challenge.auth_scope
        self.realm = challenge.realm
        self.user = user
        self.K_c1, self.K_s1, self.z = K_c1, K_s1, z
        self.vh = vh
        self.sid = sid
        self.nc_max = challenge.integer("nc-max")
        self.nc_window = challenge.integer("nc-window")
        self.time = challenge.integer("time")
        self.path = challenge.path
        self.last_nc = 0

    def next_nc(self):
        self.last_nc += 1
        return self.last_nc

    def vkc(self, nc):
        return self.algorithm.vk_c(self.K_c1, self.K_s1, self.z, nc, self.vh)

    def vks(self, nc):
        return self.algorithm.vk_s(self.K_c1, self.K_s1, self.z, nc, self.vh)

    def authorization(self, nc, vkc=None):
        a = self.algorithm
        return vfy_c_header(a.name, self.validation, self.auth_scope, self.realm,
                            self.sid, nc, a.encode_hash(self.vkc(nc) if vkc is None else vkc))


class Client:
    """A Mutual client for one server (scheme://host:port).

    get() runs the whole decision procedure and returns the final response
    with .authenticated set once vks has been checked; the step methods
    (initial, key_exchange, verify) let tests drive single messages.
    `requests` counts HTTP requests sent (round trips)."""

    def __init__(self, url, user, password, algorithms=None, ssl_context=None,
                 persistent=True, timeout=30, vh=None, proxy=False):
        u = urllib.parse.urlsplit(url)
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.user, self.password = user, password
        self.algorithms = list(algorithms) if algorithms else None
        if self.scheme == "https" and ssl_context is None:
            ssl_context = insecure_tls_context()
        self.conn = Connection(self.host, self.port, ssl_context,
                               persistent=persistent, timeout=timeout)
        self.vh_override = vh
        self.requests = 0
        self.session = None
        self.challenge = None  # last 401-INIT/401-STALE: enables case A
        # proxy=True: `url` is a forward proxy authenticating with Mutual
        # (RFC 8120 §14): 407, Proxy-Authenticate, Proxy-Authorization,
        # Proxy-Authentication-Info, vh = the proxy's scheme://host:port;
        # request targets are then absolute URLs (absolute-form).
        self.proxy = proxy
        self.auth_status = 407 if proxy else 401
        self.authorization_header = "Proxy-Authorization" if proxy else "Authorization"
        self._pi_cache = {}

    def close(self):
        self.conn.close()

    # -- transport
    def request(self, path, headers=(), method="GET", body=b""):
        self.requests += 1
        resp = self.conn.request(method, path, headers, body)
        resp.proxy = self.proxy
        return resp

    # -- helpers
    def vh(self, validation):
        if self.vh_override is not None:
            return self.vh_override
        if validation == "host":
            return host_vh(self.scheme, self.host, self.port)
        if validation == "tls-server-end-point":
            if self.scheme != "https":
                raise ProtocolError("tls-server-end-point on a plain connection")
            return tls_server_end_point(self.conn.peer_certificate())
        raise ProtocolError("unsupported validation %r" % validation)

    def choose(self, challenges):
        """The challenge to answer: client preference order, else server's."""
        usable = [c for c in challenges if c.algorithm in ALGORITHMS]
        if self.algorithms:
            for name in self.algorithms:
                for c in usable:
                    if c.algorithm == name:
                        return c
            raise ProtocolError("no offered algorithm in %s" % self.algorithms)
        if not usable:
            raise ProtocolError("no supported algorithm offered")
        return usable[0]

    def pi(self, challenge):
        key = (challenge.algorithm, challenge.auth_scope, challenge.realm)
        if key not in self._pi_cache:
            alg = ALGORITHMS[challenge.algorithm]
            self._pi_cache[key] = alg.pi(self.password, challenge.auth_scope or "",
                                         challenge.realm, self.user)
        return self._pi_cache[key]

    # -- steps
    def initial(self, path, headers=()):
        """Normal request; returns (response, chosen challenge or None)."""
        resp = self.request(path, headers)
        if resp.status != self.auth_status:
            return resp, None
        challenge = self.choose([c.check() for c in resp.challenges])
        self.challenge = challenge
        return resp, challenge

    def key_exchange(self, path, challenge, headers=(), S_c1=None):
        """req-KEX-C1 -> 401-KEX-S1; returns (response, Session)."""
        alg = ALGORITHMS[challenge.algorithm]
        S_c1 = S_c1 or alg.random_secret()
        K_c1 = alg.client_kc1(S_c1)
        auth = kex_c1_header(alg.name, challenge.validation, challenge.auth_scope,
                             challenge.realm, self.user, alg.encode_element(K_c1))
        resp = self.request(path, [(self.authorization_header, auth)] + list(headers))
        kex = [c for c in resp.challenges if c.kind == "kex-s1"] if resp.status == self.auth_status else []
        if not kex:
            raise AuthenticationFailed(resp.mutual_reason, resp, "kex")
        s1 = kex[0].check()
        if (s1.algorithm, s1.validation, s1.realm, s1.auth_scope) != \
                (challenge.algorithm, challenge.validation, challenge.realm, challenge.auth_scope):
            raise ProtocolError("401-KEX-S1 for another realm/algorithm: %r" % s1)
        if not s1.sid or not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", s1.sid):
            raise ProtocolError("bad sid %r" % s1.sid)
        K_s1 = alg.decode_element(s1.ks1)
        if not alg.is_valid_element(K_s1):
            raise ProtocolError("invalid ks1")
        z = alg.client_z(S_c1, self.pi(challenge), K_c1, K_s1)
        session = Session(s1, self.user, alg, K_c1, K_s1, z,
                          self.vh(challenge.validation), s1.sid)
        return resp, session

    def verify(self, path, session, nc=None, headers=(), method="GET", body=b""):
        """req-VFY-C; a non-401 answer must carry the right vks (else
        ServerAuthenticationFailed); 401 answers are returned as they are."""
        nc = session.next_nc() if nc is None else nc
        resp = self.request(path, [(self.authorization_header, session.authorization(nc))] + list(headers),
                            method, body)
        if resp.status != self.auth_status:
            self.check_vks(resp, session, nc)
        return resp

    def check_vks(self, resp, session, nc):
        info = resp.auth_info
        if info is None or "vks" not in info:
            raise ServerAuthenticationFailed("HTTP %d without Authentication-Info vks" % resp.status)
        if info.get("version") != VERSION:
            raise ServerAuthenticationFailed("Authentication-Info version %r" % info.get("version"))
        if (info.get("sid") or "").lower() != session.sid.lower():
            raise ServerAuthenticationFailed("Authentication-Info for another sid")
        try:
            vks = session.algorithm.decode_hash(info["vks"])
        except ProtocolError as e:
            raise ServerAuthenticationFailed("bad vks: %s" % e)
        if vks != session.vks(nc):
            raise ServerAuthenticationFailed("wrong vks")
        resp.authenticated = True
        resp.session = session
        return resp

    # -- the whole procedure
    def login(self, path, headers=(), attempts=3):
        """INIT (skipped when a challenge is known) + KEX + VFY. A 401-STALE
        answer to the VFY (the server lost the fresh session, e.g. in a
        restart) starts a new key exchange, `attempts` times at most."""
        challenge = self.challenge
        if challenge is None:
            resp, challenge = self.initial(path, headers)
            if challenge is None:
                return resp
        for attempt in range(attempts):
            _, session = self.key_exchange(path, challenge, headers)
            resp = self.verify(path, session, headers=headers)
            if resp.status != self.auth_status:
                self.session = session
                return resp
            if resp.mutual_reason != "stale-session" or attempt == attempts - 1:
                raise AuthenticationFailed(resp.mutual_reason, resp, "vfy")
            challenge = self.choose([c.check() for c in resp.challenges])

    def get(self, path, headers=(), method="GET", body=b""):
        if self.session is not None:
            resp = self.verify(path, self.session, headers=headers, method=method, body=body)
            if resp.status != self.auth_status:
                return resp
            reason = resp.mutual_reason
            self.session = None
            if reason != "stale-session":
                raise AuthenticationFailed(reason, resp, "reuse")
            self.challenge = self.choose([c.check() for c in resp.challenges])
        if method != "GET":
            raise MutualError("get(): only GET runs the full login")
        return self.login(path, headers)


def insecure_tls_context():
    """TLS without certificate verification (tests use a self-signed cert;
    tls-server-end-point binds the authentication to it instead)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx

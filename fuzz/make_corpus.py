#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets from the KAT vectors.

usage: python3 fuzz/make_corpus.py [KAT_JSON [CORPUS_DIR]]

Every header string of every vector in kam3-vectors.json becomes a seed file
(the bytes of the header value, no trailing newline) for the targets that
parse it; the encoding target gets the wire encodings of K, VK, sid and nc
(each behind a selector octet); the verifier-record target gets records built
from each vector's J in the format of src/verifier_record.h. File names are
stable, so re-running only rewrites the same files.
"""
import json
import os
import re
import sys
import base64

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_KAT = os.environ.get("MUTUAL_KAT") or os.path.join(
    ROOT, "t", "data", "kam3-vectors.json")

# Which targets get which header of a vector.
# server_exchange inputs start with a selector octet: the vector's index.
HEADER_TARGETS = {
    "401-INIT WWW-Authenticate": ["header"],
    "req-KEX-C1 Authorization": ["header", "server_exchange"],
    "401-KEX-S1 WWW-Authenticate": ["header"],
    "req-VFY-C Authorization": ["header", "server_exchange"],
    "200-VFY-S Authentication-Info": ["header"],
}
SELECTOR_TARGETS = {"server_exchange"}

UNESCAPED = re.compile(rb"[A-Za-z0-9._~*-]")


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def pct(text):
    out = []
    for b in text.encode("utf-8"):
        c = bytes([b])
        out.append(c.decode() if UNESCAPED.fullmatch(c) else "%%%02X" % b)
    return "".join(out)


def wire(vector, hex_value):
    raw = bytes.fromhex(hex_value)
    if vector["wire_encoding"].startswith("base64"):
        return base64.b64encode(raw).decode()
    return raw.hex()


def write(corpus, target, name, data):
    directory = os.path.join(corpus, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    kat = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_KAT
    corpus = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "fuzz", "corpus")
    with open(kat, encoding="utf-8") as f:
        vectors = json.load(f)["vectors"]
    count = 0
    records = []
    for index, v in enumerate(vectors):
        base = slug(v["name"])
        for header, value in v["headers"].items():
            kind = slug(header.split()[0])
            for target in HEADER_TARGETS.get(header, ["header"]):
                data = value.encode("utf-8")
                if target in SELECTOR_TARGETS:
                    data = bytes([index]) + data
                write(corpus, target, "kat-%s-%s" % (base, kind), data)
                count += 1
        # client_response: a whole exchange (selector = vector index), and
        # variants: declined credentials (bit 4), https (bit 5), optional auth.
        h = v["headers"]
        init = h["401-INIT WWW-Authenticate"]
        flow = "401\nWWW-Authenticate: %s\n\n401\nWWW-Authenticate: %s\n\n" \
               "HTTP/1.1 200 OK\nContent-Type: text/plain\nAuthentication-Info: %s" % (
                   init, h["401-KEX-S1 WWW-Authenticate"], h["200-VFY-S Authentication-Info"])
        stale = init.replace("reason=initial", "reason=stale-session")
        variants = {
            "flow": (index, flow),
            "declined": (index | 0x10, flow),
            "https": (index | 0x20, flow),
            "stale": (index | 0x40, "401\nWWW-Authenticate: %s\n\n401\nWWW-Authenticate: %s\n\n%s"
                      % (init, stale, flow)),
            "optional": (index, "200\nOptional-WWW-Authenticate: %s\n\n%s" % (init, flow)),
        }
        for name, (selector, text) in variants.items():
            write(corpus, "client_response", "kat-%s-%s" % (base, name),
                  bytes([selector]) + text.encode("utf-8"))
            count += 1
        # encoding target: selector 0 (any length) and 1 (the text's own length)
        d = v["derived"]
        values = {
            "kc1": v["hex"]["K_c1"], "ks1": v["hex"]["K_s1"], "vkc": v["hex"]["VK_c"],
            "vks": v["hex"]["VK_s"], "nc": str(v["inputs"]["nc"]),
            "sid": "00112233445566778899aabbccddeeff",
            "j": wire(v, d["J"]), "z-hex": d["z"],
        }
        for key, text in values.items():
            for selector in (0, 1):
                write(corpus, "encoding", "kat-%s-%s-%d" % (base, key, selector),
                      bytes([selector]) + text.encode("utf-8"))
                count += 1
        inputs = v["inputs"]
        record = "1;%s;%s;%s;%s" % (v["algorithm"], pct(inputs["auth_scope"]),
                                    pct(inputs["realm"]), wire(v, d["J"]))
        records.append(record)
        write(corpus, "verifier_record", "kat-%s" % base, record.encode())
        count += 1
    # A few multi-entry records (distinct algorithms, so no duplicate entry).
    by_algorithm = {}
    for r in records:
        by_algorithm.setdefault(r.split(";")[1], r)
    multi = list(by_algorithm.values())
    for n in range(2, len(multi) + 1):
        write(corpus, "verifier_record", "kat-multi-%d" % n, ",".join(multi[:n]).encode())
        count += 1
    write(corpus, "client_response", "not-protected", b"\x00200\nContent-Type: text/plain")
    write(corpus, "client_response", "basic", b"\x00401\nWWW-Authenticate: Basic realm=\"x\"")
    count += 2
    # No Authorization header at all, and one of another scheme.
    write(corpus, "server_exchange", "no-header", b"\x80")
    write(corpus, "server_exchange", "basic", b"\x00Basic YWxpY2U6cGFzc3dvcmQ=")
    count += 2
    # Integers at the saturation edge for the encoding target.
    for text in ("0", "1", "18446744073709551615", "18446744073709551616",
                 "99999999999999999999999"):
        write(corpus, "encoding", "int-%s" % text, b"\x00" + text.encode())
        count += 1
    print("make_corpus: %d seed files under %s" % (count, corpus))


if __name__ == "__main__":
    main()

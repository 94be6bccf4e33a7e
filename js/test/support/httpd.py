"""Starts real apache2 servers with the built module for the JavaScript tests,
reusing t/integration/httpd_fixture.py (generated config, free port on
127.0.0.1, several children, verifiers made by build/htmutual).

    python3 httpd.py SPEC.json

SPEC: {"servers": [{"name": ..., "tls": bool, "ca": bool, "mpm": "event",
        "conf": "<Location ...>", "users": [{"realm", "scope", "user",
        "password", "algorithms": [...]}], "files": {"p/index.html": "..."}}]}

Prints one JSON line {"servers": [{"name", "base", "port", "root", "ca"}]}
once every server answers, then waits until stdin closes, stops the servers
and prints {"crashes": [...], "problems": [...]} (the fixture's log scan).
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "t", "integration"))

import httpd_fixture as fx  # noqa: E402


def make_ca_and_leaf(directory):
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it."""
    ca_key = os.path.join(directory, "ca.key")
    ca_crt = os.path.join(directory, "ca.crt")
    key = os.path.join(directory, "leaf.key")
    csr = os.path.join(directory, "leaf.csr")
    crt = os.path.join(directory, "leaf.crt")
    ext = os.path.join(directory, "leaf.ext")
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, timeout=60)
    run("openssl", "req", "-x509", "-nodes", "-days", "2", "-sha256", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", ca_key, "-out", ca_crt,
        "-subj", "/CN=mod_auth_mutual test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    run("openssl", "req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", key,
        "-out", csr, "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
        "-CAcreateserial", "-days", "2", "-sha256", "-extfile", ext, "-out", crt)
    return ca_crt, crt, key


def main():
    spec = json.load(open(sys.argv[1]))
    servers = []
    out = []
    try:
        for s in spec["servers"]:
            h = fx.Httpd(s["name"], conf=s.get("conf", ""), tls=s.get("tls", False),
                         mpm=s.get("mpm", "event"), loglevel=s.get("loglevel", "info"))
            ca = None
            if s.get("tls") and s.get("ca"):
                ca, h.cert, h.key = make_ca_and_leaf(h.path("conf"))
            for u in s.get("users", []):
                fx.htmutual(h.format(fx.USERS_FILE), u["realm"], u["user"], u["password"],
                            u.get("scope", fx.SCOPE), u.get("algorithms") or None)
            for path, text in s.get("files", {}).items():
                h.write_file(path, text)
            fx.make_readable(h.root)
            servers.append(h)
            out.append({"name": s["name"], "base": h.base, "port": h.port, "root": h.root,
                        "ca": ca, "cert": getattr(h, "cert", None)})
        for h in servers:
            h.start()
        # the start may have moved a server to another port
        for o, h in zip(out, servers):
            o["base"], o["port"] = h.base, h.port
        print(json.dumps({"servers": out}), flush=True)
        sys.stdin.read()
    finally:
        problems = []
        for h in servers:
            try:
                problems += h.end_case((), final=True)
            except Exception as e:  # noqa: BLE001
                problems.append(str(e))
        crashes = [p for p in problems if fx.CRASH.search(p)]
        for h in servers:
            try:
                h.cleanup()
            except AssertionError as e:
                crashes.append(str(e))
        print(json.dumps({"crashes": crashes, "problems": problems}), flush=True)


if __name__ == "__main__":
    main()

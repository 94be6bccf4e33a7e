#!/usr/bin/env python3
"""User enumeration by timing: server-side latency of req-KEX-C1 for known
and unknown users (hardening issue, item 5).

A throw-away apache2 (event MPM, the integration tests' fixture) serves one
Mutual location per algorithm. For each algorithm the benchmark sends
--requests req-KEX-C1 messages for KNOWN users (real verifiers in the DBM
file) and as many for UNKNOWN users (no record: the module answers with a
fake session, RFC 8120 §11 note 2), in a random interleaved order, one at a
time over one keep-alive connection (no queueing), after a warm-up. The
server-side latency of each request is httpd's own %D (microseconds from
reading the request to logging it) from a dedicated CustomLog, matched to
the request by a probe header; the client round trip is recorded as well.

With --classes known,unknown,no-verifier a third class is sent: users whose
record holds a verifier for another algorithm only (also a fake session,
but after reading and decoding a record), which tells the cost of the
record lookup apart from the cost of the key exchange.

It prints, per algorithm and class, the median, 10th and 90th percentile and
mean, and the difference of the medians (unknown vs known); the target is
|difference| <= 5%. Exit status 0 when every algorithm meets the target,
1 otherwise (2 for a usage error).

    B=build python3 bench/enumeration_timing.py [--requests 2000]
        [--algorithms iso-kam3-ec-p256-sha256,iso-kam3-dl-2048-sha256]
        [--warmup 200] [--target 0.05] [--json FILE]

Not a test: timing on a shared machine is noisy. Results are recorded in
docs/security.md ("Integration hardening tests").
"""

import argparse
import json
import os
import random
import re
import secrets
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t", "integration"))

import mutualref as m  # noqa: E402
from httpd_fixture import SCOPE, Httpd, add_users, location, require_module  # noqa: E402

DEFAULT_ALGORITHMS = "iso-kam3-ec-p256-sha256,iso-kam3-dl-2048-sha256"
KNOWN_USERS = ["user%d" % i for i in range(8)]
# users with a record in the file, but only for another algorithm: the
# module answers them with a fake session after decoding their record
OTHER_ALG_USERS = ["other%d" % i for i in range(8)]
CLASSES = ("known", "unknown", "no-verifier")


def area_of(alg):
    return "/" + alg.replace("iso-kam3-", "") + "/"


def realm_of(alg):
    return "timing " + alg


def percentile(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values):
    return {"n": len(values), "median": statistics.median(values), "p10": percentile(values, 0.10),
            "p90": percentile(values, 0.90), "mean": statistics.fmean(values)}


def run_algorithm(h, alg, requests, warmup, rng, classes):
    A = m.ALGORITHMS[alg]
    pool = [A.encode_element(A.client_kc1(A.random_secret())) for _ in range(64)]
    path = area_of(alg) + "index.html"

    def request(kind, i):
        if kind == "known":
            user = rng.choice(KNOWN_USERS)
        elif kind == "no-verifier":
            user = rng.choice(OTHER_ALG_USERS)
        else:
            user = "ghost" + secrets.token_hex(2)  # as long as "user0"/"other0"
        auth = m.kex_c1_header(alg, "host", SCOPE, realm_of(alg), user, rng.choice(pool))
        probe = "%s-%s-%d" % (alg, kind, i)  # unique across algorithms: one log file
        return probe, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Probe: %s\r\nAuthorization: %s\r\n\r\n"
                       % (path, h.port, probe, auth)).encode()

    order = [kind for kind in classes for _ in range(requests)]
    rng.shuffle(order)
    order = [rng.choice(classes) for _ in range(warmup)] + order
    sock = socket.create_connection(("127.0.0.1", h.port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rfile = sock.makefile("rb")
    rtt = {kind: [] for kind in classes}
    probes = {}
    try:
        for i, kind in enumerate(order):
            probe, data = request(kind, i)
            t0 = time.perf_counter()
            sock.sendall(data)
            status, www, _ = m.read_status_and_challenge(rfile)
            elapsed = time.perf_counter() - t0
            if status != 401 or b"ks1=" not in www:
                raise RuntimeError("%s: not a 401-KEX-S1: %d %r" % (probe, status, www[:200]))
            if i >= warmup:
                rtt[kind].append(elapsed * 1e6)
                probes[probe] = kind
    finally:
        rfile.close()
        sock.close()
    return probes, rtt


def server_latencies(h, probes, classes):
    time.sleep(0.5)  # let the last log lines land
    out = {kind: [] for kind in classes}
    with open(h.path("logs", "timing.log")) as f:
        for line in f:
            mo = re.match(r"(\S+) (\d+)$", line.strip())
            if mo and mo.group(1) in probes:
                out[probes[mo.group(1)]].append(int(mo.group(2)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=int(os.environ.get("ENUM_REQUESTS", "2000")),
                    help="req-KEX-C1 per class and algorithm (default 2000)")
    ap.add_argument("--algorithms", default=DEFAULT_ALGORITHMS)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--target", type=float, default=0.05, help="allowed |difference| of the medians")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--classes", default="known,unknown",
                    help="known,unknown[,no-verifier] (users with a record for another algorithm only)")
    ap.add_argument("--json", help="also write the figures to this file")
    opts = ap.parse_args()
    algorithms = [a.strip() for a in opts.algorithms.split(",") if a.strip()]
    unknown = [a for a in algorithms if a not in m.ALGORITHMS]
    classes = tuple(c.strip() for c in opts.classes.split(","))
    if unknown or opts.requests < 10 or not set(classes) <= set(CLASSES) or \
            not {"known", "unknown"} <= set(classes):
        ap.error("unknown algorithm(s) %s, bad --classes or too few requests" % unknown)
    require_module()
    rng = random.Random(opts.seed)

    conf = ('LogFormat "%{{X-Probe}}i %D" probe\n'
            'CustomLog "{root}/logs/timing.log" probe\n')
    for alg in algorithms:
        conf += location(area_of(alg), realm_of(alg), [alg])
    h = Httpd("enumeration-timing", conf=conf, loglevel="warn")
    results = {}
    try:
        for alg in algorithms:
            add_users(h, realm_of(alg), {u: "pw " + u for u in KNOWN_USERS}, [alg])
            if "no-verifier" in classes:
                other = [a for a in m.ALGORITHM_NAMES if a != alg][0]
                add_users(h, realm_of(alg), {u: "pw " + u for u in OTHER_ALG_USERS}, [other])
            h.write_file(area_of(alg).strip("/") + "/index.html", "x\n")
        h.start()
        for alg in algorithms:
            t0 = time.time()
            probes, rtt = run_algorithm(h, alg, opts.requests, opts.warmup, rng, classes)
            server = server_latencies(h, probes, classes)
            res = {"server_us": {k: summary(v) for k, v in server.items()},
                   "rtt_us": {k: summary(v) for k, v in rtt.items()},
                   "seconds": time.time() - t0}
            known, unk = res["server_us"]["known"]["median"], res["server_us"]["unknown"]["median"]
            res["median_difference"] = (unk - known) / known
            if "no-verifier" in classes:
                res["no_verifier_median_difference"] = (res["server_us"]["no-verifier"]["median"] -
                                                        known) / known
            res["rtt_median_difference"] = ((res["rtt_us"]["unknown"]["median"] -
                                             res["rtt_us"]["known"]["median"]) /
                                            res["rtt_us"]["known"]["median"])
            results[alg] = res
    finally:
        h.cleanup()

    load = os.getloadavg()
    print("enumeration timing: %d req-KEX-C1 per class and algorithm, %d warm-up, load average %.2f %.2f %.2f"
          % (opts.requests, opts.warmup, *load))
    print()
    print("| algorithm | class | server median µs | p10 | p90 | mean | client RTT median µs |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for alg, res in results.items():
        for kind in classes:
            s, c = res["server_us"][kind], res["rtt_us"][kind]
            print("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f |"
                  % (alg, kind, s["median"], s["p10"], s["p90"], s["mean"], c["median"]))
    print()
    for alg, res in results.items():
        d = res["median_difference"]
        within = abs(d) <= opts.target
        ok = ok and within
        print("%s: unknown vs known median %+.2f%% (server %%D), %+.2f%% (client RTT): %s"
              % (alg, 100 * d, 100 * res["rtt_median_difference"],
                 "within" if within else "OUTSIDE", ) + " the %.0f%% target" % (100 * opts.target))
        if "no_verifier_median_difference" in res:
            print("%s: no-verifier vs known median %+.2f%% (server %%D)"
                  % (alg, 100 * res["no_verifier_median_difference"]))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"requests": opts.requests, "load": load, "results": results}, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

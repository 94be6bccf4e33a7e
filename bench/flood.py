#!/usr/bin/env python3
"""Key-exchange flood benchmark (issue #15; not a timed test).

Starts a throw-away apache2 (event MPM, the built module, mod_remoteip) and,
for each flood algorithm (P-256 and DL-4096 by default) and each setting
(no budget, then AuthMutualMaxPendingPerClient), runs:

  * the legitimate client (mutualref, from 198.18.0.0/15): ROUNDS P-256
    handshakes (req-KEX-C1 + req-VFY-C) idle, then ROUNDS during the flood,
    and PENDING logins whose req-VFY-C is sent WAIT seconds after the
    401-KEX-S1 (the issue's eviction scenario);
  * the flood: FLOODERS processes sending, at full speed on keep-alive
    connections, one valid req-KEX-C1 (unknown user, one kc1 reused) from
    192.0.2.66.

The handshake latency is the sum of the two round trips as the client sees
them, without the client's own (pure Python) KAM3 arithmetic. Addresses
come from X-Forwarded-For (mod_remoteip, trusted 127.0.0.1): the machine
plays both clients.

Usage: python3 bench/flood.py    (after make; environment: FLOOD_SECONDS,
FLOOD_ROUNDS, FLOOD_PENDING, FLOOD_WAIT, FLOOD_FLOODERS, FLOOD_ALGORITHMS,
FLOOD_BUDGET, FLOOD_KEEP=1 keeps the ServerRoot). Prints one table.
"""

import multiprocessing
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t", "integration"))

import mutualref as m  # noqa: E402
from httpd_fixture import Httpd, add_users, location, require_module, require_tool  # noqa: E402

EC256 = "iso-kam3-ec-p256-sha256"
DL4096 = "iso-kam3-dl-4096-sha512"
SECONDS = float(os.environ.get("FLOOD_SECONDS", "8"))
ROUNDS = int(os.environ.get("FLOOD_ROUNDS", "30"))
PENDING = int(os.environ.get("FLOOD_PENDING", "3"))
WAIT = float(os.environ.get("FLOOD_WAIT", "1.5"))
FLOODERS = int(os.environ.get("FLOOD_FLOODERS", "3"))
ALGORITHMS = os.environ.get("FLOOD_ALGORITHMS", "%s %s" % (EC256, DL4096)).split()
BUDGET = os.environ.get("FLOOD_BUDGET", "20 10")
BAD = "192.0.2.66"
_good = [0]


def good_address():
    """A new address for every legitimate login: a person makes one key
    exchange per login, not ROUNDS in a few seconds from one address (which
    the budget would rightly refuse)."""
    _good[0] += 1
    return "198.18.%d.%d" % (_good[0] // 250, 1 + _good[0] % 250)


class TimedClient(m.Client):
    """mutualref's client, adding up the time spent in round trips."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.wire = 0.0

    def request(self, *a, **kw):
        t = time.perf_counter()
        try:
            return super().request(*a, **kw)
        finally:
            self.wire += time.perf_counter() - t


def handshake(h, path, wait=0.0):
    """One login from a legitimate address: (round-trip seconds, verified?)."""
    c = TimedClient(h.base, "alice", "alice-pw", persistent=True)
    hdr = [("X-Forwarded-For", good_address())]
    try:
        _, challenge = c.initial(path, hdr)
        c.wire = 0.0
        try:
            _, session = c.key_exchange(path, challenge, hdr)
        except m.AuthenticationFailed as e:
            return c.wire, False, e.response.status
        if wait:
            time.sleep(wait)
        r = c.verify(path, session, headers=hdr)
        return c.wire, r.status == 200 and getattr(r, "authenticated", False), r.status
    finally:
        c.close()


def flooder(port, path, auth, stop, counts):
    conn = m.Connection("127.0.0.1", port, None, persistent=True, timeout=30)
    hdr = [("Authorization", auth), ("X-Forwarded-For", BAD)]
    n401 = n429 = 0
    while not stop.is_set():
        try:
            r = conn.request("GET", path, hdr)
        except Exception:
            conn.close()
            continue
        if r.status == 429:
            n429 += 1
        else:
            n401 += 1
    conn.close()
    counts.put((n401, n429))


def run_phase(h, path, algorithm):
    alg = m.ALGORITHMS[algorithm]
    kc1 = alg.encode_element(alg.client_kc1(alg.random_secret()))
    # the challenge parameters of the location
    resp = h.get(path)
    ch = [c.check() for c in resp.challenges if c.algorithm == algorithm][0]
    auth = m.kex_c1_header(algorithm, ch.validation, ch.auth_scope, ch.realm, "nobody", kc1)

    idle = [handshake(h, path.replace("flood-", "good-"))[0] for _ in range(ROUNDS)]
    stop = multiprocessing.Event()
    counts = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=flooder, args=(h.port, path, auth, stop, counts))
             for _ in range(FLOODERS)]
    t0 = time.time()
    for p in procs:
        p.start()
    time.sleep(0.5)
    busy, ok = [], 0
    pending_ok = 0
    good_path = path.replace("flood-", "good-")
    for _ in range(PENDING):
        _, verified, _ = handshake(h, good_path, wait=WAIT)
        pending_ok += verified
    deadline = t0 + max(SECONDS, 1.0)
    while len(busy) < ROUNDS or time.time() < deadline:
        wire, verified, _ = handshake(h, good_path)
        busy.append(wire)
        ok += verified
        if len(busy) >= 4 * ROUNDS:
            break
    stop.set()
    elapsed = time.time() - t0
    n401 = n429 = 0
    for p in procs:
        a, b = counts.get(timeout=60)
        n401 += a
        n429 += b
        p.join()
    return {
        "idle_median": statistics.median(idle) * 1000,
        "busy_median": statistics.median(busy) * 1000,
        "busy_max": max(busy) * 1000,
        "verified": "%d/%d" % (ok, len(busy)),
        "pending": "%d/%d" % (pending_ok, PENDING),
        "flood_rate": (n401 + n429) / elapsed,
        "kex_rate": n401 / elapsed,
    }


def main():
    require_module()
    require_tool("htmutual")
    conf = ["RemoteIPHeader X-Forwarded-For", "RemoteIPInternalProxy 127.0.0.1"]
    for alg in ALGORITHMS:
        short = "ec" if "ec-" in alg else "dl"
        # the flood and the legitimate client share realm and quota; the
        # legitimate client always uses P-256
        for budget in ("open", "budget"):
            extra = "AuthMutualMaxPendingPerClient " + BUDGET if budget == "budget" else ""
            algs = [alg] + ([EC256] if alg != EC256 else [])
            conf.append(location("/flood-%s-%s/" % (short, budget), "flood realm", algs,
                                 extra=extra))
            conf.append(location("/good-%s-%s/" % (short, budget), "flood realm", algs[::-1],
                                 extra=extra))
    h = Httpd("flood", conf="\n".join(conf), mpm="event", modules=["remoteip"], loglevel="warn")
    add_users(h, "flood realm", {"alice": "alice-pw"}, [EC256] + [a for a in ALGORITHMS if a != EC256])
    for p in ("flood", "good"):
        for alg in ALGORITHMS:
            short = "ec" if "ec-" in alg else "dl"
            for budget in ("open", "budget"):
                h.write_file("%s-%s-%s/index.html" % (p, short, budget), "ok\n")
    h.start()
    print("load average before: %.2f %.2f %.2f (%d CPUs)" % (os.getloadavg() + (os.cpu_count(),)),
          flush=True)
    rows = []
    try:
        for alg in ALGORITHMS:
            short = "ec" if "ec-" in alg else "dl"
            for budget in ("open", "budget"):
                r = run_phase(h, "/flood-%s-%s/index.html" % (short, budget), alg)
                r["flood"] = alg
                r["setting"] = "off" if budget == "open" else "AuthMutualMaxPendingPerClient " + BUDGET
                rows.append(r)
                print("%-24s %-36s idle %6.1f ms  flooded %6.1f ms (max %6.1f)  x%.2f  verified %s  "
                      "VFY after %.1fs %s  flood %5.0f req/s, %5.0f KEX-S1/s" % (
                          alg, r["setting"], r["idle_median"], r["busy_median"], r["busy_max"],
                          r["busy_median"] / r["idle_median"], r["verified"], WAIT, r["pending"],
                          r["flood_rate"], r["kex_rate"]), flush=True)
        print("load average after: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    finally:
        if os.environ.get("FLOOD_KEEP"):
            h.stop()
            print("ServerRoot kept:", h.root)
        else:
            h.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

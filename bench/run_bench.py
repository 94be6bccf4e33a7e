#!/usr/bin/env python3
"""The mod_auth_mutual benchmark (docs/performance.md); bench/run.sh runs it.

In one run, against one apache2 (event MPM) on 127.0.0.1 started from a
throw-away ServerRoot, with build/bench/mutual_load as the only load generator:

  1. the crypto ceiling: build/bench/kam3_ceiling (server KAM3 math alone);
  2. no auth, Basic (bcrypt htpasswd), Digest, Mutual full handshakes and
     Mutual session reuse for every algorithm: requests/s, latency
     percentiles and httpd CPU per request (utime+stime of all httpd
     processes from /proc, read by mutual_load at the edges of the measured
     interval);
  3. session reuse with few and with many live sessions in the table
     (a second apache2 with a large AuthMutualSessionTableSize);
  4. full-handshake throughput with httpd on one CPU and on both (phase
     "scaling", scaling_phase below);

then prints ratios and the issue's targets. Every knob is an environment
variable (see ENV below); apache2 is always stopped at the end.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import statistics
import time
import hashlib
import urllib.request
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))


def env(name, default):
    return os.environ.get(name, default)


B = env("B", "build")
B = B if os.path.isabs(B) else os.path.join(REPO, B)
HTTPD = env("HTTPD", "/usr/sbin/apache2")
MODULE_DIR = env("HTTPD_MODULES", "/usr/lib/apache2/modules")
ALL_ALGORITHMS = ["iso-kam3-dl-2048-sha256", "iso-kam3-dl-4096-sha512",
                  "iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512"]
ENV = {
    "BENCH_DURATION": "8",          # seconds per measured phase
    "BENCH_WARMUP": "1",            # seconds of warm-up before each phase
    "BENCH_CONCURRENCY": "4",       # connections (threads) of the generator
    "BENCH_ALGORITHMS": " ".join(ALL_ALGORITHMS),
    "BENCH_CEILING_TIME": "3",      # seconds per algorithm for kam3_ceiling
    "BENCH_SESSIONS_FEW": "1000",   # live sessions for the baseline reuse run
    "BENCH_SESSIONS_MANY": "100000",  # live sessions for the large-table run (0: skip)
    "BENCH_SESSIONS_ALGORITHM": "iso-kam3-ec-p256-sha256",
    "BENCH_PIN": "",                # "1": httpd on CPU 0, generator on CPU 1 (taskset)
    "BENCH_BCRYPT_COST": "5",       # htpasswd -B -C (5 is htpasswd's default)
    "BENCH_REPEAT_FEW": "2",        # reuse runs at the small table (shows the noise)
    "BENCH_ROUNDS": "1",            # repeat the comparison; the report shows medians
    "BENCH_VERIFIERS": "single",    # "all": one verifier record with all four algorithms
    "BENCH_PHASES": "ceiling comparison sessions scaling store nodes",
    # Which rows of the comparison to measure (a shorter run for one question).
    # floor: session reuse's floor, a module that accepts a req-VFY-C unread
    # (bench/mod_auth_floor.c++; BENCH_TRANSPORT=socket only).
    "BENCH_MODES": "plain basic digest plain3 reuse floor full kexfirst visit plain2",
    # As Debian's apache2.conf: "Mutex file:${APACHE_LOCK_DIR} default" ("{run}" is
    # the throw-away run directory); "none" leaves httpd's built-in default.
    "BENCH_MUTEX": "file:{run} default",
    "BENCH_NICE": "",               # e.g. -10: scheduler priority of the benchmark's autogroup
    # Phase "scaling": the algorithm of its full handshakes (default: the first of BENCH_ALGORITHMS).
    "BENCH_SCALING_ALGORITHM": "",
    # Its generator: "pool" (mutual_load -R -K: plain sockets, the handshake
    # built from the library's pieces, K_c1 from a pool made beforehand),
    # "socket" (-R: the client library over plain sockets) or "curl" (the
    # client library over libcurl, as the other phases and this one until
    # 2026-12-06). The no-auth control uses plain sockets unless "curl".
    "BENCH_SCALING_TRANSPORT": "pool",
    # The comparison's rows but Digest (no auth, Basic, Mutual reuse, full
    # handshakes, first visits, no auth again): "socket" (mutual_load -R:
    # HTTP/1.1 over plain sockets, the client library without libcurl, so
    # that httpd and not the generator is the bottleneck, as with the
    # issue's wrk) or "curl" (the one-request rows until 2026-12-06, the
    # handshake rows until 2026-12-06's fourth pass: through libcurl a first
    # visit cost the generator more CPU than httpd).
    "BENCH_TRANSPORT": "socket",
    "BENCH_SCALING_POOL_RATE": "6000",  # "pool": K_c1 pairs for this many handshakes/s
    # Session reuse (BENCH_TRANSPORT=socket): a precomputed req-VFY-C per
    # request, as the wrk (mutual_load -R -K), enough for this many
    # requests/s; 0: the client library computes VK_c and checks VK_s per
    # request (~30 us of generator CPU more per request).
    "BENCH_REUSE_POOL_RATE": "30000",
    "BENCH_SCALING_CONCURRENCY": "16",  # its connections (threads of the generator)
    # Its setups: 1cpu (httpd CPU 0, generator CPU 1), 2cpu (both on CPUs 0-1),
    # shared (both on CPU 0: the one-CPU setup with the two-CPU one's sharing) and
    # split (2cpu with each httpd child pinned to one CPU: a diagnostic).
    "BENCH_SCALING_SETUPS": "1cpu 2cpu shared split",
    # Seconds of kam3_ceiling per run of the phase's machine control (the KAM3
    # handshake math on CPU 0 alone, then on both CPUs at once); 0: skip it.
    "BENCH_SCALING_CRYPTO_TIME": "2",
    # The "store" and "nodes" phases (issue 14): session reuse with
    # AuthMutualSessionStore redis against shm on one apache2, and handshakes
    # through a round-robin balancer in front of two nodes sharing Redis.
    "BENCH_STORE_ALGORITHM": "iso-kam3-ec-p256-sha256",
    "BENCH_STORE_REPEAT": "3",      # alternating shm / redis reuse runs
    "BENCH_STORE_MODES": "shm redis",  # rows of the store phase
    "BENCH_NODES_MODES": "single full reuse",  # rows of the nodes phase
    "BENCH_NODES_MEMBER": "",       # BalancerMember parameters (default: the tests' and the guide's)
}
for k, v in ENV.items():
    ENV[k] = env(k, v)

DURATION = float(ENV["BENCH_DURATION"])
WARMUP = float(ENV["BENCH_WARMUP"])
CONCURRENCY = int(ENV["BENCH_CONCURRENCY"])
ALGORITHMS = ENV["BENCH_ALGORITHMS"].split()
PIN = ENV["BENCH_PIN"] == "1"
ROUNDS = max(1, int(ENV["BENCH_ROUNDS"]))
PHASES = ENV["BENCH_PHASES"].split()
MODES = ENV["BENCH_MODES"].split()

USER = "bench"
PASSWORD = "bench-password-1"
REALM = "bench"
SCOPE = "127.0.0.1"
LOAD = os.path.join(B, "bench", "mutual_load")
FLOOR_MODULE = os.path.join(B, "bench", "mod_auth_floor.so")
CEILING = os.path.join(B, "bench", "kam3_ceiling")


def say(*args):
    print(*args, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_readable(path):
    for dirpath, dirnames, filenames in os.walk(path):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)


def run_user():
    if os.getuid() != 0:
        return []
    import grp
    import pwd
    user = "www-data"
    try:
        pwd.getpwnam(user)
    except KeyError:
        user = "nobody"
    try:
        grp.getgrnam(user)
        group = user
    except KeyError:
        group = "nogroup"
    return ["User %s" % user, "Group %s" % group]


class Server:
    """One apache2 -DFOREGROUND in its own process group."""

    def __init__(self, name, locations, server_conf="", cpus=None, modules=()):
        self.root = tempfile.mkdtemp(prefix="mutual-bench-%s-" % name)
        self.extra_modules = list(modules)
        for d in ("htdocs", "logs", "run", "conf"):
            os.makedirs(os.path.join(self.root, d))
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.locations = locations
        self.server_conf = server_conf
        # CPUs httpd may run on (taskset -c): BENCH_PIN's CPU 0 by default.
        self.cpus = cpus if cpus is not None else ("0" if PIN else "")
        self.proc = None

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def add_page(self, directory):
        d = self.path("htdocs", directory)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "index.txt"), "w") as f:
            f.write("benchmark page\n" * 8)  # 120 octets, the same everywhere
        return "%s/%s/index.txt" % (self.base, directory)

    def config(self):
        modules = ["authn_core", "authz_core", "authz_user", "authn_file", "auth_basic",
                   "auth_digest", "mime"] + self.extra_modules
        lines = [
            'ServerRoot "%s"' % self.root,
            'DefaultRuntimeDir "%s"' % self.path("run"),
            'PidFile "%s"' % self.path("run", "httpd.pid"),
            "ServerName 127.0.0.1",
            "Listen 127.0.0.1:%d" % self.port,
            'ErrorLog "%s"' % self.path("logs", "error.log"),
            "LogLevel warn",
            # No access log: it would add the same cost to every mode.
            "LoadModule mpm_event_module %s/mod_mpm_event.so" % MODULE_DIR,
        ]
        lines += ["LoadModule %s_module %s/mod_%s.so" % (m, MODULE_DIR, m) for m in modules]
        lines.append('LoadModule auth_mutual_module "%s"' % os.path.join(B, "mod_auth_mutual.so"))
        lines += run_user()
        lines += [
            # A fixed pool of processes and threads: no process churn during a phase.
            "StartServers 2",
            "ServerLimit 2",
            "ThreadsPerChild 32",
            "ThreadLimit 32",
            "MinSpareThreads 1",
            "MaxSpareThreads 64",
            "MaxRequestWorkers 64",
            "MaxConnectionsPerChild 0",
            "Timeout 60",
            "KeepAlive On",
            "MaxKeepAliveRequests 0",
            "KeepAliveTimeout 30",
            'DocumentRoot "%s"' % self.path("htdocs"),
            # As Debian's apache2.conf: no .htaccess lookups on the way.
            "<Directory />",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
            '<Directory "%s">' % self.path("htdocs"),
            "    AllowOverride None",
            "    Require all granted",
            "</Directory>",
            "TypesConfig /etc/mime.types" if os.path.exists("/etc/mime.types") else "",
            "" if ENV["BENCH_MUTEX"] == "none"
            else "Mutex " + ENV["BENCH_MUTEX"].replace("{run}", self.path("run")),
            self.server_conf,
            self.locations,
        ]
        return "\n".join(lines) + "\n"

    def start(self):
        conf = self.path("conf", "httpd.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        make_readable(self.root)
        os.chmod(self.root, 0o755)
        cmd = [HTTPD, "-d", self.root, "-f", conf, "-DFOREGROUND"]
        if self.cpus:
            cmd = ["taskset", "-c", self.cpus] + cmd
        self.stdio = open(self.path("logs", "stdio.log"), "ab")
        # Its own process group (stopped with killpg) but the benchmark's
        # session, so it shares the scheduler autogroup BENCH_NICE adjusts.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.stdio,
                                     stderr=subprocess.STDOUT, preexec_fn=os.setpgrp)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("apache2 exited at startup:\n" + self.log_tail())
            try:
                with urllib.request.urlopen(self.base + "/", timeout=2) as r:
                    r.read()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("apache2 did not answer:\n" + self.log_tail())
        # taskset execs apache2, so the Popen pid is apache2's parent process.
        self.pid = self.proc.pid
        return self

    def log_tail(self):
        out = []
        for p in (self.path("logs", "stdio.log"), self.path("logs", "error.log")):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append(f.read()[-3000:])
        return "\n".join(out)

    def problems(self):
        """error-level lines and crashes in the error log."""
        p = self.path("logs", "error.log")
        if not os.path.exists(p):
            return []
        with open(p, errors="replace") as f:
            return [l.rstrip() for l in f
                    if re.search(r"\]\s*\[[\w.:-]*(error|crit|alert|emerg)\]|AH00052", l)]

    def stop(self):
        if self.proc is None:
            return
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None
        self.stdio.close()

    def remove(self):
        if env("BENCH_KEEP", "") != "1":
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            say("kept ServerRoot %s" % self.root)


# ---------------------------------------------------------------------------


def load(mode, url, algorithm=None, duration=DURATION, concurrency=CONCURRENCY, pid=None,
         handshakes=None, extra=(), cpus=None, pids=()):
    """One run of mutual_load; cpus: where it runs (default: CPU 1 with BENCH_PIN)."""
    cmd = [LOAD, "-m", mode, "-c", str(concurrency), "-d", str(duration),
           "-w", str(WARMUP), "-u", USER, "-M"]
    if algorithm:
        cmd += ["-a", algorithm]
    pids = ([pid] if pid else []) + list(pids)
    if pids:
        cmd += ["-P", ",".join(str(p) for p in pids)]
    if handshakes:
        cmd += ["-n", str(handshakes)]
    cmd += list(extra) + [url]
    cpus = cpus if cpus is not None else ("1" if PIN else "")
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    e = dict(os.environ, MUTUAL_PASSWORD=PASSWORD)
    p = subprocess.run(cmd, capture_output=True, text=True, env=e)
    for line in p.stdout.splitlines():
        if not line.startswith("RESULT "):
            say("    " + line)
    err = p.stderr.strip().splitlines()
    if err:
        say("\n".join("    [stderr] " + l for l in err[-3:]))
    result = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            result = {}
            for kv in line[7:].split():
                k, v = kv.split("=", 1)
                try:
                    result[k] = float(v)
                except ValueError:
                    result[k] = v
    if result is None:
        raise RuntimeError("mutual_load %s failed (%d)" % (mode, p.returncode))
    result["exit"] = p.returncode
    return result


def ceiling():
    say("== crypto ceiling (build/bench/kam3_ceiling)")
    cmd = [CEILING, "-m", "-t", ENV["BENCH_CEILING_TIME"]]
    for a in ALGORITHMS:
        cmd += ["-a", a]
    if PIN:
        cmd = ["taskset", "-c", "0"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("ceiling "):
            # handshake and reuse through mutual::Server::handle, then the
            # KAM3 math alone (kam3_ceiling.c++)
            parts = line.split()
            out[parts[1]] = tuple(float(x) for x in parts[2:6])
        else:
            say("  " + line)
    return out


def write_users(root):
    conf = os.path.join(root, "conf")
    basic = os.path.join(conf, "basic.users")
    subprocess.run(["htpasswd", "-c", "-b", "-B", "-C", ENV["BENCH_BCRYPT_COST"], basic, USER,
                    PASSWORD], check=True, capture_output=True)
    digest = os.path.join(conf, "digest.users")
    ha1 = hashlib.md5(("%s:%s:%s" % (USER, "bench-digest", PASSWORD)).encode()).hexdigest()
    with open(digest, "w") as f:
        f.write("%s:%s:%s\n" % (USER, "bench-digest", ha1))
    # Verifier files: by default one per algorithm holding only that algorithm's
    # entry (what htmutual writes for a location offering one algorithm);
    # BENCH_VERIFIERS=all: one file whose record holds all four entries.
    mutual = {}
    if ENV["BENCH_VERIFIERS"] == "all":
        path = os.path.join(conf, "mutual-all.users")
        htmutual(path, ALL_ALGORITHMS)
        mutual = {a: path for a in ALL_ALGORITHMS}
    else:
        for a in ALL_ALGORITHMS:
            mutual[a] = os.path.join(conf, "mutual-%s.users" % a)
            htmutual(mutual[a], [a])
    return basic, digest, mutual


def htmutual(path, algorithms):
    cmd = [os.path.join(B, "htmutual"), "-c", "-b", "-s", SCOPE]
    for a in algorithms:
        cmd += ["-a", a]
    subprocess.run(cmd + [path, REALM, USER, PASSWORD], check=True, capture_output=True)


def mutual_location(path, algorithm, user_file, extra=""):
    return """<Location "%s">
    AuthType Mutual
    AuthName "%s"
    AuthMutualScope "%s"
    AuthMutualUserFile "%s"
    AuthMutualAlgorithms %s
    AuthMutualNcMax 1000000000
    Require valid-user
%s</Location>
""" % (path, REALM, SCOPE, user_file, algorithm, extra)


def floor_authorization(algorithm):
    """A req-VFY-C as long as the client library's for this bench's realm
    (sid 32 octets in hex, vkc 32 in base64, a seven-digit nc), for the floor
    row: mod_auth_floor accepts it without reading it."""
    return ('Mutual version=1, algorithm=%s, validation=host, auth-scope="%s", realm="%s", '
            'sid=%s, nc=1000000, vkc="%s="' % (algorithm, SCOPE, REALM, "0" * 64, "A" * 43))


def median_ceiling(runs):
    """Per algorithm and field, the median of several ceiling() results: the
    one at the start and one after each round's first-visit row, so that the
    bound sees the machine as the visits did (on this VM the hot-loop
    ceiling moved by 30 % between runs ten minutes apart, 219.5 and
    286.6 us for P-256, while the visits' httpd CPU stayed at 617-624 us)."""
    out = {}
    for a in ALGORITHMS:
        values = [r[a] for r in runs if a in r]
        if values:
            out[a] = tuple(statistics.median(v[i] for v in values) for i in range(len(values[0])))
            say("ceiling %s over %d measurements: %s us per handshake (median %.1f)"
                % (short(a), len(values), ", ".join("%.1f" % v[0] for v in values), out[a][0]))
    return out


def median_result(runs):
    """Field by field median over the rounds (one round: that run)."""
    out = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, float):
            values = sorted(r[k] for r in runs)
            n = len(values)
            out[k] = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    out["rounds"] = len(runs)
    return out


def prioritize():
    """With BENCH_NICE: the benchmark (orchestrator, generator, httpd) in a
    session of its own, whose scheduler autogroup gets that nice value, so
    unrelated processes on a shared machine disturb the figures less. With
    autogroups (Linux's default) a plain `nice` only orders processes within
    one session, which is why this is needed."""
    value = ENV["BENCH_NICE"]
    if not value:
        return
    try:
        os.setsid()
    except OSError:
        pass  # already a session or group leader: keep the current autogroup
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(value)
        say("scheduler: autogroup nice %s (%s)" % (value, open("/proc/self/autogroup").read().strip()))
    except OSError as e:
        say("scheduler: cannot set autogroup nice %s: %s" % (value, e))


def main():
    # SIGTERM / SIGHUP unwind through the finally blocks that stop apache2.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, frame: sys.exit(128 + number))
    prioritize()
    for tool in (LOAD, CEILING, FLOOR_MODULE, os.path.join(B, "htmutual"),
                 os.path.join(B, "mod_auth_mutual.so")):
        if not os.path.exists(tool):
            sys.exit("bench: %s is missing; run make bench" % tool)
    say("mod_auth_mutual benchmark: %s, %d connections, %.0f s per phase%s"
        % (time.strftime("%Y-%m-%d %H:%M"), CONCURRENCY, DURATION,
           ", pinned (httpd CPU 0, generator CPU 1)" if PIN else ""))
    say("machine: %d CPUs, %s" % (os.cpu_count(), cpu_model()))
    say("settings: " + " ".join("%s=%s" % kv for kv in sorted(ENV.items())))
    say("load average at start: %s" % load_average())
    ceil = ceiling() if "ceiling" in PHASES else {}
    results, problems, round_ceilings = comparison() if "comparison" in PHASES else (None, [], [])
    if round_ceilings:
        ceil = median_ceiling([ceil] + round_ceilings)
    sessions = sessions_phase() if "sessions" in PHASES else None
    scaling = scaling_phase() if "scaling" in PHASES else None
    store = store_phase() if "store" in PHASES else None
    nodes = nodes_phase() if "nodes" in PHASES else None
    say("load average at end: %s" % load_average())
    report(ceil, results, sessions, problems, scaling)
    for part, printer in ((store, report_store), (nodes, report_nodes)):
        if part is not None:
            say("")
            printer(part)


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def comparison():
    server = Server("main", "")
    basic_file, digest_file, mutual_file = write_users(server.root)
    urls = {"plain": server.add_page("plain"), "basic": server.add_page("basic"),
            "digest": server.add_page("digest")}
    locations = ["""<Location "/basic">
    AuthType Basic
    AuthName "bench-basic"
    AuthBasicProvider file
    AuthUserFile "%s"
    Require valid-user
</Location>""" % basic_file, """<Location "/digest">
    AuthType Digest
    AuthName "bench-digest"
    AuthDigestDomain /digest/
    AuthDigestProvider file
    AuthUserFile "%s"
    Require valid-user
</Location>""" % digest_file]
    for a in ALGORITHMS:
        urls[a] = server.add_page("mutual-" + a)
        locations.append(mutual_location("/mutual-" + a, a, mutual_file[a]))
    urls["floor"] = server.add_page("floor")
    locations.append("""<Location "/floor">
    AuthType Floor
    AuthName "%s"
    Require valid-user
</Location>""" % REALM)
    server.server_conf = 'LoadModule auth_floor_module "%s"' % FLOOR_MODULE
    server.locations = "\n".join(locations)
    runs = {}
    if ENV["BENCH_TRANSPORT"] not in ("socket", "curl"):
        raise RuntimeError("BENCH_TRANSPORT must be socket or curl, not %r" % ENV["BENCH_TRANSPORT"])
    raw = ["-R"] if ENV["BENCH_TRANSPORT"] == "socket" else []
    rate = ENV["BENCH_REUSE_POOL_RATE"]
    reuse_pool = ["-K", rate] if raw and float(rate) > 0 else []
    ceilings = []
    try:
        server.start()
        say("== apache2 %s (event MPM) on %s, pid %d" % (httpd_version(), server.base, server.pid))

        def phase(key, title, *args, **kwargs):
            kind = key[0] if isinstance(key, tuple) else key
            if kind not in MODES:
                return
            say("-- %s" % title)
            runs.setdefault(key, []).append(load(*args, pid=server.pid, **kwargs))

        for n in range(ROUNDS):
            if ROUNDS > 1:
                say("== round %d of %d" % (n + 1, ROUNDS))
            for mode in ("plain", "basic", "digest"):
                phase(mode, mode, mode, urls[mode], extra=raw if mode != "digest" else [])
            phase("plain3", "plain, 3 requests on a new connection", "plain", urls["plain"],
                  extra=["-N"] + raw)
            for a in ALGORITHMS:
                phase(("reuse", a), "mutual-reuse " + a, "mutual-reuse", urls[a], a, extra=raw + reuse_pool)
            if raw:
                a = ALGORITHMS[0]
                phase("floor", "floor: a req-VFY-C accepted unread (mod_auth_floor, %s's length)" % a,
                      "plain", urls["floor"], extra=raw + ["-A", floor_authorization(a)])
            for a in ALGORITHMS:
                phase(("full", a), "mutual-full " + a, "mutual-full", urls[a], a, extra=raw)
            for a in ALGORITHMS:
                phase(("kexfirst", a), "mutual-full (req-KEX-C1 first) " + a, "mutual-full",
                      urls[a], a, extra=["-k"] + raw)
            for a in ALGORITHMS:
                # -p: the new client's pi is derived once per process, not per
                # visit (PBKDF2 would make the generator the bottleneck).
                phase(("visit", a), "mutual-full, a new client on a new connection (pi cached) " + a,
                      "mutual-full", urls[a], a, extra=["-N", "-p"] + raw)
            # The crypto ceiling again, next to the round's first visits.
            if "ceiling" in PHASES and "visit" in MODES:
                ceilings.append(ceiling())
            # no auth again at the end of the round: shows the drift over the run
            phase("plain2", "plain (again)", "plain", urls["plain"], extra=raw)
    finally:
        server.stop()
        problems = server.problems()
        server.remove()
    return {k: median_result(v) for k, v in runs.items()}, problems, ceilings


def scaling_phase():
    """Full-handshake throughput with httpd on one CPU and on both CPUs.

    One CPU: httpd on CPU 0, the generator on CPU 1. Both CPUs: httpd on CPUs
    0-1, and the generator necessarily shares them (the machine has two).
    Shared: both on CPU 0 (the generator's company on httpd's CPU without
    the second CPU). To keep the comparison fair the generator is as cheap
    as a client can be: kept-alive connections, pi derived once, plain
    sockets instead of libcurl (mutual_load -R) and, by default
    (BENCH_SCALING_TRANSPORT "pool", -K), the handshake built from the
    library's pieces with K_c1 from a pool made beforehand, so what remains
    is the client's z, VK_c, the check of vks and a minimal HTTP/1.1. Its
    CPU is measured: the two-CPU throughput
    is also given per CPU left to httpd, rate x 2 / (2 - generator CPUs -
    other CPUs), the figure a generator on a third machine would see if
    httpd scaled with the CPUs it gets. Lock waits or contention show as
    idle or extra httpd CPU per handshake, which lowers that figure. The
    control (no authentication) goes through the same setups and transport.
    """
    a = ENV["BENCH_SCALING_ALGORITHM"] or ALGORITHMS[0]
    transport = ENV["BENCH_SCALING_TRANSPORT"]
    if transport not in ("pool", "socket", "curl"):
        raise RuntimeError("BENCH_SCALING_TRANSPORT must be pool, socket or curl, not %r" % transport)
    raw = ["-R"] if transport != "curl" else []
    pool = ["-K", ENV["BENCH_SCALING_POOL_RATE"]] if transport == "pool" else []
    concurrency = int(ENV["BENCH_SCALING_CONCURRENCY"] or CONCURRENCY)
    out = {"algorithm": a, "problems": [], "transport": transport, "concurrency": concurrency}
    # The servers run side by side (an idle one costs nothing) and the
    # rounds alternate between them, so drifting load on a shared machine
    # touches every figure alike.
    wanted = ENV["BENCH_SCALING_SETUPS"].split()
    if "1cpu" not in wanted or "2cpu" not in wanted:
        raise RuntimeError("BENCH_SCALING_SETUPS must name 1cpu and 2cpu")
    setups = tuple(x for x in (("1cpu", "0", "1"), ("2cpu", "0,1", "0,1"), ("shared", "0", "0"),
                               ("split", "0,1", "0,1"))
                   if x[0] in wanted)
    servers, runs = {}, {}
    try:
        for label, server_cpus, generator_cpus in setups:
            server = Server("scaling-" + label, "", cpus=server_cpus)
            servers[label] = server
            _, _, mutual_file = write_users(server.root)
            server.url = server.add_page("mutual")
            server.plain_url = server.add_page("plain")
            server.locations = mutual_location("/mutual", a, mutual_file[a])
            server.start()
            say("== scaling: httpd on CPU %s, generator on CPU %s, pid %d"
                % (server_cpus, generator_cpus, server.pid))
            if label == "split":
                pin_children(server.pid)
        for n in range(ROUNDS):
            if float(ENV["BENCH_SCALING_CRYPTO_TIME"]) > 0:
                say("-- the machine's control: kam3_ceiling on CPU 0, then on CPUs 0 and 1 at once, "
                    "round %d of %d" % (n + 1, ROUNDS))
                runs.setdefault("crypto", []).append(crypto_scaling(a))
            for label, server_cpus, generator_cpus in (setups if n % 2 == 0 else setups[::-1]):
                server = servers[label]
                say("-- mutual-full %s (kept-alive, pi cached, %s), httpd on CPU %s, round %d of %d"
                    % (a, transport, server_cpus, n + 1, ROUNDS))
                runs.setdefault(label, []).append(
                    load("mutual-full", server.url, a, pid=server.pid, extra=["-p"] + raw + pool,
                         cpus=generator_cpus, concurrency=concurrency))
                # The control: no authentication through the same setup.
                say("-- plain (%s), httpd on CPU %s, round %d of %d"
                    % (transport, server_cpus, n + 1, ROUNDS))
                runs.setdefault(label + "-plain", []).append(
                    load("plain", server.plain_url, pid=server.pid, extra=raw,
                         cpus=generator_cpus, concurrency=concurrency))
    finally:
        for server in servers.values():
            server.stop()
            out["problems"].extend(server.problems())
            server.remove()
    for label, v in runs.items():
        if label != "crypto":
            for x in v:
                derive_cpus(x)
        out[label] = median_result(v)
        out[label + "-runs"] = v
    return out


def pin_children(parent):
    """The "split" setup: each httpd child (ServerLimit 2, a fixed pool)
    with all its threads on one CPU of its own, so no thread moves between
    the CPUs; a diagnostic (httpd has no directive for it)."""
    kids = sorted(int(e) for e in os.listdir("/proc") if e.isdigit() and ppid(int(e)) == parent)
    for i, kid in enumerate(kids):
        subprocess.run(["taskset", "-a", "-p", "-c", str(i % 2), str(kid)], check=True,
                       capture_output=True)
    say("   httpd children %s pinned to CPUs %s" % (
        ", ".join(str(k) for k in kids), ", ".join(str(i % 2) for i in range(len(kids)))))


def ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def crypto_scaling(algorithm):
    """The machine's own two-CPU scaling for the handshake's math, with no
    httpd and no sockets: kam3_ceiling (the server's two Server::handle calls
    of a handshake, median thread CPU time) on CPU 0 alone, then one copy on
    CPU 0 and one on CPU 1 at once. If the CPU time per handshake rises when
    both CPUs work (vCPUs sharing a host core, memory or frequency), no
    server can scale by 2 on this machine; ratio = 2 x alone / together."""
    cmd = [CEILING, "-m", "-a", algorithm, "-t", ENV["BENCH_SCALING_CRYPTO_TIME"], "-r", "1000"]

    def figure(output):
        for line in output.splitlines():
            if line.startswith("ceiling "):
                return float(line.split()[2])
        raise RuntimeError("kam3_ceiling printed no figure")

    def start(cpu):
        return subprocess.Popen(["taskset", "-c", cpu] + cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)

    p = start("0")
    alone = figure(p.communicate()[0])
    both = [start("0"), start("1")]
    together = [figure(q.communicate()[0]) for q in both]
    x = {"alone_us": alone, "together_us": sum(together) / 2}
    x["ratio"] = 2 * alone / x["together_us"]
    say("    handshake math %.1f us alone, %.1f and %.1f us on both CPUs at once: %.3f"
        % (alone, together[0], together[1], x["ratio"]))
    return x


def derive_cpus(x):
    x["generator_cpus"] = x["client_cpu_us"] * x["rps"] / 1e6
    x["server_cpus"] = x["server_cpu_us"] * x["rps"] / 1e6
    # CPU 0 alone (busy, idle, irq, steal): when httpd and the generator share
    # it (the "shared" setup; meaningless in the others), the other processes'
    # share of it is its busy time minus theirs.
    try:
        busy0, idle0, irq0, steal0 = (float(v) for v in str(x.get("per_cpu", "")).split("/")[0]
                                      .split(","))
    except ValueError:
        return
    x["other_cpu0"] = max(0.0, busy0 - x["server_cpus"] - x["generator_cpus"])
    x["idle_cpu0"], x["irq_cpu0"], x["steal_cpu0"] = idle0, irq0, steal0


def scaling_ratio(one, two):
    """Two-CPU rate per CPU left to httpd over the one-CPU rate."""
    left = 2 - two["generator_cpus"] - two["other_cpus"]
    return two["rps"] * 2 / left / one["rps"] if left > 0 else 0


def shared_ratio(shared, two):
    """Both setups with the generator sharing httpd's CPUs: the two-CPU rate
    per CPU left to httpd over the one-CPU (CPU 0, shared) rate per CPU left
    to httpd there, 1 - generator CPUs - other processes' share of CPU 0."""
    left1 = 1 - shared["generator_cpus"] - shared.get("other_cpu0", 0)
    left2 = 2 - two["generator_cpus"] - two["other_cpus"]
    if left1 <= 0 or left2 <= 0:
        return 0
    return (two["rps"] * 2 / left2) / (shared["rps"] / left1)


def capacity_ratio(one, two):
    """The same from CPU accounting: what two CPUs would serve at the two-CPU
    phase's httpd CPU per handshake and its busy share of the CPU left to it,
    over what one fully used CPU serves at the one-CPU phase's httpd CPU per
    handshake. Equal to scaling_ratio times httpd's CPUs in the one-CPU phase:
    it does not credit a one-CPU phase that left httpd's CPU partly idle."""
    left = 2 - two["generator_cpus"] - two["other_cpus"]
    if left <= 0 or two["server_cpu_us"] <= 0:
        return 0
    return 2 * (two["server_cpus"] / left) / two["server_cpu_us"] * one["server_cpu_us"]


def report_scaling(scaling):
    one, two = scaling["1cpu"], scaling["2cpu"]
    say("4. full-handshake throughput on 2 CPUs >= 1.8 x on 1 CPU (%s, kept-alive connections,"
        " %d connections, generator over %s%s)"
        % (short(scaling["algorithm"]), scaling["concurrency"], scaling["transport"],
           ", medians of %d rounds" % ROUNDS if ROUNDS > 1 else ""))
    say("   %-30s %9s %9s %9s %6s %6s %6s %6s %6s %6s" % (
        "httpd on", "req/s", "srvCPU_us", "genCPU_us", "httpd", "gen", "other", "irq", "steal",
        "idle"))
    rows = (("1cpu", "CPU 0 (generator CPU 1)"), ("2cpu", "CPUs 0-1 (generator shares)"),
            ("shared", "CPU 0 (generator shares)"), ("split", "CPUs 0-1, children pinned"),
            ("1cpu-plain", "no auth, CPU 0"), ("2cpu-plain", "no auth, CPUs 0-1"),
            ("shared-plain", "no auth, CPU 0 shared"), ("split-plain", "no auth, pinned"))
    for label, name in rows:
        if label not in scaling:
            continue
        x = scaling[label]
        # shared: CPU 0's own figures (CPU 1 is left to other processes)
        cpu0 = "_cpu0" if label.startswith("shared") else "_cpus"
        say("   %-30s %9.1f %9.1f %9.1f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f" % (
            name + (" *" if cpu0 == "_cpu0" else ""), x["rps"], x["server_cpu_us"],
            x["client_cpu_us"], x["server_cpus"], x["generator_cpus"], x.get("other" + cpu0, 0),
            x.get("irq" + cpu0, 0), x.get("steal" + cpu0, 0), x.get("idle" + cpu0, 0)))
    say("   (medians per column; httpd, gen(erator), other, irq (interrupts and softirq, no")
    say("   process's), steal (the hypervisor's), idle: CPUs' worth of time during the phase;")
    say("   *: other, irq, steal and idle of CPU 0 alone; rounds alternate between the setups)")
    if ROUNDS > 1:
        for label in ("1cpu", "2cpu"):
            say("   %s rounds: %s" % (label, ", ".join(
                "%.0f/s" % x["rps"] for x in scaling.get(label + "-runs", []))))
        ratios = [scaling_ratio(o, t) for o, t in zip(scaling["1cpu-runs"], scaling["2cpu-runs"])]
        say("   per-round ratios (per CPU left to httpd): %s" % ", ".join("%.3f" % r for r in ratios))
    runs = [x for label in ("1cpu", "2cpu", "shared", "split", "1cpu-plain", "2cpu-plain",
                            "shared-plain", "split-plain")
            for x in scaling.get(label + "-runs", [])]
    errors = sum(int(x["errors"]) for x in runs)
    misses = sum(int(x.get("pool_misses", 0)) for x in runs)
    say("   %d errors in %d runs%s" % (errors, len(runs), "; WARNING: %d handshakes found the K_c1 "
                                       "pool empty (raise BENCH_SCALING_POOL_RATE)" % misses
                                       if misses else ""))
    if one["server_cpus"] < 0.95:
        say("   WARNING: httpd used only %.2f CPUs on its one CPU: the generator limited the "
            "one-CPU figure (see the CPU-accounting figure)" % one["server_cpus"])
    per_cpu = scaling_ratio(one, two)
    say("   raw ratio (2-CPU rate / 1-CPU rate): %.3f; the generator takes %.2f CPUs of the two"
        % (two["rps"] / one["rps"], two["generator_cpus"]))
    say("   THE ISSUE'S FIGURE, ratio per CPU left to httpd (2-CPU rate x 2 / %.2f CPUs over the "
        "1-CPU rate): %.3f (%s)" % (2 - two["generator_cpus"] - two["other_cpus"], per_cpu,
                                    verdict(per_cpu >= 1.8)))
    say("   from CPU accounting (2 / httpd CPU per handshake x httpd's busy share of the CPUs left,")
    say("   over 1 / its CPU per handshake on one CPU): %.3f" % capacity_ratio(one, two))
    say("   httpd CPU per handshake on 2 CPUs / on 1 CPU: %.3f (above 1: contention, or the"
        % (two["server_cpu_us"] / one["server_cpu_us"]))
    say("   generator's threads sharing httpd's CPUs); idle during the two-CPU phase: %.2f CPUs (waits)"
        % two.get("idle_cpus", 0))
    if "1cpu-plain" in scaling and "2cpu-plain" in scaling:
        p1, p2 = scaling["1cpu-plain"], scaling["2cpu-plain"]
        control = scaling_ratio(p1, p2)
        say("   control, no auth through the same setups: ratio %.3f (raw %.3f, CPU accounting "
            "%.3f), httpd CPU per request %.3f;" % (control, p2["rps"] / p1["rps"],
                                                     capacity_ratio(p1, p2),
                                                     p2["server_cpu_us"] / p1["server_cpu_us"]))
        say("   full handshakes relative to the control: %.3f" % (per_cpu / control if control else 0))
    if "crypto" in scaling:
        c = scaling["crypto"]
        say("   the machine's control, the handshake math alone (kam3_ceiling, thread CPU per "
            "handshake): %.1f us on CPU 0 alone, %.1f us with both CPUs busy: ratio %.3f%s"
            % (c["alone_us"], c["together_us"], c["ratio"],
               " (per round: %s)" % ", ".join("%.3f" % x["ratio"] for x in scaling["crypto-runs"])
               if len(scaling["crypto-runs"]) > 1 else ""))
    if "shared" in scaling:
        sh = scaling["shared"]
        say("   both setups shared (httpd and the generator on CPU 0, then on CPUs 0-1; the")
        say("   generator's interference is in both): ratio per CPU left to httpd %.3f (CPU 0 left "
            "to httpd %.2f);" % (shared_ratio(sh, two), 1 - sh["generator_cpus"] - sh.get("other_cpu0", 0)))
        say("   httpd CPU per handshake on 2 CPUs / on 1 shared CPU: %.3f, on 1 shared / on 1 own "
            "CPU: %.3f" % (two["server_cpu_us"] / sh["server_cpu_us"],
                           sh["server_cpu_us"] / one["server_cpu_us"]))
        if "shared-plain" in scaling and "2cpu-plain" in scaling:
            say("   control, no auth: %.3f" % shared_ratio(scaling["shared-plain"], scaling["2cpu-plain"]))
    if "split" in scaling:
        sp = scaling["split"]
        say("   httpd's two children pinned one per CPU (no thread moves between the CPUs; a")
        say("   diagnostic): ratio per CPU left to httpd %.3f; httpd CPU per handshake %.3f x the "
            "one-CPU figure" % (scaling_ratio(one, sp), sp["server_cpu_us"] / one["server_cpu_us"]))
        if "split-plain" in scaling and "1cpu-plain" in scaling:
            say("   control, no auth: %.3f" % scaling_ratio(scaling["1cpu-plain"], scaling["split-plain"]))
    return per_cpu


def sessions_phase():
    many = int(ENV["BENCH_SESSIONS_MANY"])
    few = int(ENV["BENCH_SESSIONS_FEW"])
    if many <= 0:
        return None
    a = ENV["BENCH_SESSIONS_ALGORITHM"]
    size = int(many * 1.1) + few + 1024
    server = Server("sessions", "", server_conf="AuthMutualSessionTableSize %d\n"
                    "AuthMutualMaxKeyExchanges 65536" % size)
    _, _, mutual_file = write_users(server.root)
    url = server.add_page("mutual")
    server.locations = mutual_location("/mutual", a, mutual_file[a],
                                       "    AuthMutualSessionTime 86400\n")
    out = {"few": few, "many": many, "algorithm": a, "table": size}
    try:
        server.start()
        say("== session table: %d slots, %s, pid %d" % (size, a, server.pid))
        t = time.time()
        say("-- fill to %d sessions" % few)
        load("fill", url, a, handshakes=few, concurrency=CONCURRENCY)
        out["few_runs"] = []
        for i in range(int(ENV["BENCH_REPEAT_FEW"])):
            say("-- mutual-reuse with ~%d live sessions (run %d)" % (few, i + 1))
            out["few_runs"].append(load("mutual-reuse", url, a, pid=server.pid))
        say("-- fill to %d sessions" % many)
        fill = load("fill", url, a, handshakes=many - few, concurrency=CONCURRENCY)
        out["fill_seconds"] = fill["seconds"]
        out["fill_errors"] = fill["errors"]
        out["many_runs"] = []
        for i in range(int(ENV["BENCH_REPEAT_FEW"])):
            say("-- mutual-reuse with ~%d live sessions (run %d)" % (many, i + 1))
            out["many_runs"].append(load("mutual-reuse", url, a, pid=server.pid))
        out["rss_kb"] = shared_memory_kb(server.pid)
        out["total_seconds"] = time.time() - t
    finally:
        server.stop()
        out["problems"] = server.problems()
        server.remove()
    return out


# ---------------------------------------------------------------------------
# Issue 14: the Redis session store, several nodes


def integration_fixtures():
    """The test suite's Redis and cluster helpers (t/integration), so the
    benchmark starts redis-server and the balancer exactly as the tests do."""
    path = os.path.join(REPO, "t", "integration")
    if path not in sys.path:
        sys.path.insert(0, path)
    import cluster_fixture
    import redis_servers
    return redis_servers, cluster_fixture


def store_conf(redis_url, key_file):
    return ('AuthMutualSessionStore "%s"\nAuthMutualSessionStoreKey "%s"\n'
            % (redis_url, key_file))


def cpu_seconds(pid, children=False):
    """utime+stime of one process (redis-server), from /proc; children=True
    adds its reaped children's and every live child's (an apache2), as
    mutual_load -P does."""
    def stat(p):
        with open("/proc/%d/stat" % p) as f:
            return f.read().rsplit(")", 1)[1].split()
    try:
        fields = stat(pid)
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != pid:
                try:
                    f = stat(int(entry))
                except OSError:
                    continue
                if int(f[1]) == pid:
                    ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def start_redis(redis_servers, unix_socket=False):
    """A throw-away redis-server and a store key file in its directory."""
    redis = redis_servers.RedisServer(unix_socket=unix_socket).start()
    # 64 hex digits, as docs/several-nodes.md makes it (a binary key ending in
    # a line-end octet is refused at startup)
    key = os.path.join(redis.dir, "store.key")
    with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    return redis, key


def command_stats(redis):
    """{command: (calls, usec_per_call)} from Redis's INFO commandstats."""
    out = {}
    for line in redis.cli("INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_(\w+):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)", line)
        if m:
            out[m.group(1)] = (int(m.group(2)), float(m.group(3)))
    return out


def store_phase():
    """Session reuse on one apache2 with the shm table and on an identical one
    with AuthMutualSessionStore redis, alternating, in the same run."""
    redis_servers, _ = integration_fixtures()
    a = ENV["BENCH_STORE_ALGORITHM"]
    modes = ENV["BENCH_STORE_MODES"].split()
    out = {"algorithm": a, "runs": {m: [] for m in modes}, "redis_cpu_us": {m: [] for m in modes}}
    # "redis-unix": the same Redis through its Unix socket (redis+unix://)
    redis, key = start_redis(redis_servers, unix_socket="redis-unix" in modes)
    urls = {"redis": redis.url, "redis-unix": redis.unix_url if "redis-unix" in modes else None}
    servers = {}
    try:
        for m in modes:
            servers[m] = Server("store-" + m, "",
                                server_conf="" if m == "shm" else store_conf(urls[m], key))
        for m, server in servers.items():
            _, _, mutual_file = write_users(server.root)
            server.url = server.add_page("mutual")
            server.locations = mutual_location("/mutual", a, mutual_file[a])
            server.start()
            say("== session store %s: apache2 pid %d on %s" % (m, server.pid, server.base))
        say("== redis-server pid %d on %s" % (redis.proc.pid, redis.url))
        for i in range(int(ENV["BENCH_STORE_REPEAT"])):
            for m, server in servers.items():
                say("-- mutual-reuse %s, store %s (run %d)" % (short(a), m, i + 1))
                pids = [server.pid] + ([redis.proc.pid] if m != "shm" else [])
                before = cpu_seconds(redis.proc.pid)
                x = load("mutual-reuse", server.url, a, pids=pids)
                if m != "shm":
                    out["redis_cpu_us"][m].append((cpu_seconds(redis.proc.pid) - before) * 1e6 /
                                               max(x["requests"], 1))
                out["runs"][m].append(x)
        out["commandstats"] = command_stats(redis)
    finally:
        out["problems"] = []
        for server in servers.values():
            server.stop()
            out["problems"] += server.problems()
            server.remove()
        redis.cleanup()
    return out


def nodes_phase():
    """Full handshakes (and reuse) through a round-robin mod_proxy_balancer in
    front of two nodes sharing one redis-server; one apache2 with the shm
    table, reached directly, for reference."""
    redis_servers, cluster_fixture = integration_fixtures()
    a = ENV["BENCH_STORE_ALGORITHM"]
    modes = ENV["BENCH_NODES_MODES"].split()
    out = {"algorithm": a, "rows": {}}
    redis, key = start_redis(redis_servers)
    balancer = Server("balancer", "", modules=cluster_fixture.PROXY_MODULES)
    nodes = [Server("node%d" % i, "", server_conf=store_conf(redis.url, key)) for i in (0, 1)]
    single = Server("single", "")
    everything = [single] + nodes + [balancer]
    try:
        # the nodes read one verifier file at one path (the path is part of a
        # session's protection space: docs/several-nodes.md)
        _, _, single_file = write_users(single.root)
        _, _, nodes_file = write_users(nodes[0].root)
        for server in [single] + nodes:
            server.add_page("mutual")
            extra = "" if server is single else "    AuthMutualHost %s\n" % balancer.base
            server.locations = mutual_location(
                "/mutual", a, (single_file if server is single else nodes_file)[a], extra)
        member = ENV["BENCH_NODES_MEMBER"] or cluster_fixture.MEMBER_OPTIONS
        out["member"] = member
        balancer.locations = cluster_fixture.BALANCER_CONF.format(members="\n".join(
            '    BalancerMember "%s" %s' % (n.base, member) for n in nodes))
        for server in everything:
            server.start()
        say("== two nodes (pids %s) behind a balancer (pid %d, %s), redis-server pid %d; "
            "one shm node (pid %d)" % (", ".join(str(n.pid) for n in nodes), balancer.pid,
                                       balancer.base, redis.proc.pid, single.pid))
        cluster = [balancer.pid] + [n.pid for n in nodes] + [redis.proc.pid]
        url = balancer.base + "/mutual/index.txt"
        if "single" in modes:
            say("-- mutual-full %s, one node, shm, direct" % short(a))
            out["rows"]["single"] = load("mutual-full", single.base + "/mutual/index.txt", a,
                                         pids=[single.pid])
        parts = [("balancer", balancer.pid, True)] + [
            ("node%d" % i, n.pid, True) for i, n in enumerate(nodes)] + [
            ("redis", redis.proc.pid, False)]
        for key, mode in (("full", "mutual-full"), ("reuse", "mutual-reuse")):
            if key not in modes:
                continue
            say("-- %s %s, two nodes + Redis, through the balancer" % (mode, short(a)))
            before = {name: cpu_seconds(pid, tree) for name, pid, tree in parts}
            x = load(mode, url, a, pids=cluster)
            # which process spent the server CPU (includes warm-up edges: approximate)
            x["split"] = {name: (cpu_seconds(pid, tree) - before[name]) * 1e6 / max(x["requests"], 1)
                          for name, pid, tree in parts}
            out["rows"][key] = x
    finally:
        out["problems"] = []
        for server in everything:
            server.stop()
            out["problems"] += server.problems()
            server.remove()
        redis.cleanup()
    return out


def report_store(store):
    say("4. session reuse with AuthMutualSessionStore redis >= 0.8 x shm (issue 14), %s, "
        "one apache2 each" % short(store["algorithm"]))
    runs = store["runs"]
    for m in runs:
        for i, x in enumerate(runs[m]):
            say("   %-10s run %d: %9.1f req/s, %d errors, p50 %5.0f us, p99 %6.0f us, server CPU "
                "%6.1f us/req%s (other %.2f CPUs)"
                % (m, i + 1, x["rps"], int(x["errors"]), x["p50_us"], x["p99_us"],
                   x["server_cpu_us"],
                   ", of which redis-server %.1f" % store["redis_cpu_us"][m][i] if m != "shm" else "",
                   x["other_cpus"]))
    for m in ("redis", "redis-unix"):
        if runs.get("shm") and runs.get(m):
            shm = sorted(x["rps"] for x in runs["shm"])[len(runs["shm"]) // 2]
            red = sorted(x["rps"] for x in runs[m])[len(runs[m]) // 2]
            say("   medians: shm %.1f req/s, %s %.1f req/s: %.3f x shm (%s)"
                % (shm, m, red, red / shm, verdict(red / shm >= 0.8)))
    stats = store.get("commandstats") or {}
    if stats:
        say("   Redis commands (whole phase, warm-up included): " + ", ".join(
            "%s %d calls %.1f us/call" % (k.upper(), c, u) for k, (c, u) in sorted(stats.items())))
    report_problems(store["problems"])


def report_nodes(nodes):
    say("5. two nodes sharing Redis behind a round-robin balancer, %s" % short(nodes["algorithm"]))
    titles = {"single": "full handshakes, one node (shm), direct",
              "full": "full handshakes, 2 nodes + Redis, balancer",
              "reuse": "session reuse, 2 nodes + Redis, balancer"}
    for key, x in nodes["rows"].items():
        say("   %-44s %9.1f req/s, %d errors, HTTP/r %.2f, p50 %6.0f us, p99 %7.0f us, "
            "server CPU %7.1f us/req (other %.2f CPUs)"
            % (titles[key], x["rps"], int(x["errors"]), x["http_requests"] / max(x["requests"], 1),
               x["p50_us"], x["p99_us"], x["server_cpu_us"], x["other_cpus"]))
    for key, x in nodes["rows"].items():
        if "split" in x:
            # the split's edges include the warm-up: its shares, scaled to
            # the measured server CPU
            total = sum(x["split"].values()) or 1
            say("   %-44s server CPU by process (us/req): %s" % (titles[key], ", ".join(
                "%s %.0f" % (name, v / total * x["server_cpu_us"])
                for name, v in x["split"].items())))
    say("   (server CPU: every apache2 involved, balancer included, and redis-server; "
        "BalancerMember %s)" % nodes.get("member", ""))
    report_problems(nodes["problems"])


def report_problems(problems, indent="   ", most=10):
    if problems:
        say("%serror log lines (%d):" % (indent, len(problems)))
        for l in problems[:most]:
            say(indent + "   " + l)
    else:
        say(indent + "error logs: no error-level lines")


def shared_memory_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssShmem:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def httpd_version():
    p = subprocess.run([HTTPD, "-v"], capture_output=True, text=True)
    m = re.search(r"Apache/([\d.]+)", p.stdout)
    return m.group(1) if m else "?"


def verdict(ok):
    return "MET" if ok else "NOT MET"


def report(ceil, r, sessions, problems, scaling=None):
    say("")
    say("=" * 100)
    summary = []
    if ceil:
        say("CRYPTO CEILING (server work per handshake / per reuse request, median CPU; through")
        say("mutual::Server::handle, and the KAM3 math alone)")
        say("   %-26s %13s %11s %13s %11s" % ("algorithm", "handshake_us", "reuse_us", "kam3_hs_us",
                                               "kam3_reuse"))
        for a in ALGORITHMS:
            if a in ceil:
                say("   %-26s %13.1f %11.3f %13.1f %11.3f" % ((short(a),) + ceil[a]))
        say("")
    if r is not None:
        summary += report_comparison(ceil, r)
    if sessions is not None:
        say("")
        report_sessions(sessions)
        problems = problems + sessions["problems"]
    if scaling is not None:
        say("")
        ratio = report_scaling(scaling)
        summary.append("full-handshake throughput 2 CPUs / 1 CPU (%s, per CPU left to httpd): "
                       "%.3f (target >= 1.8: %s)" % (short(scaling["algorithm"]), ratio,
                                                      verdict(ratio >= 1.8)))
        problems = problems + scaling["problems"]
    elif r is not None:
        summary.append("full-handshake throughput 2 CPUs / 1 CPU: not measured (add \"scaling\" to "
                       "BENCH_PHASES)")
    if summary:
        say("")
        say("THE ISSUE'S TARGETS (this run)")
        for line in summary:
            say("   " + line)
    say("")
    report_problems(problems, indent="", most=20)


def report_comparison(ceil, r):
    plain = r["plain"]
    basic = r.get("basic", plain)   # BENCH_MODES may leave rows out
    say("RESULTS (same run, same generator, %d connections, %.0f s per phase%s)"
        % (CONCURRENCY, DURATION, ", medians of %d rounds" % ROUNDS if ROUNDS > 1 else ""))
    say("")
    head = "%-34s %9s %6s %6s %8s %8s %8s %9s %9s %7s %7s %6s" % (
        "mode", "req/s", "HTTP/r", "errors", "p50_us", "p90_us", "p99_us", "srvCPU_us",
        "genCPU_us", "xplain", "xbasic", "other")
    say(head)
    wanted = [("no auth", "plain"), ("Basic (bcrypt cost %s)" % ENV["BENCH_BCRYPT_COST"], "basic"),
              ("Digest (MD5)", "digest")]
    wanted += [("Mutual reuse %s" % short(a), ("reuse", a)) for a in ALGORITHMS]
    wanted += [("floor (req-VFY-C accepted unread)", "floor")]
    wanted += [("Mutual full %s" % short(a), ("full", a)) for a in ALGORITHMS]
    wanted += [("Mutual full KEX-first %s" % short(a), ("kexfirst", a)) for a in ALGORITHMS]
    wanted += [("no auth, 3 req./new connection", "plain3")]
    wanted += [("Mutual first visit %s" % short(a), ("visit", a)) for a in ALGORITHMS]
    wanted += [("no auth (again, at the end)", "plain2")]
    rows = [(name, r[key]) for name, key in wanted if key in r]
    for name, x in rows:
        say("%-34s %9.1f %6.2f %6d %8.0f %8.0f %8.0f %9.1f %9.1f %7.3f %7.2f %6.2f" % (
            name, x["rps"], x["http_requests"] / max(x["requests"], 1), int(x["errors"]),
            x["p50_us"], x["p90_us"], x["p99_us"], x["server_cpu_us"], x["client_cpu_us"],
            x["rps"] / plain["rps"], x["rps"] / basic["rps"], x["other_cpus"]))
    say("")
    say("HTTP/r: HTTP requests per measured request; srvCPU_us: httpd CPU (all processes,\n"
        "user+system) per request; genCPU_us: the generator's CPU per request; xplain/xbasic:\n"
        "throughput ratios; other: CPUs used by unrelated processes during the phase (noise)")
    busy = max(x["other_cpus"] for _, x in rows)
    if busy > 0.15:
        say("WARNING: other processes used up to %.2f CPUs during a phase: the figures are "
            "disturbed" % busy)
    say("")
    say("TARGETS")
    plain_cpu = (plain["server_cpu_us"] + r.get("plain2", plain)["server_cpu_us"]) / 2
    say("no-auth server CPU: %.1f us/request (mean of the two no-auth runs; issue: ~60)" % plain_cpu)
    say("")
    plain3_cpu = r["plain3"]["server_cpu_us"] if "plain3" in r else 0
    summary = []
    say("1. server CPU per handshake <= 1.15 x (crypto ceiling + no-auth CPU of the same requests)")
    say("   a real client's first visit: a new connection, normal request -> 401-INIT ->")
    say("   req-KEX-C1 -> 401-KEX-S1 -> req-VFY-C -> 200-VFY-S (a new client; pi derived once")
    say("   per generator process, not per visit); no auth: 3 requests on a new connection")
    say("   (%.1f us); httpd CPU from /proc; ceiling: mutual::Server::handle (kam3: the math alone)"
        % plain3_cpu)
    say("   %-26s %11s %11s %11s %9s %9s %11s" % ("algorithm", "ceiling_us", "bound_us", "visit_us",
                                                   "ratio", "", "ratio_kam3"))
    for a in ALGORITHMS:
        if a not in ceil or ("visit", a) not in r or "plain3" not in r:
            continue
        c = ceil[a][0]
        bound = 1.15 * (c + plain3_cpu)
        full = r[("visit", a)]["server_cpu_us"]
        kam3_ratio = full / (1.15 * (ceil[a][2] + plain3_cpu))
        say("   %-26s %11.1f %11.1f %11.1f %9.3f %9s %11.3f" % (short(a), c, bound, full, full / bound,
                                                               verdict(full <= bound), kam3_ratio))
        summary.append("first visit %s: httpd CPU %.1f us / bound %.1f us = %.3f (target <= 1.0, "
                       "i.e. <= 1.15 x (ceiling + 3 no-auth requests): %s; %.3f against the KAM3 "
                       "math alone)" % (short(a), full, bound, full / bound, verdict(full <= bound),
                                       kam3_ratio))
    say("   (on a kept-alive connection, 3 x no-auth CPU: %s)" % ", ".join(
        "%s %.3f" % (short(a), r[("full", a)]["server_cpu_us"] / (1.15 * (ceil[a][0] + 3 * plain_cpu)))
        for a in ALGORITHMS if a in ceil and ("full", a) in r))
    say("")
    say("2. session-reuse throughput >= 0.95 x no-auth and >= 10 x Basic+bcrypt")
    for a in ALGORITHMS:
        if ("reuse", a) not in r:
            continue
        x = r[("reuse", a)]
        xp, xb = x["rps"] / plain["rps"], x["rps"] / basic["rps"]
        cp = x["server_cpu_us"] / plain_cpu
        say("   %-26s %8.3f x no-auth (%s)  %8.2f x Basic (%s)  server CPU %.2f x no-auth"
            % (short(a), xp, verdict(xp >= 0.95), xb, verdict(xb >= 10), cp))
        summary.append("reuse %s / no-auth throughput: %.3f (target >= 0.95: %s); httpd CPU %.1f vs "
                       "%.1f us per request" % (short(a), xp, verdict(xp >= 0.95), x["server_cpu_us"],
                                                 plain_cpu))
    if "floor" in r:
        # What any authentication module costs in httpd, and what Mutual adds to it.
        f = r["floor"]
        say("   floor (mod_auth_floor: a req-VFY-C of the same length accepted unread, a 200-VFY-S's")
        say("   Authentication-Info): %.3f x no-auth, httpd CPU %.1f us per request (%.1f more than no auth)"
            % (f["rps"] / plain["rps"], f["server_cpu_us"], f["server_cpu_us"] - plain_cpu))
        summary.append("floor / no-auth throughput: %.3f; httpd CPU %.1f us per request"
                       % (f["rps"] / plain["rps"], f["server_cpu_us"]))
        for a in ALGORITHMS:
            if ("reuse", a) in r:
                x = r[("reuse", a)]
                say("   %-26s reuse %.3f x floor throughput, httpd CPU %.1f us more than the floor"
                    % (short(a), x["rps"] / f["rps"], x["server_cpu_us"] - f["server_cpu_us"]))
                summary.append("reuse %s / floor throughput: %.3f" % (short(a), x["rps"] / f["rps"]))
    return summary


def report_sessions(sessions):
    say("3. reuse throughput with 1M live sessions within 5% of 1k")
    few = sessions["few_runs"]
    many_runs = sessions["many_runs"]
    few_rps = sum(x["rps"] for x in few) / len(few)
    many_rps = sum(x["rps"] for x in many_runs) / len(many_runs)
    few_cpu = sum(x["server_cpu_us"] for x in few) / len(few)
    many_cpu = sum(x["server_cpu_us"] for x in many_runs) / len(many_runs)
    d = many_rps / few_rps - 1
    say("   %s, table of %d slots (shared memory ~%s MB resident)" % (
        short(sessions["algorithm"]), sessions["table"],
        "%.0f" % (sessions["rss_kb"] / 1024) if sessions.get("rss_kb") else "?"))
    for label, runs in ((sessions["few"], few), (sessions["many"], many_runs)):
        for i, x in enumerate(runs):
            say("   ~%-8d live sessions, run %d: %9.1f req/s, p50 %5.0f us, p99 %6.0f us, "
                "server CPU %6.1f us/req (other %.2f CPUs)"
                % (label, i + 1, x["rps"], x["p50_us"], x["p99_us"], x["server_cpu_us"],
                   x["other_cpus"]))
    say("   throughput %+.1f%% (%s for %d sessions), server CPU per request %+.1f%%"
        % (100 * d, verdict(abs(d) <= 0.05), sessions["many"], 100 * (many_cpu / few_cpu - 1)))
    say("   filling took %.0f s (%.0f sessions/s), %d errors"
        % (sessions["fill_seconds"], (sessions["many"] - sessions["few"]) / sessions["fill_seconds"],
           int(sessions["fill_errors"])))
    if sessions["many"] < 1000000:
        say("   NOTE: %d, not 1M, live sessions (BENCH_SESSIONS_MANY=1000000 for the full "
            "figure)" % sessions["many"])


def short(a):
    return a.replace("iso-kam3-", "")


if __name__ == "__main__":
    main()

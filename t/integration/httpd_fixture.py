"""A throw-away apache2 for the integration tests.

Httpd builds a ServerRoot under a temporary directory, writes httpd.conf,
picks a free port on 127.0.0.1 and runs the real Debian apache2 binary (env
HTTPD overrides) in the foreground in its own process group with
MALLOC_CHECK_=3 and MALLOC_PERTURB_ set. It polls until the server answers,
always stops it (SIGTERM to the group, then SIGKILL), can restart it
gracefully (SIGUSR1) and scans the error log after every case: a line at
level error/crit/alert/emerg (or a warning of our module, tag MUTnnnnn) fails
the case unless one of the case's expected patterns (a log tag such as
MUT01123) is part of the line; a crashed child (AH00052 "child pid ... exit
signal", glibc heap messages, sanitizer reports) is never excused.

Paths come from the environment: B (build directory, default build) holds
mod_auth_mutual.so, htmutual and mutual-client; HTTPD names the server binary,
HTTPD_MODULES its module directory; HTTPD_LD_PRELOAD, HTTPD_ASAN_OPTIONS and
HTTPD_UBSAN_OPTIONS become apache2's (only apache2's) LD_PRELOAD, ASAN_OPTIONS
and UBSAN_OPTIONS (the sanitizer runtime for a SANITIZE=1 module);
KEEP_HTTPD_ROOT=1 keeps the server roots for inspection. A missing build
product fails the cases that need it unless MUTUAL_SKIP_MISSING=1.

The small case helpers the runner understands (Skip, expect_log, timeout)
live here too, so test modules import one file.
"""

import atexit
import grp
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import mutualref

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def build_dir():
    b = os.environ.get("B") or "build"
    return b if os.path.isabs(b) else os.path.join(REPO, b)


def httpd_binary():
    return os.environ.get("HTTPD") or "/usr/sbin/apache2"


MODULE_DIR = os.environ.get("HTTPD_MODULES") or "/usr/lib/apache2/modules"


def module_path():
    return os.path.join(build_dir(), "mod_auth_mutual.so")


def tool_path(name):
    return os.path.join(build_dir(), name)


# --------------------------------------------------------------------------
# case helpers understood by run.py


class Skip(Exception):
    """Raise to skip a case (or, from setup_module, a whole module)."""


def expect_log(*patterns):
    """Decorator: error-log lines containing any of `patterns` are expected."""
    def mark(func):
        func.expected_log = tuple(getattr(func, "expected_log", ())) + patterns
        return func
    return mark


def timeout(seconds):
    """Decorator: the case's time limit (the runner's default is 120 s)."""
    def mark(func):
        func.timeout = seconds
        return func
    return mark


class NotBuilt(AssertionError):
    pass


def _missing(path):
    """A missing build product fails the cases (the suite would otherwise
    pass without testing anything); MUTUAL_SKIP_MISSING=1 skips them instead."""
    message = "%s is not built (run make all)" % path
    if os.environ.get("MUTUAL_SKIP_MISSING") == "1":
        raise Skip(message)
    raise NotBuilt(message)


def require_module():
    if not os.path.exists(module_path()):
        _missing(module_path())


def require_tool(name):
    if not os.access(tool_path(name), os.X_OK):
        _missing(tool_path(name))


# --------------------------------------------------------------------------
# tools


def htmutual(path, realm, user, password, scope, algorithm=None, create=None,
             dbm_type=None):
    """Add (or replace) one user's verifier with build/htmutual."""
    require_tool("htmutual")
    if create is None:
        create = not any(os.path.exists(path + ext) for ext in ("", ".db", ".pag", ".dir"))
    args = [tool_path("htmutual")]
    if create:
        args.append("-c")
    args += ["-b", "-s", scope]
    for alg in ([algorithm] if isinstance(algorithm, str) else algorithm or ()):
        args += ["-a", alg]
    if dbm_type:
        args += ["-T", dbm_type]
    args += [path, realm, user, password]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("htmutual %s failed (%d): %s%s"
                             % (user, p.returncode, p.stdout, p.stderr))
    make_readable(os.path.dirname(path))
    return p


SCOPE = "127.0.0.1"  # single-host auth-scope (RFC 8120 §5) of the test servers
USERS_FILE = "{root}/conf/users"


def location(path, realm, algorithms=(), require="Require valid-user", extra="",
             scope=SCOPE, user_file=USERS_FILE):
    """A <Location> protected by Mutual authentication."""
    lines = ['<Location "%s">' % path,
             "    AuthType Mutual",
             '    AuthName "%s"' % realm,
             '    AuthMutualScope "%s"' % scope,
             '    AuthMutualUserFile "%s"' % user_file]
    if algorithms:
        lines.append("    AuthMutualAlgorithms " + " ".join(algorithms))
    lines += ["    " + l.strip() for l in (require + "\n" + extra).splitlines() if l.strip()]
    lines.append("</Location>")
    return "\n".join(lines) + "\n"


def add_users(h, realm, users, algorithms=(), scope=SCOPE, user_file=None):
    """Verifiers made by htmutual for {user: password} in one realm."""
    path = h.format(user_file or USERS_FILE)
    for user, password in users.items():
        htmutual(path, realm, user, password, scope, algorithms)


def mutual_client(url, user, password, algorithm=None, args=(), timeout=60):
    """Run build/mutual-client; returns the CompletedProcess."""
    require_tool("mutual-client")
    cmd = [tool_path("mutual-client"), "-u", user, "-v"]
    if algorithm:
        cmd += ["-a", algorithm]
    cmd += list(args) + [url]
    env = dict(os.environ, MUTUAL_PASSWORD=password)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def make_readable(path):
    """Let the unprivileged children read everything under path."""
    for dirpath, dirnames, filenames in os.walk(path):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            mode = os.stat(p).st_mode
            os.chmod(p, mode | 0o444 | (0o111 if mode & 0o100 else 0))


def make_certificate(directory, name="server", key="rsa:2048", digest="sha256"):
    """A self-signed certificate for 127.0.0.1; returns (cert, key) paths."""
    cert = os.path.join(directory, name + ".crt")
    keyfile = os.path.join(directory, name + ".key")
    if key.startswith("ec:"):
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + key[3:]]
    else:
        newkey = ["-newkey", key]
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-" + digest]
                   + newkey + ["-keyout", keyfile, "-out", cert,
                               "-subj", "/CN=127.0.0.1",
                               "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, keyfile


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# the server

LOG_LINE = re.compile(r"^\[[^\]]*\] \[(?:(?P<module>[\w.-]+):)?(?P<level>[a-z0-9]+)\]")
FAIL_LEVELS = {"error", "crit", "alert", "emerg"}
MODULE_TAG = re.compile(r"\bMUT\d{5}\b")  # our module's warnings count too
CRASH = re.compile(r"AH00052|child pid \d+ exit signal|double free|free\(\): |"
                   r"malloc\(\): |corrupted (?:size|double-linked)|AddressSanitizer|"
                   r"runtime error:")

_live = []     # running servers
_created = []  # every server root, removed at exit at the latest


def _stop_all():
    for h in list(_live):
        h.stop()
    for h in list(_created):
        h.cleanup()


atexit.register(_stop_all)

class PortTaken(Exception):
    pass


MPM_CONF = {
    "event": """
StartServers 2
ServerLimit 4
ThreadsPerChild 16
ThreadLimit 16
MinSpareThreads 8
MaxSpareThreads 64
MaxRequestWorkers 64
""",
    "worker": """
StartServers 2
ServerLimit 4
ThreadsPerChild 16
ThreadLimit 16
MinSpareThreads 8
MaxSpareThreads 64
MaxRequestWorkers 64
""",
    # every connection in a fresh process: the exchange crosses processes
    "prefork": """
StartServers 8
MinSpareServers 8
MaxSpareServers 16
ServerLimit 32
MaxRequestWorkers 32
MaxConnectionsPerChild 1
""",
}

BASE_MODULES = ["authn_core", "authz_core", "authz_user", "authz_host", "mime", "alias",
                "headers", "env"]


class Httpd:
    """One apache2 instance. `conf` is appended to the generated config and
    may use {root}, {port}, {base}, {htdocs} and {module} placeholders."""

    def __init__(self, name, conf="", mpm="event", tls=False, modules=(),
                 with_mutual=True, loglevel="info", cert_key="rsa:2048",
                 cert_digest="sha256", server_conf=""):
        self.name = name
        self.mpm = mpm
        self.tls = tls
        self.root = tempfile.mkdtemp(prefix="mutual-%s-" % name)
        os.chmod(self.root, 0o755)
        for d in ("htdocs", "logs", "run", "conf"):
            os.mkdir(os.path.join(self.root, d))
        self.htdocs = os.path.join(self.root, "htdocs")
        self.error_log = os.path.join(self.root, "logs", "error.log")
        self.conf_path = os.path.join(self.root, "conf", "httpd.conf")
        self.port = free_port()
        self.scheme = "https" if tls else "http"
        self.base = "%s://127.0.0.1:%d" % (self.scheme, self.port)
        self.modules = list(BASE_MODULES) + list(modules)
        if tls:
            self.modules += ["socache_shmcb", "ssl"]
            self.cert, self.key = make_certificate(os.path.join(self.root, "conf"),
                                                   key=cert_key, digest=cert_digest)
        self.with_mutual = with_mutual
        self.loglevel = loglevel
        self.conf = conf
        self.server_conf = server_conf
        self.proc = None
        self._scan_offset = 0
        _created.append(self)
        self.write_file("alive.txt", "alive\n")

    # -- files
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def write_file(self, relpath, text, mode=0o644):
        p = os.path.join(self.htdocs, relpath)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def url(self, path="/"):
        return self.base + path

    def format(self, text):
        return text.format(root=self.root, port=self.port, base=self.base,
                           htdocs=self.htdocs, module=module_path())

    def config(self):
        lines = [
            'ServerRoot "%s"' % self.root,
            'DefaultRuntimeDir "%s/run"' % self.root,
            'PidFile "%s/run/httpd.pid"' % self.root,
            "ServerName 127.0.0.1",
            "Listen 127.0.0.1:%d" % self.port,
            'ErrorLog "%s"' % self.error_log,
            "LogLevel %s" % self.loglevel,
            'LogFormat "%h %u %t \\"%r\\" %>s %b pid=%P" brief',
            'CustomLog "%s/logs/access.log" brief' % self.root,
            "LoadModule mpm_%s_module %s/mod_mpm_%s.so" % (self.mpm, MODULE_DIR, self.mpm),
        ]
        for m in self.modules:
            lines.append("LoadModule %s_module %s/mod_%s.so" % (m, MODULE_DIR, m))
        if self.with_mutual:
            lines.append('LoadModule auth_mutual_module "%s"' % module_path())
        if os.getuid() == 0:  # children drop to an unprivileged user
            user, group = unprivileged_user()
            lines += ["User %s" % user, "Group %s" % group]
        lines.append(MPM_CONF[self.mpm])
        lines += [
            "Timeout 30",
            "KeepAlive On",
            "MaxKeepAliveRequests 0",
            "KeepAliveTimeout 10",
            'DocumentRoot "%s"' % self.htdocs,
            '<Directory "%s">' % self.htdocs,
            "    Require all granted",
            "</Directory>",
            "TypesConfig /etc/mime.types" if os.path.exists("/etc/mime.types") else "",
        ]
        if self.tls:
            lines += [
                'SSLSessionCache "shmcb:%s/run/ssl_scache(512000)"' % self.root,
                "SSLEngine on",
                'SSLCertificateFile "%s"' % self.cert,
                'SSLCertificateKeyFile "%s"' % self.key,
            ]
        lines.append(self.format(self.server_conf))
        lines.append(self.format(self.conf))
        return "\n".join(lines) + "\n"

    # -- life cycle
    def start(self, wait=20):
        """Start and wait until /alive.txt answers. A port taken meanwhile by
        another process (free_port() races) is replaced by a new one."""
        for attempt in range(3):
            try:
                return self._start_once(wait)
            except PortTaken:
                for log in (self.error_log, self.path("logs", "stdio.log")):
                    if os.path.exists(log):
                        os.unlink(log)
                self._scan_offset = 0
                self.port = free_port()
                self.base = "%s://127.0.0.1:%d" % (self.scheme, self.port)
        return self._start_once(wait)

    def _start_once(self, wait):
        with open(self.conf_path, "w") as f:
            f.write(self.config())
        make_readable(self.root)
        env = httpd_environment()
        self.stdio = open(self.path("logs", "stdio.log"), "ab")
        self.proc = subprocess.Popen(
            [httpd_binary(), "-d", self.root, "-f", self.conf_path, "-DFOREGROUND"],
            stdin=subprocess.DEVNULL, stdout=self.stdio, stderr=subprocess.STDOUT,
            env=env, start_new_session=True)
        _live.append(self)
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._reap()
                if "Address already in use" in self.startup_output():
                    raise PortTaken()
                raise RuntimeError("apache2 exited with %s at startup:\n%s"
                                   % (code, self.startup_output()))
            if self.alive():
                self._settle()
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("apache2 did not answer within %ds:\n%s" % (wait, self.startup_output()))

    def _settle(self, timeout=3.0):
        """Waits until the children's thread counts stop changing: stopped
        while it is still starting its threads, a child of the event MPM can
        crash inside httpd (about one start-and-stop in 20, with or without
        this module; never after half a second), which cleanup() would
        report as this module's crash."""
        deadline = time.time() + timeout
        last, stable = None, 0
        while time.time() < deadline:
            counts = sorted(_thread_count(pid) for pid in _children(self.proc.pid))
            if counts and counts == last:
                stable += 1
                if stable >= 3:
                    return
            else:
                stable = 0
            last = counts
            time.sleep(0.03)

    def startup_output(self):
        out = []
        for p in (self.path("logs", "stdio.log"), self.error_log):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append(f.read()[-4000:])
        return "\n".join(out)

    def tls_context(self):
        return mutualref.insecure_tls_context() if self.tls else None

    def alive(self):
        try:
            r = mutualref.raw_request("127.0.0.1", self.port,
                                      b"GET /alive.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      b"Connection: close\r\n\r\n",
                                      ssl_context=self.tls_context(), timeout=2)
            return r.status == 200
        except (OSError, mutualref.ConnectionClosed, mutualref.ProtocolError):
            return False

    def stop(self):
        if self.proc is None:
            return
        pgid = self.proc.pid
        stop_group(self.proc, ((signal.SIGTERM, 10), (signal.SIGKILL, 5)))
        try:  # children outliving the parent (cgid daemon, stuck workers)
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reap()

    def _reap(self):
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self in _live:
            _live.remove(self)
        self.proc = None
        if getattr(self, "stdio", None):
            self.stdio.close()
            self.stdio = None

    def count_log(self, pattern):
        if not os.path.exists(self.error_log):
            return 0
        with open(self.error_log, errors="replace") as f:
            return len(re.findall(pattern, f.read()))

    def graceful(self, wait=20):
        """Graceful restart (SIGUSR1); returns once the new generation serves."""
        before = self.count_log(r"resuming normal operations")
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("apache2 died on graceful restart:\n" + self.startup_output())
            if self.count_log(r"resuming normal operations") > before and self.alive():
                return
            time.sleep(0.05)
        raise RuntimeError("graceful restart did not complete in %ds" % wait)

    def cleanup(self):
        """Stop, remove the ServerRoot, and fail if a child crashed after the
        last scan (shutdown included)."""
        self.stop()
        if self not in _created:
            return
        crashes = [p for p in self.end_case((), final=True) if CRASH.search(p)]
        _created.remove(self)
        if os.environ.get("KEEP_HTTPD_ROOT"):
            print("    (kept %s)" % self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)
        if crashes:
            raise AssertionError("crash after the last case:\n" + "\n".join(crashes))

    # -- the runner's log protocol
    def begin_case(self):
        pass

    def end_case(self, expected=(), final=False):
        """Problem lines written since the last scan (the offset always
        advances, so nothing between cases goes unseen)."""
        time.sleep(0.05)
        if not os.path.exists(self.error_log):
            return []
        with open(self.error_log, "rb") as f:
            f.seek(self._scan_offset)
            data = f.read()
        # only whole lines; a partial last line waits for the next scan
        cut = data.rfind(b"\n") + 1
        if final:
            cut = len(data)
        self._scan_offset += cut
        problems = []
        for raw in data[:cut].decode("utf-8", "replace").splitlines():
            if CRASH.search(raw):
                problems.append("[%s] %s" % (self.name, raw))
                continue
            m = LOG_LINE.match(raw)
            if m and (m.group("level") in FAIL_LEVELS or
                      (m.group("level") == "warn" and MODULE_TAG.search(raw))):
                if not any(p in raw for p in expected):
                    problems.append("[%s] %s" % (self.name, raw))
        return problems

    def log_since_mark(self):
        return self.log_from(self._scan_offset)

    def access_log_size(self):
        p = self.path("logs", "access.log")
        return os.path.getsize(p) if os.path.exists(p) else 0

    def access_entries(self, offset=0):
        """[(request line, status, pid)] logged since byte offset `offset`."""
        time.sleep(0.05)
        out = []
        with open(self.path("logs", "access.log"), "rb") as f:
            f.seek(offset)
            for line in f.read().decode("latin-1").splitlines():
                m = re.search(r'"([^"]*)" (\d{3}) \S+ pid=(\d+)$', line)
                if m:
                    out.append((m.group(1), int(m.group(2)), int(m.group(3))))
        return out

    def log_size(self):
        return os.path.getsize(self.error_log) if os.path.exists(self.error_log) else 0

    def log_from(self, offset, settle=0.05):
        """Error-log text written since the byte offset `offset`."""
        time.sleep(settle)
        with open(self.error_log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    # -- requests
    def client(self, user, password, **kw):
        kw.setdefault("ssl_context", self.tls_context())
        return mutualref.Client(self.base, user, password, **kw)

    def raw(self, data, timeout=30, method="GET"):
        """Send request bytes as they are on a fresh connection."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        return mutualref.raw_request("127.0.0.1", self.port, data,
                                     ssl_context=self.tls_context(), timeout=timeout,
                                     method=method)

    def get(self, path, headers=(), method="GET"):
        """One well-formed request on a fresh connection."""
        conn = mutualref.Connection("127.0.0.1", self.port, self.tls_context(),
                                    persistent=False)
        try:
            return conn.request(method, path, headers)
        finally:
            conn.close()


def _children(pid):
    """The process ids whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(entry))
    return out


def _thread_count(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def stop_group(proc, steps):
    """Signals the process group of `proc` (started with start_new_session)
    with each (signal, grace seconds) of `steps` until proc has exited."""
    for sig, grace in steps:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def httpd_environment():
    """The environment of an apache2 process: malloc checks, and for a
    sanitizer build the runtime and options, which go to apache2 only."""
    env = dict(os.environ, MALLOC_CHECK_="3", MALLOC_PERTURB_=str(random.randint(1, 255)))
    for ours, httpds in (("HTTPD_LD_PRELOAD", "LD_PRELOAD"),
                         ("HTTPD_ASAN_OPTIONS", "ASAN_OPTIONS"),
                         ("HTTPD_UBSAN_OPTIONS", "UBSAN_OPTIONS")):
        if os.environ.get(ours):
            env[httpds] = os.environ[ours]
    return env


def unprivileged_user():
    """(user, group) for httpd's children: www-data on Debian, else nobody."""
    for user, group in (("www-data", "www-data"), ("nobody", "nogroup"), ("nobody", "nobody")):
        try:
            pwd.getpwnam(user)
            grp.getgrnam(group)
            return user, group
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user for httpd's children")


class Servers(list):
    """Several Httpd instances seen by the runner as one context."""

    def begin_case(self):
        for h in self:
            h.begin_case()

    def end_case(self, expected=(), final=False):
        problems = []
        for h in self:
            problems += h.end_case(expected, final)
        return problems

    def cleanup(self):
        errors = []
        for h in self:
            try:
                h.cleanup()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            raise AssertionError("\n".join(errors))


# --------------------------------------------------------------------------
# assertions shared by the cases


def assert_status(resp, status, reason=None, what=""):
    """Status and, for 401s, the Mutual reason (None: no reason expected)."""
    got_reason = None
    try:
        got_reason = resp.mutual_reason
    except mutualref.ProtocolError as e:
        got_reason = "<unparsable: %s>" % e
    msg = "%s: expected %s%s, got %d reason=%s %s" % (
        what or "response", status, " reason=%s" % reason if reason else "",
        resp.status, got_reason, resp.header_all("WWW-Authenticate"))
    assert resp.status == status, msg
    if reason is not None:
        assert got_reason == reason, msg

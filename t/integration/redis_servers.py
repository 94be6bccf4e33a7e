"""Redis servers for the tests: a single redis-server, or a 3-master Redis
Cluster made with `redis-cli --cluster create`, on free loopback ports in
temporary directories, without persistence. Shared by the session-store
tests (test_session_store_redis.py) and the several-nodes tests.

    r = RedisServer().start()         # r.url -> "redis://127.0.0.1:PORT"
    r.stop(); r.start()               # same port, empty again
    r.kill(); r.pause(); r.resume()   # SIGKILL, SIGSTOP, SIGCONT
    r.cli("DBSIZE")                   # redis-cli output, stripped
    c = RedisCluster().start()        # c.url names the first master
    write_store_key(path)             # an AuthMutualSessionStoreKey file

Every server dies with the test process (atexit) at the latest. Raises
httpd_fixture.Skip when redis-server is not installed."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from httpd_fixture import Skip

_running = []


def _stop_all():
    for r in list(_running):
        r.stop()


atexit.register(_stop_all)


def redis_binary(name="redis-server"):
    for d in ("/usr/bin", "/usr/local/bin", "/usr/sbin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise Skip("%s is not installed (sh scripts/install-deps.sh installs it)" % name)


def _free_port(limit=65535):
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port <= limit:
            return port


def write_store_key(path, octets=32):
    """A random AuthMutualSessionStoreKey file (mode 0600)."""
    with open(path, "wb") as f:
        f.write(os.urandom(octets))
    os.chmod(path, 0o600)
    return path


class RedisServer:
    def __init__(self, cluster=False, password=None, unix_socket=False):
        self.binary = redis_binary()
        self.dir = tempfile.mkdtemp(prefix="mutual-redis-")
        # unix_socket: also listen on DIR/redis.sock (unix_url), reachable
        # by httpd's user
        self.socket = os.path.join(self.dir, "redis.sock") if unix_socket else None
        self.port = _free_port()
        self.bus_port = _free_port() if cluster else None
        self.cluster = cluster
        self.password = password
        self.proc = None
        self.log = os.path.join(self.dir, "redis.log")

    @property
    def url(self):
        auth = ":%s@" % self.password if self.password else ""
        return "redis://%s127.0.0.1:%d" % (auth, self.port)

    @property
    def unix_url(self):
        auth = ":%s@" % self.password if self.password else ""
        return "redis+unix://%s%s" % (auth, self.socket)

    def start(self, wait=10):
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--protected-mode", "no", "--logfile", self.log]
        if self.password:
            args += ["--requirepass", self.password]
        if self.socket:
            os.chmod(self.dir, 0o755)
            args += ["--unixsocket", self.socket, "--unixsocketperm", "777"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "2000", "--cluster-port", str(self.bus_port)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        _running.append(self)
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: %s" % self.log_text()[-2000:])
            try:
                if self.cli("PING") == "PONG":
                    return self
            except subprocess.SubprocessError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server on port %d did not answer" % self.port)

    def cli(self, *args, timeout=10):
        cmd = [redis_binary("redis-cli"), "-h", "127.0.0.1", "-p", str(self.port)]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        p = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                           timeout=timeout, env=env)
        return p.stdout.strip()

    def _signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def pause(self):
        self._signal(signal.SIGSTOP)

    def resume(self):
        self._signal(signal.SIGCONT)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        self._signal(signal.SIGCONT)
        self._signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        if self in _running:
            _running.remove(self)

    def kill(self):
        self.stop(signal.SIGKILL)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """Three masters, no replicas, slots spread by redis-cli."""

    def __init__(self, masters=3):
        self.nodes = [RedisServer(cluster=True) for _ in range(masters)]

    @property
    def url(self):
        return self.nodes[0].url

    def start(self, wait=30):
        for n in self.nodes:
            n.start()
        cmd = [redis_binary("redis-cli"), "--cluster", "create"]
        cmd += ["127.0.0.1:%d" % n.port for n in self.nodes]
        cmd += ["--cluster-replicas", "0", "--cluster-yes"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("redis-cli --cluster create failed: %s%s" % (p.stdout, p.stderr))
        deadline = time.time() + wait
        while time.time() < deadline:
            if all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in self.nodes):
                return self
            time.sleep(0.1)
        raise RuntimeError("the cluster did not become ready")

    def keys(self, pattern="*"):
        """Every key of every master."""
        out = []
        for n in self.nodes:
            text = n.cli("--scan", "--pattern", pattern)
            out += [k for k in text.splitlines() if k]
        return out

    def stop(self):
        for n in self.nodes:
            n.stop()

    def cleanup(self):
        for n in self.nodes:
            n.cleanup()

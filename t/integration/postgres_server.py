"""A throw-away PostgreSQL server for the integration tests.

PostgresServer makes a cluster with initdb in a temporary directory (trust
authentication, one superuser), runs `postgres` in the foreground on a free
loopback port (its own process group, no fsync) and stops it (fast shutdown,
SIGKILL as the last resort). PostgreSQL refuses to run as root: when the
tests run as root, the directory belongs to an unprivileged user (postgres
when it exists, else nobody) and every server binary runs as that user
through setpriv. stop() and start() may be called again (the database down
and back, same port and data). psql() runs SQL through the psql client.

Binaries: PG_BIN, else /usr/lib/postgresql/<newest>/bin (Debian).
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from httpd_fixture import Skip, free_port, stop_group


def postgres_bin():
    if os.environ.get("PG_BIN"):
        return os.environ["PG_BIN"]
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    return dirs[-1] if dirs else "/usr/lib/postgresql/15/bin"


def _server_account():
    """The (uid, gid) the server runs as: ours unless we are root."""
    if os.getuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user for PostgreSQL")


class PostgresServer:
    USER = "mutual"
    DATABASE = "postgres"

    def __init__(self):
        self.bin = postgres_bin()
        for tool in ("initdb", "postgres", "psql"):
            if not os.access(os.path.join(self.bin, tool), os.X_OK):
                raise Skip("PostgreSQL not installed (%s/%s; scripts/install-deps.sh)"
                           % (self.bin, tool))
        self.account = _server_account()
        self.root = tempfile.mkdtemp(prefix="mutual-pg-")
        os.chmod(self.root, 0o700)
        self.data = os.path.join(self.root, "data")
        self.sockets = os.path.join(self.root, "run")
        os.mkdir(self.sockets)
        if self.account:
            for path in (self.root, self.sockets):
                os.chown(path, *self.account)
        self.log = os.path.join(self.root, "server.log")
        self.port = free_port()
        self.proc = None
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust",
                   "-U", self.USER, "-E", "UTF8", "--no-sync", "--no-instructions"],
                  timeout=120)

    def _preexec(self):
        if self.account:
            uid, gid = self.account
            return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--"]
        return []

    def _run(self, cmd, timeout=60):
        p = subprocess.run(self._preexec() + cmd, capture_output=True, text=True,
                           timeout=timeout, cwd=self.root)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (cmd[0], p.returncode, p.stdout, p.stderr))
        return p

    @property
    def dbd_params(self):
        """mod_dbd's DBDParams for the pgsql driver."""
        return "host=127.0.0.1 port=%d user=%s dbname=%s connect_timeout=2" % (
            self.port, self.USER, self.DATABASE)

    def start(self, wait=30):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self._preexec() + [os.path.join(self.bin, "postgres"), "-D", self.data,
                               "-h", "127.0.0.1", "-p", str(self.port), "-k", self.sockets,
                               "-F", "-c", "listen_addresses=127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.root)
        logf.close()
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited with %s:\n%s" % (self.proc.returncode,
                                                                     self.server_log()))
            try:
                self.psql("SELECT 1")
                return self
            except RuntimeError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("postgres did not answer within %ds:\n%s" % (wait, self.server_log()))

    def stop(self):
        """Fast shutdown (SIGINT: clients are disconnected at once)."""
        if self.proc is None:
            return
        stop_group(self.proc, ((signal.SIGINT, 20), (signal.SIGKILL, 5)))
        self.proc = None
        # the port is free again once nothing listens there
        deadline = time.time() + 10
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def psql(self, sql, stdin=None):
        """Runs SQL (ON_ERROR_STOP); returns psql's standard output."""
        p = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", self.USER, "-d", self.DATABASE, "-c", sql],
                           input=stdin, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("psql failed (%d): %s" % (p.returncode, p.stderr))
        return p.stdout

    def server_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

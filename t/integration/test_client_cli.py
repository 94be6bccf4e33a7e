"""mutual-client as a curl user meets it (docs/mutual-client.1), against the
real module: short usage, --version from configure.ac, HTTP errors reported
as such with the documented exit status, -f, -L (credentials only where a
realm's auth-scope and path allow), the password bound to the first realm,
--resolve, --capath, and --cert/--key against a scripted TLS server that
requires a client certificate."""

import os
import re
import shutil
import ssl
import subprocess
import time

from scripted_servers import Listener
from httpd_fixture import (Httpd, Servers, add_users, expect_log, location, make_certificate,
                           require_module, require_tool, tool_path)

EC256 = "iso-kam3-ec-p256-sha256"
USER, PASSWORD = "alice", "cli pw"
HERE = os.path.dirname(os.path.abspath(__file__))


def setup_module():
    require_module()
    require_tool("htmutual")
    require_tool("mutual-client")
    control = ('Header always set Authentication-Control '
               '"Mutual realm=\\"cli realm\\", logout-timeout=0, username=\\"alice\\""')
    conf = (location("/p/", "cli realm", [EC256]) + location("/q/", "other realm", [EC256]) +
            location("/lo/", "cli realm", [EC256], extra=control) +
            "RedirectMatch 302 ^/go$ /p/a.html\n"
            "RedirectMatch 302 ^/elsewhere$ http://localhost:{port}/p/a.html\n"
            "RedirectMatch 302 ^/p/hop$ /q/b.html\n"
            "Redirect 503 /boom\n"
            "Redirect 400 /bad\n")
    plain = Httpd("cli", conf=conf)
    tls = Httpd("cli-tls", conf=location("/p/", "cli realm", [EC256]), tls=True)
    for h in (plain, tls):
        add_users(h, "cli realm", {USER: PASSWORD}, [EC256])
        add_users(h, "other realm", {USER: PASSWORD}, [EC256])
        h.write_file("p/a.html", "first page\n")
        h.write_file("q/b.html", "other realm page\n")
        h.write_file("lo/c.html", "logged out after this\n")
    servers = Servers()
    servers.append(plain)
    servers.append(tls)
    for h in servers:
        h.start()
    return servers


def teardown_module(servers):
    servers.cleanup()


def run(args, password=PASSWORD, timeout=60):
    """mutual-client without a controlling terminal (no prompt possible)."""
    env = dict(os.environ)
    env.pop("MUTUAL_PASSWORD", None)
    if password is not None:
        env["MUTUAL_PASSWORD"] = password
    return subprocess.run([tool_path("mutual-client")] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=env, start_new_session=True,
                          stdin=subprocess.DEVNULL)


def detail(p):
    return "exit %d\nstdout=%r\nstderr=%s" % (p.returncode, p.stdout[:300], p.stderr[-3000:])


def test_bare_invocation_prints_a_short_usage(servers):
    p = run([])
    assert p.returncode == 2, detail(p)
    assert "Usage: mutual-client" in p.stderr and "--help" in p.stderr, detail(p)
    assert len(p.stderr.splitlines()) <= 3, detail(p)  # not the whole help
    full = run(["--help"])
    assert full.returncode == 0 and "--location" in full.stdout, detail(full)


def test_version_is_the_projects(servers):
    with open(os.path.join(HERE, "..", "..", "configure.ac")) as f:
        version = re.search(r"AC_INIT\(\[[^\]]*\],\s*\[([^\]]+)\]", f.read()).group(1)
    p = run(["--version"])
    assert p.returncode == 0, detail(p)
    assert p.stdout.startswith("mutual-client %s " % version), p.stdout


def test_http_errors_are_reported_as_errors_not_as_unprotected(servers):
    h = servers[0]
    for path, status, says in (("/missing.html", 404, "HTTP error 404"),
                               ("/bad", 400, "HTTP error 400"),
                               ("/boom", 503, "server error 503")):
        p = run(["-u", USER, h.url(path)])
        assert p.returncode == 9, "%s: %s" % (path, detail(p))
        assert says in p.stderr and "not protected" not in p.stderr, detail(p)
        assert p.stdout == "", detail(p)


def test_fail_writes_no_body_for_authenticated_errors(servers):
    h = servers[0]
    p = run(["-u", USER, h.url("/p/missing.html")])
    assert p.returncode == 9 and "AUTH-SUCCEED" in p.stderr, detail(p)
    assert "Not Found" in p.stdout, detail(p)  # verified: written without -f
    p = run(["-u", USER, "-f", h.url("/p/missing.html")])
    assert p.returncode == 9 and p.stdout == "", detail(p)


def test_location_follows_a_redirect_into_the_realm(servers):
    h = servers[0]
    p = run(["-u", USER, "-L", "-v", h.url("/go")])
    assert p.returncode == 0, detail(p)
    assert p.stdout == "first page\n", detail(p)
    assert "following the redirect to %s" % h.url("/p/a.html") in p.stderr, detail(p)
    # Without -L the redirect is an unprotected response.
    p = run(["-u", USER, h.url("/go")])
    assert p.returncode == 8 and p.stdout == "", detail(p)


def test_redirect_to_another_host_carries_no_credentials(servers):
    # localhost is outside the realm's auth-scope (127.0.0.1): no key exchange.
    h = servers[0]
    p = run(["-u", USER, "-L", "-v", h.url("/elsewhere")])
    assert p.returncode == 5, detail(p)
    assert "does not include localhost" in p.stderr, detail(p)
    assert "req-KEX-C1" not in p.stderr and "req-VFY-C" not in p.stderr, detail(p)


def test_password_is_bound_to_the_first_realm(servers):
    h = servers[0]
    p = run(["-u", USER, h.url("/p/a.html"), h.url("/q/b.html")])
    assert p.returncode == 3, detail(p)
    assert p.stdout == "first page\n", detail(p)
    assert 'the password given is for realm "cli realm"' in p.stderr, detail(p)
    assert "--any-realm" in p.stderr, detail(p)
    # A redirect into another realm is held to the same rule.
    p = run(["-u", USER, "-L", h.url("/p/a.html"), h.url("/p/hop")])
    assert p.returncode == 3 and p.stdout == "first page\n", detail(p)
    # --any-realm offers it to both.
    p = run(["-u", USER, "--any-realm", h.url("/p/a.html"), h.url("/q/b.html")])
    assert p.returncode == 0, detail(p)
    assert p.stdout == "first page\nother realm page\n", detail(p)


def test_resolve_connects_to_the_given_address(servers):
    h = servers[0]
    p = run(["--resolve", "mutual.test:%d:127.0.0.1" % h.port, "--allow-unauthenticated",
             "http://mutual.test:%d/alive.txt" % h.port])
    assert p.returncode == 8 and p.stdout == "alive\n", detail(p)
    bad = run(["--resolve", "mutual.test", "http://mutual.test/"])
    assert bad.returncode == 2, detail(bad)


def test_capath_trusts_a_certificate_directory(servers):
    h = servers[1]
    directory = h.path("capath")
    os.makedirs(directory, exist_ok=True)
    shutil.copy(h.cert, os.path.join(directory, "server.pem"))
    subprocess.run(["openssl", "rehash", directory], check=True, capture_output=True)
    p = run(["-u", USER, "--capath", directory, h.url("/p/a.html")])
    assert p.returncode == 0 and p.stdout == "first page\n", detail(p)
    p = run(["-u", USER, "--capath", h.path("run"), h.url("/p/a.html")])
    assert p.returncode == 6, detail(p)  # an empty directory trusts nothing


class ClientCertServer(Listener):
    """TLS that requires a client certificate signed by `ca`, then answers
    one unprotected 200 per connection."""

    def __init__(self, cert, key, ca):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(ca)
        self.peers = []
        super().__init__()

    def handle(self, raw, number):
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
            self.peers.append(conn.getpeercert())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
                         b"cert ok!\n")
            conn.close()
        except (OSError, ssl.SSLError):
            pass


def test_client_certificate_and_key(servers):
    h = servers[1]
    directory = h.path("client-cert")
    os.makedirs(directory, exist_ok=True)
    client_cert, client_key = make_certificate(directory, name="client")
    server = ClientCertServer(h.cert, h.key, client_cert)
    try:
        url = "https://127.0.0.1:%d/" % server.port
        without = run(["-k", "--allow-unauthenticated", url])
        with_cert = run(["-k", "--allow-unauthenticated", "--cert", client_cert,
                         "--key", client_key, url])
    finally:
        server.close()
    assert without.returncode == 6, detail(without)
    assert with_cert.returncode == 8 and with_cert.stdout == "cert ok!\n", detail(with_cert)
    assert server.peers, "the server saw no client certificate"


def test_logout_timeout_zero_forgets_the_session(servers):
    # RFC 8053 Authentication-Control from the server (mod_headers here):
    # logout-timeout=0 on the verified response ends the session, so the
    # second URL runs a new key exchange instead of reusing it.
    h = servers[0]
    p = run(["-u", USER, "-v", h.url("/lo/c.html"), h.url("/lo/c.html")])
    assert p.returncode == 0, detail(p)
    assert p.stdout == "logged out after this\n" * 2, detail(p)
    assert "logout-timeout=0: session and credentials forgotten" in p.stderr, detail(p)
    assert "session reused" not in p.stderr, detail(p)
    assert p.stderr.count("[req-KEX-C1]") == 2, detail(p)
    assert "accepts only user name alice" in p.stderr, detail(p)  # from the 401-INIT


def run_in_terminal(args, answers, timeout=60):
    """mutual-client on a pseudo-terminal (its /dev/tty); each time the
    output shows a password prompt the next answer is typed. Returns
    (exit status, everything the terminal showed)."""
    import pty
    import select
    env = dict(os.environ, MUTUAL_PASSWORD=PASSWORD)
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execve(tool_path("mutual-client"), ["mutual-client"] + list(args), env)
    shown, pending, answered = b"", list(answers), 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            shown += data
        # A prompt is answered once it is complete ("Password for ... ):"),
        # whatever the terminal shows after it or however the reads split it.
        prompts = shown.split(b"Password for")[1:]
        if pending and len(prompts) > answered and b"):" in prompts[-1]:
            os.write(fd, pending.pop(0).encode() + b"\n")
            answered += 1
    else:
        os.kill(pid, 9)  # never wait forever on a client still asking
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


@expect_log(r"MUT01123")  # the wrong answer for the second realm
def test_another_realm_is_asked_for_at_the_terminal(servers):
    h = servers[0]
    code, shown = run_in_terminal(["-u", USER, h.url("/p/a.html"), h.url("/q/b.html")],
                                  [PASSWORD])
    assert code == 0, shown
    assert 'the password given is for realm "cli realm"' in shown, shown
    assert 'Password for alice (realm "other realm"' in shown, shown
    assert "first page" in shown and "other realm page" in shown, shown
    # A wrong answer there is that realm's failure only.
    code, shown = run_in_terminal(["-u", USER, h.url("/p/a.html"), h.url("/q/b.html")],
                                  ["not it"])
    assert code == 3 and "first page" in shown and "other realm page" not in shown, shown


def test_a_signal_at_the_prompt_restores_the_terminal(servers):
    # The prompt is htmutual's too (src/tools/password_prompt.c++): echo off
    # while it waits, back on after SIGTERM, exit status 128 + 15.
    import pty
    import select
    import signal
    import termios
    env = dict(os.environ)
    env.pop("MUTUAL_PASSWORD", None)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(tool_path("mutual-client"),
                  ["mutual-client", "-u", USER, servers[0].url("/p/a.html")], env)
    shown, deadline = b"", time.time() + 30
    try:
        while b"):" not in shown.split(b"Password for")[-1] or b"Password for" not in shown:
            assert time.time() < deadline, shown
            if select.select([fd], [], [], 0.2)[0]:
                shown += os.read(fd, 4096)
        assert not termios.tcgetattr(fd)[3] & termios.ECHO, "echo on at the prompt"
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGTERM, status
        assert termios.tcgetattr(fd)[3] & termios.ECHO, "echo still off after the signal"
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)

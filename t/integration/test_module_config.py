"""Configuration that behaves as documented (issue 16).

* The per-directory directives work at server and <VirtualHost> level and
  merge down like every httpd directive: AuthMutualScope and
  AuthMutualUserFile set once for a <VirtualHost> serve every <Location> in
  it (a login through mutualref and through build/mutual-client); a scope in
  <Location /> serves <Location /inherit/>; the main server's defaults reach
  a virtual host.
* The startup check follows httpd's merge: apache2 -t accepts those
  configurations and refuses (MUT01001) a scope that cannot reach the
  section (another <VirtualHost>, a <Location> that does not cover it), and
  refuses a missing AuthName (MUT01702) before any request.
* AuthMutualDBMType of a type this APR-util lacks (ndbm on Debian) fails
  configtest, naming the available ones.
* The session table's size is said at startup (MUT01700, notice), and a
  table of millions of slots is not formatted slot by slot at startup: its
  pages are only touched as sessions arrive (the parent's resident shared
  memory stays a few MiB for a 4 194 304-slot table of about 2.6 GiB).
* A UTF-8 user name is escaped once in the error log (httpd's \\xHH), not
  twice.
"""

import os
import re
import subprocess

import mutualref as m
from httpd_fixture import (SCOPE, Httpd, add_users, assert_status, expect_log, httpd_binary,
                           httpd_environment, location, mutual_client, require_module,
                           require_tool)

EC256 = "iso-kam3-ec-p256-sha256"
PASSWORD = "vhost secret"
VHOST = """
<VirtualHost 127.0.0.1:{port}>
    ServerName 127.0.0.1
    AuthMutualScope "%s"
    AuthMutualUserFile "{root}/conf/users"
    <Location "/a/">
        AuthType Mutual
        AuthName "vhost realm"
        Require valid-user
    </Location>
    <Location "/b/">
        AuthType Mutual
        AuthName "vhost realm"
        Require valid-user
    </Location>
    <Location "/">
        AuthMutualAlgorithms %s
    </Location>
    <Location "/inherit/">
        AuthType Mutual
        AuthName "vhost realm"
        Require valid-user
    </Location>
</VirtualHost>
""" % (SCOPE, EC256)


def setup_module():
    require_module()
    require_tool("htmutual")
    h = Httpd("config", conf=VHOST, server_conf="AuthMutualSessionTableSize 512")
    add_users(h, "vhost realm", {"alice": PASSWORD, "J\u00fcrgen \u6d4b\u8bd5": PASSWORD})
    for area in ("a", "b", "inherit"):
        h.write_file("%s/index.html" % area, "area %s\n" % area)
    return h.start()


def teardown_module(h):
    h.cleanup()


def test_login_with_scope_and_user_file_set_once_for_the_virtual_host(h):
    for area in ("a", "b", "inherit"):
        c = h.client("alice", PASSWORD)
        r = c.get("/%s/index.html" % area)
        assert r.status == 200 and r.authenticated and r.body == ("area %s\n" % area).encode(), r


def test_mutual_client_logs_in_to_the_virtual_host(h):
    p = mutual_client(h.url("/b/index.html"), "alice", PASSWORD)
    assert p.returncode == 0 and "area b" in p.stdout, "exit %d\n%s" % (p.returncode, p.stderr)


@expect_log("MUT01123")
def test_wrong_password_is_refused_in_the_virtual_host(h):
    try:
        h.client("alice", "not it").get("/a/index.html")
    except m.AuthenticationFailed as e:
        assert_status(e.response, 401, "auth-failed")
    else:
        raise AssertionError("a wrong password authenticated")


def test_the_challenge_carries_the_virtual_hosts_scope(h):
    r = h.get("/a/index.html")
    assert_status(r, 401, "initial")
    assert 'auth-scope="%s"' % SCOPE in " ".join(r.header_all("WWW-Authenticate")) or \
        "auth-scope=%s" % SCOPE in " ".join(r.header_all("WWW-Authenticate")), r


def test_table_size_is_said_at_startup(h):
    with open(h.error_log, errors="replace") as f:
        log = f.read()
    mo = re.search(r"\[auth_mutual:notice\] .*MUT01700: session table: (\d+) slots of (\d+) bytes, "
                   r"([\d.]+) MiB of shared memory", log)
    assert mo, log[-2000:]
    assert int(mo.group(1)) == 512, mo.group(0)
    assert float(mo.group(3)) >= 0.3, mo.group(0)  # 512 x 640 bytes + header


def resident_shared_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssShmem:"):
                return int(line.split()[1])
    return 0


def test_a_huge_table_is_not_touched_at_startup(h):
    big = Httpd("bigtable", conf=location("/p/", "big realm"),
                server_conf="AuthMutualSessionTableSize 4194304")
    add_users(big, "big realm", {"alice": PASSWORD})
    big.write_file("p/index.html", "big table\n")
    big.start()
    try:
        with open(big.error_log, errors="replace") as f:
            mo = re.search(r"MUT01700: session table: (\d+) slots of (\d+) bytes, ([\d.]+) MiB",
                           f.read())
        assert mo and int(mo.group(1)) == 4194304 and float(mo.group(3)) > 2000, mo
        r = big.client("alice", PASSWORD).get("/p/index.html")
        assert r.status == 200 and r.authenticated and r.body == b"big table\n", r
        shmem = resident_shared_kib(big.proc.pid)
        assert shmem < 64 * 1024, "parent has %d KiB of the table resident" % shmem
    finally:
        big.cleanup()


@expect_log("MUT01123")
def test_utf8_user_name_is_escaped_once_in_the_log(h):
    mark = h.log_size()
    try:
        h.client("J\u00fcrgen \u6d4b\u8bd5", "wrong").get("/a/index.html")
    except m.AuthenticationFailed:
        pass
    log = h.log_from(mark)
    line = [l for l in log.splitlines() if "MUT01123" in l]
    assert line, log
    # httpd escapes the UTF-8 octets once: J\xc3\xbcrgen \xe6\xb5\x8b\xe8\xaf\x95
    assert "J\\xc3\\xbcrgen \\xe6\\xb5\\x8b\\xe8\\xaf\\x95" in line[0], line[0]
    assert "\\\\x" not in line[0], line[0]


# ---- configtest (apache2 -t) --------------------------------------------------

def configtest(h, conf):
    """apache2 -t on this server's configuration with `conf` instead of its
    own; returns (exit status, output)."""
    saved = h.conf
    try:
        h.conf = conf
        text = h.config()
    finally:
        h.conf = saved
    path = h.path("conf", "configtest.conf")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([httpd_binary(), "-t", "-d", h.root, "-f", path],
                       capture_output=True, text=True, timeout=60, env=httpd_environment())
    return p.returncode, p.stdout + p.stderr


def section(path, lines):
    return '<Location "%s">\n%s\n</Location>\n' % (path, "\n".join("    " + l for l in lines))


MUTUAL = ['AuthType Mutual', 'AuthName "r"', 'Require valid-user']


def test_configtest_accepts_the_scope_of_the_virtual_host(h):
    rc, out = configtest(h, VHOST)
    assert rc == 0 and "Syntax OK" in out, out


def test_configtest_accepts_a_scope_from_the_main_server_for_a_virtual_host(h):
    conf = ('AuthMutualScope "%s"\n<VirtualHost 127.0.0.1:{port}>\n' % SCOPE +
            section("/x/", MUTUAL) + "</VirtualHost>\n")
    rc, out = configtest(h, conf)
    assert rc == 0, out


def test_configtest_accepts_a_scope_inherited_from_location_slash(h):
    conf = section("/", ['AuthMutualScope "%s"' % SCOPE]) + section("/private/", MUTUAL)
    rc, out = configtest(h, conf)
    assert rc == 0, out


def test_configtest_accepts_a_scope_from_a_parent_directory(h):
    conf = ('<Directory "{htdocs}">\n    AuthMutualScope "%s"\n</Directory>\n' % SCOPE +
            '<Directory "{htdocs}/sub">\n    AuthType Mutual\n    AuthName "r"\n'
            '    Require valid-user\n</Directory>\n')
    rc, out = configtest(h, conf)
    assert rc == 0, out


def test_configtest_refuses_a_location_without_any_scope(h):
    rc, out = configtest(h, section("/private/", MUTUAL))
    assert rc != 0 and "MUT01001" in out and "has no AuthMutualScope" in out, out
    assert "configtest.conf:" in out, out  # names file and line


def test_configtest_refuses_a_scope_of_another_virtual_host(h):
    conf = ("<VirtualHost 127.0.0.1:{port}>\n    ServerName one.example\n"
            '    AuthMutualScope "%s"\n</VirtualHost>\n' % SCOPE +
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName two.example\n" +
            section("/x/", MUTUAL) + "</VirtualHost>\n")
    rc, out = configtest(h, conf)
    assert rc != 0 and "MUT01001" in out, out


def test_configtest_refuses_a_scope_of_a_location_that_does_not_cover(h):
    conf = section("/private", ['AuthMutualScope "%s"' % SCOPE]) + section("/privateer/", MUTUAL)
    rc, out = configtest(h, conf)
    assert rc != 0 and "MUT01001" in out, out


def test_configtest_refuses_a_missing_auth_name(h):
    conf = section("/noname/", ['AuthType Mutual', 'AuthMutualScope "%s"' % SCOPE,
                                'Require valid-user'])
    rc, out = configtest(h, conf)
    assert rc != 0 and "MUT01702" in out and "has no AuthName" in out, out


def test_configtest_accepts_an_auth_name_from_a_covering_location(h):
    conf = (section("/", ['AuthName "r"', 'AuthMutualScope "%s"' % SCOPE]) +
            section("/x/", ['AuthType Mutual', 'Require valid-user']))
    rc, out = configtest(h, conf)
    assert rc == 0, out


def test_configtest_refuses_a_dbm_type_this_apr_util_lacks(h):
    rc, out = configtest(h, section("/x/", MUTUAL + ['AuthMutualScope "%s"' % SCOPE,
                                                    "AuthMutualDBMType ndbm"]))
    if rc == 0:
        # an APR-util with ndbm: the type is usable, nothing to refuse
        return
    assert "AuthMutualDBMType: ndbm is not available in this APR-util" in out, out
    assert "available: default" in out, out


def test_configtest_accepts_directives_at_server_level(h):
    conf = "\n".join(['AuthMutualScope "%s"' % SCOPE, "AuthMutualUserFile conf/users",
                      "AuthMutualDBMType default", "AuthMutualAlgorithms %s" % EC256,
                      "AuthMutualValidation host", "AuthMutualSessionTime 60",
                      "AuthMutualNcMax 100", "AuthMutualNcWindow 128",
                      "AuthMutualHost http://127.0.0.1:{port}", "AuthMutualPath /x/"]) + "\n"
    rc, out = configtest(h, conf + section("/x/", MUTUAL))
    assert rc == 0, out


def test_configtest_refuses_numbers_out_of_range_with_the_directive_and_bounds(h):
    # Every numeric directive goes through one setter: its messages name the
    # directive, the value and the bounds, and the server-wide ones stay out
    # of <VirtualHost>.
    per_dir = [("AuthMutualSessionTime 0", "AuthMutualSessionTime: 0 is out of range (1..31622400)"),
               ("AuthMutualNcMax 4611686018427387905",
                "AuthMutualNcMax: 4611686018427387905 is out of range (1..4611686018427387904)"),
               ("AuthMutualNcWindow 127", "AuthMutualNcWindow: 127 is out of range (128..1024)"),
               ("AuthMutualNcWindow 1025", "AuthMutualNcWindow: 1025 is out of range (128..1024)"),
               ("AuthMutualRecheckInterval 31622401",
                "AuthMutualRecheckInterval: 31622401 is out of range (0..31622400)"),
               ("AuthMutualLogoutTimeout 99999999999999999999999",
                "AuthMutualLogoutTimeout: 99999999999999999999999 is out of range"),
               ("AuthMutualSessionTime 060", 'AuthMutualSessionTime: "060" is not a decimal number'),
               ("AuthMutualNcMax 1e3", 'AuthMutualNcMax: "1e3" is not a decimal number'),
               # the user-name limit is the server's (protocol_defaults.h)
               ('AuthMutualUsername "%s"' % ("u" * 257), "AuthMutualUsername \"%s\": longer than 256 octets" % ("u" * 257))]
    for line, message in per_dir:
        rc, out = configtest(h, section("/x/", MUTUAL + ['AuthMutualScope "%s"' % SCOPE, line]))
        assert rc != 0 and message in out, (line, out)
    server_wide = [("AuthMutualSessionTableSize 15",
                    "AuthMutualSessionTableSize: 15 is out of range (16..4194304)"),
                   ("AuthMutualMaxKeyExchanges 0",
                    "AuthMutualMaxKeyExchanges: 0 is out of range (1..4194304)")]
    for line, message in server_wide:
        rc, out = configtest(h, line + "\n")
        assert rc != 0 and message in out, (line, out)
        rc, out = configtest(h, "<VirtualHost 127.0.0.1:{port}>\n    %s\n</VirtualHost>\n"
                             % line.replace(" 15", " 512").replace(" 0", " 8"))
        assert rc != 0 and "cannot occur within <VirtualHost> section" in out, (line, out)
    # In range, at their bounds, they are taken.
    rc, out = configtest(h, "AuthMutualSessionTableSize 16\nAuthMutualMaxKeyExchanges 4194304\n" +
                         section("/x/", MUTUAL + ['AuthMutualScope "%s"' % SCOPE,
                                                  "AuthMutualSessionTime 31622400",
                                                  "AuthMutualNcWindow 1024",
                                                  "AuthMutualRecheckInterval 0",
                                                  "AuthMutualLogoutTimeout 0",
                                                  'AuthMutualUsername "%s"' % ("u" * 256)]))
    assert rc == 0, out


def test_configtest_refuses_unusable_strings_naming_the_directive(h):
    # AuthMutualScope, AuthMutualHost and the Authentication-Control strings
    # share one setter: "<directive> "<value>": <problem>".
    # (httpd escapes control characters when it prints the message)
    cases = [('AuthMutualScope "HTTP://Example.com"', 'AuthMutualScope "HTTP://Example.com": '),
             ('AuthMutualHost "example.com"', 'AuthMutualHost "example.com": '),
             ('AuthMutualLocationWhenLogout "/\x7f"', 'AuthMutualLocationWhenLogout "/\\x7f": '
                                                      'contains a control character'),
             ('AuthMutualLocationWhenUnauthenticated "/a\x01b"',
              'AuthMutualLocationWhenUnauthenticated "/a\\x01b": contains a control character')]
    for line, message in cases:
        rc, out = configtest(h, section("/x/", MUTUAL + ['AuthMutualScope "%s"' % SCOPE, line]))
        assert rc != 0 and message in out, (line, out)
    rc, out = configtest(h, section("/x/", MUTUAL + ['AuthMutualScope "%s"' % SCOPE,
                                                    'AuthMutualHost "http://127.0.0.1:{port}"',
                                                    'AuthMutualLocationWhenLogout "/bye.html"',
                                                    'AuthMutualLocationWhenUnauthenticated "/in.html"',
                                                    "AuthMutualOptional On", "AuthMutualNoAuth Off"]))
    assert rc == 0, out

"""Issue #14: verifiers from SQL through mod_dbd (AuthMutualProvider dbd,
AuthMutualDBDUserQuery).

Two apache2 (event MPM) with mod_dbd: one reads an SQLite database file the
test creates (DBDriver sqlite3), the other a real PostgreSQL server the test
starts on a loopback port (postgres_server.py) and stops and restarts
mid-run. Every row is an htmutual record (-n or -e output), every login is
made by mutualref, the independent client. The import recipes of
docs/verifiers-sql.md load the tables."""

import os
import re
import sqlite3
import subprocess
import time

import mutualref as m
from httpd_fixture import (Httpd, SCOPE, Servers, assert_status, expect_log, htmutual,
                           require_module, require_tool, tool_path)
from postgres_server import PostgresServer

EC256, EC521 = "iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512"
DL2048, DL4096 = "iso-kam3-dl-2048-sha256", "iso-kam3-dl-4096-sha512"
ALL = [EC256, EC521, DL2048, DL4096]
SQL_REALM, BOTH_REALM, DBM_REALM = "sql realm", "both realm", "dbm realm"
QUERY = "SELECT record FROM mutual_verifiers WHERE username = %s"
# the schemas of docs/verifiers-sql.md
SCHEMA = ("CREATE TABLE mutual_verifiers (username TEXT NOT NULL, record TEXT NOT NULL, "
          "PRIMARY KEY (username, record))")
PG_SCHEMA = ("CREATE TABLE mutual_verifiers (username text NOT NULL, "
             "record text NOT NULL CHECK (record LIKE '1;%'), PRIMARY KEY (username, record))")
DB_FILE = "{root}/conf/verifiers.sqlite"
USERS = "{root}/conf/users"
STORE_FAILED = "MUT01108"   # 401-INIT internal-error: the store cannot be read
UNKNOWN_USER = "MUT01122"   # a fake session reached its VFY
WRONG_VKC = "MUT01123"
MALFORMED = "MUT01201"
REVOKED = "MUT01601"
RECHECK_FAILED = "MUT01600"
MOD_DBD = "[dbd:"           # mod_dbd's own lines while the database is down
# the import recipe of docs/verifiers-sql.md (SQLite)
SQLITE_IMPORT = ('import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); '
                 'db.executemany("INSERT INTO mutual_verifiers (username, record) VALUES (?, ?)", '
                 '(l.rstrip("\\n").split(":", 1) for l in sys.stdin if l.strip())); db.commit()')
# ... and PostgreSQL's (psql \copy, CSV with ':' as delimiter, no quoting)
PG_IMPORT = ("\\copy mutual_verifiers (username, record) FROM STDIN "
             "WITH (FORMAT csv, DELIMITER ':', QUOTE E'\\x01')")


def record(realm, user, password, algorithms=(EC256,)):
    """htmutual -n: "user:record" (what an administrator inserts)."""
    args = [tool_path("htmutual"), "-n", "-b", "-s", SCOPE]
    for a in algorithms:
        args += ["-a", a]
    p = subprocess.run(args + [realm, user, password], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stderr)
    return p.stdout.strip().split(":", 1)[1]


def location(path, realm, providers, algorithms=(EC256,), extra=""):
    lines = ['<Location "%s">' % path, "    AuthType Mutual", '    AuthName "%s"' % realm,
             '    AuthMutualScope "%s"' % SCOPE, '    AuthMutualUserFile "%s"' % USERS,
             "    AuthMutualProvider " + providers,
             "    AuthMutualAlgorithms " + " ".join(algorithms),
             "    Require valid-user"]
    lines += ["    " + l for l in extra.splitlines() if l.strip()]
    return "\n".join(lines + ["</Location>"]) + "\n"


class SqlServers(Servers):
    def cleanup(self):
        try:
            super().cleanup()
        finally:
            if getattr(self, "postgres", None):
                self.postgres.cleanup()


def sqlite_exec(h, sql, args=(), path=DB_FILE):
    db = sqlite3.connect(h.format(path))
    try:
        cur = db.execute(sql, args)
        rows = cur.fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def sqlite_insert(h, user, rec):
    sqlite_exec(h, "INSERT INTO mutual_verifiers (username, record) VALUES (?, ?)", (user, rec))


def setup_module():
    require_module()
    require_tool("htmutual")
    ctx = SqlServers()
    try:
        ctx.postgres = PostgresServer()   # skips the module without PostgreSQL
        ctx.postgres.start()
        ctx.lite = setup_sqlite()
        ctx.append(ctx.lite)
        ctx.pg = setup_postgres(ctx.postgres)
        ctx.append(ctx.pg)
    except BaseException:
        ctx.cleanup()
        raise
    return ctx


def setup_sqlite():
    server = "\n".join(["DBDriver sqlite3", 'DBDParams "%s"' % DB_FILE,
                        'AuthMutualDBDUserQuery "%s"' % QUERY])
    conf = [
        location("/sql/", SQL_REALM, "dbd", ALL, extra="AuthMutualRecheckInterval 1"),
        location("/both/", BOTH_REALM, "dbm dbd"),
        location("/dbm/", DBM_REALM, "dbm"),
        # a record htdbm wrote (not a Mutual record) in a DBM file
        location("/dbm-htdbm/", SQL_REALM, "dbm").replace(USERS, "{root}/conf/htdbm-users"),
        '<Directory "{htdocs}/ht">\n    AllowOverride AuthConfig\n</Directory>',
    ]
    h = Httpd("sql-lite", conf="\n".join(conf), server_conf=server, modules=["dbd"],
              loglevel="info auth_mutual:debug")
    db = h.format(DB_FILE)
    sqlite3.connect(db).execute(SCHEMA).connection.close()
    # alice: one row per algorithm (several rows = several records)
    for alg in ALL:
        sqlite_insert(h, "alice", record(SQL_REALM, "alice", "alice-pw", [alg]))
    sqlite_insert(h, "o'brien", record(SQL_REALM, "o'brien", "quote-pw"))
    # "both realm": dbmonly in the DBM file, sqlonly in the database, twin in
    # both with different passwords (the first provider wins)
    users = h.format(USERS)
    htmutual(users, BOTH_REALM, "dbmonly", "dbm-pw", SCOPE, [EC256])
    htmutual(users, BOTH_REALM, "twin", "twin-dbm-pw", SCOPE, [EC256])
    htmutual(users, DBM_REALM, "dana", "dana-pw", SCOPE, [EC256])
    # the SQLite import recipe: htmutual -e of a DBM file into the table
    staging = h.path("conf", "staging")
    htmutual(staging, BOTH_REALM, "sqlonly", "sql-pw", SCOPE, [EC256])
    htmutual(staging, BOTH_REALM, "twin", "twin-sql-pw", SCOPE, [EC256])
    export = subprocess.run([tool_path("htmutual"), "-e", staging], capture_output=True,
                            text=True, timeout=60, check=True).stdout
    subprocess.run(["python3", "-c", SQLITE_IMPORT, db], input=export, text=True,
                   timeout=60, check=True)
    # a malformed row and a malformed DBM record: what htdbm writes
    p = subprocess.run(["htdbm", "-cbB", "-TDB", h.path("conf", "htdbm-users"), "broken", "pw"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    bcrypt = subprocess.run(["htpasswd", "-nbB", "broken", "pw"], capture_output=True,
                            text=True, timeout=60, check=True).stdout.strip().split(":", 1)[1]
    sqlite_insert(h, "broken", bcrypt)
    for d in ("sql", "both", "dbm", "dbm-htdbm", "ht"):
        h.write_file(d + "/index.html", "welcome to /%s/\n" % d)
    h.write_file("ht/.htaccess", "\n".join([
        "AuthType Mutual", 'AuthName "%s"' % SQL_REALM, 'AuthMutualScope "%s"' % SCOPE,
        "AuthMutualProvider dbd", "Require valid-user", ""]))
    return h.start()


def setup_postgres(pg):
    pg.psql(PG_SCHEMA)
    export = "alice:%s\n" % record(SQL_REALM, "alice", "alice-pw")
    pg.psql(PG_IMPORT, stdin=export)
    server = "\n".join(["DBDriver pgsql", 'DBDParams "%s"' % pg.dbd_params,
                        'AuthMutualDBDUserQuery "%s"' % QUERY])
    conf = [location("/sql/", SQL_REALM, "dbd", extra="AuthMutualRecheckInterval 1"),
            location("/dbm/", DBM_REALM, "dbm")]
    h = Httpd("sql-pg", conf="\n".join(conf), server_conf=server, modules=["dbd"],
              loglevel="info auth_mutual:debug")
    htmutual(h.format(USERS), DBM_REALM, "dana", "dana-pw", SCOPE, [EC256])
    for d in ("sql", "dbm"):
        h.write_file(d + "/index.html", "welcome to /%s/\n" % d)
    return h.start()


def teardown_module(ctx):
    ctx.cleanup()


def login(h, path, user, password, **kw):
    c = h.client(user, password, **kw)
    r = c.get(path)
    assert r.status == 200 and r.authenticated, r
    return c, r


def refused(h, path, user, password, what, stage="vfy", reason="auth-failed"):
    """A login that must fail at `stage` with `reason`."""
    try:
        login(h, path, user, password)
    except m.AuthenticationFailed as e:
        assert e.stage == stage and e.reason == reason, (what, e)
        return e
    raise AssertionError(what)


def kex_shape(h, path, user):
    """The 401-KEX-S1 of a key exchange, reduced to what may not depend on
    the user, and the 401 its VFY gets (password "x")."""
    c = h.client(user, "x")
    _, challenge = c.initial(path)
    resp, session = c.key_exchange(path, challenge)
    s1 = resp.challenges[0]
    shape = (resp.status, sorted(s1.params), len(s1.sid), len(s1.ks1), s1.params["nc-max"],
             s1.params["nc-window"], s1.params["time"], len(resp.body), resp.header("Content-Type"))
    r = c.verify(path, session)
    assert_status(r, 401, "auth-failed", "VFY of %s" % user)
    return shape


# --------------------------------------------------------------------------
# SQLite


def test_sqlite_logins_for_all_four_algorithms(ctx):
    for alg in ALL:
        c, r = login(ctx.lite, "/sql/index.html", "alice", "alice-pw", algorithms=[alg])
        assert c.session.algorithm.name == alg and r.body == b"welcome to /sql/\n", (alg, r)
        assert c.get("/sql/index.html").authenticated  # session reuse


@expect_log(UNKNOWN_USER)
def test_user_in_sql_only_and_in_dbm_only(ctx):
    login(ctx.lite, "/both/index.html", "sqlonly", "sql-pw")
    login(ctx.lite, "/both/index.html", "dbmonly", "dbm-pw")
    # a provider that is not listed is not asked
    refused(ctx.lite, "/dbm/index.html", "sqlonly", "sql-pw",
            "an SQL user logged in where AuthMutualProvider is dbm")


@expect_log(WRONG_VKC)
def test_first_provider_that_knows_the_user_wins(ctx):
    login(ctx.lite, "/both/index.html", "twin", "twin-dbm-pw")
    refused(ctx.lite, "/both/index.html", "twin", "twin-sql-pw",
            "the second provider answered for a user the first one knows")


@expect_log(WRONG_VKC, UNKNOWN_USER)
def test_unknown_user_gets_a_fake_session_shaped_like_a_known_one(ctx):
    known = kex_shape(ctx.lite, "/both/index.html", "sqlonly")
    unknown = kex_shape(ctx.lite, "/both/index.html", "nobody-anywhere")
    assert known == unknown, "401-KEX-S1 differs:\n known   %s\n unknown %s" % (known, unknown)


@expect_log(MALFORMED, UNKNOWN_USER)
def test_malformed_row_answers_as_a_malformed_dbm_record(ctx):
    h = ctx.lite
    mark = h.log_size()
    from_sql = kex_shape(h, "/sql/index.html", "broken")
    sql_log = h.log_from(mark)
    mark = h.log_size()
    from_dbm = kex_shape(h, "/dbm-htdbm/index.html", "broken")
    dbm_log = h.log_from(mark)
    assert from_sql[:-2] == from_dbm[:-2], (from_sql, from_dbm)
    sql_line = re.search(MALFORMED + r": verifier record of user \"broken\" in the database .*"
                         r"is malformed \(([^)]*)\); rewrite it with htmutual", sql_log)
    dbm_line = re.search(MALFORMED + r": verifier record of user \"broken\" in \S+htdbm-users "
                         r"is malformed \(([^)]*)\); rewrite it with htmutual", dbm_log)
    assert sql_line and dbm_line, (sql_log, dbm_log)
    assert sql_line.group(1) == dbm_line.group(1), (sql_line.group(0), dbm_line.group(0))
    for log in (sql_log, dbm_log):
        assert "fake session (bad-record)" in log, log


@expect_log(UNKNOWN_USER)
def test_sql_injection_in_the_user_name_is_harmless(ctx):
    h = ctx.lite
    before = sqlite_exec(h, "SELECT count(*) FROM mutual_verifiers")[0][0]
    for name in ("x' OR '1'='1", "alice' --", "alice'; DROP TABLE mutual_verifiers; --",
                 "%s", "alice\\", "' UNION SELECT record FROM mutual_verifiers --"):
        refused(h, "/sql/index.html", name, "alice-pw", "%r logged in" % name)
    assert sqlite_exec(h, "SELECT count(*) FROM mutual_verifiers")[0][0] == before
    # a real name with a quote is just a name
    login(h, "/sql/index.html", "o'brien", "quote-pw")
    login(h, "/sql/index.html", "alice", "alice-pw")


@expect_log(REVOKED, UNKNOWN_USER)
def test_deleted_row_ends_the_session_at_the_next_recheck(ctx):
    h = ctx.lite
    sqlite_insert(h, "carol", record(SQL_REALM, "carol", "carol-pw"))
    c, _ = login(h, "/sql/index.html", "carol", "carol-pw")
    assert c.get("/sql/index.html").authenticated
    sqlite_exec(h, "DELETE FROM mutual_verifiers WHERE username = ?", ("carol",))
    time.sleep(1.1)
    mark = h.log_size()
    r = c.verify("/sql/index.html", c.session)
    assert_status(r, 401, "stale-session", "session of a deleted row")
    assert REVOKED in h.log_from(mark)
    # and no new session from a cached copy of the row
    refused(h, "/sql/index.html", "carol", "carol-pw", "a deleted row still logs in")


@expect_log(REVOKED, WRONG_VKC)
def test_changed_row_ends_the_session_and_the_new_password_works(ctx):
    h = ctx.lite
    sqlite_insert(h, "dave", record(SQL_REALM, "dave", "old-pw"))
    c, _ = login(h, "/sql/index.html", "dave", "old-pw")
    sqlite_exec(h, "UPDATE mutual_verifiers SET record = ? WHERE username = ?",
                (record(SQL_REALM, "dave", "new-pw"), "dave"))
    time.sleep(1.1)
    r = c.verify("/sql/index.html", c.session)
    assert_status(r, 401, "stale-session", "session after the row changed")
    login(h, "/sql/index.html", "dave", "new-pw")


def test_htaccess_and_graceful_restart(ctx):
    """AuthMutualProvider dbd in .htaccess (the query from the server
    config); a graceful restart prepares the query again, sessions survive."""
    h = ctx.lite
    c, _ = login(h, "/ht/index.html", "alice", "alice-pw")
    h.graceful()
    c.conn.close()
    r = c.verify("/ht/index.html", c.session)   # the same session, no new key exchange
    assert r.status == 200 and r.authenticated, r
    login(h, "/ht/index.html", "o'brien", "quote-pw")   # a new key exchange: the query works


# --------------------------------------------------------------------------
# PostgreSQL


def test_postgres_login_and_import_recipe(ctx):
    login(ctx.pg, "/sql/index.html", "alice", "alice-pw")
    login(ctx.pg, "/dbm/index.html", "dana", "dana-pw")


@expect_log(STORE_FAILED, RECHECK_FAILED, MOD_DBD)
def test_postgres_down_is_internal_error_then_recovers_without_restart(ctx):
    h, pg = ctx.pg, ctx.postgres
    c, _ = login(h, "/sql/index.html", "alice", "alice-pw")
    pg.stop()
    time.sleep(1.1)   # the record cache keeps an answer min(AuthMutualRecheckInterval, 10) s
    mark = h.log_size()
    attempts = 4
    for i in range(attempts):
        r = h.client("alice", "alice-pw").initial("/sql/index.html")[0]
        assert_status(r, 401, None, "INIT while the database is down")
        e = refused(h, "/sql/index.html", "alice", "alice-pw", "logged in while the database is down",
                    stage="kex", reason="internal-error")
        assert_status(e.response, 401, "internal-error", "KEX while the database is down")
    # an established session is kept while its recheck cannot read the store
    r = c.get("/sql/index.html")
    assert r.status == 200 and r.authenticated, r
    log = h.log_from(mark)
    assert RECHECK_FAILED in log, log[-2000:]
    ours = re.findall(r"\[auth_mutual:(?:error|warn|notice|info)\].*?(MUT\d{5})", log)
    assert ours.count(STORE_FAILED) == attempts, log[-3000:]
    assert set(ours) <= {STORE_FAILED, RECHECK_FAILED}, ours
    for line in re.findall(STORE_FAILED + r".*", log):
        assert re.search(r"cannot get a database connection from mod_dbd|"
                         r"AuthMutualDBDUserQuery failed: \S", line), line
    # the DBM realm of the same server is not affected
    login(h, "/dbm/index.html", "dana", "dana-pw")
    pg.start()
    # A pooled connection the database dropped may fail one more request
    # (mod_dbd finds it dead and opens a new one; one the driver re-opened
    # gets its statement prepared again): within 15 s, five logins in a row.
    deadline = time.time() + 15
    good = 0
    while good < 5:
        try:
            login(h, "/sql/index.html", "alice", "alice-pw")
            good += 1
        except m.AuthenticationFailed as e:
            assert e.reason == "internal-error", e
            assert time.time() < deadline, "no recovery within 15 s after the database came back"
            good = 0
            time.sleep(0.1)


def test_conf_example_for_sqlite(ctx):
    """conf/auth_mutual_sqlite.conf as shipped, with this test's paths."""
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "conf",
                           "auth_mutual_sqlite.conf")) as f:
        example = f.read()
    assert QUERY in example
    h = Httpd("sql-example", modules=["dbd"])
    try:
        db = h.path("conf", "example.sqlite")
        example = example.replace("/var/lib/apache2/mutual/verifiers.sqlite", db)
        h.conf = example.replace("www.example.com", SCOPE)
        h.write_file("private/index.html", "private\n")
        sqlite3.connect(db).execute(SCHEMA).connection.close()
        sqlite_exec(h, "INSERT INTO mutual_verifiers VALUES (?, ?)",
                    ("alice", record("Private area", "alice", "example-pw")), path=db)
        h.start()
        login(h, "/private/index.html", "alice", "example-pw")
        assert h.end_case() == []
    finally:
        h.cleanup()


# --------------------------------------------------------------------------
# startup checks


def _refused(name, conf, server_conf, modules, needle):
    h = Httpd(name, conf=conf, server_conf=server_conf, modules=modules)
    try:
        try:
            h.start(wait=10)
        except RuntimeError as e:
            assert needle in str(e), (needle, str(e)[-1500:])
        else:
            raise AssertionError("started without refusing: %s" % needle)
    finally:
        h.cleanup()


def test_configuration_errors_fail_startup(ctx):
    dbd = "DBDriver sqlite3\nDBDParams /nonexistent.sqlite"
    _refused("sql-noquery", location("/x/", SQL_REALM, "dbm dbd"), dbd, ["dbd"],
             "MUT02200: AuthMutualProvider dbd at")
    _refused("sql-nodbd", location("/x/", SQL_REALM, "dbd"), "", [],
             "AuthMutualProvider dbd needs mod_dbd")
    _refused("sql-nodbd-query", location("/x/", SQL_REALM, "dbm"),
             'AuthMutualDBDUserQuery "%s"' % QUERY, [], "AuthMutualDBDUserQuery needs mod_dbd")
    _refused("sql-noplaceholder", location("/x/", SQL_REALM, "dbd"),
             dbd + '\nAuthMutualDBDUserQuery "SELECT record FROM t"', ["dbd"],
             "needs exactly one %s")
    _refused("sql-twoplaceholders", location("/x/", SQL_REALM, "dbd"),
             dbd + '\nAuthMutualDBDUserQuery "SELECT record FROM t WHERE u = %s AND n = %d"',
             ["dbd"], "needs exactly one %s")
    _refused("sql-badprovider", location("/x/", SQL_REALM, "ldap"), "", [],
             'AuthMutualProvider: unknown provider "ldap"')
    _refused("sql-twice", location("/x/", SQL_REALM, "dbm dbm"), "", [], "listed twice")

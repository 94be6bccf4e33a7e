"""Issue #12: optional authentication and Authentication-Control (RFC 8053),
logout (SetHandler mutual-logout) and revocation (AuthMutualRecheckInterval).

One apache2 (event MPM). The independent client (mutualref, written from
the RFCs) drives every exchange; build/mutual-client follows
Optional-WWW-Authenticate on its own. SSI pages show what the application
sees (REMOTE_USER, AUTH_TYPE)."""

import os
import subprocess
import time

import mutualref as m
from httpd_fixture import (Httpd, add_users, assert_status, expect_log, htmutual, location,
                           mutual_client, require_module, require_tool, tool_path, SCOPE)

EC256 = "iso-kam3-ec-p256-sha256"
REALM = "control realm"
REVOKE_REALM = "revoke realm"
REVOKE_FILE = "{root}/conf/revoke"
PASSWORDS = {"alice": "alice's secret", "bob": "bob-pw"}
SSI = 'user=[<!--#echo var="REMOTE_USER" -->] type=[<!--#echo var="AUTH_TYPE" -->]\n'
ANONYMOUS_PAGE = "user=[(none)] type=[(none)]\n"
WRONG_VKC = "MUT01123"
REVOKED = "MUT01601"
ADMIN_NAME = "Ren\u00e9e"
BIND_SSI = ('b1=<!--#echo var="MUTUAL_B1_INNER" --> b2=<!--#echo var="MUTUAL_B2_INNER" --> '
            'alg=<!--#echo var="MUTUAL_ALGORITHM" --> nc=<!--#echo var="MUTUAL_NC" -->\n')


def setup_module():
    require_module()
    require_tool("htmutual")
    h = Httpd("control", mpm="event", loglevel="info auth_mutual:debug", modules=["include"])
    conf = [
        location("/opt/", REALM, [EC256], extra='AuthMutualOptional On\nAuthMutualPath "/opt/"'),
        location("/opt-bob/", REALM, [EC256], require="Require user bob",
                 extra="AuthMutualOptional On"),
        location("/ctl/", REALM, [EC256], extra="\n".join([
            "AuthMutualLogoutTimeout 60",
            'AuthMutualLocationWhenLogout "/bye.html"',
            "AuthMutualAuthStyle non-modal",
            'AuthMutualLocationWhenUnauthenticated "http://127.0.0.1/login page.html"',
            "AuthMutualNoAuth On",
        ])),
        location("/admin/", REALM, [EC256], extra="AuthMutualUsername \"%s\"\nAuthMutualAuthStyle modal"
                 % ADMIN_NAME),
        location("/out/", REALM, [EC256]),
        '<Location "/out/logout">\n    SetHandler mutual-logout\n</Location>',
        '<Location "/ctl/logout">\n    SetHandler mutual-logout\n</Location>',
        '<Location "/opt/logout">\n    SetHandler mutual-logout\n</Location>',
        '<Location "/nowhere/logout">\n    SetHandler mutual-logout\n</Location>',
        location("/revoke/", REVOKE_REALM, [EC256], user_file=REVOKE_FILE,
                 extra="AuthMutualRecheckInterval 1"),
        location("/revoke-slow/", REVOKE_REALM, [EC256], user_file=REVOKE_FILE),
        '<Directory "{htdocs}">\n    Options +Includes\n    AddOutputFilter INCLUDES .shtml\n'
        "    Require all granted\n</Directory>",
    ]
    h.conf = "\n".join(conf)
    add_users(h, REALM, PASSWORDS, [EC256])
    for d in ("opt", "opt-bob", "ctl", "admin", "out", "revoke", "revoke-slow"):
        h.write_file(d + "/index.html", "welcome to /%s/\n" % d)
        h.write_file(d + "/who.shtml", SSI)
    h.write_file("out/bind.shtml", BIND_SSI)
    h.write_file("bye.html", "bye\n")
    return h.start()


def teardown_module(h):
    h.cleanup()


def client(h, user="alice", password=None, **kw):
    return m.Client(h.base, user, password or PASSWORDS[user], **kw)


def revoke_user(h, user, password):
    htmutual(h.format(REVOKE_FILE), REVOKE_REALM, user, password, SCOPE, [EC256])


def delete_user(h, user):
    p = subprocess.run([tool_path("htmutual"), "-D", "-s", SCOPE, h.format(REVOKE_FILE),
                        REVOKE_REALM, user], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)


# --------------------------------------------------------------------------
# 1. optional authentication (RFC 8053 §3)


def test_anonymous_request_is_served_with_optional_challenge(h):
    r = h.get("/opt/who.shtml")
    assert r.status == 200, r
    assert r.body.decode() == ANONYMOUS_PAGE, r.body
    assert r.header("WWW-Authenticate") is None, r.headers
    assert r.header("Authentication-Info") is None, r.headers
    challenges = r.optional_challenges
    assert len(challenges) == 1, r.header_all("Optional-WWW-Authenticate")
    c = challenges[0].check()
    assert (c.kind, c.reason, c.realm, c.auth_scope, c.algorithm, c.path) == \
        ("init", "initial", REALM, SCOPE, EC256, "/opt/"), c


def test_anonymous_client_then_authenticates_there(h):
    c = client(h)
    r = c.request("/opt/who.shtml")
    assert r.status == 200 and r.body.decode() == ANONYMOUS_PAGE, r
    challenge = c.choose([x.check() for x in r.optional_challenges])
    kex, session = c.key_exchange("/opt/who.shtml", challenge)
    assert_status(kex, 401, None, "req-KEX-C1 in an optional location")
    assert kex.header("Optional-WWW-Authenticate") is None, kex.headers
    assert kex.challenges[0].kind == "kex-s1", kex
    r = c.verify("/opt/who.shtml", session)
    assert r.status == 200 and r.authenticated, r
    assert r.body.decode() == "user=[alice] type=[Mutual]\n", r.body
    assert r.header("Optional-WWW-Authenticate") is None, r.headers
    # the session is reused as anywhere else
    r = c.verify("/opt/index.html", session)
    assert r.status == 200 and r.authenticated, r


@expect_log(WRONG_VKC, "MUT01102", "MUT01119")
def test_failures_in_an_optional_location_are_401(h):
    c = client(h, password="wrong password")
    r = c.request("/opt/index.html")
    challenge = c.choose([x.check() for x in r.optional_challenges])
    _, session = c.key_exchange("/opt/index.html", challenge)
    r = c.verify("/opt/index.html", session)
    assert_status(r, 401, "auth-failed", "wrong password in an optional location")
    assert r.header("Optional-WWW-Authenticate") is None, r.headers
    # unknown session: 401-STALE, not an anonymous 200
    r = c.verify("/opt/index.html", session, nc=7)
    assert r.status == 401 and r.mutual_reason in ("stale-session", "auth-failed"), r
    assert r.header("Optional-WWW-Authenticate") is None, r.headers
    r = h.get("/opt/index.html", [("Authorization", "Mutual version=1, junk")])
    assert_status(r, 401, "invalid-parameters", "malformed Mutual credentials")
    assert r.header("Optional-WWW-Authenticate") is None, r.headers


def test_other_scheme_counts_as_anonymous(h):
    r = h.get("/opt/who.shtml", [("Authorization", "Basic YWxpY2U6eA==")])
    assert r.status == 200 and r.body.decode() == ANONYMOUS_PAGE, r
    assert r.optional_challenges, r.headers


@expect_log("AH01631")
def test_anonymous_request_where_a_user_is_required_gets_401_init(h):
    r = h.get("/opt-bob/index.html")
    assert_status(r, 401, "initial", "anonymous request under Require user bob")
    assert r.header("Optional-WWW-Authenticate") is None, r.headers
    # alice is authenticated, then refused by authorization
    c = client(h)
    try:
        c.login("/opt-bob/index.html")
        raise AssertionError("alice passed Require user bob")
    except m.AuthenticationFailed as e:
        assert e.reason == "authz-failed", e.reason
    c = client(h, "bob")
    r = c.get("/opt-bob/index.html")
    assert r.status == 200 and r.authenticated, r


def test_mutual_client_follows_optional_www_authenticate(h):
    p = mutual_client(h.url("/opt/who.shtml"), "alice", PASSWORDS["alice"])
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "user=[alice] type=[Mutual]" in p.stdout, (p.stdout, p.stderr)


# --------------------------------------------------------------------------
# 2. Authentication-Control (RFC 8053 §4)


def test_logout_timeout_on_200_vfy_s(h):
    c = client(h)
    r = c.get("/ctl/index.html")
    assert r.status == 200 and r.authenticated, r
    assert r.header_all("Authentication-Control") == [
        'Mutual realm="control realm", location-when-logout="/bye.html", logout-timeout=60'], \
        r.header_all("Authentication-Control")
    ctl = r.authentication_control(REALM)
    assert ctl == {"realm": REALM, "location-when-logout": "/bye.html",
                   "logout-timeout": "60"}, ctl


def test_control_on_401_init_and_none_on_kex_s1(h):
    c = client(h)
    r, challenge = c.initial("/ctl/index.html")
    assert_status(r, 401, "initial")
    ctl = r.authentication_control(REALM)
    assert ctl == {"realm": REALM, "auth-style": "non-modal",
                   "location-when-unauthenticated": "http://127.0.0.1/login page.html",
                   "no-auth": "true"}, ctl
    # tokens plain, the URL quoted (it is not a token)
    raw = r.header("Authentication-Control")
    assert "auth-style=non-modal" in raw and "no-auth=true" in raw, raw
    assert 'location-when-unauthenticated="http://127.0.0.1/login page.html"' in raw, raw
    kex, _ = c.key_exchange("/ctl/index.html", challenge)
    assert kex.header("Authentication-Control") is None, kex.headers


@expect_log(WRONG_VKC)
def test_username_as_ext_value_on_401_responses(h):
    r = h.get("/admin/index.html")
    assert_status(r, 401, "initial")
    raw = r.header("Authentication-Control")
    # non-ASCII: username*=UTF-8''..., the realm a plain quoted-string (§4.1)
    assert raw == ('Mutual realm="control realm", auth-style=modal, '
                   "username*=UTF-8''Ren%C3%A9e"), raw
    assert r.authentication_control(REALM)["username"] == ADMIN_NAME
    # negative: 401-INIT auth-failed and 401-STALE carry it too
    c = client(h, password="nope")
    try:
        c.login("/admin/index.html")
    except m.AuthenticationFailed as e:
        assert e.reason == "auth-failed"
        assert e.response.authentication_control(REALM)["username"] == ADMIN_NAME
    c = client(h)
    assert c.get("/admin/index.html").authenticated
    r = c.verify("/admin/index.html", c.session, nc=1)   # replay
    assert_status(r, 401, "stale-session")
    assert r.authentication_control(REALM) == {"realm": REALM, "auth-style": "modal",
                                               "username": ADMIN_NAME}
    # never on a success
    r = client(h).get("/admin/index.html")
    assert r.authenticated and r.header("Authentication-Control") is None, r.headers


def test_optional_response_has_no_control(h):
    r = h.get("/opt/index.html")
    assert r.status == 200 and r.header("Authentication-Control") is None, r.headers


def test_bad_directive_values_fail_startup(h):
    for bad in ("AuthMutualAuthStyle sideways", "AuthMutualLogoutTimeout -1",
                'AuthMutualUsername ""', "AuthMutualRecheckInterval soon",
                'AuthMutualLocationWhenLogout ""'):
        h = Httpd("control-bad", conf=location("/x/", REALM, [EC256], extra=bad))
        try:
            try:
                h.start(wait=10)
            except RuntimeError as e:
                assert bad.split()[0] in str(e), (bad, str(e)[-500:])
            else:
                raise AssertionError("started with %s" % bad)
        finally:
            h.cleanup()


# --------------------------------------------------------------------------
# 3. logout


def test_logout_ends_the_session(h):
    c = client(h)
    assert c.get("/out/index.html").authenticated
    r = c.get("/out/logout")
    assert r.status == 200 and r.authenticated, r   # a 200-VFY-S with a valid vks
    assert r.body == b"logged out\n", r.body
    assert r.authentication_control(REALM) == {"realm": REALM, "logout-timeout": "0"}, r.headers
    # the next nc of that session is refused
    r = c.verify("/out/index.html", r.session)
    assert_status(r, 401, "stale-session", "req-VFY-C after logout")
    log = h.log_since_mark()
    assert "MUT01605" in log and "logged out" in log, log[-1500:]
    # a new login works
    c = client(h)
    assert c.get("/out/index.html").authenticated


def test_logout_redirects_to_location_when_logout(h):
    c = client(h)
    assert c.get("/ctl/index.html").authenticated
    session = c.session
    r = c.verify("/ctl/logout", session)
    assert r.status == 303 and r.authenticated, r
    assert r.header("Location").endswith("/bye.html"), r.headers
    ctl = r.authentication_control(REALM)
    assert ctl["logout-timeout"] == "0" and ctl["location-when-logout"] == "/bye.html", ctl
    r = c.verify("/ctl/index.html", session)
    assert_status(r, 401, "stale-session", "after logout")


def test_logout_without_a_session_gets_401_init(h):
    r = h.get("/out/logout")
    assert_status(r, 401, "initial", "logout without credentials")
    r = h.get("/opt/logout")      # optional location: still the realm's 401-INIT
    assert_status(r, 401, "initial", "anonymous logout")
    assert r.header("Optional-WWW-Authenticate") is None, r.headers
    c = client(h)
    assert c.get("/out/index.html").authenticated
    assert c.get("/out/logout").status == 200
    r = c.verify("/out/logout", c.session)        # the ended session logs out again
    assert_status(r, 401, "stale-session")


@expect_log("MUT01603")
def test_logout_handler_outside_a_mutual_location(h):
    r = h.get("/nowhere/logout")
    assert r.status == 404, r


# --------------------------------------------------------------------------
# 4. revocation


@expect_log(REVOKED, "MUT01122")
def test_deleted_user_loses_live_session(h):
    revoke_user(h, "carol", "carol-pw")
    c = m.Client(h.base, "carol", "carol-pw")
    assert c.get("/revoke/index.html").authenticated
    assert c.get("/revoke/index.html").authenticated
    delete_user(h, "carol")
    time.sleep(1.1)
    session = c.session
    r = c.verify("/revoke/index.html", session)
    assert_status(r, 401, "stale-session", "session of a deleted user")
    assert REVOKED in h.log_since_mark()
    # the session is gone for good, and a new key exchange fails
    r = c.verify("/revoke/index.html", session)
    assert_status(r, 401, "stale-session")
    c = m.Client(h.base, "carol", "carol-pw")
    try:
        c.login("/revoke/index.html")
        raise AssertionError("a deleted user logged in")
    except m.AuthenticationFailed as e:
        assert e.reason == "auth-failed", e.reason


@expect_log(REVOKED)
def test_changed_password_ends_session_and_new_one_works(h):
    revoke_user(h, "dave", "old password")
    c = m.Client(h.base, "dave", "old password")
    assert c.get("/revoke/index.html").authenticated
    revoke_user(h, "dave", "new password")
    time.sleep(1.1)
    r = c.verify("/revoke/index.html", c.session)
    assert_status(r, 401, "stale-session", "session after a password change")
    c = m.Client(h.base, "dave", "new password")
    assert c.get("/revoke/index.html").authenticated


def test_unchanged_verifier_keeps_session_and_recheck_is_amortised(h):
    revoke_user(h, "erin", "erin-pw")
    c = m.Client(h.base, "erin", "erin-pw")
    assert c.get("/revoke/index.html").authenticated
    time.sleep(1.1)
    for _ in range(5):
        assert c.get("/revoke/index.html").authenticated
    # the default interval (60 s): a deletion does not end the session at once
    c = m.Client(h.base, "erin", "erin-pw")
    assert c.get("/revoke-slow/index.html").authenticated
    assert c.get("/revoke-slow/index.html").authenticated
    delete_user(h, "erin")
    r = c.get("/revoke-slow/index.html")
    assert r.status == 200 and r.authenticated, r


@expect_log(REVOKED)
def test_revocation_across_graceful_restart(h):
    revoke_user(h, "frank", "frank-pw")
    c = m.Client(h.base, "frank", "frank-pw")
    assert c.get("/revoke/index.html").authenticated
    h.graceful()
    c.conn.close()
    assert c.get("/revoke/index.html").authenticated     # the session survived
    delete_user(h, "frank")
    time.sleep(1.1)
    r = c.verify("/revoke/index.html", c.session)
    assert_status(r, 401, "stale-session", "deleted user after a graceful restart")


# --------------------------------------------------------------------------
# 6. application channel binding (RFC 8120 §13)


def test_channel_binding_inner_hashes_in_the_environment(h):
    c = client(h)
    assert c.get("/out/index.html").authenticated
    s = c.session
    for nc in (2, 3):
        r = c.verify("/out/bind.shtml", s, nc=nc)
        assert r.status == 200 and r.authenticated, r
        alg = s.algorithm
        b1 = m.OCTETS(alg._vk(6, s.K_c1, s.K_s1, s.z, 0, s.vh), alg.hash_length)
        b2 = m.OCTETS(alg._vk(7, s.K_c1, s.K_s1, s.z, nc, s.vh), alg.hash_length)
        want = "b1=%s b2=%s alg=%s nc=%d\n" % (b1.hex(), b2.hex(), EC256, nc)
        assert r.body.decode() == want, (r.body, want)
    # b = H(inner | VS(t)) is the same on both sides for any t the
    # application picks; the inner hashes are never logged
    log = h.log_since_mark()
    assert b1.hex() not in log and b2.hex() not in log

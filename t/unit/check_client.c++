// Check suite: the client decision procedure of RFC 8120 §10 (client_session.h)
// against a server scripted with the core algorithm API, the driver's refusal
// to release unverified content (mutual_client.h), target/scope rules (§5, §7)
// and the tls-server-end-point hash (RFC 5929 §4.1).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "test_support.h"  // before check.h (its fail() macro)

// check.h defines a fail() macro: include it after the C++ library headers.
#include <check.h>

#include "algorithm.h"
#include "client/channel_binding.h"
#include "client/client_session.h"
#include "client/mutual_client.h"
#include "client/target.h"
#include "encoding.h"
#include "header.h"

using namespace mutual;
using namespace mutual::client;
using namespace mutual::test;

// ck_assert_str_eq keeps a pointer past the full expression: compare copies.
#define assert_string_eq(a, b)                                                            \
    do {                                                                                  \
        const std::string left_ = (a), right_ = (b);                                      \
        ck_assert_msg(left_ == right_, "\"%s\" != \"%s\"", left_.c_str(), right_.c_str()); \
    } while (0)

namespace {

const char* const p256 = "iso-kam3-ec-p256-sha256";
const char* const p521 = "iso-kam3-ec-p521-sha512";
const char* const dl2048 = "iso-kam3-dl-2048-sha256";
const char* const all_algorithms_names[] = {dl2048, "iso-kam3-dl-4096-sha512", p256, p521};

enum class Ks1Fault { none, not_on_curve, zero };

// A server written directly against the core algorithm API (RFC 8120 §11,
// simplified): one user, one realm, one session at a time.
struct Server {
    const Algorithm* a = nullptr;
    RealmId id;
    std::string user = "alice";
    std::string vh = "http://example.com:80";
    Bytes j;
    std::uint64_t nc_max = 100, nc_window = 128, time = 300;
    std::optional<std::string> path;
    bool tls = false;
    Bytes certificate_hash;  // tls-server-end-point the responses report
    // session state
    bool have_session = false;
    Bytes sid, k_c1, k_s1;
    Secret z;
    std::set<std::uint64_t> seen_nc;
    std::vector<std::uint64_t> nc_log;
    // faults
    bool wrong_vks = false;
    bool omit_auth_info = false;
    bool authz_fail = false;
    bool always_stale = false;
    Ks1Fault ks1_fault = Ks1Fault::none;
    int kex_count = 0, vfy_count = 0, normal_count = 0;

    explicit Server(const char* algorithm, std::string realm = "test realm",
                    std::optional<std::string> scope = std::string("example.com"),
                    std::string validation = "host") {
        a = find_algorithm(algorithm);
        ck_assert_ptr_nonnull(a);
        id.algorithm = algorithm;
        id.validation = std::move(validation);
        id.auth_scope = std::move(scope);
        id.realm = std::move(realm);
        set_password("password123");
    }
    void set_password(const std::string& password) {
        const Secret pi = compute_pi(*a, password, id.auth_scope.value_or("example.com"), id.realm,
                                     user);
        ck_assert_int_gt(static_cast<int>(pi.size()), 0);
        ck_assert_int_eq(static_cast<int>(a->verifier(pi, j)), static_cast<int>(KexError::none));
    }
    void use_tls(const Bytes& hash) {
        tls = true;
        certificate_hash = hash;
        vh = std::string(hash.begin(), hash.end());
    }
    Response response(long status) const {
        Response r;
        r.status = status;
        r.tls = tls;
        r.tls_server_end_point = certificate_hash;
        return r;
    }
    std::string init_header(const std::string& reason = "initial") const {
        MutualChallenge c;
        c.kind = reason == "stale-session" ? ResponseKind::stale : ResponseKind::init;
        c.id = id;
        c.reason = reason;
        return serialize_challenge(c, a->quoted_on_wire());
    }
    Response init(const std::string& reason = "initial") const {
        Response r = response(401);
        r.headers.emplace_back("WWW-Authenticate", init_header(reason));
        return r;
    }
    std::string bad_ks1() const {
        if (ks1_fault == Ks1Fault::zero) return a->encode_key(Bytes(a->element_length(), 0));
        // Flip bits of the x coordinate until the value is not a curve point.
        Bytes k = k_s1;
        for (int i = 0; i < 256; ++i) {
            k.back() = static_cast<std::uint8_t>(k.back() + 1);
            if (a->check_server_key(k) == KexError::not_on_curve) return a->encode_key(k);
        }
        ck_abort_msg("no invalid point found");
        return {};
    }
    Response respond(const std::string& authorization) {
        if (authorization.empty()) {
            ++normal_count;
            return init();
        }
        MutualCredentials c;
        const HeaderError e = parse_mutual_credentials(authorization, c);
        ck_assert_msg(e == HeaderError::none, "client sent a bad Authorization: %s",
                      header_error_name(e));
        assert_string_eq(c.id.algorithm, id.algorithm);
        assert_string_eq(c.id.realm, id.realm);
        ck_assert(c.id.auth_scope == id.auth_scope);
        if (c.kind == RequestKind::kex_c1) {
            ++kex_count;
            if (c.user != user) return init("auth-failed");
            const std::optional<Bytes> kc1 = a->decode_key(c.kc1);
            ck_assert(kc1.has_value());
            k_c1 = *kc1;
            const Secret s_s1 = a->random_server_scalar();
            ck_assert_int_eq(static_cast<int>(a->server_key(j, k_c1, s_s1, k_s1)), 0);
            ck_assert_int_eq(static_cast<int>(a->server_secret(k_c1, k_s1, s_s1, z)), 0);
            sid.assign(16, 0);
            ck_assert_int_eq(RAND_bytes(sid.data(), 16), 1);
            have_session = true;
            seen_nc.clear();
            MutualChallenge s1;
            s1.kind = ResponseKind::kex_s1;
            s1.id = id;
            s1.sid = sid;
            s1.ks1 = ks1_fault == Ks1Fault::none ? a->encode_key(k_s1) : bad_ks1();
            s1.nc_max = nc_max;
            s1.nc_window = nc_window;
            s1.time = time;
            s1.path = path;
            Response r = response(401);
            r.headers.emplace_back("WWW-Authenticate", serialize_challenge(s1, a->quoted_on_wire()));
            return r;
        }
        ++vfy_count;
        nc_log.push_back(c.nc);
        if (always_stale || !have_session || c.sid != sid || seen_nc.count(c.nc) ||
            c.nc > nc_max || c.nc == 0)
            return init("stale-session");
        seen_nc.insert(c.nc);
        const std::optional<Bytes> vkc = a->decode_vk(c.vkc);
        ck_assert(vkc.has_value());
        if (!equal_constant_time(*vkc, compute_vk_c(*a, k_c1, k_s1, z, c.nc, vh))) {
            have_session = false;
            return init("auth-failed");
        }
        if (authz_fail) return init("authz-failed");
        Bytes vks = compute_vk_s(*a, k_c1, k_s1, z, c.nc, vh);
        if (wrong_vks) vks[0] ^= 0x01;
        Response r = response(200);
        r.headers.emplace_back("Content-Type", "text/plain");
        if (!omit_auth_info)
            r.headers.emplace_back("Authentication-Info",
                                   serialize_auth_info(MutualAuthInfo{sid, a->encode_vk(vks)},
                                                       a->quoted_on_wire()));
        return r;
    }
};

struct Run {
    Step last;
    SessionSummary summary;
    std::vector<MessageKind> sent;
    int credential_requests = 0;
};

// Drives one exchange against the scripted server.
Run run(ClientContext& context, const std::string& url, Server& server,
        const char* user = "alice", const char* password = "password123") {
    std::optional<Target> target = parse_target(url);
    ck_assert(target.has_value());
    Exchange exchange(context, *target);
    Run r;
    Step step = exchange.begin();
    for (int guard = 0; guard < 12; ++guard) {
        if (step.action == Step::Action::send_request) {
            r.sent.push_back(step.message);
            step = exchange.receive(server.respond(step.authorization));
        } else if (step.action == Step::Action::need_credentials) {
            ++r.credential_requests;
            step = user != nullptr ? exchange.supply_credentials(user, password)
                                   : exchange.decline_credentials();
        } else {
            break;
        }
    }
    ck_assert(step.action == Step::Action::finished);
    r.last = step;
    r.summary = exchange.summary();
    return r;
}

void assert_success(const Run& r) {
    ck_assert_msg(r.last.outcome == Outcome::success, "outcome %s: %s",
                  outcome_name(r.last.outcome), r.last.detail.c_str());
    ck_assert(r.last.state == AuthState::auth_succeed);
    ck_assert(r.last.content == Content::verified);
}

const std::vector<MessageKind> full_flow = {MessageKind::normal_request, MessageKind::req_kex_c1,
                                            MessageKind::req_vfy_c};

// ---- full flow -------------------------------------------------------------

START_TEST(full_flow_succeeds_for_every_algorithm) {
    const char* name = all_algorithms_names[_i];
    Server server(name);
    ClientContext context;
    const Run r = run(context, "http://example.com/private/page", server);
    assert_success(r);
    ck_assert(r.sent == full_flow);
    ck_assert_int_eq(r.credential_requests, 1);
    assert_string_eq(r.summary.algorithm, name);
    assert_string_eq(r.summary.user, "alice");
    assert_string_eq(r.summary.realm, "test realm");
    assert_string_eq(r.summary.sid, encode_hex_fixed(server.sid));
    ck_assert_uint_eq(r.summary.nc, 1);
    ck_assert(!r.summary.reused);
    ck_assert_uint_eq(r.summary.requests, 3);
    ck_assert_int_eq(server.kex_count, 1);
    ck_assert_int_eq(server.vfy_count, 1);
}
END_TEST

START_TEST(session_reuse_sends_one_request_with_increasing_nc) {
    Server server(p256);
    ClientContext context;
    assert_success(run(context, "http://example.com/private/a", server));
    for (std::uint64_t expected_nc = 2; expected_nc <= 4; ++expected_nc) {
        const Run r = run(context, "http://example.com/private/b", server);
        assert_success(r);
        ck_assert(r.sent == std::vector<MessageKind>{MessageKind::req_vfy_c});
        ck_assert_int_eq(r.credential_requests, 0);
        ck_assert(r.summary.reused);
        ck_assert_uint_eq(r.summary.nc, expected_nc);
    }
    ck_assert(server.nc_log == (std::vector<std::uint64_t>{1, 2, 3, 4}));
    ck_assert_int_eq(server.kex_count, 1);
    ck_assert_uint_eq(context.pi_derivations(), 1);
    ck_assert_uint_eq(context.session_count(), 1);
}
END_TEST

START_TEST(stale_session_rekeys_without_asking_again) {
    Server server(p256);
    ClientContext context;
    assert_success(run(context, "http://example.com/private/a", server));
    server.have_session = false;  // the server forgot the session
    const Run r = run(context, "http://example.com/private/b", server);
    assert_success(r);
    ck_assert(r.sent == (std::vector<MessageKind>{MessageKind::req_vfy_c, MessageKind::req_kex_c1,
                                                  MessageKind::req_vfy_c}));
    ck_assert_int_eq(r.credential_requests, 0);
    ck_assert_int_eq(server.kex_count, 2);
    ck_assert_uint_eq(context.pi_derivations(), 1);  // pi cached, not derived again
    ck_assert_uint_eq(r.summary.nc, 1);
}
END_TEST

START_TEST(kex_s1_without_nonce_numbers_is_a_protocol_error) {
    Server server(p256);
    server.nc_max = 0;
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::protocol_error);
    ck_assert(r.last.detail.find("nc-max") != std::string::npos);
    ck_assert_int_eq(server.vfy_count, 0);
}
END_TEST

START_TEST(second_stale_in_one_sequence_is_a_protocol_error) {
    Server server(p256);
    ClientContext context;
    assert_success(run(context, "http://example.com/private/a", server));
    server.always_stale = true;
    const Run r = run(context, "http://example.com/private/b", server);
    ck_assert(r.sent == (std::vector<MessageKind>{MessageKind::req_vfy_c, MessageKind::req_kex_c1,
                                                  MessageKind::req_vfy_c}));
    ck_assert(r.last.outcome == Outcome::protocol_error);
    ck_assert(r.last.content == Content::withheld);
    ck_assert_int_eq(server.kex_count, 2);  // no loop of key exchanges
}
END_TEST

START_TEST(expired_session_starts_with_kex_first) {
    std::int64_t now = 1000;
    ClientOptions options;
    options.clock = [&now]() { return now; };
    Server server(p256);
    server.time = 60;
    ClientContext context(options);
    assert_success(run(context, "http://example.com/private/a", server));
    now += 61;
    const Run r = run(context, "http://example.com/private/b", server);
    assert_success(r);
    ck_assert(r.sent == (std::vector<MessageKind>{MessageKind::req_kex_c1, MessageKind::req_vfy_c}));
    ck_assert_int_eq(r.credential_requests, 0);
    ck_assert_int_eq(server.normal_count, 1);
}
END_TEST

START_TEST(nc_max_exhaustion_starts_a_new_key_exchange) {
    Server server(p256);
    server.nc_max = 2;
    ClientContext context;
    assert_success(run(context, "http://example.com/private/a", server));
    const Run second = run(context, "http://example.com/private/a", server);
    assert_success(second);
    ck_assert(second.sent == std::vector<MessageKind>{MessageKind::req_vfy_c});
    const Run third = run(context, "http://example.com/private/a", server);
    assert_success(third);
    ck_assert(third.sent ==
              (std::vector<MessageKind>{MessageKind::req_kex_c1, MessageKind::req_vfy_c}));
    ck_assert(server.nc_log == (std::vector<std::uint64_t>{1, 2, 1}));
}
END_TEST

START_TEST(reuse_disabled_and_kex_first_disabled_send_normal_requests) {
    ClientOptions options;
    options.reuse_sessions = false;
    options.kex_first = false;
    Server server(p256);
    ClientContext context(options);
    assert_success(run(context, "http://example.com/private/a", server));
    const Run r = run(context, "http://example.com/private/a", server);
    assert_success(r);
    ck_assert(r.sent == (std::vector<MessageKind>{MessageKind::normal_request,
                                                  MessageKind::req_kex_c1,
                                                  MessageKind::req_vfy_c}));
    ck_assert_int_eq(r.credential_requests, 0);
}
END_TEST

// ---- server authentication (§10, §17.5) -----------------------------------

START_TEST(wrong_vks_is_refused_and_content_withheld) {
    Server server(p256);
    server.wrong_vks = true;
    ClientContext context;
    const Run r = run(context, "http://example.com/private/a", server);
    ck_assert(r.last.outcome == Outcome::server_not_authenticated);
    ck_assert(r.last.state != AuthState::auth_succeed);
    ck_assert(r.last.content == Content::withheld);
    ck_assert_uint_eq(context.session_count(), 0);  // the session is not trusted again
}
END_TEST

START_TEST(missing_authentication_info_after_vfy_is_refused) {
    Server server(p256);
    server.omit_auth_info = true;
    ClientContext context;
    const Run r = run(context, "http://example.com/private/a", server);
    ck_assert(r.last.outcome == Outcome::server_not_authenticated);
    ck_assert(r.last.content == Content::withheld);
}
END_TEST

START_TEST(wrong_vks_on_reused_session_is_refused) {
    Server server(p256);
    ClientContext context;
    assert_success(run(context, "http://example.com/private/a", server));
    server.wrong_vks = true;
    const Run r = run(context, "http://example.com/private/a", server);
    ck_assert(r.sent == std::vector<MessageKind>{MessageKind::req_vfy_c});
    ck_assert(r.last.outcome == Outcome::server_not_authenticated);
    ck_assert(r.last.content == Content::withheld);
}
END_TEST

START_TEST(authentication_info_for_another_sid_is_refused) {
    Server server(p256);
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    s = exchange.receive(server.respond(s.authorization));
    s = exchange.supply_credentials("alice", "password123");
    s = exchange.receive(server.respond(s.authorization));
    ck_assert(s.message == MessageKind::req_vfy_c);
    Response r = server.respond(s.authorization);
    server.sid[0] ^= 0xff;
    for (auto& h : r.headers)
        if (h.first == "Authentication-Info")
            h.second = serialize_auth_info(
                MutualAuthInfo{server.sid, server.a->encode_vk(compute_vk_s(
                                               *server.a, server.k_c1, server.k_s1, server.z, 1,
                                               server.vh))},
                false);
    s = exchange.receive(r);
    ck_assert(s.outcome == Outcome::server_not_authenticated);
    ck_assert(s.content == Content::withheld);
}
END_TEST

START_TEST(normal_response_after_key_exchange_is_refused) {
    Server server(p256);
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    s = exchange.receive(server.respond(s.authorization));
    ck_assert(s.action == Step::Action::need_credentials);
    s = exchange.supply_credentials("alice", "password123");
    ck_assert(s.message == MessageKind::req_kex_c1);
    s = exchange.receive(server.response(200));
    ck_assert(s.action == Step::Action::finished);
    ck_assert(s.outcome == Outcome::protocol_error);
    ck_assert(s.content == Content::withheld);
}
END_TEST

START_TEST(authentication_info_on_a_normal_request_is_not_success) {
    Server server(p256);
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    Response r = server.response(200);
    r.headers.emplace_back("Authentication-Info",
                           "version=1, sid=0011, vks=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"");
    s = exchange.receive(r);
    ck_assert(s.state == AuthState::unauthenticated);
    ck_assert(s.outcome == Outcome::not_protected);
    ck_assert(s.content != Content::verified);
}
END_TEST

// ---- failures reported by the server ------------------------------------

START_TEST(wrong_password_ends_auth_required_and_forgets_credentials) {
    Server server(p256);
    ClientContext context;
    const Run r = run(context, "http://example.com/private/a", server, "alice", "wrong password");
    ck_assert(r.last.state == AuthState::auth_required);
    ck_assert(r.last.outcome == Outcome::credentials_rejected);
    ck_assert(r.last.detail.find("auth-failed") != std::string::npos);
    ck_assert(!context.has_credentials("example.com", "test realm"));
    ck_assert_uint_eq(context.session_count(), 0);
    // Next time the user is asked again (Step 13 -> Step 12).
    const Run again = run(context, "http://example.com/private/a", server);
    assert_success(again);
    ck_assert_int_eq(again.credential_requests, 1);
}
END_TEST

START_TEST(unknown_user_rejected_at_key_exchange) {
    Server server(p256);
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server, "mallory", "password123");
    ck_assert(r.sent == (std::vector<MessageKind>{MessageKind::normal_request,
                                                  MessageKind::req_kex_c1}));
    ck_assert(r.last.outcome == Outcome::credentials_rejected);
    ck_assert(r.last.state == AuthState::auth_required);
}
END_TEST

START_TEST(authz_failed_is_reported_as_authorization_failure) {
    Server server(p256);
    server.authz_fail = true;
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::authorization_failed);
    ck_assert(r.last.state == AuthState::auth_required);
}
END_TEST

START_TEST(declined_credentials_end_auth_required) {
    Server server(p256);
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server, nullptr);
    ck_assert(r.last.state == AuthState::auth_required);
    ck_assert(r.last.outcome == Outcome::credentials_required);
    ck_assert_int_eq(server.kex_count, 0);
}
END_TEST

START_TEST(unpreparable_user_name_is_refused_before_sending) {
    Server server(p256);
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server, "bad\x01user");
    ck_assert(r.last.outcome == Outcome::invalid_credentials);
    ck_assert_int_eq(server.kex_count, 0);
}
END_TEST

// ---- challenge selection and validation ----------------------------------

START_TEST(multiple_challenges_choose_the_supported_one) {
    Server server(p256);
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    Response init = server.response(401);
    init.headers.emplace_back(
        "WWW-Authenticate",
        "Basic realm=\"basic\", Mutual version=1, algorithm=x-unknown-algorithm, validation=host, "
        "auth-scope=\"example.com\", realm=\"test realm\", reason=initial, " +
            server.init_header());
    s = exchange.receive(init);
    ck_assert(s.action == Step::Action::need_credentials);
    assert_string_eq(s.realm.id.algorithm, p256);
    s = exchange.supply_credentials("alice", "password123");
    s = exchange.receive(server.respond(s.authorization));
    s = exchange.receive(server.respond(s.authorization));
    ck_assert(s.outcome == Outcome::success);
}
END_TEST

START_TEST(algorithm_preference_picks_among_offered_challenges) {
    Server server(p256);
    Server other(p521);
    ClientOptions options;
    options.algorithms = {p256, p521};
    ClientContext context(options);
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    Response init = server.response(401);
    init.headers.emplace_back("WWW-Authenticate", other.init_header());   // p521 first
    init.headers.emplace_back("WWW-Authenticate", server.init_header());  // p256 second
    s = exchange.receive(init);
    ck_assert(s.action == Step::Action::need_credentials);
    assert_string_eq(s.realm.id.algorithm, p256);
    // Without a preference the server's order decides.
    ClientContext plain;
    Exchange first(plain, *t);
    s = first.begin();
    s = first.receive(init);
    assert_string_eq(s.realm.id.algorithm, p521);
}
END_TEST

START_TEST(excluded_algorithm_only_is_unsupported) {
    Server server(p521);
    ClientOptions options;
    options.algorithms = {p256};
    ClientContext context(options);
    const Run r = run(context, "http://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::unsupported);
    ck_assert(r.last.detail.find("not allowed") != std::string::npos);
}
END_TEST

START_TEST(unknown_algorithm_only_is_an_error) {
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    Response init;
    init.status = 401;
    init.headers.emplace_back("WWW-Authenticate",
                              "Mutual version=1, algorithm=iso-kam3-dl-1024-md5, validation=host, "
                              "realm=\"r\", reason=initial");
    s = exchange.receive(init);
    ck_assert(s.action == Step::Action::finished);
    ck_assert(s.outcome == Outcome::unsupported);
    ck_assert(s.state == AuthState::auth_required);
    ck_assert(s.detail.find("iso-kam3-dl-1024-md5") != std::string::npos);
}
END_TEST

START_TEST(version_2_is_a_protocol_error) {
    Server server(p256);
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    std::string header = server.init_header();
    header.replace(header.find("version=1"), 9, "version=2");
    Response init = server.response(401);
    init.headers.emplace_back("WWW-Authenticate", header);
    s = exchange.receive(init);
    ck_assert(s.action == Step::Action::finished);
    ck_assert(s.outcome == Outcome::protocol_error);
    ck_assert(s.detail.find("bad_version") != std::string::npos ||
              s.detail.find("version") != std::string::npos);
}
END_TEST

START_TEST(invalid_ks1_point_is_a_protocol_error) {
    Server server(p256);
    server.ks1_fault = Ks1Fault::not_on_curve;
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::protocol_error);
    ck_assert(r.last.content == Content::withheld);
    ck_assert(r.last.detail.find("ks1") != std::string::npos);
    ck_assert_int_eq(server.vfy_count, 0);
}
END_TEST

START_TEST(out_of_range_dl_ks1_is_a_protocol_error) {
    Server server(dl2048);
    server.ks1_fault = Ks1Fault::zero;
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::protocol_error);
    ck_assert_int_eq(server.vfy_count, 0);
}
END_TEST

START_TEST(validation_must_match_the_scheme) {
    Server server(p256, "test realm", std::string("example.com"), "tls-server-end-point");
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::unsupported);
    ck_assert(r.last.detail.find("validation") != std::string::npos);
    ck_assert_int_eq(server.kex_count, 0);
}
END_TEST

START_TEST(auth_scope_must_include_the_host) {
    Server server(p256, "test realm", std::string("bank.example.org"));
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::unsupported);
    ck_assert(r.last.detail.find("auth-scope") != std::string::npos);
    ck_assert_int_eq(server.kex_count, 0);
}
END_TEST

START_TEST(absent_auth_scope_means_the_host) {
    Server server(p256, "test realm", std::nullopt);  // server's pi uses "example.com"
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    assert_success(r);
    assert_string_eq(r.summary.scope, "example.com");
}
END_TEST

START_TEST(wildcard_scope_is_honoured) {
    Server server(p256, "test realm", std::string("*.example.com"));
    server.vh = "http://www.example.com:80";
    server.set_password("password123");
    ClientContext context;
    assert_success(run(context, "http://www.example.com/a", server));
}
END_TEST

// ---- normal responses and optional authentication ------------------------

START_TEST(unprotected_resource_is_unauthenticated) {
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/public");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    ck_assert(s.action == Step::Action::send_request && s.authorization.empty());
    Response ok;
    ok.status = 200;
    s = exchange.receive(ok);
    ck_assert(s.state == AuthState::unauthenticated);
    ck_assert(s.outcome == Outcome::not_protected);
    ck_assert(s.content == Content::unauthenticated);
}
END_TEST

START_TEST(other_scheme_only_is_not_protected_by_mutual) {
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/basic");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    Response r;
    r.status = 401;
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"x\"");
    s = exchange.receive(r);
    ck_assert(s.outcome == Outcome::not_protected);
    ck_assert(s.detail.find("Basic") != std::string::npos);
}
END_TEST

START_TEST(optional_authentication_is_used_when_credentials_are_given) {
    Server server(p256);
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/opt");
    {
        Exchange exchange(context, *t);
        Step s = exchange.begin();
        Response r = server.response(200);
        r.headers.emplace_back("Optional-WWW-Authenticate", server.init_header());
        s = exchange.receive(r);
        ck_assert(s.action == Step::Action::need_credentials);
        s = exchange.decline_credentials();
        ck_assert(s.state == AuthState::unauthenticated);
        ck_assert(s.content == Content::unauthenticated);
    }
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    Response r = server.response(200);
    r.headers.emplace_back("Optional-WWW-Authenticate", server.init_header());
    s = exchange.receive(r);
    s = exchange.supply_credentials("alice", "password123");
    ck_assert(s.message == MessageKind::req_kex_c1);
    s = exchange.receive(server.respond(s.authorization));
    s = exchange.receive(server.respond(s.authorization));
    ck_assert(s.outcome == Outcome::success);
}
END_TEST

START_TEST(server_error_without_vks_is_unauthenticated) {
    Server server(p256);
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    s = exchange.receive(server.respond(s.authorization));
    s = exchange.supply_credentials("alice", "password123");
    s = exchange.receive(server.respond(s.authorization));
    ck_assert(s.message == MessageKind::req_vfy_c);
    s = exchange.receive(server.response(503));
    ck_assert(s.state == AuthState::unauthenticated);
    ck_assert(s.outcome == Outcome::server_error);
    ck_assert(s.content != Content::verified);
}
END_TEST

// ---- path and realm knowledge ---------------------------------------------

START_TEST(path_parameter_decides_which_requests_carry_credentials) {
    Server server(p256);
    server.path = "/private/ http://example.com/also/ http://elsewhere.org/x/";
    ClientContext context;
    assert_success(run(context, "http://example.com/private/a", server));
    auto first_message = [&context](const char* url) {
        std::optional<Target> t = parse_target(url);
        Exchange exchange(context, *t);
        return exchange.begin().message;
    };
    ck_assert(first_message("http://example.com/private/deeper/b") == MessageKind::req_vfy_c);
    ck_assert(first_message("http://example.com/also/c") == MessageKind::req_vfy_c);
    ck_assert(first_message("http://example.com/public/d") == MessageKind::normal_request);
    ck_assert(first_message("http://elsewhere.org/x/e") == MessageKind::normal_request);
    ck_assert(first_message("http://example.com:8080/private/f") == MessageKind::normal_request);
}
END_TEST

START_TEST(without_path_the_directory_is_assumed) {
    Server server(p256);
    ClientContext context;
    assert_success(run(context, "http://example.com/dir/a", server));
    auto first_message = [&context](const char* url) {
        std::optional<Target> t = parse_target(url);
        Exchange exchange(context, *t);
        return exchange.begin().message;
    };
    ck_assert(first_message("http://example.com/dir/b") == MessageKind::req_vfy_c);
    ck_assert(first_message("http://example.com/other/b") == MessageKind::normal_request);
}
END_TEST

START_TEST(init_for_a_different_realm_on_first_request_switches_realm) {
    Server one(p256, "realm one");
    Server two(p256, "realm two");
    ClientContext context;
    assert_success(run(context, "http://example.com/dir/a", one));
    // /dir/b is assumed in realm one, but belongs to realm two.
    std::optional<Target> t = parse_target("http://example.com/dir/b");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    ck_assert(s.message == MessageKind::req_vfy_c);
    s = exchange.receive(two.init());
    ck_assert(s.action == Step::Action::need_credentials);
    assert_string_eq(s.realm.id.realm, "realm two");
    s = exchange.supply_credentials("alice", "password123");
    s = exchange.receive(two.respond(s.authorization));
    s = exchange.receive(two.respond(s.authorization));
    ck_assert(s.outcome == Outcome::success);
    assert_string_eq(exchange.summary().realm, "realm two");
}
END_TEST

START_TEST(init_for_a_different_realm_mid_sequence_is_refused) {
    Server one(p256, "realm one");
    Server two(p256, "realm two");
    ClientContext context;
    std::optional<Target> t = parse_target("http://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    s = exchange.receive(one.respond(s.authorization));
    s = exchange.supply_credentials("alice", "password123");
    s = exchange.receive(two.init());
    ck_assert(s.action == Step::Action::finished);
    ck_assert(s.outcome == Outcome::protocol_error);
}
END_TEST

// ---- TLS ------------------------------------------------------------------

START_TEST(tls_server_end_point_binds_the_exchange_to_the_certificate) {
    Server server(p256, "test realm", std::string("example.com"), "tls-server-end-point");
    Bytes hash(32, 0x5a);
    server.use_tls(hash);
    ClientContext context;
    assert_success(run(context, "https://example.com/a", server));
    assert_success(run(context, "https://example.com/a", server));
    // Another certificate on the next connection (a man in the middle that
    // relays to the real server): the vks no longer matches.
    server.certificate_hash = Bytes(32, 0xa5);
    const Run r = run(context, "https://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::server_not_authenticated);
    ck_assert(r.last.content == Content::withheld);
}
END_TEST

START_TEST(host_validation_on_https_is_refused) {
    Server server(p256);
    server.use_tls(Bytes(32, 1));
    ClientContext context;
    const Run r = run(context, "https://example.com/a", server);
    ck_assert(r.last.outcome == Outcome::unsupported);
}
END_TEST

// ---- KAT: the client's messages are the canonical ones -------------------

START_TEST(kat_key_exchange_messages_and_pi_match) {
    const json& v = kat_vectors()[_i];
    const json& in = v["inputs"];
    const std::string algorithm = v["algorithm"];
    Server server(algorithm.c_str(), in["realm"].get<std::string>(),
                  in["auth_scope"].get<std::string>());
    server.user = in["user"].get<std::string>();
    server.vh = in["vh"].get<std::string>();
    server.j = from_hex(v["derived"]["J"].get<std::string>());
    std::optional<Target> t = parse_target(server.vh + "/index.html");
    ck_assert(t.has_value());
    ClientContext context;
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    Response init = server.response(401);
    init.headers.emplace_back("WWW-Authenticate",
                              v["headers"]["401-INIT WWW-Authenticate"].get<std::string>());
    s = exchange.receive(init);
    ck_assert(s.action == Step::Action::need_credentials);
    s = exchange.supply_credentials(server.user, in["password"].get<std::string>());
    ck_assert(s.message == MessageKind::req_kex_c1);
    const std::string kat_kex = v["headers"]["req-KEX-C1 Authorization"];
    const std::string prefix = kat_kex.substr(0, kat_kex.find("kc1=") + 4);
    assert_string_eq(s.authorization.substr(0, prefix.size()), prefix);
    // With the KAT's J on the server side, success proves the client's pi.
    s = exchange.receive(server.respond(s.authorization));
    ck_assert(s.message == MessageKind::req_vfy_c);
    s = exchange.receive(server.respond(s.authorization));
    ck_assert_msg(s.outcome == Outcome::success, "%s", s.detail.c_str());
}
END_TEST

// ---- the driver never releases unverified content -----------------------

struct ScriptedTransport : Transport {
    Server& server;
    std::string body;
    int calls = 0;
    ScriptedTransport(Server& s, std::string b) : server(s), body(std::move(b)) {}
    bool perform(const HttpRequest&, const std::string& authorization, HttpResult& out,
                 std::string*) override {
        ++calls;
        out = HttpResult{};
        out.response = server.respond(authorization);
        out.body = body;
        return true;
    }
};

CredentialProvider alice() {
    return [](const RealmInfo&, std::string& user, SecretString& password) {
        user = "alice";
        password = "password123";
        return true;
    };
}

START_TEST(driver_releases_verified_content) {
    Server server(p256);
    ScriptedTransport transport(server, "the protected page");
    MutualClient client(ClientOptions{}, transport);
    client.set_credential_provider(alice());
    std::vector<std::string> messages;
    client.set_observer([&messages](const ExchangeEvent& e) { messages.push_back(e.message); });
    HttpRequest request;
    request.url = "http://example.com/private/a";
    const FetchResult r = client.fetch(request);
    ck_assert(r.outcome == Outcome::success);
    ck_assert(r.released);
    assert_string_eq(r.body, "the protected page");
    ck_assert_int_eq(r.status, 200);
    ck_assert(!r.headers.empty());
    ck_assert(messages == (std::vector<std::string>{"normal request", "401-INIT", "req-KEX-C1",
                                                     "401-KEX-S1", "req-VFY-C", "200-VFY-S"}));
    const FetchResult again = client.fetch(request);
    ck_assert(again.outcome == Outcome::success);
    ck_assert_int_eq(transport.calls, 4);
}
END_TEST

START_TEST(driver_withholds_content_of_a_wrong_vks) {
    Server server(p256);
    server.wrong_vks = true;
    ScriptedTransport transport(server, "phishing page");
    MutualClient client(ClientOptions{}, transport);
    client.set_credential_provider(alice());
    client.set_release_unauthenticated(true);  // even then
    HttpRequest request;
    request.url = "http://example.com/private/a";
    const FetchResult r = client.fetch(request);
    ck_assert(r.outcome == Outcome::server_not_authenticated);
    ck_assert(!r.released);
    ck_assert(r.body.empty());
    ck_assert(r.headers.empty());
}
END_TEST

START_TEST(driver_withholds_content_without_authentication_info) {
    Server server(p256);
    server.omit_auth_info = true;
    ScriptedTransport transport(server, "phishing page");
    MutualClient client(ClientOptions{}, transport);
    client.set_credential_provider(alice());
    client.set_release_unauthenticated(true);
    HttpRequest request;
    request.url = "http://example.com/private/a";
    const FetchResult r = client.fetch(request);
    ck_assert(r.outcome == Outcome::server_not_authenticated);
    ck_assert(!r.released);
    ck_assert(r.body.empty());
}
END_TEST

START_TEST(driver_releases_unauthenticated_content_only_on_request) {
    Server server(p256);
    ScriptedTransport transport(server, "401 page");
    MutualClient client(ClientOptions{}, transport);  // no credentials
    HttpRequest request;
    request.url = "http://example.com/private/a";
    FetchResult r = client.fetch(request);
    ck_assert(r.outcome == Outcome::credentials_required);
    ck_assert(!r.released && r.body.empty());
    client.set_release_unauthenticated(true);
    r = client.fetch(request);
    ck_assert(r.released);
    assert_string_eq(r.body, "401 page");
}
END_TEST

// ---- targets, scopes, channel binding -------------------------------------

START_TEST(targets_fill_in_default_ports_and_lower_case) {
    std::optional<Target> t = parse_target("HTTP://Example.COM/A/b?q=1");
    ck_assert(t.has_value());
    assert_string_eq(t->scheme, "http");
    assert_string_eq(t->host, "example.com");
    ck_assert_uint_eq(t->port, 80);
    assert_string_eq(t->path, "/A/b");
    assert_string_eq(t->origin(), "http://example.com:80");
    assert_string_eq(t->single_server_scope(), "http://example.com");
    t = parse_target("https://example.com:8443");
    assert_string_eq(t->origin(), "https://example.com:8443");
    assert_string_eq(t->single_server_scope(), "https://example.com:8443");
    assert_string_eq(t->path, "/");
    t = parse_target("localhost:8080/x");  // no scheme: http, like curl
    ck_assert(t.has_value());
    assert_string_eq(t->origin(), "http://localhost:8080");
    t = parse_target("http://[::1]:81/");
    assert_string_eq(t->origin(), "http://[::1]:81");
    ck_assert(!parse_target("ftp://example.com/").has_value());
    ck_assert(!parse_target("http://").has_value());
}
END_TEST

START_TEST(scopes_follow_section_5) {
    const Target t = *parse_target("http://www.example.com/");
    ck_assert(scope_covers("www.example.com", t));
    ck_assert(!scope_covers("example.com", t));
    ck_assert(scope_covers("http://www.example.com", t));
    ck_assert(!scope_covers("http://www.example.com:80", t));  // default port must be omitted
    ck_assert(!scope_covers("https://www.example.com", t));
    ck_assert(scope_covers("*.example.com", t));
    ck_assert(scope_covers("*.www.example.com", t));
    ck_assert(!scope_covers("*.ample.com", t));
    ck_assert(!scope_covers("*.com", t));  // public suffix
    ck_assert(!scope_covers("", t));
    const Target bare = *parse_target("http://example.com/");
    ck_assert(scope_covers("*.example.com", bare));
    assert_string_eq(path_directory("/a/b/c"), "/a/b/");
    assert_string_eq(path_directory("/"), "/");
}
END_TEST

Bytes digest(const EVP_MD* md, const Bytes& data) {
    Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md)));
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr), 1);
    return out;
}

Bytes self_signed_der(const EVP_MD* md) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    ck_assert_ptr_nonnull(key.get());
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    ck_assert_int_gt(X509_sign(cert.get(), key.get(), md), 0);
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert.get(), &der);
    ck_assert_int_gt(n, 0);
    Bytes out(der, der + n);
    OPENSSL_free(der);
    return out;
}

START_TEST(tls_server_end_point_follows_rfc5929) {
    const Bytes sha384_signed = self_signed_der(EVP_sha384());
    ck_assert(tls_server_end_point_der(sha384_signed) == digest(EVP_sha384(), sha384_signed));
    const Bytes sha1_signed = self_signed_der(EVP_sha1());
    ck_assert(tls_server_end_point_der(sha1_signed) == digest(EVP_sha256(), sha1_signed));
    const Bytes sha256_signed = self_signed_der(EVP_sha256());
    ck_assert(tls_server_end_point_der(sha256_signed) == digest(EVP_sha256(), sha256_signed));
    ck_assert(tls_server_end_point_der(Bytes{1, 2, 3}).empty());
}
END_TEST

START_TEST(names_are_stable) {
    assert_string_eq(auth_state_name(AuthState::auth_succeed), "AUTH-SUCCEED");
    assert_string_eq(auth_state_name(AuthState::auth_required), "AUTH-REQUIRED");
    assert_string_eq(auth_state_name(AuthState::unauthenticated), "UNAUTHENTICATED");
    assert_string_eq(message_kind_name(MessageKind::req_kex_c1), "req-KEX-C1");
    assert_string_eq(outcome_name(Outcome::server_not_authenticated), "server-not-authenticated");
}
END_TEST

}  // namespace

int main() {
    if (!load_kat()) {
        std::fprintf(stderr, "cannot read the KAT file (set MUTUAL_KAT)\n");
        return 1;
    }
    Suite* s = suite_create("client");
    TCase* flow = tcase_create("flow");
    tcase_set_timeout(flow, 300);
    tcase_add_loop_test(flow, full_flow_succeeds_for_every_algorithm, 0, 4);
    tcase_add_test(flow, session_reuse_sends_one_request_with_increasing_nc);
    tcase_add_test(flow, stale_session_rekeys_without_asking_again);
    tcase_add_test(flow, second_stale_in_one_sequence_is_a_protocol_error);
    tcase_add_test(flow, kex_s1_without_nonce_numbers_is_a_protocol_error);
    tcase_add_test(flow, expired_session_starts_with_kex_first);
    tcase_add_test(flow, nc_max_exhaustion_starts_a_new_key_exchange);
    tcase_add_test(flow, reuse_disabled_and_kex_first_disabled_send_normal_requests);
    suite_add_tcase(s, flow);

    TCase* server_auth = tcase_create("server-authentication");
    tcase_set_timeout(server_auth, 120);
    tcase_add_test(server_auth, wrong_vks_is_refused_and_content_withheld);
    tcase_add_test(server_auth, missing_authentication_info_after_vfy_is_refused);
    tcase_add_test(server_auth, wrong_vks_on_reused_session_is_refused);
    tcase_add_test(server_auth, authentication_info_for_another_sid_is_refused);
    tcase_add_test(server_auth, normal_response_after_key_exchange_is_refused);
    tcase_add_test(server_auth, authentication_info_on_a_normal_request_is_not_success);
    tcase_add_test(server_auth, driver_releases_verified_content);
    tcase_add_test(server_auth, driver_withholds_content_of_a_wrong_vks);
    tcase_add_test(server_auth, driver_withholds_content_without_authentication_info);
    tcase_add_test(server_auth, driver_releases_unauthenticated_content_only_on_request);
    suite_add_tcase(s, server_auth);

    TCase* failures = tcase_create("failures");
    tcase_set_timeout(failures, 120);
    tcase_add_test(failures, wrong_password_ends_auth_required_and_forgets_credentials);
    tcase_add_test(failures, unknown_user_rejected_at_key_exchange);
    tcase_add_test(failures, authz_failed_is_reported_as_authorization_failure);
    tcase_add_test(failures, declined_credentials_end_auth_required);
    tcase_add_test(failures, unpreparable_user_name_is_refused_before_sending);
    tcase_add_test(failures, server_error_without_vks_is_unauthenticated);
    suite_add_tcase(s, failures);

    TCase* selection = tcase_create("selection");
    tcase_set_timeout(selection, 120);
    tcase_add_test(selection, multiple_challenges_choose_the_supported_one);
    tcase_add_test(selection, algorithm_preference_picks_among_offered_challenges);
    tcase_add_test(selection, excluded_algorithm_only_is_unsupported);
    tcase_add_test(selection, unknown_algorithm_only_is_an_error);
    tcase_add_test(selection, version_2_is_a_protocol_error);
    tcase_add_test(selection, invalid_ks1_point_is_a_protocol_error);
    tcase_add_test(selection, out_of_range_dl_ks1_is_a_protocol_error);
    tcase_add_test(selection, validation_must_match_the_scheme);
    tcase_add_test(selection, auth_scope_must_include_the_host);
    tcase_add_test(selection, absent_auth_scope_means_the_host);
    tcase_add_test(selection, wildcard_scope_is_honoured);
    tcase_add_test(selection, unprotected_resource_is_unauthenticated);
    tcase_add_test(selection, other_scheme_only_is_not_protected_by_mutual);
    tcase_add_test(selection, optional_authentication_is_used_when_credentials_are_given);
    tcase_add_test(selection, path_parameter_decides_which_requests_carry_credentials);
    tcase_add_test(selection, without_path_the_directory_is_assumed);
    tcase_add_test(selection, init_for_a_different_realm_on_first_request_switches_realm);
    tcase_add_test(selection, init_for_a_different_realm_mid_sequence_is_refused);
    tcase_add_test(selection, tls_server_end_point_binds_the_exchange_to_the_certificate);
    tcase_add_test(selection, host_validation_on_https_is_refused);
    suite_add_tcase(s, selection);

    TCase* kat = tcase_create("kat");
    tcase_set_timeout(kat, 300);
    tcase_add_loop_test(kat, kat_key_exchange_messages_and_pi_match, 0, 12);
    suite_add_tcase(s, kat);

    TCase* parts = tcase_create("parts");
    tcase_add_test(parts, targets_fill_in_default_ports_and_lower_case);
    tcase_add_test(parts, scopes_follow_section_5);
    tcase_add_test(parts, tls_server_end_point_follows_rfc5929);
    tcase_add_test(parts, names_are_stable);
    suite_add_tcase(s, parts);

    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

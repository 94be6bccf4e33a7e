// Check suite: the client decision procedure of RFC 8120 §10 (client_session.h)
// against a server scripted with the core algorithm API, the driver's refusal
// to release unverified content (mutual_client.h) and target/scope rules (§5,
// §7). The tls-server-end-point hash has its own suite.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "test_support.h"  // before check.h (its fail() macro)

// check.h defines a fail() macro: include it after the C++ library headers.
#include <check.h>

#include "algorithm.h"
#include "client/client_session.h"
#include "client/mutual_client.h"
#include "client/target.h"
#include "encoding.h"
#include "header.h"
#include "protocol_defaults.h"

using namespace mutual;
using namespace mutual::client;
using namespace mutual::test;

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
    // The auth-scope the server salts pi with when it omits the parameter:
    // single-server (§4.1).
    std::string omitted_scope = "http://example.com";
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
    int accepted = 0;  // req-VFY-C the server verified (the request "ran")
    std::string control;  // an Authentication-Control value on every response (RFC 8053)

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
        const Secret pi = compute_pi(*a, password, id.auth_scope.value_or(omitted_scope), id.realm,
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
        if (!control.empty()) r.headers.emplace_back("Authentication-Control", control);
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
        assert_text_eq(c.id.algorithm, id.algorithm);
        assert_text_eq(c.id.realm, id.realm);
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
        ++accepted;
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
    int refused_bindings = 0;
    AuthenticationControl control;
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
            std::string authorization = step.authorization;
            if (step.bind_to_connection) {
                // The connection's certificate is the one the server shows now.
                std::optional<std::string> bound = exchange.bind(server.certificate_hash);
                if (!bound) {
                    ++r.refused_bindings;
                    step = exchange.connection_changed();
                    continue;
                }
                authorization = *bound;
            }
            r.sent.push_back(step.message);
            step = exchange.receive(server.respond(authorization));
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
    r.control = exchange.control();
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
    assert_text_eq(r.summary.algorithm, name);
    assert_text_eq(r.summary.user, "alice");
    assert_text_eq(r.summary.realm, "test realm");
    assert_text_eq(r.summary.sid, encode_hex_fixed(server.sid));
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

// ClientOptions::derive_pi replaces PBKDF2 (the benchmark's new clients
// share one pi): it gets the prepared inputs, and its pi is the one used.
START_TEST(derive_pi_hook_supplies_pi) {
    Server server(p256);
    ClientOptions options;
    int calls = 0;
    options.derive_pi = [&calls](const Algorithm& a, std::string_view password, std::string_view scope,
                                 std::string_view realm, std::string_view user) {
        ++calls;
        ck_assert(password == "password123" && user == "alice" && realm == "test realm");
        return compute_pi(a, password, scope, realm, user);
    };
    ClientContext context(options);
    assert_success(run(context, "http://example.com/private/a", server));
    ck_assert_int_eq(calls, 1);
    ck_assert_uint_eq(context.pi_derivations(), 1);

    // A hook answering another pi: the server rejects the client's vkc.
    ClientOptions wrong;
    wrong.derive_pi = [](const Algorithm& a, std::string_view, std::string_view scope,
                         std::string_view realm, std::string_view user) {
        return compute_pi(a, "another password", scope, realm, user);
    };
    Server other(p256);
    ClientContext refused(wrong);
    const Run r = run(refused, "http://example.com/private/a", other);
    ck_assert(r.last.outcome != Outcome::success);
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
    ck_assert(!r.summary.reused);  // a brand-new session
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
    // §10.1: a 200-VFY-S only answers req-VFY-C: fatal, nothing released.
    ck_assert(s.state == AuthState::unauthenticated);
    ck_assert(s.outcome == Outcome::protocol_error);
    ck_assert(s.content == Content::withheld);
}
END_TEST

START_TEST(kex_s1_answering_a_normal_request_is_fatal) {
    Server server(p256);
    ClientContext context;
    assert_success(run(context, "http://example.com/private/a", server));
    Exchange exchange(context, *parse_target("http://example.com/elsewhere/a"));
    Step s = exchange.begin();
    ck_assert(s.message == MessageKind::normal_request);
    MutualChallenge s1;
    s1.kind = ResponseKind::kex_s1;
    s1.id = server.id;
    s1.sid = Bytes(16, 1);
    s1.ks1 = server.a->encode_key(server.k_s1);
    s1.nc_max = 10;
    s1.nc_window = 10;
    s1.time = 10;
    Response r = server.response(401);
    r.headers.emplace_back("WWW-Authenticate", serialize_challenge(s1, server.a->quoted_on_wire()));
    s = exchange.receive(r);
    ck_assert(s.outcome == Outcome::protocol_error);
    ck_assert(s.content == Content::withheld);
    ck_assert(context.has_credentials(p256, "example.com", "test realm"));
}
END_TEST

START_TEST(stale_answering_kex_c1_is_fatal_and_keeps_the_credentials) {
    Server server(p256);
    ClientContext context;
    Exchange exchange(context, *parse_target("http://example.com/a"));
    Step s = exchange.begin();
    s = exchange.receive(server.respond(s.authorization));
    s = exchange.supply_credentials("alice", "password123");
    ck_assert(s.message == MessageKind::req_kex_c1);
    s = exchange.receive(server.init("stale-session"));
    ck_assert(s.outcome == Outcome::protocol_error);
    ck_assert(s.content == Content::withheld);
    ck_assert(context.has_credentials(p256, "example.com", "test realm"));
}
END_TEST

START_TEST(driver_withholds_fatal_responses_even_when_unauthenticated_content_is_allowed) {
    // Authentication-Info on the response to a normal request: a body that
    // pretends to be authenticated is never released.
    struct Fake : Transport {
        bool perform(const HttpRequest&, const RequestCredentials&, HttpResult& out,
                     std::string*) override {
            out = HttpResult{};
            out.response.status = 200;
            out.response.headers.emplace_back("Content-Type", "text/html");
            out.response.headers.emplace_back(
                "Authentication-Info",
                "sid=0011, vks=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"");
            out.body = "forged";
            return true;
        }
    } transport;
    MutualClient client(ClientOptions{}, transport);
    client.set_release_unauthenticated(true);
    HttpRequest request;
    request.url = "http://example.com/a";
    const FetchResult r = client.fetch(request);
    ck_assert(r.outcome == Outcome::protocol_error);
    ck_assert(!r.released);
    ck_assert(r.body.empty() && r.headers.empty());
}
END_TEST

// ---- the realm is (algorithm, auth-scope, realm) (§5) ---------------------

START_TEST(stale_naming_another_algorithm_is_not_our_realm) {
    Server server(p256);
    Server other(p521);  // same realm name and scope, another algorithm
    ClientContext context;
    assert_success(run(context, "http://example.com/a", server));
    // A 401-STALE with another algorithm answering the first request (a
    // req-VFY-C): a new realm, so the credentials are asked for again instead
    // of a silent switch of algorithm.
    Exchange exchange(context, *parse_target("http://example.com/b"));
    Step s = exchange.begin();
    ck_assert(s.message == MessageKind::req_vfy_c);
    s = exchange.receive(other.init("stale-session"));
    ck_assert(s.action == Step::Action::need_credentials);
    assert_text_eq(s.realm.id.algorithm, p521);
    // In the middle of a sequence it is a protocol error.
    ClientContext fresh;
    Exchange mid(fresh, *parse_target("http://example.com/c"));
    s = mid.begin();
    s = mid.receive(server.respond(s.authorization));
    s = mid.supply_credentials("alice", "password123");
    s = mid.receive(server.respond(s.authorization));
    ck_assert(s.message == MessageKind::req_vfy_c);
    s = mid.receive(other.init("stale-session"));
    ck_assert(s.outcome == Outcome::protocol_error);
    ck_assert(s.content == Content::withheld);
    ck_assert(fresh.has_credentials(p256, "example.com", "test realm"));
    ck_assert(!fresh.has_credentials(p521, "example.com", "test realm"));
}
END_TEST

// ---- RFC 8053 Authentication-Control ------------------------------------

START_TEST(logout_timeout_zero_forgets_session_and_credentials) {
    Server server(p256);
    server.control = "Mutual realm=\"test realm\", logout-timeout=0";
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    assert_success(r);
    ck_assert(r.control.logout_timeout.has_value() && *r.control.logout_timeout == 0);
    ck_assert_uint_eq(context.session_count(), 0);
    ck_assert(!context.has_credentials(p256, "example.com", "test realm"));
    const Run again = run(context, "http://example.com/a", server);
    assert_success(again);
    ck_assert_int_eq(again.credential_requests, 1);  // asked again
    ck_assert(again.sent == full_flow);
}
END_TEST

START_TEST(logout_timeout_expires_session_and_credentials) {
    std::int64_t clock = 1000;
    ClientOptions options;
    options.clock = [&clock] { return clock; };
    Server server(p256);
    server.control = "Basic realm=\"test realm\", logout-timeout=0, "
                     "Mutual realm=\"other\", logout-timeout=0, "
                     "Mutual realm=\"test realm\", logout-timeout=\"60\"";  // quoted too
    ClientContext context(options);
    assert_success(run(context, "http://example.com/a", server));
    clock += 59;
    const Run reused = run(context, "http://example.com/a", server);
    assert_success(reused);
    ck_assert(reused.summary.reused);  // the other entries were ignored
    ck_assert(*reused.control.logout_timeout == 60);
    clock += 61;  // 60 s after the last verified response
    ck_assert(!context.has_credentials(p256, "example.com", "test realm"));
    const Run after = run(context, "http://example.com/a", server);
    assert_success(after);
    ck_assert_int_eq(after.credential_requests, 1);
}
END_TEST

START_TEST(logout_timeout_on_an_unverified_response_is_ignored) {
    Server server(p256, "test realm");
    server.control = "Mutual realm=\"test realm\", logout-timeout=0, username=\"admin\", "
                     "location-when-unauthenticated=\"http://example.com/login\"";
    ClientContext context;
    // A 401-INIT reports username and location; its logout-timeout is ignored.
    Exchange exchange(context, *parse_target("http://example.com/a"));
    Step s = exchange.begin();
    s = exchange.receive(server.respond(s.authorization));
    ck_assert(s.action == Step::Action::need_credentials);
    assert_text_eq(exchange.control().username, "admin");
    assert_text_eq(exchange.control().location_when_unauthenticated, "http://example.com/login");
    ck_assert(!exchange.control().logout_timeout.has_value());
    // Wrong password: a negatively-authenticated 401 (username reported).
    s = exchange.supply_credentials("alice", "wrong");
    s = exchange.receive(server.respond(s.authorization));
    s = exchange.receive(server.respond(s.authorization));
    ck_assert(s.outcome == Outcome::credentials_rejected);
    assert_text_eq(exchange.control().username, "admin");
    // On a verified response username is ignored (§4.7).
    server.control = "Mutual realm=\"test realm\", username=admin, "
                     "location-when-logout=\"http://example.com/bye\"";
    const Run ok = run(context, "http://example.com/a", server);
    assert_success(ok);
    ck_assert(ok.control.username.empty());
    assert_text_eq(ok.control.location_when_logout, "http://example.com/bye");
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
    ck_assert(!context.has_credentials(p256, "example.com", "test realm"));
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

// The server's limit (protocol_defaults.h): 256 octets as prepared.
START_TEST(user_name_over_the_server_limit_is_refused_before_sending) {
    Server server(p256);
    ClientContext context;
    const std::string longest(mutual::max_user_name_length, 'u');
    server.user = longest;
    server.set_password("password123");
    const Run fits = run(context, "http://example.com/a", server, longest.c_str());
    ck_assert_int_eq(server.kex_count, 1);
    ck_assert(fits.last.outcome == Outcome::success);
    const std::string over(mutual::max_user_name_length + 1, 'u');
    ClientContext other;
    const Run r = run(other, "http://example.com/a", server, over.c_str());
    ck_assert(r.last.outcome == Outcome::invalid_credentials);
    ck_assert_str_eq(r.last.detail.c_str(), "the user name cannot be used: longer than 256 octets");
    ck_assert_int_eq(server.kex_count, 1);
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
    assert_text_eq(s.realm.id.algorithm, p256);
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
    assert_text_eq(s.realm.id.algorithm, p256);
    // Without a preference the server's order decides.
    ClientContext plain;
    Exchange first(plain, *t);
    s = first.begin();
    s = first.receive(init);
    assert_text_eq(s.realm.id.algorithm, p521);
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

START_TEST(absent_auth_scope_means_single_server) {
    // §4.1: an omitted auth-scope is the single-server type; the server
    // salts pi with "http://example.com". Every algorithm.
    Server server(all_algorithms_names[_i], "test realm", std::nullopt);
    ClientContext context;
    const Run r = run(context, "http://example.com/a", server);
    assert_success(r);
    assert_text_eq(r.summary.scope, "http://example.com");
    // A non-default port is part of it.
    Server on_port(all_algorithms_names[_i], "test realm", std::nullopt);
    on_port.omitted_scope = "http://example.com:8080";
    on_port.vh = "http://example.com:8080";
    on_port.set_password("password123");
    ClientContext other;
    const Run p = run(other, "http://EXAMPLE.com:8080/a", on_port);
    assert_success(p);
    assert_text_eq(p.summary.scope, "http://example.com:8080");
    // The host alone (§5's single-host reading) is not what the server used.
    Server host_only(all_algorithms_names[_i], "test realm", std::nullopt);
    host_only.omitted_scope = "example.com";
    host_only.set_password("password123");
    ClientContext third;
    ck_assert(run(third, "http://example.com/a", host_only).last.outcome ==
              Outcome::credentials_rejected);
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

START_TEST(error_answers_to_a_normal_request_are_errors_not_unprotected) {
    const long statuses[] = {400, 404, 500, 503};
    for (long status : statuses) {
        ClientContext context;
        Exchange exchange(context, *parse_target("http://example.com/a"));
        Step s = exchange.begin();
        Response r;
        r.status = status;
        s = exchange.receive(r);
        ck_assert(s.state == AuthState::unauthenticated);
        ck_assert_msg(s.outcome == (status >= 500 ? Outcome::server_error : Outcome::http_error),
                      "%ld: %s", status, outcome_name(s.outcome));
        ck_assert(s.detail.find(std::to_string(status)) != std::string::npos);
    }
    // A 401 with only another scheme stays "not protected by Mutual".
    ClientContext context;
    Exchange exchange(context, *parse_target("http://example.com/a"));
    exchange.begin();
    Response basic;
    basic.status = 401;
    basic.headers.emplace_back("WWW-Authenticate", "Basic realm=\"x\"");
    ck_assert(exchange.receive(basic).outcome == Outcome::not_protected);
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
    assert_text_eq(s.realm.id.realm, "realm two");
    s = exchange.supply_credentials("alice", "password123");
    s = exchange.receive(two.respond(s.authorization));
    s = exchange.receive(two.respond(s.authorization));
    ck_assert(s.outcome == Outcome::success);
    assert_text_eq(exchange.summary().realm, "realm two");
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
    const Run reused = run(context, "https://example.com/a", server);
    assert_success(reused);
    ck_assert(reused.summary.reused);
    ck_assert_int_eq(server.accepted, 2);
    // Another certificate on the next connection: a man in the middle that
    // relays to the real server (which keeps vh = its own certificate). The
    // session's vkc is never sent over that connection; the client re-keys,
    // and the vkc of the new session, bound to the intruder's certificate,
    // is refused by the real server: no request ran.
    server.certificate_hash = Bytes(32, 0xa5);
    const Run r = run(context, "https://example.com/a", server);
    ck_assert_int_eq(r.refused_bindings, 1);
    ck_assert(r.sent == (std::vector<MessageKind>{MessageKind::req_kex_c1,
                                                  MessageKind::req_vfy_c}));
    ck_assert_int_eq(server.accepted, 2);
    ck_assert(r.last.outcome != Outcome::success);
    ck_assert(r.last.content != Content::verified);
}
END_TEST

START_TEST(certificate_changing_on_every_connection_ends_as_protocol_error) {
    Server server(p256, "test realm", std::string("example.com"), "tls-server-end-point");
    server.use_tls(Bytes(32, 1));
    ClientContext context;
    assert_success(run(context, "https://example.com/a", server));
    std::optional<Target> t = parse_target("https://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    unsigned refused = 0;
    for (std::uint8_t cert = 2; s.action == Step::Action::send_request; ++cert) {
        if (s.bind_to_connection) {
            ck_assert(!exchange.bind(Bytes(32, cert)).has_value());
            ++refused;
            s = exchange.connection_changed();
            continue;
        }
        server.use_tls(Bytes(32, cert));
        s = exchange.receive(server.respond(s.authorization));
    }
    ck_assert(s.outcome == Outcome::protocol_error);
    ck_assert_uint_eq(refused, 3);
    ck_assert_int_eq(server.accepted, 1);
    // The credentials survive.
    ck_assert(context.has_credentials(p256, "example.com", "test realm"));
}
END_TEST

START_TEST(bind_refuses_without_a_certificate_and_outside_a_vfy) {
    Server server(p256, "test realm", std::string("example.com"), "tls-server-end-point");
    server.use_tls(Bytes(32, 7));
    ClientContext context;
    assert_success(run(context, "https://example.com/a", server));
    std::optional<Target> t = parse_target("https://example.com/a");
    Exchange exchange(context, *t);
    Step s = exchange.begin();
    ck_assert(s.bind_to_connection && s.authorization.empty());
    ck_assert(!exchange.bind(Bytes()).has_value());
    Exchange other(context, *parse_target("https://example.com/b"));
    ck_assert(!other.bind(Bytes(32, 7)).has_value());  // nothing in flight
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
    assert_text_eq(s.authorization.substr(0, prefix.size()), prefix);
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
    std::vector<std::string> sent;  // the Authorization of every request sent
    ScriptedTransport(Server& s, std::string b) : server(s), body(std::move(b)) {}
    bool perform(const HttpRequest&, const RequestCredentials& credentials, HttpResult& out,
                 std::string*) override {
        out = HttpResult{};
        std::string authorization = credentials.value;
        if (credentials.bind) {
            std::optional<std::string> bound = credentials.bind(server.certificate_hash);
            if (!bound) {
                out.not_sent = true;
                return false;
            }
            authorization = *bound;
        }
        ++calls;
        sent.push_back(authorization);
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

START_TEST(request_with_a_vkc_for_another_certificate_never_reaches_the_server) {
    // The driver over a transport whose connection shows another certificate
    // than the session was keyed over: the transport is asked for the
    // binding before sending and sends nothing for the old session.
    Server server(p256, "test realm", std::string("example.com"), "tls-server-end-point");
    server.use_tls(Bytes(32, 0x11));
    ScriptedTransport transport(server, "page");
    MutualClient client(ClientOptions{}, transport);
    client.set_credential_provider(alice());
    std::vector<std::string> notes;
    client.set_observer([&notes](const ExchangeEvent& e) {
        if (e.kind == ExchangeEvent::Kind::note) notes.push_back(e.message);
    });
    HttpRequest request;
    request.url = "https://example.com/a";
    ck_assert(client.fetch(request).outcome == Outcome::success);
    const std::string old_sid = encode_hex_fixed(server.sid);
    // A legitimate rotation: the server (behind a load balancer) now shows
    // another certificate and uses it as vh. The password is not asked for
    // again and the exchange succeeds through a re-key.
    server.use_tls(Bytes(32, 0x22));
    transport.sent.clear();
    const FetchResult r = client.fetch(request);
    ck_assert_msg(r.outcome == Outcome::success, "%s", r.detail.c_str());
    ck_assert(!r.summary.reused);
    ck_assert_int_eq(notes.size(), 1);
    ck_assert_int_eq(transport.sent.size(), 2);
    for (const std::string& a : transport.sent)
        ck_assert(a.find(old_sid) == std::string::npos);  // the old session never went out
    MutualCredentials c;
    ck_assert(parse_mutual_credentials(transport.sent[0], c) == HeaderError::none);
    ck_assert(c.kind == RequestKind::kex_c1);
}
END_TEST

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
    assert_text_eq(r.body, "the protected page");
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
    assert_text_eq(r.body, "401 page");
}
END_TEST

START_TEST(driver_reports_authentication_control) {
    Server server(p256);
    server.control = "Mutual realm=\"test realm\", logout-timeout=0";
    ScriptedTransport transport(server, "page");
    MutualClient client(ClientOptions{}, transport);
    client.set_credential_provider(alice());
    HttpRequest request;
    request.url = "http://example.com/a";
    const FetchResult r = client.fetch(request);
    ck_assert(r.outcome == Outcome::success);
    ck_assert(r.control.logout_timeout && *r.control.logout_timeout == 0);
    ck_assert_uint_eq(client.context().session_count(), 0);
}
END_TEST

// ---- proxy authentication (RFC 8120 §14) ----------------------------------

// The scripted Server speaking as a proxy: 407 for 401, Proxy-* headers.
Response as_proxy(Response r) {
    if (r.status == 401) r.status = 407;
    for (auto& h : r.headers) {
        if (h.first == "WWW-Authenticate") h.first = "Proxy-Authenticate";
        if (h.first == "Authentication-Info") h.first = "Proxy-Authentication-Info";
    }
    return r;
}

// An http target through a proxy: the proxy answers 407 itself or forwards
// to the origin and adds its Proxy-Authentication-Info.
struct ProxyTransport : Transport {
    Server& proxy;
    Server& origin;
    std::vector<std::string> to_origin;  // Authorization values the origin received
    ProxyTransport(Server& p, Server& o) : proxy(p), origin(o) {}
    bool perform(const HttpRequest&, const RequestCredentials& credentials, HttpResult& out,
                 std::string*) override {
        out = HttpResult{};
        out.proxy_seen = true;
        Response p = proxy.respond(credentials.proxy_value);
        if (p.status == 401) {
            out.response = as_proxy(p);
            out.proxy_response = out.response;
            out.body = "proxy says no";
            return true;
        }
        to_origin.push_back(credentials.value);
        Response o = origin.respond(credentials.value);
        for (const auto& h : p.headers)
            if (h.first == "Authentication-Info") o.headers.emplace_back("Proxy-Authentication-Info", h.second);
        out.response = o;
        out.proxy_response = o;
        out.body = "origin page";
        return true;
    }
};

Server proxy_server(std::optional<std::string> scope = std::string("proxy.example")) {
    Server proxy(p256, "proxy realm", std::move(scope));
    proxy.user = "pat";
    proxy.vh = "http://proxy.example:3128";  // §14: the proxy's scheme, host and port
    proxy.omitted_scope = "proxy.example";   // §14: the proxy's host name
    proxy.set_password("proxy secret");
    return proxy;
}

START_TEST(proxy_and_origin_authenticate_independently) {
    Server proxy = proxy_server();
    Server origin(dl2048);
    ProxyTransport transport(proxy, origin);
    MutualClient client(ClientOptions{}, transport);
    ck_assert(client.set_proxy("http://proxy.example:3128"));
    client.set_credential_provider(alice());
    std::vector<RealmInfo> asked;
    client.set_proxy_credential_provider(
        [&asked](const RealmInfo& realm, std::string& user, SecretString& password) {
            asked.push_back(realm);
            user = "pat";
            password = "proxy secret";
            return true;
        });
    std::vector<std::string> proxy_messages;
    client.set_observer([&proxy_messages](const ExchangeEvent& e) {
        if (e.proxy) proxy_messages.push_back(e.message);
    });
    HttpRequest request;
    request.url = "http://example.com/private/a";
    const FetchResult r = client.fetch(request);
    ck_assert_msg(r.outcome == Outcome::success, "%s", r.detail.c_str());
    ck_assert(r.released && r.body == "origin page");
    ck_assert_int_eq(asked.size(), 1);
    assert_text_eq(asked[0].id.realm, "proxy realm");
    assert_text_eq(asked[0].scope, "proxy.example");
    ck_assert_int_eq(proxy.kex_count, 1);     // one key exchange with the proxy
    ck_assert_int_eq(proxy.accepted, 3);      // then each request re-verified (nc 1, 2, 3)
    ck_assert(proxy.nc_log == (std::vector<std::uint64_t>{1, 2, 3}));
    ck_assert_int_eq(origin.accepted, 1);
    // The origin never saw the proxy's credentials, nor the proxy's 407 rounds.
    ck_assert_int_eq(transport.to_origin.size(), 3);
    ck_assert(proxy_messages.front() == "401-INIT");
    // A second URL reuses both sessions: one request.
    const FetchResult again = client.fetch(request);
    ck_assert(again.outcome == Outcome::success);
    ck_assert_int_eq(transport.to_origin.size(), 4);
    ck_assert_int_eq(proxy.kex_count, 1);
}
END_TEST

START_TEST(proxy_without_auth_scope_and_with_path_covers_everything) {
    Server proxy = proxy_server(std::nullopt);  // pi salted with the proxy's host name
    proxy.path = "/only/here/";                  // §14: disregarded
    Server origin(p256);
    ProxyTransport transport(proxy, origin);
    MutualClient client(ClientOptions{}, transport);
    ck_assert(client.set_proxy("http://proxy.example:3128/"));
    client.set_credential_provider(alice());
    client.set_proxy_credential_provider([](const RealmInfo&, std::string& u, SecretString& p) {
        u = "pat";
        p = "proxy secret";
        return true;
    });
    HttpRequest request;
    request.url = "http://example.com/private/a";
    ck_assert(client.fetch(request).outcome == Outcome::success);
    request.url = "http://elsewhere.example/other";
    origin.vh = "http://elsewhere.example:80";
    const FetchResult r = client.fetch(request);
    ck_assert(!r.proxy_failed);
    ck_assert_int_eq(proxy.kex_count, 1);  // the proxy session served the other URL too
}
END_TEST

START_TEST(proxy_that_cannot_prove_the_verifier_gets_nothing_released) {
    Server proxy = proxy_server();
    proxy.wrong_vks = true;
    Server origin(p256);
    ProxyTransport transport(proxy, origin);
    MutualClient client(ClientOptions{}, transport);
    ck_assert(client.set_proxy("http://proxy.example:3128"));
    client.set_credential_provider(alice());
    client.set_release_unauthenticated(true);
    client.set_proxy_credential_provider([](const RealmInfo&, std::string& u, SecretString& p) {
        u = "pat";
        p = "proxy secret";
        return true;
    });
    HttpRequest request;
    request.url = "http://example.com/a";
    const FetchResult r = client.fetch(request);
    ck_assert(r.proxy_failed);
    ck_assert(r.outcome == Outcome::server_not_authenticated);
    ck_assert(!r.released && r.body.empty());
    ck_assert(r.detail.find("proxy http://proxy.example:3128/") == 0);
}
END_TEST

START_TEST(proxy_credentials_declined_and_https_proxies_refused) {
    Server proxy = proxy_server();
    Server origin(p256);
    ProxyTransport transport(proxy, origin);
    MutualClient client(ClientOptions{}, transport);
    std::string error;
    ck_assert(!client.set_proxy("https://proxy.example/", &error));
    ck_assert(client.set_proxy("proxy.example:3128"));
    client.set_release_unauthenticated(true);
    HttpRequest request;
    request.url = "http://example.com/a";
    const FetchResult r = client.fetch(request);  // no proxy credential provider
    ck_assert(r.proxy_failed);
    ck_assert(r.outcome == Outcome::credentials_required);
    ck_assert(!r.released);  // the proxy's 407 page is not the server's content
    ck_assert(transport.to_origin.empty());
}
END_TEST

// ---- targets, scopes, channel binding -------------------------------------

START_TEST(targets_fill_in_default_ports_and_lower_case) {
    std::optional<Target> t = parse_target("HTTP://Example.COM/A/b?q=1");
    ck_assert(t.has_value());
    assert_text_eq(t->scheme, "http");
    assert_text_eq(t->host, "example.com");
    ck_assert_uint_eq(t->port, 80);
    assert_text_eq(t->path, "/A/b");
    assert_text_eq(t->origin(), "http://example.com:80");
    assert_text_eq(t->single_server_scope(), "http://example.com");
    t = parse_target("https://example.com:8443");
    assert_text_eq(t->origin(), "https://example.com:8443");
    assert_text_eq(t->single_server_scope(), "https://example.com:8443");
    assert_text_eq(t->path, "/");
    t = parse_target("localhost:8080/x");  // no scheme: http, like curl
    ck_assert(t.has_value());
    assert_text_eq(t->origin(), "http://localhost:8080");
    t = parse_target("http://[::1]:81/");
    assert_text_eq(t->origin(), "http://[::1]:81");
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
    // Multi-label public suffixes, from the Public Suffix List (libpsl).
    const Target uk = *parse_target("http://www.shop.co.uk/");
    ck_assert(!scope_covers("*.co.uk", uk));
    ck_assert(scope_covers("*.shop.co.uk", uk));
    const Target io = *parse_target("https://alice.github.io/");
    ck_assert(!scope_covers("*.github.io", io));  // the list's private section
    // The list's wildcard rule "*.kawasaki.jp" and its exception
    // "!city.kawasaki.jp".
    const Target jp = *parse_target("http://www.foo.kawasaki.jp/");
    ck_assert(!scope_covers("*.foo.kawasaki.jp", jp));
    const Target city = *parse_target("http://www.city.kawasaki.jp/");
    ck_assert(scope_covers("*.city.kawasaki.jp", city));
    ck_assert(is_public_suffix("com") && is_public_suffix("CO.UK"));
    ck_assert(!is_public_suffix("example.com"));
    ck_assert(!scope_covers("", t));
    const Target bare = *parse_target("http://example.com/");
    ck_assert(scope_covers("*.example.com", bare));
    // Redirect targets (-L): RFC 3986 §5.2 references, fragments dropped.
    assert_text_eq(*resolve_reference("http://a.example/b/c?q", "../d#f"), "http://a.example/d");
    assert_text_eq(*resolve_reference("https://a.example/b/c", "//other.example/x"),
                     "https://other.example/x");
    assert_text_eq(*resolve_reference("http://a.example/b/", "https://c.example:8443/"),
                     "https://c.example:8443/");
    assert_text_eq(*resolve_reference("http://a.example/b/", "?x=1"), "http://a.example/b/?x=1");
    assert_text_eq(path_directory("/a/b/c"), "/a/b/");
    assert_text_eq(path_directory("/"), "/");
}
END_TEST

START_TEST(names_are_stable) {
    assert_text_eq(auth_state_name(AuthState::auth_succeed), "AUTH-SUCCEED");
    assert_text_eq(auth_state_name(AuthState::auth_required), "AUTH-REQUIRED");
    assert_text_eq(auth_state_name(AuthState::unauthenticated), "UNAUTHENTICATED");
    assert_text_eq(message_kind_name(MessageKind::req_kex_c1), "req-KEX-C1");
    assert_text_eq(outcome_name(Outcome::server_not_authenticated), "server-not-authenticated");
    assert_text_eq(outcome_name(Outcome::http_error), "http-error");
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
    tcase_add_test(flow, derive_pi_hook_supplies_pi);
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
    tcase_add_test(server_auth, kex_s1_answering_a_normal_request_is_fatal);
    tcase_add_test(server_auth, stale_answering_kex_c1_is_fatal_and_keeps_the_credentials);
    tcase_add_test(server_auth,
                   driver_withholds_fatal_responses_even_when_unauthenticated_content_is_allowed);
    tcase_add_test(server_auth, driver_releases_verified_content);
    tcase_add_test(server_auth, driver_withholds_content_of_a_wrong_vks);
    tcase_add_test(server_auth, driver_withholds_content_without_authentication_info);
    tcase_add_test(server_auth, driver_releases_unauthenticated_content_only_on_request);
    tcase_add_test(server_auth, driver_reports_authentication_control);
    tcase_add_test(server_auth, proxy_and_origin_authenticate_independently);
    tcase_add_test(server_auth, proxy_without_auth_scope_and_with_path_covers_everything);
    tcase_add_test(server_auth, proxy_that_cannot_prove_the_verifier_gets_nothing_released);
    tcase_add_test(server_auth, proxy_credentials_declined_and_https_proxies_refused);
    suite_add_tcase(s, server_auth);

    TCase* failures = tcase_create("failures");
    tcase_set_timeout(failures, 120);
    tcase_add_test(failures, wrong_password_ends_auth_required_and_forgets_credentials);
    tcase_add_test(failures, unknown_user_rejected_at_key_exchange);
    tcase_add_test(failures, authz_failed_is_reported_as_authorization_failure);
    tcase_add_test(failures, declined_credentials_end_auth_required);
    tcase_add_test(failures, unpreparable_user_name_is_refused_before_sending);
    tcase_add_test(failures, user_name_over_the_server_limit_is_refused_before_sending);
    tcase_add_test(failures, server_error_without_vks_is_unauthenticated);
    tcase_add_test(failures, logout_timeout_zero_forgets_session_and_credentials);
    tcase_add_test(failures, logout_timeout_expires_session_and_credentials);
    tcase_add_test(failures, logout_timeout_on_an_unverified_response_is_ignored);
    tcase_add_test(failures, error_answers_to_a_normal_request_are_errors_not_unprotected);
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
    tcase_add_loop_test(selection, absent_auth_scope_means_single_server, 0, 4);
    tcase_add_test(selection, wildcard_scope_is_honoured);
    tcase_add_test(selection, unprotected_resource_is_unauthenticated);
    tcase_add_test(selection, other_scheme_only_is_not_protected_by_mutual);
    tcase_add_test(selection, optional_authentication_is_used_when_credentials_are_given);
    tcase_add_test(selection, path_parameter_decides_which_requests_carry_credentials);
    tcase_add_test(selection, without_path_the_directory_is_assumed);
    tcase_add_test(selection, init_for_a_different_realm_on_first_request_switches_realm);
    tcase_add_test(selection, init_for_a_different_realm_mid_sequence_is_refused);
    tcase_add_test(selection, tls_server_end_point_binds_the_exchange_to_the_certificate);
    tcase_add_test(selection, request_with_a_vkc_for_another_certificate_never_reaches_the_server);
    tcase_add_test(selection, certificate_changing_on_every_connection_ends_as_protocol_error);
    tcase_add_test(selection, bind_refuses_without_a_certificate_and_outside_a_vfy);
    tcase_add_test(selection, stale_naming_another_algorithm_is_not_our_realm);
    tcase_add_test(selection, host_validation_on_https_is_refused);
    suite_add_tcase(s, selection);

    TCase* kat = tcase_create("kat");
    tcase_set_timeout(kat, 300);
    tcase_add_loop_test(kat, kat_key_exchange_messages_and_pi_match, 0, 12);
    suite_add_tcase(s, kat);

    TCase* parts = tcase_create("parts");
    tcase_add_test(parts, targets_fill_in_default_ports_and_lower_case);
    tcase_add_test(parts, scopes_follow_section_5);
    tcase_add_test(parts, names_are_stable);
    suite_add_tcase(s, parts);

    return run_suite(s);
}

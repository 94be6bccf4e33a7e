// Check suite: the RFC 8120 §11 server decision procedure
// (src/server/server_exchange.h) driven by the core's algorithm API acting as the
// client, on a heap-memory session table: every answer the server can give,
// for all four algorithms, plus the DBM verifier source and the helpers
// (auth-scope/vh checks, tls-server-end-point).
#include <check.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <apr_dbm.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "algorithm.h"
#include "encoding.h"
#include "header.h"
#include "log.h"
#include "server/location_settings.h"
#include "server/server.h"
#include "server/server_exchange.h"
#include "server/session_table.h"
#include "verifier_record.h"
#include "tls_server_end_point.h"

using namespace mutual;

namespace {

constexpr const char* scope = "example.com";
constexpr const char* realm = "mutual test realm";
constexpr const char* vh = "http://example.com:80";

// ---- log capture ------------------------------------------------------------

std::vector<std::string> captured;
void capture_sink(void*, LogLevel, const char* tag, const std::string& message) {
    captured.push_back(std::string(tag) + " " + message);
}
bool logged(const char* tag) {
    for (const auto& line : captured)
        if (line.compare(0, std::strlen(tag), tag) == 0) return true;
    return false;
}

// ---- the server side of the tests ---------------------------------------------

class NoLocks final : public StripeLocks {
public:
    LockResult lock(unsigned) noexcept override { return LockResult::held; }
    void unlock(unsigned) noexcept override {}
};

struct FreeDeleter {
    void operator()(void* p) const noexcept { std::free(p); }
};

// Verifiers kept in memory: user -> J per algorithm, or a forced answer.
class MapSource final : public VerifierSource {
public:
    VerifierAnswer lookup(std::string_view user, const Algorithm& a) const override {
        VerifierAnswer answer;
        if (forced) {
            answer.status = *forced;
            answer.detail = "forced";
            return answer;
        }
        auto it = j.find(std::string(user) + "/" + std::string(a.name()));
        if (it == j.end()) {
            answer.status = VerifierStatus::unknown_user;
            return answer;
        }
        answer.status = VerifierStatus::found;
        answer.j = it->second;
        return answer;
    }
    std::map<std::string, Bytes> j;
    std::optional<VerifierStatus> forced;
};


// The server core as the module builds it (mutual::Server over heap memory),
// with one location's policy and verifiers.
struct TestServer {
    TestServer() {
        ServerOptions o;
        o.table_slots = 256;
        o.stripes = 4;
        o.max_key_exchanges = 128;
        o.algorithms = all_algorithms();
        const std::size_t bytes = mutual::Server::bytes_needed(o);
        memory.reset(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
        ck_assert(mutual::Server::format(memory.get(), bytes, o));
        HashKey key{};
        key.bytes[0] = 42;
        server = std::make_unique<mutual::Server>(memory.get(), bytes, locks, key);
        ck_assert(server->valid());
        table = &server->table();
        for (const Algorithm* a : all_algorithms()) policy.algorithms.push_back(a);
        policy.auth_scope = scope;
        policy.realm = realm;
        policy.validation = "host";
        policy.vh = vh;
        policy.partition = "/test/users";
    }
    void add_user(const std::string& user, const std::string& password) {
        for (const Algorithm* a : all_algorithms()) {
            Secret pi = compute_pi(*a, password, scope, realm, user);
            Bytes j;
            ck_assert(a->verifier(pi, j) == KexError::none);
            source.j[user + "/" + std::string(a->name())] = j;
        }
    }
    ExchangeResult handle(const std::optional<std::string>& authorization) {
        std::optional<std::string_view> header;
        if (authorization) header = *authorization;
        return server->handle(policy, use_source ? &source : nullptr, header, now);
    }
    NoLocks locks;
    std::unique_ptr<void, FreeDeleter> memory;
    std::unique_ptr<mutual::Server> server;
    SessionTable* table = nullptr;
    LocationPolicy policy;
    MapSource source;
    bool use_source = true;
    std::int64_t now = 100000;
};

// ---- the client side: the core's algorithm functions ----------------------------

struct ClientSession {
    const Algorithm* a = nullptr;
    Secret pi, s_c1, z;
    Bytes k_c1, k_s1, sid;
    MutualChallenge kex_s1;
};

RealmId client_realm(const Algorithm& a) {
    RealmId id;
    id.algorithm = std::string(a.name());
    id.validation = "host";
    id.auth_scope = std::string(scope);
    id.realm = realm;
    return id;
}

std::string kex_c1_header(ClientSession& c, const Algorithm& a, const std::string& user,
                          const std::string& password) {
    c.a = &a;
    c.pi = compute_pi(a, password, scope, realm, user);
    c.s_c1 = a.random_client_scalar();
    ck_assert(a.client_key(c.s_c1, c.k_c1) == KexError::none);
    MutualCredentials cred;
    cred.kind = RequestKind::kex_c1;
    cred.id = client_realm(a);
    cred.user = user;
    cred.kc1 = a.encode_key(c.k_c1);
    return serialize_credentials(cred, a.quoted_on_wire());
}

// Reads a 401-KEX-S1 and computes z the client's way.
void read_kex_s1(ClientSession& c, const ExchangeResult& r) {
    ck_assert_msg(r.outcome == ExchangeOutcome::kex_s1, "want 401-KEX-S1, got %s (%s %s)",
                  exchange_outcome_name(r.outcome), r.log_tag, r.log_message.c_str());
    ck_assert_int_eq(r.status, 401);
    ck_assert_uint_eq(r.www_authenticate.size(), 1);
    std::vector<MutualChallenge> challenges;
    ck_assert(parse_mutual_challenges(r.www_authenticate[0], challenges) == HeaderError::none);
    ck_assert_uint_eq(challenges.size(), 1);
    c.kex_s1 = challenges[0];
    ck_assert(c.kex_s1.kind == ResponseKind::kex_s1);
    ck_assert_uint_eq(c.kex_s1.sid.size(), session_id_length);
    c.sid = c.kex_s1.sid;
    std::optional<Bytes> k_s1 = c.a->decode_key(c.kex_s1.ks1);
    ck_assert(k_s1.has_value());
    c.k_s1 = *k_s1;
    ck_assert(c.a->client_secret(c.pi, c.s_c1, c.k_c1, c.k_s1, c.z) == KexError::none);
}

std::string vfy_c_header(const ClientSession& c, std::uint64_t nc, std::string_view with_vh = vh) {
    MutualCredentials cred;
    cred.kind = RequestKind::vfy_c;
    cred.id = client_realm(*c.a);
    cred.sid = c.sid;
    cred.nc = nc;
    cred.vkc = c.a->encode_vk(compute_vk_c(*c.a, c.k_c1, c.k_s1, c.z, nc, with_vh));
    return serialize_credentials(cred, c.a->quoted_on_wire());
}

// A 200-VFY-S whose vks the client checks.
void expect_verified(const ClientSession& c, const ExchangeResult& r, std::uint64_t nc,
                     const char* user) {
    ck_assert_msg(r.outcome == ExchangeOutcome::verified, "want 200-VFY-S, got %s (%s %s)",
                  exchange_outcome_name(r.outcome), r.log_tag, r.log_message.c_str());
    ck_assert_int_eq(r.status, 200);
    ck_assert(r.user == user);
    ck_assert(r.www_authenticate.empty());
    ck_assert_msg(r.authentication_info.rfind("version=1, sid=", 0) == 0, "no scheme name: %s",
                  r.authentication_info.c_str());
    MutualAuthInfo info;
    ck_assert(parse_mutual_auth_info(r.authentication_info, info) == HeaderError::none);
    ck_assert(info.sid == c.sid);
    std::optional<Bytes> vks = c.a->decode_vk(info.vks);
    ck_assert(vks.has_value());
    ck_assert(*vks == compute_vk_s(*c.a, c.k_c1, c.k_s1, c.z, nc, vh));
}

void expect_init(const ExchangeResult& r, const char* reason, const char* tag,
                 std::size_t challenges) {
    ck_assert_msg(r.outcome == ExchangeOutcome::init && r.reason == reason,
                  "want 401-INIT %s, got %s %s (%s %s)", reason, exchange_outcome_name(r.outcome),
                  r.reason.c_str(), r.log_tag, r.log_message.c_str());
    ck_assert_int_eq(r.status, 401);
    ck_assert_msg(std::strcmp(r.log_tag, tag) == 0, "want log tag %s, got %s (%s)", tag, r.log_tag,
                  r.log_message.c_str());
    ck_assert(!r.log_message.empty());
    ck_assert_uint_eq(r.www_authenticate.size(), challenges);
    for (const std::string& value : r.www_authenticate) {
        std::vector<MutualChallenge> parsed;
        ck_assert(parse_mutual_challenges(value, parsed) == HeaderError::none);
        ck_assert(parsed.size() == 1 && parsed[0].reason == reason);
        ck_assert(parsed[0].id.auth_scope && *parsed[0].id.auth_scope == scope);
    }
}

void expect_stale(const ExchangeResult& r, const char* tag) {
    ck_assert_msg(r.outcome == ExchangeOutcome::stale, "want 401-STALE, got %s %s (%s %s)",
                  exchange_outcome_name(r.outcome), r.reason.c_str(), r.log_tag, r.log_message.c_str());
    ck_assert(r.reason == "stale-session");
    ck_assert_msg(std::strcmp(r.log_tag, tag) == 0, "want log tag %s, got %s", tag, r.log_tag);
    ck_assert_uint_eq(r.www_authenticate.size(), 1);  // the request's algorithm only
    std::vector<MutualChallenge> parsed;
    ck_assert(parse_mutual_challenges(r.www_authenticate[0], parsed) == HeaderError::none);
    ck_assert(parsed[0].kind == ResponseKind::stale);
}

// A fully authenticated session for `user` with `a` (nc 1 used).
ClientSession login(TestServer& s, const Algorithm& a, const char* user, const char* password) {
    ClientSession c;
    read_kex_s1(c, s.handle(kex_c1_header(c, a, user, password)));
    expect_verified(c, s.handle(vfy_c_header(c, 1)), 1, user);
    return c;
}

const Algorithm& p256() { return *find_algorithm("iso-kam3-ec-p256-sha256"); }

}  // namespace

// ---- tests -------------------------------------------------------------------------

// Issue #12: a changed or deleted verifier ends the session within the
// recheck interval; an unreadable store keeps it; one lookup per interval.
START_TEST(revoked_verifier_ends_the_session) {
    TestServer s;
    s.policy.algorithms = {&p256()};
    s.policy.recheck_interval = 60;
    s.add_user("alice", "pw");
    ClientSession c = login(s, p256(), "alice", "pw");
    // Deleted inside the interval: the session goes on (amortised check).
    s.source.j.clear();
    s.now += 59;
    expect_verified(c, s.handle(vfy_c_header(c, 2)), 2, "alice");
    // Interval over: re-read, gone, session ended for good.
    s.now += 1;
    expect_stale(s.handle(vfy_c_header(c, 3)), "MUT01601");
    expect_stale(s.handle(vfy_c_header(c, 4)), "MUT01114");
    // Changed password: the same.
    s.add_user("alice", "pw");
    ClientSession d = login(s, p256(), "alice", "pw");
    s.add_user("alice", "new pw");
    s.now += 60;
    expect_stale(s.handle(vfy_c_header(d, 2)), "MUT01601");
    // Unchanged: kept, and checked again only after another interval.
    ClientSession e = login(s, p256(), "alice", "new pw");
    s.now += 60;
    expect_verified(e, s.handle(vfy_c_header(e, 2)), 2, "alice");
    s.source.forced = VerifierStatus::unknown_user;
    s.now += 30;
    expect_verified(e, s.handle(vfy_c_header(e, 3)), 3, "alice");
    // Unreadable store: kept (the key exchange would fail internal-error).
    s.source.forced = VerifierStatus::store_failed;
    s.now += 30;
    expect_verified(e, s.handle(vfy_c_header(e, 4)), 4, "alice");
    s.source.forced.reset();
    expect_verified(e, s.handle(vfy_c_header(e, 5)), 5, "alice");
    // Interval 0: every verified reuse request re-reads.
    s.policy.recheck_interval = 0;
    s.source.forced = VerifierStatus::unknown_user;
    expect_stale(s.handle(vfy_c_header(e, 6)), "MUT01601");
    std::string problem;
    ck_assert_msg(s.table->validate(problem), "%s", problem.c_str());
}
END_TEST

START_TEST(initial_request_gets_one_challenge_per_algorithm) {
    TestServer s;
    ExchangeResult r = s.handle(std::nullopt);
    expect_init(r, "initial", "MUT01100", all_algorithms().size());
    for (std::size_t i = 0; i < r.www_authenticate.size(); ++i) {
        std::vector<MutualChallenge> parsed;
        parse_mutual_challenges(r.www_authenticate[i], parsed);
        ck_assert(parsed[0].id.algorithm == all_algorithms()[i]->name());
        ck_assert(parsed[0].id.validation == "host");
        ck_assert(parsed[0].id.realm == realm);
    }
    // Exactly the canonical form (compare the KAT's 401-INIT shape).
    s.policy.algorithms = {&p256()};
    r = s.handle(std::nullopt);
    ck_assert_str_eq(r.www_authenticate[0].c_str(),
                     "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, "
                     "auth-scope=\"example.com\", realm=\"mutual test realm\", reason=initial");
    // Another scheme is a normal request for Mutual.
    expect_init(s.handle(std::string("Basic YWxpY2U6eA==")), "initial", "MUT01101", 1);
}
END_TEST

START_TEST(full_exchange_and_reuse_for_every_algorithm) {
    TestServer s;
    s.add_user("alice", "correct horse");
    for (const Algorithm* a : all_algorithms()) {
        ClientSession c;
        read_kex_s1(c, s.handle(kex_c1_header(c, *a, "alice", "correct horse")));
        ck_assert(c.kex_s1.id.algorithm == a->name());
        ck_assert_uint_eq(c.kex_s1.nc_max, 10000);
        ck_assert_uint_eq(c.kex_s1.nc_window, 128);
        ck_assert_uint_eq(c.kex_s1.time, 300);
        ck_assert(!c.kex_s1.path.has_value());
        for (std::uint64_t nc = 1; nc <= 6; ++nc)
            expect_verified(c, s.handle(vfy_c_header(c, nc)), nc, "alice");
        // Out of order inside the window is fine.
        expect_verified(c, s.handle(vfy_c_header(c, 20)), 20, "alice");
        expect_verified(c, s.handle(vfy_c_header(c, 10)), 10, "alice");
    }
    std::string problem;
    ck_assert_msg(s.table->validate(problem), "%s", problem.c_str());
    ck_assert_uint_eq(s.table->statistics().authenticated, all_algorithms().size());
}
END_TEST

// The usual req-VFY-C is read as views (parse_mutual_verification); one
// the view parser declines (a quoted-pair) is verified through the owning
// parser alike, and so are upper-case tokens.
START_TEST(req_vfy_c_verified_through_either_parser) {
    TestServer s;
    s.add_user("alice", "pw");
    ClientSession c = login(s, p256(), "alice", "pw");
    VerificationView view;
    std::string escaped = vfy_c_header(c, 2);
    const std::size_t at = escaped.find("mutual test realm");
    ck_assert(at != std::string::npos);
    escaped.replace(at, 17, "mutual te\\st realm");
    ck_assert(!parse_mutual_verification(escaped, view));
    expect_verified(c, s.handle(escaped), 2, "alice");
    std::string upper = vfy_c_header(c, 3);
    const std::size_t name = upper.find("iso-kam3-ec-p256-sha256");
    ck_assert(name != std::string::npos);
    upper.replace(name, 23, "ISO-KAM3-EC-P256-SHA256");
    ck_assert(parse_mutual_verification(upper, view));
    expect_verified(c, s.handle(upper), 3, "alice");
    // The same nc again through the other parser: a replay either way.
    expect_stale(s.handle(vfy_c_header(c, 3)), "MUT01118");
}
END_TEST

START_TEST(replayed_nc_is_stale_and_kills_the_session) {
    TestServer s;
    s.add_user("alice", "pw");
    ClientSession c = login(s, p256(), "alice", "pw");
    expect_verified(c, s.handle(vfy_c_header(c, 2)), 2, "alice");
    const std::string replay = vfy_c_header(c, 2);
    expect_stale(s.handle(replay), "MUT01118");
    expect_stale(s.handle(vfy_c_header(c, 3)), "MUT01114");  // now inactive
}
END_TEST

// Issue #10: a session is bound to the origin and validation method of its
// key exchange, and obeys the serving location's limits.
START_TEST(sessions_are_bound_to_origin_and_location_limits) {
    TestServer s;
    s.add_user("alice", "pw");
    s.policy.origin = "http://www.example.com:8080";
    ClientSession c = login(s, p256(), "alice", "pw");
    s.policy.origin = "http://www.example.com:8081";    // another port, same vh octets
    expect_stale(s.handle(vfy_c_header(c, 2)), "MUT01114");
    s.policy.origin = "http://www.example.com:8080";
    s.policy.validation = "tls-server-end-point";        // another validation method
    expect_init(s.handle(vfy_c_header(c, 2)), "invalid-parameters", "MUT01103",
                s.policy.algorithms.size());
    s.policy.validation = "host";
    expect_verified(c, s.handle(vfy_c_header(c, 2)), 2, "alice");
    // a stricter location of the realm: nc-max 5 refuses nc 50
    s.policy.nc_max = 5;
    expect_stale(s.handle(vfy_c_header(c, 50)), "MUT01116");
}
END_TEST

// RFC 8120 §11: a malformed vkc is a failed verification; a key-exchanging
// session becomes rejected, the correct vkc after it fails.
START_TEST(malformed_vkc_rejects_a_key_exchanging_session) {
    TestServer s;
    s.add_user("alice", "pw");
    ClientSession c;
    read_kex_s1(c, s.handle(kex_c1_header(c, p256(), "alice", "pw")));
    std::string bad = vfy_c_header(c, 1);
    bad.replace(bad.find("vkc=") + 4, 0, "!!");
    expect_init(s.handle(bad), "invalid-parameters", "MUT01113", s.policy.algorithms.size());
    expect_init(s.handle(vfy_c_header(c, 1)), "auth-failed", "MUT01119", s.policy.algorithms.size());
    // on an authenticated session it changes nothing
    ClientSession d = login(s, p256(), "alice", "pw");
    bad = vfy_c_header(d, 2);
    bad.replace(bad.find("vkc=") + 4, 0, "!!");
    expect_init(s.handle(bad), "invalid-parameters", "MUT01113", s.policy.algorithms.size());
    expect_verified(d, s.handle(vfy_c_header(d, 2)), 2, "alice");
}
END_TEST

START_TEST(nc_limits_and_expiry) {
    TestServer s;
    s.add_user("alice", "pw");
    s.policy.nc_max = 5;
    s.policy.session_time = 60;
    ClientSession c = login(s, p256(), "alice", "pw");
    expect_verified(c, s.handle(vfy_c_header(c, 5)), 5, "alice");
    expect_stale(s.handle(vfy_c_header(c, 6)), "MUT01116");
    ClientSession d = login(s, p256(), "alice", "pw");
    expect_verified(d, s.handle(vfy_c_header(d, 5)), 5, "alice");
    s.policy.nc_max = 1000;
    ClientSession e = login(s, p256(), "alice", "pw");
    expect_verified(e, s.handle(vfy_c_header(e, 300)), 300, "alice");
    expect_stale(s.handle(vfy_c_header(e, 172)), "MUT01117");  // 300 - 128
    ClientSession f = login(s, p256(), "alice", "pw");
    s.now += 60;
    expect_stale(s.handle(vfy_c_header(f, 2)), "MUT01115");
    // A huge nc (saturated by the parser) is above nc-max.
    ClientSession g = login(s, p256(), "alice", "pw");
    std::string header = vfy_c_header(g, 7);
    header.replace(header.find("nc=7"), 4, "nc=123456789012345678901234567890");
    expect_stale(s.handle(header), "MUT01116");
}
END_TEST

START_TEST(wrong_password_fails_at_verification) {
    TestServer s;
    s.add_user("alice", "right");
    ClientSession c;
    read_kex_s1(c, s.handle(kex_c1_header(c, p256(), "alice", "wrong")));
    const ExchangeResult failed = s.handle(vfy_c_header(c, 1));
    expect_init(failed, "auth-failed", "MUT01123", all_algorithms().size());
    // What the failure throttle counts: this failure, for this user.
    ck_assert(failed.verification_failed && failed.user == "alice" && !failed.store_failed);
    // The session is rejected now (a refusal, not another comparison).
    const ExchangeResult again = s.handle(vfy_c_header(c, 2));
    expect_init(again, "auth-failed", "MUT01119", all_algorithms().size());
    ck_assert(!again.verification_failed);
    // A wrong vkc on an authenticated session does not consume the nonce.
    ClientSession d = login(s, p256(), "alice", "right");
    std::string forged = vfy_c_header(d, 2, "http://attacker.example:80");
    expect_init(s.handle(forged), "auth-failed", "MUT01123", all_algorithms().size());
    expect_verified(d, s.handle(vfy_c_header(d, 2)), 2, "alice");
}
END_TEST

START_TEST(unknown_user_gets_an_indistinguishable_fake_session) {
    TestServer s;
    s.add_user("alice", "pw");
    for (const Algorithm* a : all_algorithms()) {
        ClientSession real, fake;
        const ExchangeResult r1 = s.handle(kex_c1_header(real, *a, "alice", "pw"));
        const ExchangeResult r2 = s.handle(kex_c1_header(fake, *a, "mallory", "pw"));
        read_kex_s1(real, r1);
        read_kex_s1(fake, r2);
        // Same shape: same length, same parameters, same tag.
        ck_assert_uint_eq(r1.www_authenticate[0].size(), r2.www_authenticate[0].size());
        ck_assert(std::strcmp(r1.log_tag, r2.log_tag) == 0);
        ck_assert(fake.kex_s1.ks1.size() == real.kex_s1.ks1.size());
        ck_assert(a->check_server_key(fake.k_s1) == KexError::none);
        ck_assert(fake.kex_s1.nc_max == real.kex_s1.nc_max && fake.kex_s1.time == real.kex_s1.time);
        // It fails only at req-VFY-C, counted like a wrong password.
        const ExchangeResult failed = s.handle(vfy_c_header(fake, 1));
        expect_init(failed, "auth-failed", "MUT01122", all_algorithms().size());
        ck_assert(failed.verification_failed && failed.user == "mallory");
    }
    // A user with verifiers for other algorithms only, or a record for
    // another realm, is handled the same way.
    s.source.forced = VerifierStatus::wrong_realm;
    ClientSession c;
    read_kex_s1(c, s.handle(kex_c1_header(c, p256(), "alice", "pw")));
    expect_init(s.handle(vfy_c_header(c, 1)), "auth-failed", "MUT01122", all_algorithms().size());
}
END_TEST

// z is computed at req-KEX-C1 and stored with the session: the table never
// holds S_s1, and req-VFY-C only hashes.
START_TEST(session_stores_z_from_the_key_exchange) {
    TestServer s;
    s.add_user("alice", "pw");
    for (const Algorithm* a : all_algorithms()) {
        ClientSession c;
        read_kex_s1(c, s.handle(kex_c1_header(c, *a, "alice", "pw")));
        const std::uint64_t realm_id = session_space(*s.table, s.policy, *a);
        SessionSnapshot snap;
        ck_assert(s.table->begin_verify(c.sid, realm_id, 1, s.now, snap) == VerifyCheck::ok);
        ck_assert(snap.state == SessionState::key_exchanging);
        ck_assert_uint_eq(snap.z.size(), a->element_length());
        ck_assert(Bytes(snap.z.begin(), snap.z.end()) == Bytes(c.z.begin(), c.z.end()));
        expect_verified(c, s.handle(vfy_c_header(c, 1)), 1, "alice");
        ck_assert(s.table->begin_verify(c.sid, realm_id, 2, s.now, snap) == VerifyCheck::ok);
        ck_assert(snap.state == SessionState::authenticated);
        ck_assert(Bytes(snap.z.begin(), snap.z.end()) == Bytes(c.z.begin(), c.z.end()));
        expect_verified(c, s.handle(vfy_c_header(c, 2)), 2, "alice");
    }
}
END_TEST

// A stored J that is not a group element (validated only when used): logged
// (MUT01205) and handled as a malformed record, a fake session.
START_TEST(invalid_stored_j_gives_a_fake_session) {
    TestServer s;
    s.add_user("alice", "pw");
    for (const Algorithm* a : all_algorithms()) {
        Bytes invalid(a->element_length(), a->wire_format() == WireFormat::hex_fixed ? 0xff : 0);
        if (a->wire_format() == WireFormat::base64_fixed) invalid.back() = 1;
        s.source.j["alice/" + std::string(a->name())] = invalid;
        captured.clear();
        set_log_sink(capture_sink, nullptr);
        ClientSession c;
        const ExchangeResult r = s.handle(kex_c1_header(c, *a, "alice", "pw"));
        set_log_sink(nullptr, nullptr);
        read_kex_s1(c, r);
        ck_assert(logged("MUT01205"));
        ck_assert_msg(r.log_message.find("fake session (bad-record)") != std::string::npos, "%s",
                      r.log_message.c_str());
        expect_init(s.handle(vfy_c_header(c, 1)), "auth-failed", "MUT01122", all_algorithms().size());
    }
}
END_TEST

START_TEST(bad_kc1_is_invalid_parameters) {
    TestServer s;
    s.add_user("alice", "pw");
    for (const Algorithm* a : all_algorithms()) {
        ClientSession c;
        std::string header = kex_c1_header(c, *a, "alice", "pw");
        const std::string good = a->encode_key(c.k_c1);
        // Undecodable (wrong length).
        std::string bad = header;
        const std::string shorter = a->quoted_on_wire() ? "AAAA" : "00";
        bad.replace(bad.find(good), good.size(), shorter);
        expect_init(s.handle(bad), "invalid-parameters", "MUT01105", all_algorithms().size());
        // Decodable but not a valid key: DL 1 (out of range), EC x = 0 with
        // no point on the curve / the all-zero encoding.
        Bytes invalid(a->element_length(), 0);
        if (a->wire_format() == WireFormat::base64_fixed) invalid.back() = 1;
        bad = header;
        bad.replace(bad.find(good), good.size(), a->encode_key(invalid));
        expect_init(s.handle(bad), "invalid-parameters", "MUT01106", all_algorithms().size());
    }
}
END_TEST

START_TEST(other_protection_space_is_invalid_parameters) {
    TestServer s;
    s.add_user("alice", "pw");
    s.policy.algorithms = {&p256()};
    ClientSession c;
    const std::string header = kex_c1_header(c, p256(), "alice", "pw");
    auto replaced = [&](const std::string& from, const std::string& to) {
        std::string h = header;
        const std::size_t at = h.find(from);
        ck_assert(at != std::string::npos);
        h.replace(at, from.size(), to);
        return h;
    };
    expect_init(s.handle(replaced("realm=\"mutual test realm\"", "realm=\"other\"")),
                "invalid-parameters", "MUT01103", 1);
    expect_init(s.handle(replaced("auth-scope=\"example.com\"", "auth-scope=\"example.org\"")),
                "invalid-parameters", "MUT01103", 1);
    expect_init(s.handle(replaced("auth-scope=\"example.com\", ", "")), "invalid-parameters",
                "MUT01103", 1);
    expect_init(s.handle(replaced("validation=host", "validation=tls-server-end-point")),
                "invalid-parameters", "MUT01103", 1);
    // An algorithm this location does not offer.
    ClientSession d;
    expect_init(s.handle(kex_c1_header(d, *find_algorithm("iso-kam3-dl-2048-sha256"), "alice", "pw")),
                "invalid-parameters", "MUT01103", 1);
    // Tokens are case-insensitive.
    read_kex_s1(c, s.handle(replaced("validation=host", "validation=HOST")));
}
END_TEST

START_TEST(malformed_headers_are_invalid_parameters) {
    TestServer s;
    s.policy.algorithms = {&p256()};
    const char* bad[] = {
        "Mutual",
        "Mutual version=1",
        "Mutual version=2, algorithm=iso-kam3-ec-p256-sha256, validation=host, auth-scope=\"example.com\", realm=\"mutual test realm\", user=\"a\", kc1=00",
        "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, auth-scope=\"example.com\", realm=\"mutual test realm\", user=\"a\", kc1=00, vkc=00",
        "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, auth-scope=\"example.com\", realm=\"mutual test realm\", sid=zz, nc=1, vkc=00",
        "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, auth-scope=\"example.com\", realm=\"mutual test realm\", sid=00, nc=01, vkc=00",
        "Mutual version=1, version=1",
        "Mutual version=1, realm=\"unterminated",
        "Mutual abcdef==",
        "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, auth-scope=\"example.com\", realm=\"mutual test realm\", user*=UTF-8''%ff, kc1=00",
    };
    for (const char* h : bad) {
        ExchangeResult r = s.handle(std::string(h));
        ck_assert_msg(r.outcome == ExchangeOutcome::init && r.reason == "invalid-parameters",
                      "%s -> %s %s", h, exchange_outcome_name(r.outcome), r.reason.c_str());
        ck_assert_str_eq(r.log_tag, "MUT01102");
    }
    // An undecodable vkc for a live session: 401-INIT, the session untouched.
    s.add_user("alice", "pw");
    ClientSession d = login(s, p256(), "alice", "pw");
    std::string header = vfy_c_header(d, 2);
    header.replace(header.find("vkc=") + 4, std::string::npos, "abcd");
    expect_init(s.handle(header), "invalid-parameters", "MUT01113", 1);
    expect_verified(d, s.handle(vfy_c_header(d, 2)), 2, "alice");
    // The same for a sid the server does not know: §11 looks the session up
    // first, so it is 401-STALE.
    ClientSession unknown = d;
    unknown.sid[0] ^= 0xff;
    header = vfy_c_header(unknown, 3);
    header.replace(header.find("vkc=") + 4, std::string::npos, "abcd");
    expect_stale(s.handle(header), "MUT01114");
}
END_TEST

// RFC 8120 §11: an invalid, unknown or unacceptable user name gets a fake
// 401-KEX-S1 (Note 2), here a name over the 256-octet limit of the table.
START_TEST(oversize_user_name_gets_a_fake_session) {
    TestServer s;
    std::string long_user(max_user_length + 1, 'u');
    s.add_user(long_user.substr(0, max_user_length), "pw");  // the stored prefix is no account
    for (std::size_t length : {max_user_length + 1, std::size_t{4000}}) {
        ClientSession c;
        const ExchangeResult r = s.handle(kex_c1_header(c, p256(), std::string(length, 'u'), "pw"));
        ck_assert_str_eq(r.log_tag, "MUT01112");
        ck_assert_msg(r.log_message.find("fake session (user-name-too-long)") != std::string::npos,
                      "%s", r.log_message.c_str());
        read_kex_s1(c, r);
        ck_assert(p256().check_server_key(c.k_s1) == KexError::none);
        expect_init(s.handle(vfy_c_header(c, 1)), "auth-failed", "MUT01122",
                    all_algorithms().size());
    }
    std::string problem;
    ck_assert_msg(s.table->validate(problem), "%s", problem.c_str());
}
END_TEST

START_TEST(stale_for_unknown_sid_and_shortcuts) {
    TestServer s;
    s.add_user("alice", "pw");
    ClientSession c = login(s, p256(), "alice", "pw");
    // Case B (reuse) works; a sid the server never issued is stale.
    expect_verified(c, s.handle(vfy_c_header(c, 2)), 2, "alice");
    ClientSession other = c;
    other.sid[0] ^= 0xff;
    expect_stale(s.handle(vfy_c_header(other, 3)), "MUT01114");
    other.sid.resize(8);
    expect_stale(s.handle(vfy_c_header(other, 3)), "MUT01114");
    // Sessions belong to their protection space.
    s.policy.partition = "/other/users";
    expect_stale(s.handle(vfy_c_header(c, 3)), "MUT01114");
}
END_TEST

START_TEST(server_side_failures_are_internal_error) {
    TestServer s;
    s.source.forced = VerifierStatus::store_failed;
    ClientSession c;
    const ExchangeResult store = s.handle(kex_c1_header(c, p256(), "alice", "pw"));
    expect_init(store, "internal-error", "MUT01108", all_algorithms().size());
    ck_assert(store.store_failed && !store.verification_failed);
    s.use_source = false;
    expect_init(s.handle(kex_c1_header(c, p256(), "alice", "pw")), "internal-error", "MUT01108",
                all_algorithms().size());
    s.policy.auth_scope.clear();
    ExchangeResult r = s.handle(std::nullopt);
    ck_assert(r.reason == "internal-error");
    ck_assert_str_eq(r.log_tag, "MUT01133");
    r = s.handle(std::string("Mutual version=1"));
    ck_assert(r.reason == "internal-error");
    ck_assert_str_eq(r.log_tag, "MUT01128");
}
END_TEST

START_TEST(kex_s1_carries_configured_parameters) {
    TestServer s;
    s.add_user("alice", "pw");
    s.policy.nc_max = 77;
    s.policy.nc_window = 256;
    s.policy.session_time = 42;
    s.policy.path = "/a /b/c";
    ClientSession c;
    read_kex_s1(c, s.handle(kex_c1_header(c, p256(), "alice", "pw")));
    ck_assert_uint_eq(c.kex_s1.nc_max, 77);
    ck_assert_uint_eq(c.kex_s1.nc_window, 256);
    ck_assert_uint_eq(c.kex_s1.time, 42);
    ck_assert(c.kex_s1.path && *c.kex_s1.path == "/a /b/c");
    ck_assert(c.kex_s1.id.auth_scope && *c.kex_s1.id.auth_scope == scope);
    ck_assert_uint_eq(c.sid.size(), 16);  // 128 random bits
    expect_verified(c, s.handle(vfy_c_header(c, 1)), 1, "alice");
    // sids are random.
    ClientSession d;
    read_kex_s1(d, s.handle(kex_c1_header(d, p256(), "alice", "pw")));
    ck_assert(d.sid != c.sid);
}
END_TEST

START_TEST(non_ascii_user_names) {
    TestServer s;
    const std::string user = "Ren\xc3\xa9" "e";
    s.add_user(user, "pw");
    ClientSession c;
    const std::string header = kex_c1_header(c, p256(), user, "pw");
    ck_assert(header.find("user*=UTF-8''Ren%C3%A9e") != std::string::npos);
    read_kex_s1(c, s.handle(header));
    expect_verified(c, s.handle(vfy_c_header(c, 1)), 1, user.c_str());
    // A NUL inside the user name never reaches r->user: the grammar refuses
    // percent-encoded control characters (MUT01102), MUT01136 stands behind it.
    ClientSession d;
    std::string h = kex_c1_header(d, p256(), "alice", "pw");
    h.replace(h.find("user=\"alice\""), 12, "user*=UTF-8''alice%00admin");
    expect_init(s.handle(h), "invalid-parameters", "MUT01102", all_algorithms().size());
}
END_TEST

// ---- the DBM verifier source ---------------------------------------------------------

START_TEST(dbm_verifier_source) {
    ck_assert_int_eq(apr_initialize(), APR_SUCCESS);
    apr_pool_t* pool = nullptr;
    ck_assert_int_eq(apr_pool_create(&pool, nullptr), APR_SUCCESS);
    char dir[] = "/tmp/check_server_exchange.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const std::string path = std::string(dir) + "/users";
    const Algorithm& a = p256();
    Secret pi = compute_pi(a, "pw", scope, realm, "alice");
    VerifierEntry e;
    e.algorithm = &a;
    e.auth_scope = scope;
    e.realm = realm;
    ck_assert(a.verifier(pi, e.j) == KexError::none);
    VerifierEntry other = e;
    other.realm = "another realm";
    apr_dbm_t* db = nullptr;
    ck_assert_int_eq(apr_dbm_open_ex(&db, "default", path.c_str(), APR_DBM_RWCREATE, APR_OS_DEFAULT, pool), APR_SUCCESS);
    auto put = [&](const char* user, const std::string& value) {
        apr_datum_t k{const_cast<char*>(user), std::strlen(user)};
        apr_datum_t v{const_cast<char*>(value.data()), value.size()};
        ck_assert_int_eq(apr_dbm_store(db, k, v), APR_SUCCESS);
    };
    put("alice", encode_record({e}));
    put("bob", encode_record({other}));
    put("carol", "garbage");
    VerifierEntry dl = e;
    dl.algorithm = find_algorithm("iso-kam3-dl-2048-sha256");
    ck_assert(dl.algorithm->verifier(compute_pi(*dl.algorithm, "pw", scope, realm, "dave"), dl.j) == KexError::none);
    put("dave", encode_record({dl}));
    // A well-formed record whose DL entry holds J = 1 (not a group element):
    // only the entry used is validated, by the exchange.
    VerifierEntry broken_dl = dl;
    broken_dl.j.assign(dl.j.size(), 0);
    broken_dl.j.back() = 1;
    put("erin", encode_record({broken_dl, e}));
    apr_dbm_close(db);

    captured.clear();
    set_log_sink(capture_sink, nullptr);
    auto lookup_dbm_verifier = [](const std::string& file, const char* type, std::string_view user,
                                  const Algorithm& algorithm, const std::string& auth_scope,
                                  const std::string& auth_realm) {
        return DbmVerifierSource(file.c_str(), type, auth_scope, auth_realm).lookup(user, algorithm);
    };
    VerifierAnswer r = lookup_dbm_verifier(path, "default", "alice", a, scope, realm);
    ck_assert(r.status == VerifierStatus::found);
    ck_assert(r.j == e.j);
    r = lookup_dbm_verifier(path, "default", "nobody", a, scope, realm);
    ck_assert(r.status == VerifierStatus::unknown_user);
    r = lookup_dbm_verifier(path, "default", "bob", a, scope, realm);
    ck_assert(r.status == VerifierStatus::wrong_realm);
    ck_assert(logged("MUT01203"));
    // The misconfiguration line names the user, the file and both realms.
    bool named = false;
    for (const auto& line : captured)
        if (line.find("bob") != std::string::npos && line.find(path) != std::string::npos &&
            line.find("another realm") != std::string::npos && line.find(realm) != std::string::npos)
            named = true;
    ck_assert(named);
    r = lookup_dbm_verifier(path, "default", "carol", a, scope, realm);
    ck_assert(r.status == VerifierStatus::bad_record);
    ck_assert(logged("MUT01201"));
    r = lookup_dbm_verifier(path, "default", "dave", a, scope, realm);
    ck_assert(r.status == VerifierStatus::no_verifier);
    ck_assert(logged("MUT01204"));
    r = lookup_dbm_verifier(path, "default", "erin", a, scope, realm);
    ck_assert(r.status == VerifierStatus::found);
    ck_assert(r.j == e.j);
    r = lookup_dbm_verifier(path, "default", "erin", *dl.algorithm, scope, realm);
    ck_assert(r.status == VerifierStatus::found);  // J checked by server_exchange
    ck_assert(r.j == broken_dl.j);
    r = lookup_dbm_verifier(std::string(dir) + "/missing", "default", "alice", a, scope, realm);
    ck_assert(r.status == VerifierStatus::store_failed);
    ck_assert(!r.detail.empty());
    set_log_sink(nullptr, nullptr);

    // The source behind the exchange.
    TestServer s;
    s.policy.algorithms = {&a};
    VerifierRecordCache cache;
    DbmVerifierSource dbm(path.c_str(), "default", s.policy.auth_scope, s.policy.realm, &cache);
    ClientSession c;
    read_kex_s1(c, s.server->handle(s.policy, &dbm, kex_c1_header(c, a, "alice", "pw"), s.now));
    expect_verified(c, s.server->handle(s.policy, &dbm, vfy_c_header(c, 1), s.now), 1, "alice");

    // The per-process cache: the second lookup of a record, and of a
    // missing one, is answered from memory; a change of the file is seen.
    const auto misses = cache.statistics().misses;
    ck_assert(dbm.lookup("alice", a).status == VerifierStatus::found);
    ck_assert(dbm.lookup("frank", a).status == VerifierStatus::unknown_user);
    ck_assert(dbm.lookup("frank", a).status == VerifierStatus::unknown_user);
    ck_assert_uint_eq(cache.statistics().misses, misses + 1);  // alice came from the exchange
    ck_assert_uint_ge(cache.statistics().hits, 2);
    ck_assert_int_eq(apr_dbm_open_ex(&db, "default", path.c_str(), APR_DBM_READWRITE, APR_OS_DEFAULT, pool), APR_SUCCESS);
    put("frank", encode_record({e}));
    apr_dbm_close(db);
    ck_assert(dbm.lookup("frank", a).status == VerifierStatus::found);
    ck_assert_uint_ge(cache.statistics().invalidations, 1);

    std::string cleanup = std::string("rm -rf ") + dir;
    ck_assert_int_eq(std::system(cleanup.c_str()), 0);
    apr_pool_destroy(pool);
}
END_TEST

// ---- helpers ---------------------------------------------------------------------------

START_TEST(scope_and_vh_syntax) {
    ck_assert(check_auth_scope("example.com").empty());
    ck_assert(check_auth_scope("127.0.0.1").empty());
    ck_assert(check_auth_scope("http://example.com").empty());
    ck_assert(check_auth_scope("https://example.com:8443").empty());
    ck_assert(check_auth_scope("*.example.com").empty());
    ck_assert(check_auth_scope("http://[::1]:8080").empty());
    ck_assert(!check_auth_scope("").empty());
    ck_assert(!check_auth_scope("Example.com").empty());
    ck_assert(!check_auth_scope("http://example.com:80").empty());    // default port
    ck_assert(!check_auth_scope("https://example.com:443").empty());
    ck_assert(!check_auth_scope("ftp://example.com").empty());
    ck_assert(!check_auth_scope("http://example.com/path").empty());
    ck_assert(!check_auth_scope("example.com:8080").empty());
    ck_assert(!check_auth_scope("*.com").empty());
    ck_assert(!check_auth_scope("exa mple.com").empty());
    ck_assert(!check_auth_scope("http://example.com:08080").empty());

    // issue #10: AuthMutualPath elements and origins inside an auth-scope
    ck_assert(auth_scope_covers("example.com", "http://example.com:8080/x/"));
    ck_assert(auth_scope_covers("example.com", "https://EXAMPLE.com/"));
    ck_assert(!auth_scope_covers("example.com", "http://www.example.com/"));
    ck_assert(auth_scope_covers("*.example.com", "http://www.example.com:81"));
    ck_assert(auth_scope_covers("*.example.com", "http://example.com/"));  // §5
    ck_assert(!auth_scope_covers("*.example.com", "http://example.org/"));
    ck_assert(!auth_scope_covers("*.example.com", "http://evilexample.com/"));
    ck_assert(auth_scope_covers("http://example.com", "http://example.com:80/a"));
    ck_assert(!auth_scope_covers("http://example.com", "https://example.com/a"));
    ck_assert(!auth_scope_covers("https://example.com:8443", "https://example.com/"));
    ck_assert(auth_scope_covers("https://example.com:8443", "https://example.com:8443"));
    ck_assert(!auth_scope_covers("example.com", "/relative/"));
    ck_assert(!auth_scope_covers("example.com", "http://user@example.com/"));

    ck_assert(check_explicit_vh("https://www.example.com:443").empty());
    ck_assert(check_explicit_vh("http://[::1]:8080").empty());
    ck_assert(!check_explicit_vh("https://www.example.com").empty());  // port required
    ck_assert(!check_explicit_vh("HTTPS://www.example.com:443").empty());
    ck_assert(!check_explicit_vh("https://WWW.example.com:443").empty());
    ck_assert(!check_explicit_vh("https://www.example.com:0").empty());
    ck_assert(!check_explicit_vh("https://www.example.com:65536").empty());

    ck_assert(host_validation_value("http", "Example.COM", 80) == "http://example.com:80");
    ck_assert(host_validation_value("HTTPS", "[::1]", 8443) == "https://[::1]:8443");
}
END_TEST

namespace {

// A self-signed certificate signed with `md` (PEM).
std::string self_signed(const EVP_MD* md) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(key);
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    ck_assert_int_gt(X509_sign(x, key, md), 0);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(length));
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(key);
    return pem;
}

Bytes der_digest(const std::string& pem, const EVP_MD* md) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    unsigned char* der = nullptr;
    const int n = i2d_X509(x, &der);
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    EVP_Digest(der, static_cast<std::size_t>(n), out.data(), &len, md, nullptr);
    out.resize(len);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    return out;
}

}  // namespace

START_TEST(tls_server_end_point_binding) {
    const std::string sha256_cert = self_signed(EVP_sha256());
    std::optional<Bytes> b = tls_server_end_point(sha256_cert);
    ck_assert(b.has_value());
    ck_assert(*b == der_digest(sha256_cert, EVP_sha256()));
    const std::string sha384_cert = self_signed(EVP_sha384());
    b = tls_server_end_point(sha384_cert);
    ck_assert(b.has_value());
    ck_assert_uint_eq(b->size(), 48);
    ck_assert(*b == der_digest(sha384_cert, EVP_sha384()));
    // RFC 5929 §4.1: SHA-1 signatures use SHA-256.
    const std::string sha1_cert = self_signed(EVP_sha1());
    b = tls_server_end_point(sha1_cert);
    if (b) ck_assert(*b == der_digest(sha1_cert, EVP_sha256()));
    ck_assert(!tls_server_end_point("not a certificate").has_value());
    ck_assert(!tls_server_end_point("").has_value());
}
END_TEST

// The glue parses the header once: what it asks before the decision, and
// the decision from the parsed header.
START_TEST(parsed_authorization_is_what_handle_decides_from) {
    TestServer s;
    s.add_user("alice", "pw");
    ClientSession c;
    const std::string header = kex_c1_header(c, p256(), "alice", "pw");
    const ParsedAuthorization parsed(header);
    ck_assert(parsed.is_key_exchange());
    ck_assert(parsed.user() == "alice");
    ck_assert(ParsedAuthorization::is_mutual(header));
    ck_assert(!ParsedAuthorization::is_mutual("Basic YWxpY2U6cHc="));
    ck_assert(!ParsedAuthorization("Basic YWxpY2U6cHc=").is_key_exchange());
    ck_assert(!ParsedAuthorization("Mutual user=").is_key_exchange());
    const ExchangeResult result = s.server->handle(s.policy, &s.source, parsed, s.now);
    ck_assert(result.outcome == ExchangeOutcome::kex_s1);
    read_kex_s1(c, result);
}
END_TEST

namespace {

// alice's verified req-VFY-C with nc (into `header`) on the session of c.
ExchangeResult verified(TestServer& s, const ClientSession& c, std::uint64_t nc, std::string& header) {
    header = vfy_c_header(c, nc);
    ExchangeResult r = s.handle(header);
    expect_verified(c, r, nc, "alice");
    return r;
}

// ExchangeResult::keep into memory kept for the rest of the test.
std::vector<std::unique_ptr<char[]>> kept_memory;
void keep(ExchangeResult& r, const LocationPolicy& policy, std::string_view authorization) {
    kept_memory.push_back(std::make_unique<char[]>(ExchangeResult::keep_bytes(policy, authorization)));
    r.keep(policy, authorization, kept_memory.back().get());
}

}  // namespace

// The verification the module keeps on a request chain: a subrequest or an
// internal redirect reuses it only with the same Authorization, the same
// protection space and an algorithm still offered.
START_TEST(kept_verification_applies_to_its_own_chain_only) {
    TestServer s;
    s.add_user("alice", "pw");
    s.policy.origin = "http://example.com:80";
    ClientSession c = login(s, p256(), "alice", "pw");
    std::string header;
    ExchangeResult kept = verified(s, c, 2, header);
    // Not kept: nothing to reuse.
    ck_assert(!kept.reuse(s.policy, header, "/sub", s.now, LogLevel::debug).has_value());
    keep(kept, s.policy, header);
    ck_assert_uint_eq(kept.kept_identity.size(), ExchangeResult::keep_bytes(s.policy, header));
    std::optional<ExchangeResult> reused = kept.reuse(s.policy, header, "/sub", s.now, LogLevel::debug);
    ck_assert(reused.has_value());
    ck_assert(reused->verified());
    ck_assert_str_eq(reused->log_tag, "MUT01017");
    ck_assert(reused->log_message == "reusing the verification of the parent request for /sub");
    // The debug line is not even formatted below debug.
    reused = kept.reuse(s.policy, header, "/sub", s.now, LogLevel::info);
    ck_assert(reused.has_value() && reused->verified() && reused->log_message.empty());
    // Another Authorization (the next nc) is verified on its own.
    ck_assert(!kept.reuse(s.policy, vfy_c_header(c, 3), "/sub", s.now, LogLevel::debug).has_value());
    // Each field of the protection space.
    std::string LocationPolicy::*fields[] = {&LocationPolicy::auth_scope, &LocationPolicy::realm,
                                              &LocationPolicy::partition, &LocationPolicy::validation,
                                              &LocationPolicy::origin};
    for (std::string LocationPolicy::*field : fields) {
        LocationPolicy other = s.policy;
        (other.*field).append("x");
        ck_assert(!kept.reuse(other, header, "/sub", s.now, LogLevel::debug).has_value());
        // A field's octets moved into its neighbour is another space too.
        if (field != &LocationPolicy::origin) {
            LocationPolicy shifted = s.policy;
            shifted.origin.insert(0, 1, (shifted.*field).back());
            (shifted.*field).pop_back();
            ck_assert(!kept.reuse(shifted, header, "/sub", s.now, LogLevel::debug).has_value());
        }
    }
    // An algorithm this location does not offer.
    LocationPolicy other_algorithms = s.policy;
    other_algorithms.algorithms.clear();
    for (const Algorithm* a : all_algorithms())
        if (a != &p256()) other_algorithms.algorithms.push_back(a);
    ck_assert(!kept.reuse(other_algorithms, header, "/sub", s.now, LogLevel::debug).has_value());
    // Only a verified result is reused.
    ExchangeResult stale = s.handle(header);   // the same nc again: a replay
    expect_stale(stale, "MUT01118");
    keep(stale, s.policy, header);
    ck_assert(!stale.reuse(s.policy, header, "/sub", s.now, LogLevel::debug).has_value());
}
END_TEST

// A stricter location of the realm: the kept verification obeys its nc-max
// and session lifetime (401-STALE, MUT01412).
START_TEST(kept_verification_is_stale_beyond_the_location_limits) {
    TestServer s;
    s.add_user("alice", "pw");
    ClientSession c = login(s, p256(), "alice", "pw");
    std::string header;
    ExchangeResult kept = verified(s, c, 5, header);
    keep(kept, s.policy, header);
    LocationPolicy strict = s.policy;
    strict.nc_max = 5;
    ck_assert(kept.reuse(strict, header, "/strict", s.now, LogLevel::debug)->verified());
    strict.nc_max = 4;
    std::optional<ExchangeResult> stale = kept.reuse(strict, header, "/strict", s.now, LogLevel::debug);
    ck_assert(stale.has_value());
    expect_stale(*stale, "MUT01412");
    ck_assert(stale->log_message ==
              "401-STALE: the verification of the parent request (nc 5) is beyond the nc-max or lifetime of /strict");
    strict = s.policy;
    strict.session_time = 30;
    ck_assert(kept.reuse(strict, header, "/strict", kept.session_created + 29, LogLevel::debug)->verified());
    stale = kept.reuse(strict, header, "/strict", kept.session_created + 30, LogLevel::debug);
    ck_assert(stale.has_value());
    expect_stale(*stale, "MUT01412");
}
END_TEST

// mutual-logout: the session of a kept verification ends for good, in the
// protection space it was verified in.
START_TEST(logout_ends_the_verified_session) {
    TestServer s;
    s.add_user("alice", "pw");
    ClientSession c = login(s, p256(), "alice", "pw");
    std::string header, other;
    ExchangeResult kept = verified(s, c, 2, header);
    ExchangeResult not_kept = verified(s, c, 3, other);
    LocationPolicy elsewhere = s.policy;
    elsewhere.realm = "another realm";
    keep(kept, elsewhere, header);
    ExchangeResult r = s.server->logout(kept);
    ck_assert(!r.unavailable());
    ck_assert_int_eq(r.status, 200);
    ck_assert(r.log_message == "user \"alice\" logged out: session " + encode_hex_fixed(c.sid) + " was already gone");
    r = s.server->logout(not_kept);    // no protection space kept
    ck_assert(r.log_message.find(" was already gone") != std::string::npos);
    expect_verified(c, s.handle(vfy_c_header(c, 4)), 4, "alice");
    keep(kept, s.policy, header);
    r = s.server->logout(kept);
    ck_assert(!r.unavailable());
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.log_tag, "MUT01605");
    ck_assert(r.log_level == LogLevel::info);
    ck_assert(r.log_message == "user \"alice\" logged out: session " + encode_hex_fixed(c.sid) + " ended");
    ck_assert(!s.handle(vfy_c_header(c, 5)).verified());
    r = s.server->logout(kept);
    ck_assert(r.log_message.find(" was already gone") != std::string::npos);
}
END_TEST

// The module's start: one plan, the locks and the table in one block of
// memory of any alignment, algorithms collected by name.
START_TEST(shared_plan_formats_and_attaches) {
    ServerOptions o;
    o.table_slots = 64;
    o.stripes = 4;
    o.use_algorithm("ISO-KAM3-EC-P256-SHA256");
    o.use_algorithm("iso-kam3-ec-p256-sha256");
    o.use_algorithm("no-such-algorithm");
    ck_assert_uint_eq(o.algorithms.size(), 1);
    const ServerPlan plan = mutual::Server::plan(o);
    ck_assert(plan.usable());
    ck_assert_uint_eq(plan.layout.stripes, 4);
    ck_assert_uint_eq(plan.geometry.max_key_exchanges, 32);
    ck_assert_uint_ge(plan.shared_bytes, mutual::Server::bytes_needed(o) + ProcessSharedLocks::bytes_needed(4));
    ServerOptions bigger = o;
    bigger.use_algorithm("iso-kam3-dl-4096-sha512");
    ck_assert(!mutual::Server::plan(bigger).same_table(plan));
    ck_assert(mutual::Server::plan(o).same_table(plan));
    ServerOptions none;
    none.table_slots = 64;
    ck_assert(!mutual::Server::plan(none).usable());

    std::vector<unsigned char> memory(plan.shared_bytes + 1);
    void* unaligned = memory.data() + 1;
    const char* tag = nullptr;
    const char* problem = nullptr;
    ck_assert(!mutual::Server::format_shared(unaligned, plan.shared_bytes - 1, o, tag, problem));
    ck_assert_str_eq(tag, "MUT01500");
    ck_assert_str_eq(problem, "cannot format the session table or create its mutexes");
    tag = nullptr;
    ck_assert(mutual::Server::format_shared(unaligned, plan.shared_bytes, o, tag, problem));
    ck_assert(tag == nullptr);
    mutual::Server server(unaligned, plan.shared_bytes, o);
    ck_assert(server.valid());
    ck_assert(server.table_valid());
    ck_assert_uint_eq(server.store().statistics().slots, 64);
    // The hash key lives in the memory: a second attachment (a graceful
    // restart keeping the memory) hashes alike, a new table gets a new key.
    const auto space = [](const mutual::Server& s) { return s.store().realm_id("a", "scope", "realm", "partition"); };
    mutual::Server again(unaligned, plan.shared_bytes, o);
    ck_assert(space(again) == space(server));
    std::vector<unsigned char> other(plan.shared_bytes);
    ck_assert(mutual::Server::format_shared(other.data(), other.size(), o, tag, problem));
    mutual::Server another(other.data(), other.size(), o);
    ck_assert(another.valid());
    ck_assert(space(another) != space(server));
    mutual::Server too_small(unaligned, plan.shared_bytes - 1, o);
    ck_assert(!too_small.valid());
    ck_assert(!too_small.table_valid());
}
END_TEST

START_TEST(fake_verifiers_cover_every_algorithm) {
    FakeVerifiers f;
    ck_assert(f.generate());
    for (const Algorithm* a : all_algorithms()) {
        const Bytes* j = f.find(*a);
        ck_assert_ptr_nonnull(j);
        ck_assert_uint_eq(j->size(), a->element_length());
        ck_assert_uint_ge(session_key_capacity(*a), 3 * a->element_length());
        ck_assert(algorithm_index(*a).has_value());
    }
    FakeVerifiers g;
    ck_assert(g.generate());
    ck_assert(*g.find(p256()) != *f.find(p256()));  // random per start
}
END_TEST

// Server::handle over a location's settings: the core composes the sources
// from its directives (AuthMutualProvider, AuthMutualDBDUserQuery) and asks
// the glue's query, which speaks standard types only: the rows of a user
// are one record, no row is an unknown user (a fake session: the exchange
// fails at verification), a failed query is 401-INIT internal-error, and
// answers are cached per server for AuthMutualRecheckInterval.
START_TEST(handle_composes_the_sources_of_a_location) {
    TestServer s;
    LocationSettings settings;
    ck_assert(settings.set("AuthMutualProvider", "dbd").empty());
    ck_assert(settings.set("AuthMutualDBDUserQuery", "SELECT verifier FROM users WHERE name = %s").empty());
    ck_assert(settings.set("AuthMutualRecheckInterval", "60").empty());
    VerifierEntry alice, other_realm;
    alice.algorithm = other_realm.algorithm = &p256();
    alice.auth_scope = other_realm.auth_scope = scope;
    alice.realm = realm;
    other_realm.realm = "another realm";
    ck_assert(p256().verifier(compute_pi(p256(), "pw", scope, realm, "alice"), alice.j) == KexError::none);
    ck_assert(p256().verifier(compute_pi(p256(), "pw", scope, "another realm", "alice"), other_realm.j) ==
              KexError::none);
    std::map<std::string, std::vector<std::string>> table;
    table["alice"] = {encode_record({other_realm}), encode_record({alice})};
    int queries = 0;
    bool down = false;
    const DatabaseQuery query = [&](std::string_view user, std::vector<std::string>& rows, std::string& error) {
        ++queries;
        if (down) {
            error = "connection refused";
            return false;
        }
        auto it = table.find(std::string(user));
        if (it != table.end()) rows = it->second;
        return true;
    };
    int first_server = 0, second_server = 0;
    auto handle = [&](const std::string& header, const void* server) {
        const ParsedAuthorization parsed(header);
        return s.server->handle(s.policy, settings, query, server, &parsed, s.now, LogLevel::debug);
    };
    // Two rows, one of them this realm's: the exchange completes.
    ClientSession c;
    read_kex_s1(c, handle(kex_c1_header(c, p256(), "alice", "pw"), &first_server));
    expect_verified(c, handle(vfy_c_header(c, 1), &first_server), 1, "alice");
    ck_assert_int_eq(queries, 1);
    // Cached for this server, asked again for another one.
    ClientSession again;
    read_kex_s1(again, handle(kex_c1_header(again, p256(), "alice", "pw"), &first_server));
    ck_assert_int_eq(queries, 1);
    read_kex_s1(again, handle(kex_c1_header(again, p256(), "alice", "pw"), &second_server));
    ck_assert_int_eq(queries, 2);
    // No row: a fake session that never verifies.
    ClientSession unknown;
    read_kex_s1(unknown, handle(kex_c1_header(unknown, p256(), "bob", "pw"), &first_server));
    ck_assert(handle(vfy_c_header(unknown, 1), &first_server).outcome != ExchangeOutcome::verified);
    // The database down: internal-error, never a fake session.
    down = true;
    ClientSession failed;
    expect_init(handle(kex_c1_header(failed, p256(), "carol", "pw"), &first_server), "internal-error",
                "MUT01108", all_algorithms().size());
    // No authorization at all: 401-INIT without asking anything.
    const int asked = queries;
    expect_init(s.server->handle(s.policy, settings, query, &first_server, nullptr, s.now, LogLevel::debug),
                "initial", "MUT01100", all_algorithms().size());
    ck_assert_int_eq(queries, asked);
}
END_TEST

int main() {
    Suite* s = suite_create("server_exchange");
    TCase* tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, initial_request_gets_one_challenge_per_algorithm);
    tcase_add_test(tc, revoked_verifier_ends_the_session);
    tcase_add_test(tc, full_exchange_and_reuse_for_every_algorithm);
    tcase_add_test(tc, req_vfy_c_verified_through_either_parser);
    tcase_add_test(tc, replayed_nc_is_stale_and_kills_the_session);
    tcase_add_test(tc, nc_limits_and_expiry);
    tcase_add_test(tc, sessions_are_bound_to_origin_and_location_limits);
    tcase_add_test(tc, malformed_vkc_rejects_a_key_exchanging_session);
    tcase_add_test(tc, wrong_password_fails_at_verification);
    tcase_add_test(tc, unknown_user_gets_an_indistinguishable_fake_session);
    tcase_add_test(tc, oversize_user_name_gets_a_fake_session);
    tcase_add_test(tc, session_stores_z_from_the_key_exchange);
    tcase_add_test(tc, invalid_stored_j_gives_a_fake_session);
    tcase_add_test(tc, bad_kc1_is_invalid_parameters);
    tcase_add_test(tc, other_protection_space_is_invalid_parameters);
    tcase_add_test(tc, malformed_headers_are_invalid_parameters);
    tcase_add_test(tc, stale_for_unknown_sid_and_shortcuts);
    tcase_add_test(tc, server_side_failures_are_internal_error);
    tcase_add_test(tc, kex_s1_carries_configured_parameters);
    tcase_add_test(tc, non_ascii_user_names);
    tcase_add_test(tc, dbm_verifier_source);
    tcase_add_test(tc, scope_and_vh_syntax);
    tcase_add_test(tc, tls_server_end_point_binding);
    tcase_add_test(tc, fake_verifiers_cover_every_algorithm);
    tcase_add_test(tc, shared_plan_formats_and_attaches);
    tcase_add_test(tc, kept_verification_applies_to_its_own_chain_only);
    tcase_add_test(tc, kept_verification_is_stale_beyond_the_location_limits);
    tcase_add_test(tc, logout_ends_the_verified_session);
    tcase_add_test(tc, parsed_authorization_is_what_handle_decides_from);
    tcase_add_test(tc, handle_composes_the_sources_of_a_location);
    suite_add_tcase(s, tc);
    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

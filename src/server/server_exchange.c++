#include "server/server_exchange.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "algorithm.h"
#include "ascii.h"
#include "encoding.h"
#include "server/session_store.h"
#include "verifier_record.h"

namespace mutual {

// ---- names ----------------------------------------------------------------

const char* exchange_outcome_name(ExchangeOutcome o) noexcept {
    switch (o) {
        case ExchangeOutcome::init: return "401-INIT";
        case ExchangeOutcome::stale: return "401-STALE";
        case ExchangeOutcome::kex_s1: return "401-KEX-S1";
        case ExchangeOutcome::verified: return "200-VFY-S";
        case ExchangeOutcome::unavailable: return "503";
    }
    return "?";
}

// ---- out-of-line special members -------------------------------------------------

LocationPolicy::LocationPolicy() = default;
LocationPolicy::~LocationPolicy() = default;
LocationPolicy::LocationPolicy(const LocationPolicy&) = default;
LocationPolicy& LocationPolicy::operator=(const LocationPolicy&) = default;
ExchangeResult::ExchangeResult() = default;
ExchangeResult::~ExchangeResult() = default;
ExchangeResult::ExchangeResult(ExchangeResult&&) noexcept = default;
ExchangeResult& ExchangeResult::operator=(ExchangeResult&&) noexcept = default;

// ---- fake verifiers -------------------------------------------------------------

bool FakeVerifiers::generate() {
    j_.clear();
    for (const Algorithm* a : all_algorithms()) {
        Secret pi(a->hash_length());
        if (RAND_bytes(pi.data(), static_cast<int>(pi.size())) != 1) return false;
        Bytes j;
        if (a->verifier(pi, j) != KexError::none || j.size() != a->element_length()) return false;
        j_.emplace_back(a, std::move(j));
    }
    return true;
}

const Bytes* FakeVerifiers::find(const Algorithm& algorithm) const noexcept {
    for (const auto& entry : j_)
        if (entry.first == &algorithm) return &entry.second;
    return nullptr;
}

// ---- small helpers ----------------------------------------------------------------

std::optional<std::uint8_t> algorithm_index(const Algorithm& algorithm) noexcept {
    const auto& all = all_algorithms();
    for (std::size_t i = 0; i < all.size() && i < 256; ++i)
        if (all[i] == &algorithm) return static_cast<std::uint8_t>(i);
    return std::nullopt;
}

std::size_t session_key_capacity(const Algorithm& algorithm) noexcept {
    return 2 * algorithm.element_length() +
           std::max(algorithm.element_length(), algorithm.scalar_length());
}

// ---- the decision procedure ---------------------------------------------------------

namespace {

RealmId realm_id_for(const LocationPolicy& p, const Algorithm& a) {
    RealmId id;
    id.algorithm = std::string(a.name());
    id.validation = p.validation;
    // Non-mandatory (RFC 8120 §4.1): a location without one (an incomplete
    // .htaccess, answered internal-error) sends none rather than "".
    if (!p.auth_scope.empty()) id.auth_scope = p.auth_scope;
    id.realm = p.realm;
    return id;
}

ExchangeResult init_result(const LocationPolicy& p, const char* reason, LogLevel level,
                           const char* tag, std::string message) {
    ExchangeResult r;
    r.outcome = ExchangeOutcome::init;
    r.status = 401;
    r.reason = reason;
    try {
        r.www_authenticate = init_challenges(p, reason);
    } catch (...) {
        r.www_authenticate.clear();
    }
    r.log_level = level;
    r.log_tag = tag;
    r.log_message = std::move(message);
    return r;
}

ExchangeResult stale_result(const LocationPolicy& p, const Algorithm& a, const char* tag,
                            std::string message) {
    ExchangeResult r;
    r.outcome = ExchangeOutcome::stale;
    r.status = 401;
    r.reason = "stale-session";
    MutualChallenge c;
    c.kind = ResponseKind::stale;
    c.id = realm_id_for(p, a);
    c.reason = "stale-session";
    r.www_authenticate.push_back(serialize_challenge(c, a.quoted_on_wire()));
    r.log_level = LogLevel::info;
    r.log_tag = tag;
    r.log_message = std::move(message);
    return r;
}

std::string describe_sid(ByteView sid) { return encode_hex_fixed(sid); }

// The store did not answer: 503, no challenge (the client retries the same
// request later). The store logs the outage once; this line is per request.
constexpr std::uint32_t unavailable_retry_after = 2;   // seconds
ExchangeResult unavailable_result(const char* tag, std::string message) {
    ExchangeResult r;
    r.outcome = ExchangeOutcome::unavailable;
    r.status = 503;
    r.reason = "unavailable";
    r.retry_after = unavailable_retry_after;
    r.log_level = LogLevel::info;
    r.log_tag = tag;
    r.log_message = std::move(message);
    return r;
}

}  // namespace

std::uint64_t session_space(const SessionStore& store, const LocationPolicy& p, const Algorithm& a) {
    for (const SessionSpaceMemo& m : p.space_memo)
        if (m.store == &store && m.algorithm == &a && m.auth_scope == p.auth_scope && m.realm == p.realm &&
            m.partition == p.partition && m.validation == p.validation && m.origin == p.origin)
            return m.space;
    std::string origin;
    origin.reserve(p.validation.size() + p.origin.size() + 1);
    origin += p.validation;
    origin += ' ';
    origin += p.origin;
    const std::uint64_t space = store.realm_id(a.name(), p.auth_scope, p.realm, p.partition, origin);
    // Bounded: one entry per store and algorithm (a changed policy replaces them all).
    if (p.space_memo.size() >= 2 * all_algorithms().size()) p.space_memo.clear();
    p.space_memo.push_back(SessionSpaceMemo{&store, &a, space, p.auth_scope, p.realm, p.partition,
                                            p.validation, p.origin});
    return space;
}

namespace {

// The realm-identifying fields of a request (algorithm and validation as
// received or lower-cased) against the location's policy. Returns the
// offered algorithm, or nullptr with `why` filled in.
struct RealmFields {
    std::string_view algorithm, validation, realm;
    std::optional<std::string_view> auth_scope;
};

// Whether `received` lower-cased is `lower` (without a copy).
bool lowercased_equals(std::string_view received, std::string_view lower) noexcept {
    if (received.size() != lower.size()) return false;
    if (received == lower) return true;   // the usual case: sent in lower case
    for (std::size_t i = 0; i < lower.size(); ++i)
        if (ascii_lower(received[i]) != lower[i]) return false;
    return true;
}

const Algorithm* match_realm(const LocationPolicy& p, const RealmFields& id, std::string& why) {
    const Algorithm* algorithm = nullptr;
    for (const Algorithm* a : p.algorithms)
        if (lowercased_equals(id.algorithm, a->name())) algorithm = a;
    if (algorithm == nullptr) {
        why = "algorithm \"" + loggable(ascii_lowercase(id.algorithm)) + "\" is not offered here";
        return nullptr;
    }
    if (!lowercased_equals(id.validation, p.validation)) {
        why = "validation \"" + loggable(ascii_lowercase(id.validation)) + "\" where \"" + p.validation +
              "\" is expected";
        return nullptr;
    }
    if (!id.auth_scope) {
        why = "auth-scope missing (expected \"" + loggable(p.auth_scope) + "\")";
        return nullptr;
    }
    if (*id.auth_scope != p.auth_scope) {
        why = "auth-scope \"" + loggable(*id.auth_scope) + "\" where \"" + loggable(p.auth_scope) +
              "\" is expected";
        return nullptr;
    }
    if (id.realm != p.realm) {
        why = "realm \"" + loggable(id.realm) + "\" where \"" + loggable(p.realm) +
              "\" is expected";
        return nullptr;
    }
    return algorithm;
}

RealmFields realm_fields(const RealmId& id) noexcept {
    RealmFields f{id.algorithm, id.validation, id.realm, std::nullopt};
    if (id.auth_scope) f.auth_scope = std::string_view(*id.auth_scope);
    return f;
}

RealmFields realm_fields(const VerificationView& v) noexcept {
    return RealmFields{v.algorithm, v.validation, v.realm, v.auth_scope};
}

ExchangeResult key_exchange(const LocationPolicy& p, const Algorithm& a,
                            const MutualCredentials& cred, ExchangeContext& ctx) {
    const std::string user = loggable(cred.user);
    // A NUL would cut the name short in r->user (C string): never accept one.
    // (The grammar already refuses it; this guards the C boundary.)
    if (cred.user.find('\0') != std::string::npos)
        return init_result(p, "invalid-parameters", LogLevel::error, "MUT01136",
                           "req-KEX-C1 rejected: user name \"" + user + "\" contains NUL");
    DecodeError decode_error = DecodeError::none;
    std::optional<Bytes> k_c1 = a.decode_key(cred.kc1, &decode_error);
    if (!k_c1)
        return init_result(p, "invalid-parameters", LogLevel::error, "MUT01105",
                           "req-KEX-C1 from user \"" + user + "\" rejected: kc1 does not decode (" +
                               decode_error_name(decode_error) + ")");
    const std::optional<std::uint8_t> index = algorithm_index(a);
    const Bytes* fake_j = ctx.fakes.find(a);
    if (!index || !fake_j)
        return init_result(p, "internal-error", LogLevel::error, "MUT01107",
                           "no fake verifier for " + std::string(a.name()) +
                               " (module not initialised)");

    // RFC 8120 §11: an invalid, unknown or unacceptable user name gets a fake
    // 401-KEX-S1 (Note 2: a 401-INIT would tell the client the name is
    // refused). A name over the session table's limit is never looked up; the
    // fake session keeps its first max_user_length octets for the logs.
    VerifierAnswer answer;
    if (cred.user.size() > max_user_length) {
        answer.status = VerifierStatus::unacceptable_user;
    } else if (ctx.verifiers != nullptr) {
        answer = ctx.verifiers->lookup(cred.user, a);
    } else {
        answer.status = VerifierStatus::store_failed;
        answer.detail = "no verifier source configured (AuthMutualUserFile)";
    }
    if (answer.status == VerifierStatus::store_failed) {
        ExchangeResult failed = init_result(p, "internal-error", LogLevel::error, "MUT01108",
                                            "req-KEX-C1 from user \"" + user + "\": " + answer.detail);
        failed.store_failed = true;
        return failed;
    }
    bool fake = answer.status != VerifierStatus::found ||
                answer.j.size() != a.element_length();
    const Bytes* j = fake ? fake_j : &answer.j;

    // One call checks K_c1 and computes K_s1 and z from a fresh S_s1; the
    // same work for real and fake sessions. z is stored in the session at
    // once and S_s1 wiped by the algorithm: the table never holds S_s1.
    Bytes k_s1;
    Secret z;
    KexError kex = a.server_exchange(*j, *k_c1, k_s1, z);
    if (kex == KexError::bad_verifier && !fake) {
        // The stored J is not a valid group element, or gives an invalid
        // K_s1 (logged by the algorithm): a corrupt record. Treat it like a
        // malformed record, a fake session.
        log(LogLevel::error, "MUT01205",
            "verifier record of user \"" + user + "\" is malformed (" +
                record_error_name(RecordError::bad_verifier) + ", " + std::string(a.name()) +
                "); rewrite it with htmutual");
        answer.status = VerifierStatus::bad_record;
        fake = true;
        j = fake_j;
        kex = a.server_exchange(*j, *k_c1, k_s1, z);
    }
    if (kex == KexError::bad_encoding || kex == KexError::out_of_range ||
        kex == KexError::not_on_curve || kex == KexError::infinity)
        return init_result(p, "invalid-parameters", LogLevel::error, "MUT01106",
                           "req-KEX-C1 from user \"" + user + "\" rejected: invalid kc1 (" +
                               kex_error_name(kex) + ")");
    if (kex != KexError::none)
        return init_result(p, "internal-error", LogLevel::error, "MUT01109",
                           "req-KEX-C1 from user \"" + user + "\": computing K_s1 and z failed (" +
                               kex_error_name(kex) + ")");

    NewSession n;
    if (RAND_bytes(n.sid.data(), static_cast<int>(n.sid.size())) != 1)
        return init_result(p, "internal-error", LogLevel::error, "MUT01110",
                           "req-KEX-C1: the random number generator failed");
    n.realm_id = session_space(ctx.store, p, a);
    n.algorithm = *index;
    n.fake = fake;
    n.user = std::string_view(cred.user).substr(0, max_user_length);
    n.k_c1 = &*k_c1;
    n.k_s1 = &k_s1;
    n.z = &z;
    n.nc_max = p.nc_max;
    n.nc_window = p.nc_window;
    n.now = ctx.now;
    n.expires = ctx.now + static_cast<std::int64_t>(p.session_time);
    n.verifier_tag = fake ? 0 : ctx.store.verifier_tag(*j);
    const InsertResult inserted = ctx.store.insert(n);
    if (inserted.status == InsertStatus::unavailable)
        return unavailable_result("MUT02000", "req-KEX-C1 from user \"" + user +
                                                  "\": 503, the session store is unavailable");
    if (inserted.status != InsertStatus::ok)
        return init_result(p, "internal-error", LogLevel::error, "MUT01111",
                           "req-KEX-C1 from user \"" + user + "\": storing the session failed (" +
                               (inserted.status == InsertStatus::lock_failed ? "lock failed"
                                : inserted.status == InsertStatus::too_large
                                    ? "keys larger than the table slots: AuthMutualAlgorithms in .htaccess?"
                                    : "bad argument") +
                               ")");

    ExchangeResult r;
    r.outcome = ExchangeOutcome::kex_s1;
    r.status = 401;
    MutualChallenge c;
    c.kind = ResponseKind::kex_s1;
    c.id = realm_id_for(p, a);
    c.sid.assign(n.sid.begin(), n.sid.end());
    c.ks1 = a.encode_key(k_s1);
    c.nc_max = p.nc_max;
    c.nc_window = p.nc_window;
    c.time = p.session_time;
    c.path = p.path;
    r.www_authenticate.push_back(serialize_challenge(c, a.quoted_on_wire()));
    r.sid = c.sid;
    r.algorithm = a.name();
    r.log_level = LogLevel::debug;
    r.log_tag = "MUT01112";
    if (ctx.log_level >= LogLevel::debug)
        r.log_message = "401-KEX-S1 for user \"" + user + "\" (" + std::string(a.name()) +
                    "), sid " + describe_sid(r.sid) +
                    (fake ? ", fake session (" + std::string(verifier_status_name(answer.status)) + ")"
                          : std::string()) +
                    (inserted.eviction != Eviction::none
                         ? std::string(", evicted one ") + eviction_name(inserted.eviction) + " session"
                         : std::string());
    return r;
}

// Revocation (RFC 8120 §11 leaves the session's end to the server): once
// per recheck interval a verified request of an established session re-reads
// the user's verifier. Deleted or changed: the session ends for good and the
// request gets 401-STALE (the client's new key exchange then fails as for
// any unknown user or wrong password). An unreadable store keeps the session
// (and is checked again by the next request).
std::optional<ExchangeResult> recheck_verifier(const LocationPolicy& p, const Algorithm& a,
                                               ByteView sid,
                                               const SessionSnapshot& snap, std::uint64_t realm,
                                               ExchangeContext& ctx) {
    if (ctx.now - snap.verifier_checked < static_cast<std::int64_t>(p.recheck_interval))
        return std::nullopt;
    if (ctx.verifiers == nullptr) return std::nullopt;
    const VerifierAnswer answer = ctx.verifiers->lookup_current(snap.user, a);
    const std::string user = loggable(snap.user);
    if (answer.status == VerifierStatus::store_failed) {
        log(LogLevel::warn, "MUT01600",
            "cannot re-read the verifier of user \"" + user + "\" (" + answer.detail +
                "); the session is kept until the next check");
        return std::nullopt;
    }
    if (answer.status == VerifierStatus::found && answer.j.size() == a.element_length() &&
        ctx.store.verifier_tag(answer.j) == snap.verifier_tag) {
        ctx.store.mark_verifier_checked(sid, realm, ctx.now);
        return std::nullopt;
    }
    ctx.store.end_session(sid, realm);
    const std::string what = answer.status == VerifierStatus::found
                                 ? std::string("changed")
                                 : std::string("is gone (") + verifier_status_name(answer.status) + ")";
    return stale_result(p, a, "MUT01601",
                        "401-STALE: the verifier of user \"" + user + "\" " + what + "; session " +
                            describe_sid(sid) + " ended");
}

// The 200-VFY-S of a verified req-VFY-C, built where the caller's result
// lives (one return: no move of a whole result).
ExchangeResult verified_result(const Algorithm& a, const VerificationView& cred, std::int64_t created,
                               std::string user, const HashValue& vks, const HashValue& b1_inner,
                               const HashValue& b2_inner, bool first, const ExchangeContext& ctx) {
    const ByteView sid = cred.sid();
    ExchangeResult r;
    r.outcome = ExchangeOutcome::verified;
    r.status = 200;
    r.user = std::move(user);
    r.algorithm = a.name();
    r.sid.assign(sid.begin(), sid.end());
    r.nc = cred.nc;
    r.session_created = created;
    std::array<char, Algorithm::max_vk_text> vks_text;
    r.authentication_info = serialize_auth_info(sid, a.encode_vk(vks.view(), vks_text), a.quoted_on_wire());
    r.b1_inner = b1_inner;
    r.b2_inner = b2_inner;
    r.log_level = LogLevel::debug;
    r.log_tag = "MUT01127";
    if (ctx.log_level >= LogLevel::debug)
        r.log_message = "user \"" + loggable(r.user) + "\" authenticated (" + std::string(a.name()) + ", sid " +
                        describe_sid(sid) + ", nc " + std::to_string(cred.nc) + (first ? ", new session)" : ")");
    return r;
}

ExchangeResult verify(const LocationPolicy& p, const Algorithm& a, const VerificationView& cred,
                      ExchangeContext& ctx) {
    const ByteView sid = cred.sid();
    // Formatted only for a log line that is written (a failure, or debug).
    // The sid is valid hex: its lower-cased text is its hex encoding.
    auto sid_text = [sid] { return describe_sid(sid); };
    auto nc_text = [&cred] { return std::to_string(cred.nc); };
    const std::uint64_t realm = session_space(ctx.store, p, a);
    // This location's limits apply to sessions made elsewhere in the realm.
    SessionLimits limits;
    limits.nc_max = p.nc_max;
    limits.nc_window = p.nc_window;
    limits.lifetime = p.session_time;
    SessionSnapshot snap;
    const VerifyCheck check = ctx.store.begin_verify(sid, realm, cred.nc, ctx.now, snap, limits);
    switch (check) {
        case VerifyCheck::ok:
            break;
        case VerifyCheck::unknown:
            return stale_result(p, a, "MUT01114", "401-STALE: unknown sid " + sid_text());
        case VerifyCheck::expired:
            return stale_result(p, a, "MUT01115", "401-STALE: session " + sid_text() + " expired");
        case VerifyCheck::above_nc_max:
            return stale_result(p, a, "MUT01116", "401-STALE: nc " + nc_text() + " above nc-max " +
                                                      std::to_string(p.nc_max) + " in session " +
                                                      sid_text() + "; session made inactive");
        case VerifyCheck::below_window:
            return stale_result(p, a, "MUT01117", "401-STALE: nc " + nc_text() +
                                                      " below the nonce window of session " +
                                                      sid_text() + "; session made inactive");
        case VerifyCheck::duplicate:
            return stale_result(p, a, "MUT01118", "401-STALE: nc " + nc_text() +
                                                      " used twice (replay?) in session " + sid_text() +
                                                      "; session made inactive");
        case VerifyCheck::rejected:
            return init_result(p, "auth-failed", LogLevel::error, "MUT01119",
                               "req-VFY-C for rejected session " + sid_text() + " refused");
        case VerifyCheck::unavailable:
            return unavailable_result("MUT02001", "req-VFY-C for sid " + sid_text() +
                                                      ": 503, the session store is unavailable");
        case VerifyCheck::lock_failed:
            return init_result(p, "internal-error", LogLevel::error, "MUT01120",
                               "req-VFY-C for sid " + sid_text() + ": session table lock failed");
    }
    // RFC 8120 §11 looks the session up first: an unknown or expired sid is
    // 401-STALE whatever vkc holds. A malformed vkc is a failed verification
    // (§11): a key-exchanging session becomes rejected, an authenticated one
    // stays as it was.
    DecodeError decode_error = DecodeError::none;
    std::array<std::uint8_t, EVP_MAX_MD_SIZE> vkc_octets;
    const ByteView vkc = a.decode_vk(cred.vkc, vkc_octets, &decode_error);
    if (vkc.empty()) {
        const VerifyCommit failed =
            ctx.store.finish_verify(snap, cred.nc, false, ctx.now, limits);
        return init_result(p, "invalid-parameters", LogLevel::error, "MUT01113",
                           "req-VFY-C for sid " + sid_text() + " rejected: vkc does not decode (" +
                               decode_error_name(decode_error) + ")" +
                               (failed == VerifyCommit::rejected ? "; session rejected" : ""));
    }
    // Outside the lock: VK_c, and VK_s when it matched, over the keys where
    // the table keeps them (z was computed at the key exchange and stored
    // with the session). A fake session does the same work and fails only at
    // the end. What outlives the exchange (the user name) is copied before
    // finish_verify, which tells whether the views stayed valid.
    const bool first = snap.state == SessionState::key_exchanging;
    TranscriptHasher hasher;
    HashValue expected, vks, b1_inner, b2_inner;
    const bool match = hasher.hash(a, TranscriptHasher::vk_c, snap.k_c1, snap.k_s1, snap.z, cred.nc, p.vh, expected) &&
                       equal_constant_time(expected.view(), vkc);
    const bool hashed =
        match && !snap.fake &&
        hasher.hash(a, TranscriptHasher::vk_s, snap.k_c1, snap.k_s1, snap.z, cred.nc, p.vh, vks) &&
        hasher.hash(a, TranscriptHasher::b1_inner, snap.k_c1, snap.k_s1, snap.z, 0, p.vh, b1_inner) &&
        hasher.hash(a, TranscriptHasher::b2_inner, snap.k_c1, snap.k_s1, snap.z, cred.nc, p.vh, b2_inner);
    const bool verified = match && !snap.fake;
    std::string user(snap.user);
    if (verified && !first) {
        std::optional<ExchangeResult> revoked = recheck_verifier(p, a, sid, snap, realm, ctx);
        if (revoked) return std::move(*revoked);
    }

    const VerifyCommit commit = ctx.store.finish_verify(snap, cred.nc, verified, ctx.now, limits);
    // The slot was released while we hashed (a concurrent request used the
    // same nc first, an eviction, a logout): the views may have seen a
    // wiped or reused slot, so neither a match nor a mismatch means
    // anything. The session is gone: 401-STALE, as for an unknown sid.
    if (commit == VerifyCommit::unavailable)
        return unavailable_result("MUT02002", "req-VFY-C for sid " + sid_text() +
                                                  ": 503, the session store is unavailable (verdict not recorded)");
    if (commit == VerifyCommit::vanished)
        return stale_result(p, a, "MUT01126", "401-STALE: session " + sid_text() +
                                                  " went away during verification");
    // Whatever vkc held: a store that checks the nonce only in this step
    // (Redis answering step 1 from the node's cache) finds a used or too old
    // nc here, and RFC 8120 §11 answers 401-STALE before looking at vkc.
    if (commit == VerifyCommit::duplicate)
        return stale_result(p, a, "MUT01124", "401-STALE: nc " + nc_text() +
                                                  " used twice (a replay, or concurrent requests) in session " +
                                                  sid_text() + "; session made inactive");
    if (commit == VerifyCommit::below_window)
        return stale_result(p, a, "MUT01125", "401-STALE: nc " + nc_text() +
                                                  " fell below the nonce window of session " +
                                                  sid_text() + "; session made inactive");
    if (!verified) {
        if (commit == VerifyCommit::lock_failed)
            return init_result(p, "internal-error", LogLevel::error, "MUT01130",
                               "req-VFY-C for sid " + sid_text() + ": session table lock failed");
        ExchangeResult failed =
            snap.fake
                ? init_result(p, "auth-failed", LogLevel::error, "MUT01122",
                              "user \"" + loggable(user) + "\": authentication failure for sid " +
                                  sid_text() + ": unknown user or no usable verifier")
                : init_result(p, "auth-failed", LogLevel::error, "MUT01123",
                           "user \"" + loggable(user) + "\": authentication failure for sid " + sid_text() +
                               ": wrong vkc (password mismatch or wrong vh \"" +
                               (p.validation == "host" ? loggable(p.vh) : std::string("<tls cert hash>")) + "\")" +
                               (commit == VerifyCommit::rejected ? "; session rejected" : ""));
        failed.verification_failed = true;
        failed.user = std::move(user);
        return failed;
    }
    switch (commit) {
        case VerifyCommit::ok:
            break;
        case VerifyCommit::duplicate:      // answered above
        case VerifyCommit::below_window:
        case VerifyCommit::vanished:
        case VerifyCommit::unavailable:
            break;
        case VerifyCommit::rejected:
        case VerifyCommit::kept:
            return init_result(p, "auth-failed", LogLevel::error, "MUT01132",
                               "req-VFY-C for rejected session " + sid_text() + " refused");
        case VerifyCommit::lock_failed:
            return init_result(p, "internal-error", LogLevel::error, "MUT01131",
                               "req-VFY-C for sid " + sid_text() + ": session table lock failed");
    }

    // VK_s or a channel binding could not be hashed (an OpenSSL failure,
    // logged): the verdict stands, but there is nothing to answer with.
    if (!hashed)
        return init_result(p, "internal-error", LogLevel::error, "MUT02802",
                           "req-VFY-C for sid " + sid_text() + ": cannot compute VK_s");
    return verified_result(a, cred, snap.created, std::move(user), vks, b1_inner, b2_inner, first, ctx);
}

}  // namespace

std::vector<std::string> init_challenges(const LocationPolicy& p, std::string_view reason) {
    std::vector<std::string> out;
    out.reserve(p.algorithms.size());
    for (const Algorithm* a : p.algorithms) {
        MutualChallenge c;
        c.kind = ResponseKind::init;
        c.id = realm_id_for(p, *a);
        c.reason = std::string(reason);
        out.push_back(serialize_challenge(c, a->quoted_on_wire()));
    }
    return out;
}

void add_authentication_control(const LocationPolicy& p, ExchangeResult& r) {
    switch (r.outcome) {
        case ExchangeOutcome::init: r.authentication_control = p.control.initializing; break;
        case ExchangeOutcome::stale: r.authentication_control = p.control.negative; break;
        case ExchangeOutcome::verified: r.authentication_control = p.control.success; break;
        case ExchangeOutcome::kex_s1:
        case ExchangeOutcome::unavailable: r.authentication_control.clear(); break;
    }
}

ExchangeResult stale_response(const LocationPolicy& p, const Algorithm& a, const char* tag,
                              std::string message) {
    ExchangeResult r = stale_result(p, a, tag, std::move(message));
    add_authentication_control(p, r);
    return r;
}

ExchangeResult init_response(const LocationPolicy& p, std::string_view reason) {
    ExchangeResult r;
    r.outcome = ExchangeOutcome::init;
    r.status = 401;
    r.reason = std::string(reason);
    r.www_authenticate = init_challenges(p, reason);
    r.log_message.clear();
    add_authentication_control(p, r);
    return r;
}

namespace {

// The decision once the header is read (error: the parse's answer): the
// location's completeness, the message's protection space, then
// proceed(algorithm) for the message itself.
template <typename Proceed>
ExchangeResult decide(const LocationPolicy& p, HeaderError error, RequestKind kind,
                      const RealmFields& id, Proceed&& proceed) noexcept {
    try {
        if (p.algorithms.empty() || p.auth_scope.empty())
            return init_result(p, "internal-error", LogLevel::error, "MUT01128",
                               "incomplete configuration: no algorithm or no AuthMutualScope");
        if (error == HeaderError::not_mutual)
            return init_result(p, "initial", LogLevel::debug, "MUT01101",
                               "401-INIT: Authorization of another scheme");
        if (error != HeaderError::none)
            return init_result(p, "invalid-parameters", LogLevel::error, "MUT01102",
                               std::string("malformed Mutual Authorization header (") +
                                   header_error_name(error) + ")");
        std::string why;
        const Algorithm* a = match_realm(p, id, why);
        if (a == nullptr)
            return init_result(p, "invalid-parameters", LogLevel::error, "MUT01103",
                               std::string(kind == RequestKind::kex_c1 ? "req-KEX-C1" : "req-VFY-C") +
                                   " for another protection space: " + why);
        return proceed(*a);
    } catch (const std::exception& e) {
        return init_result(p, "internal-error", LogLevel::error, "MUT01129",
                           std::string("internal error: ") + e.what());
    } catch (...) {
        return init_result(p, "internal-error", LogLevel::error, "MUT01134",
                           "internal error: unknown exception");
    }
}

}  // namespace

ExchangeResult process_credentials(const LocationPolicy& p, HeaderError error,
                                   const MutualCredentials& cred, ExchangeContext& ctx) noexcept {
    return decide(p, error, cred.kind, realm_fields(cred.id), [&](const Algorithm& a) {
        if (cred.kind == RequestKind::kex_c1) return key_exchange(p, a, cred, ctx);
        return verify(p, a, VerificationView::from_credentials(cred), ctx);
    });
}

ExchangeResult process_verification(const LocationPolicy& p, const VerificationView& request,
                                    ExchangeContext& ctx) noexcept {
    return decide(p, HeaderError::none, RequestKind::vfy_c, realm_fields(request),
                  [&](const Algorithm& a) { return verify(p, a, request, ctx); });
}

ExchangeResult process_request(const LocationPolicy& p, std::optional<std::string_view> authorization,
                               ExchangeContext& ctx) noexcept {
    try {
        if (!authorization) {
            if (p.algorithms.empty() || p.auth_scope.empty())
                return init_result(p, "internal-error", LogLevel::error, "MUT01133",
                                   "incomplete configuration: no algorithm or no AuthMutualScope");
            return init_result(p, "initial", LogLevel::debug, "MUT01100",
                               "401-INIT: no Authorization header");
        }
        VerificationView view;
        if (parse_mutual_verification(*authorization, view)) return process_verification(p, view, ctx);
        MutualCredentials cred;
        const HeaderError e = parse_mutual_credentials(*authorization, cred);
        return process_credentials(p, e, cred, ctx);
    } catch (...) {
        return init_result(p, "internal-error", LogLevel::error, "MUT01135",
                           "internal error: unknown exception");
    }
}

}  // namespace mutual

// The server decision procedure of RFC 8120 §11 as pure logic: the module
// hands in the request's Authorization value (or its absence), the policy of
// the protected location as resolved for this request, a verifier source and
// the session table; it gets back a response descriptor (status, header
// values, authenticated user) and exactly one log line describing the
// decision. No httpd types; the unit tests drive it with the core's client
// functions.
//
// Reasons (401-INIT), see docs/directives.md for the full mapping table:
//   initial            no Authorization, or one of another scheme
//   invalid-parameters malformed header, wrong version, a realm / algorithm /
//                      validation / auth-scope the location does not offer,
//                      undecodable or invalid kc1 or vkc, oversize user name
//   auth-failed        wrong vkc, unknown user (fake session), rejected session
//   internal-error     verifier file unreadable, RNG/crypto/lock failure,
//                      incomplete configuration
//   authz-failed       built by the module's note_auth_failure hook
// 401-STALE (stale-session): unknown, expired or inactive sid; nc above
// nc-max, below the window or already used.
// 503 (unavailable): the session store did not answer (Redis down or slow).
#ifndef MUTUAL_SERVER_EXCHANGE_H
#define MUTUAL_SERVER_EXCHANGE_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "algorithm.h"
#include "auth_scope.h"
#include "authentication_control.h"
#include "bytes.h"
#include "header.h"
#include "log.h"
#include "protocol_defaults.h"
#include "server/verifier_source.h"

namespace mutual {

class Algorithm;
class SessionStore;

// A session_space answer remembered with everything it was computed from.
struct SessionSpaceMemo {
    const SessionStore* store = nullptr;
    const Algorithm* algorithm = nullptr;
    std::uint64_t space = 0;
    std::string auth_scope, realm, partition, validation, origin;
};

// The administrator's choices for one protected location, resolved for the
// request at hand (validation method and vh depend on the connection).
struct LocationPolicy {
    std::vector<const Algorithm*> algorithms;  // offered, in order; not empty
    std::string auth_scope;                     // always sent
    std::string realm;                          // AuthName
    std::string validation = "host";            // token sent and expected
    std::string vh;                             // octets of vh (RFC 8120 §7)
    // "<scheme>://<host>:<port>" of the server answering (its own name and
    // the connection's local port): sessions are bound to it and to the
    // validation method (RFC 8120 §6), whatever vh is.
    std::string origin;
    std::optional<std::string> path;            // 401-KEX-S1 path parameter
    std::uint64_t nc_max = default_nc_max;
    std::uint32_t nc_window = default_nc_window;
    std::uint32_t session_time = default_session_time;  // `time` parameter and server lifetime
    std::string partition;                      // verifier source identity (user file)
    // Revocation (AuthMutualRecheckInterval): a verified session-reusing
    // request re-reads the user's verifier when the session was last
    // checked this many seconds ago or longer; a changed or deleted verifier
    // ends the session (401-STALE). 0: on every verified request.
    std::uint32_t recheck_interval = 60;
    // session_space's answers for this policy, per store and algorithm, each
    // used while the fields it was computed from are unchanged (the module
    // keeps a connection's policy across its requests: a session-reusing
    // request then hashes no protection space). Like the rest of the policy,
    // used by one thread at a time.
    mutable std::vector<SessionSpaceMemo> space_memo;
    // RFC 8053 Authentication-Control of the location's responses (none
    // on a proxy request: RFC 8120 §14); what each result carries.
    ControlHeaders control;

    LocationPolicy();
    ~LocationPolicy();  // out of line: the module's object emits no std templates
    LocationPolicy(const LocationPolicy&);
    LocationPolicy& operator=(const LocationPolicy&);
};

// One random J per algorithm (from a random pi), used for fake sessions so
// that an unknown user costs the server exactly the work of a known one.
class FakeVerifiers {
public:
    // false on an RNG or algorithm failure.
    bool generate();
    const Bytes* find(const Algorithm& algorithm) const noexcept;

private:
    std::vector<std::pair<const Algorithm*, Bytes>> j_;
};

struct ExchangeContext {
    SessionStore& store;
    const VerifierSource* verifiers;  // nullptr: no verifier file configured
    const FakeVerifiers& fakes;
    std::int64_t now = 0;  // seconds
    // The most detailed level the caller records: messages of a level above
    // it (debug lines on every request) are not even formatted.
    LogLevel log_level = LogLevel::debug;
};

enum class ExchangeOutcome {
    init,        // 401-INIT
    stale,       // 401-STALE
    kex_s1,      // 401-KEX-S1
    verified,    // 200-VFY-S: the request proceeds
    // The session store did not answer (down or slow): 503 with
    // Retry-After (retry_after), no WWW-Authenticate; nothing was decided
    // (no req-VFY-C is accepted without its atomic check).
    unavailable,
};
const char* exchange_outcome_name(ExchangeOutcome o) noexcept;

struct ExchangeResult {
    ExchangeOutcome outcome = ExchangeOutcome::init;
    int status = 401;                          // 401, or 200 when verified
    std::string reason;                        // init / stale
    std::vector<std::string> www_authenticate; // one header value per challenge
    std::string authentication_info;           // verified
    std::string user;                          // verified, verification_failed
    // auth-failed by the VK_c comparison of a req-VFY-C (wrong password or
    // unknown user): what the failure throttle counts, for `user`.
    bool verification_failed = false;
    bool store_failed = false;                 // the verifier source could not be read
    std::string_view algorithm;                // kex_s1 / verified: the algorithm's name()
    Bytes sid;                                 // kex_s1 / verified
    std::uint64_t nc = 0;                      // verified
    std::int64_t session_created = 0;          // verified: time of the key exchange
    std::uint32_t retry_after = 0;             // unavailable: seconds for Retry-After
    // verified: inner hashes of the RFC 8120 §13 channel bindings b_1, b_2
    // (compute_b1_inner/compute_b2_inner), for the application. Never logged.
    HashValue b1_inner, b2_inner;
    LogLevel log_level = LogLevel::debug;
    const char* log_tag = "";                  // set with log_message
    std::string log_message;
    // RFC 8053 Authentication-Control for this response, from the policy
    // (empty: none; never on 401-KEX-S1 or 503).
    std::string authentication_control;
    // keep(): the Authorization value this result verified and the
    // protection space of its policy (auth-scope, realm, partition,
    // validation, origin), each as a 4-octet length and its octets, in the
    // memory the caller gave keep(). Empty until kept.
    std::string_view kept_identity;

    // The request proceeds (200-VFY-S).
    bool verified() const noexcept { return outcome == ExchangeOutcome::verified; }
    // The session store did not answer: 503 with Retry-After (retry_after).
    bool unavailable() const noexcept { return outcome == ExchangeOutcome::unavailable; }

    // A verified result becomes the verification of its request chain:
    // subrequests and internal redirects of the request reuse it (reuse())
    // instead of verifying the same nc twice, and mutual-logout ends its
    // session (Server::logout). `policy` and `authorization` are what it
    // was verified with; what reuse needs of them is written into `memory`:
    // keep_bytes() octets that outlive the result (the module: the request
    // pool the result is kept in; no heap allocation).
    static std::size_t keep_bytes(const LocationPolicy& policy, std::string_view authorization) noexcept;
    void keep(const LocationPolicy& policy, std::string_view authorization, void* memory) noexcept;
    // For a later request of the chain (a subrequest or an internal
    // redirect) with this policy and Authorization value, at `now`
    // (seconds): nullopt when the kept verification does not apply (another
    // Authorization, protection space or an algorithm the policy does not
    // offer: the request is decided by Server::handle); a 401-STALE with
    // its log line (MUT01412) when it is beyond the policy's nc-max or
    // session lifetime; else a verified result carrying only its log line
    // (MUT01017, formatted when log_level shows debug): the user, the
    // Authentication-Info and the bindings are this result's. `uri` names
    // the request in the log lines.
    std::optional<ExchangeResult> reuse(const LocationPolicy& policy, std::string_view authorization,
                                        std::string_view uri, std::int64_t now, LogLevel log_level) const;

    ExchangeResult();
    ~ExchangeResult();
    ExchangeResult(ExchangeResult&&) noexcept;
    ExchangeResult& operator=(ExchangeResult&&) noexcept;
};

// The whole decision for one request. authorization: the Authorization
// header value, or nullopt when absent. Never throws.
ExchangeResult process_request(const LocationPolicy& policy,
                               std::optional<std::string_view> authorization,
                               ExchangeContext& context) noexcept;

// The same, from an already parsed header (error != none: the parse failed).
ExchangeResult process_credentials(const LocationPolicy& policy, HeaderError error,
                                   const MutualCredentials& credentials,
                                   ExchangeContext& context) noexcept;

// The same for a req-VFY-C read by parse_mutual_verification (the usual
// session-reusing request: no copy of the header's parameters).
ExchangeResult process_verification(const LocationPolicy& policy, const VerificationView& request,
                                    ExchangeContext& context) noexcept;

// Sets result.authentication_control for its outcome from the policy.
void add_authentication_control(const LocationPolicy& policy, ExchangeResult& result);
// A 401-STALE for the algorithm, with its log line (tag, message).
ExchangeResult stale_response(const LocationPolicy& policy, const Algorithm& algorithm,
                              const char* tag, std::string message);

// 401-INIT challenge values (one per offered algorithm, in order).
std::vector<std::string> init_challenges(const LocationPolicy& policy, std::string_view reason);
// The same as a whole 401-INIT response descriptor (no log line).
ExchangeResult init_response(const LocationPolicy& policy, std::string_view reason);

// ---- helpers the module and tests share -------------------------------------

// The session-table identifier of this location's protection space for one
// algorithm: realm, scope, verifier source, validation method and origin.
// A session made under another of these is an unknown session here.
// Remembered in policy.space_memo.
std::uint64_t session_space(const SessionStore& store, const LocationPolicy& policy,
                            const Algorithm& algorithm);

// Index of an algorithm in all_algorithms() (stored in session slots).
std::optional<std::uint8_t> algorithm_index(const Algorithm& algorithm) noexcept;

// Octets of the session-table key area an algorithm needs (K_c1, K_s1, z).
std::size_t session_key_capacity(const Algorithm& algorithm) noexcept;

}  // namespace mutual

#endif

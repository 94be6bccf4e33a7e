// The client side of RFC 8120 as a pure state machine: the decision procedure
// of §10 (and the state machine of §10.2) with no I/O. The caller feeds it
// responses (status, headers, the connection's channel binding) and it answers
// with the next request's Authorization header, a request for credentials, or
// the final decision: AUTH-SUCCEED / AUTH-REQUIRED / UNAUTHENTICATED (§10.1)
// and whether the response content may be processed at all (§10, §17.5).
//
// ClientContext is the long-lived part (one per user agent): known realms and
// their `path` coverage, credentials with the cached pi per algorithm, and the
// sessions (sid, z, nonce numbers) per server. Exchange is one user-level
// request: create it for a target, call begin(), send what it asks, pass every
// response to receive() until it reports `finished`.
#ifndef MUTUAL_CLIENT_CLIENT_SESSION_H
#define MUTUAL_CLIENT_CLIENT_SESSION_H

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "algorithm.h"
#include "bytes.h"
#include "client/target.h"
#include "header.h"

namespace mutual {
namespace client {

// The user-visible states of §10.1 (§10.2 also calls the second one
// AUTH-REQUESTED).
enum class AuthState { auth_succeed, auth_required, unauthenticated };
const char* auth_state_name(AuthState s) noexcept;  // "AUTH-SUCCEED", ...

// Why the exchange ended; each maps to a distinct exit code of mutual-client.
enum class Outcome {
    success,                   // AUTH-SUCCEED: 200-VFY-S with the correct vks
    not_protected,             // UNAUTHENTICATED: normal response to the first request
    credentials_required,      // AUTH-REQUIRED: 401-INIT, no credentials for the realm
    credentials_rejected,      // AUTH-REQUIRED: 401-INIT after req-KEX-C1 / req-VFY-C
    authorization_failed,      // AUTH-REQUIRED: reason=authz-failed
    server_not_authenticated,  // missing or wrong vks / Authentication-Info (§10, §17.5)
    protocol_error,            // malformed or out-of-sequence message
    unsupported,               // no challenge with a supported algorithm and validation
    invalid_credentials,       // user name or password failed string preparation (§9)
    server_error,              // 5xx without Authentication-Info (UNAUTHENTICATED)
    http_error,                // another 4xx answering the first request, no Mutual challenge
};
const char* outcome_name(Outcome o) noexcept;

// What the caller may do with the last response's body and headers.
enum class Content {
    verified,         // authenticated by vks: release
    unauthenticated,  // an ordinary, unauthenticated response (allowed by §10.1)
    withheld,         // MUST NOT be processed (§10.1, §17.5)
};

enum class MessageKind { normal_request, req_kex_c1, req_vfy_c };

// Whom the exchange authenticates. RFC 8120 §14: with `proxy` the caller
// maps 407 / Proxy-Authenticate / Proxy-Authentication-Info onto 401 /
// WWW-Authenticate / Authentication-Info (and sends Proxy-Authorization);
// the target is the proxy ("http://host:port/", which is also vh); an
// omitted auth-scope is the proxy's host name; `path` does not apply (a
// proxy realm covers every request through the proxy); RFC 8053 does not
// apply.
enum class Role { origin, proxy };
const char* message_kind_name(MessageKind k) noexcept;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One HTTP response as the transport saw it.
struct Response {
    long status = 0;
    HeaderList headers;          // final response, names as received
    HeaderList interim_headers;  // 1xx responses (a 100 Continue may carry Authentication-Info, §4.5)
    bool tls = false;            // the response came over TLS
    Bytes tls_server_end_point;  // RFC 5929 §4.1 hash of the server certificate (TLS only)
};

// A realm as the server described it, for prompts and result lines.
struct RealmInfo {
    RealmId id;              // as received (auth_scope may be absent)
    std::string scope;       // effective auth-scope (default_auth_scope when absent)
    std::string origin;      // the server that asked
    std::string reason;      // of the 401-INIT, when there was one
};

struct Step {
    enum class Action { send_request, need_credentials, finished };
    Action action = Action::finished;
    // send_request: send the user's request again with this Authorization
    // value (empty for a normal request).
    MessageKind message = MessageKind::normal_request;
    std::string authorization;
    // send_request of a req-VFY-C over TLS: `authorization` is empty; the
    // value depends on the certificate of the connection that will carry the
    // request (§7 tls-server-end-point). Once the transport has that
    // connection, and before it sends anything, it calls Exchange::bind();
    // when bind() refuses, it sends nothing and calls connection_changed().
    bool bind_to_connection = false;
    // need_credentials: call supply_credentials() or decline_credentials().
    RealmInfo realm;
    // finished
    AuthState state = AuthState::unauthenticated;
    Outcome outcome = Outcome::protocol_error;
    Content content = Content::withheld;
    std::string detail;  // a human-readable reason (never a secret)
};

// Facts about the authenticated exchange, for the result line.
struct SessionSummary {
    std::string user;
    std::string realm;
    std::string scope;
    std::string algorithm;
    std::string validation;
    std::string sid;          // hex
    std::uint64_t nc = 0;     // of the last req-VFY-C
    bool reused = false;      // the session existed before this exchange
    unsigned requests = 0;    // HTTP requests this exchange sent
    // After a verified vks: the inner hashes of the RFC 8120 §13 channel
    // bindings b_1 and b_2 of this request (the server exports the same to
    // the application as MUTUAL_B1_INNER/MUTUAL_B2_INNER); b for an
    // application's t is channel_binding_from_inner(a, inner, t). Session
    // keys: never log them.
    Bytes b1_inner, b2_inner;
};

// RFC 8053 §4: the Authentication-Control entry of the realm in use (scheme
// Mutual, same realm name), as far as this client acts on it.
struct AuthenticationControl {
    // §4.6, honoured only on a verified (AUTH-SUCCEED) response: the session
    // and the credentials expire after this many seconds; 0 forgets both now.
    std::optional<std::uint64_t> logout_timeout;
    std::string location_when_unauthenticated;  // §4.3, reported
    std::string location_when_logout;           // §4.5, reported
    std::string username;                       // §4.7, only on 401 responses
    bool empty() const {
        return !logout_timeout && location_when_unauthenticated.empty() &&
               location_when_logout.empty() && username.empty();
    }
};

struct ClientOptions {
    // Algorithms the client may use, most preferred first; empty means every
    // supported one, in the server's order.
    std::vector<std::string> algorithms;
    bool kex_first = true;       // §2.3 case A: start with req-KEX-C1 when the realm is known
    bool reuse_sessions = true;  // §2.3 case B: start with req-VFY-C when a session exists
    unsigned max_requests = 6;   // per exchange, against loops
    // Monotonic seconds for session lifetimes (`time`); default steady_clock.
    std::function<std::int64_t()> clock;
    // Derives pi (RFC 8121 §3.1, PBKDF2); default compute_pi. A user agent
    // that keeps pi beyond one context (the benchmark's "new client" that
    // must not spend its CPU on PBKDF2) supplies its own; an empty Secret
    // is a failure.
    std::function<Secret(const Algorithm&, std::string_view password, std::string_view scope,
                         std::string_view realm, std::string_view user)>
        derive_pi;
};

class Exchange;

class ClientContext {
public:
    explicit ClientContext(ClientOptions options = {});
    ClientContext(const ClientContext&) = delete;
    ClientContext& operator=(const ClientContext&) = delete;

    const ClientOptions& options() const noexcept { return options_; }

    // A realm is the triple (algorithm, auth-scope, realm) (§5): credentials,
    // pi and sessions are keyed on all three.
    bool has_credentials(std::string_view algorithm, std::string_view scope,
                         std::string_view realm) const;
    // Step 13 / log-out: forget user, password, pi and sessions of a realm.
    void forget_credentials(std::string_view algorithm, std::string_view scope,
                            std::string_view realm);

    std::size_t session_count() const noexcept { return sessions_.size(); }
    // How many times pi was derived (PBKDF2) — for tests of the pi cache.
    std::size_t pi_derivations() const noexcept { return pi_derivations_; }

private:
    friend class Exchange;

    struct Coverage {
        std::string origin;  // Target::origin()
        std::string prefix;  // path prefix
    };
    struct KnownRealm {
        RealmId id;
        std::string scope;
        std::vector<Coverage> coverage;
    };
    struct CredentialEntry {
        std::string algorithm;
        std::string scope;
        std::string realm;
        std::string user;             // prepared (§9)
        SecretString password;        // prepared (§9)
        std::map<std::string, Secret> pi_by_algorithm;
        std::optional<std::int64_t> expires_at;  // RFC 8053 logout-timeout
    };
    struct Session {
        std::string origin;
        RealmId id;
        std::string scope;
        const Algorithm* algorithm = nullptr;
        std::string user;
        Bytes sid;
        std::string sid_text;
        Bytes k_c1, k_s1;
        Secret z;
        std::uint64_t nc_last = 0, nc_max = 0, nc_window = 0;
        std::int64_t reusable_until = 0;
        std::string vh;  // the vh the session was keyed with
    };

    std::int64_t now() const;
    KnownRealm* find_realm_for(const Target& t);
    void remember_realm(const RealmId& id, const std::string& scope, const Target& t,
                        const std::optional<std::string>& path);
    CredentialEntry* find_credentials(std::string_view algorithm, std::string_view scope,
                                      std::string_view realm);
    const Secret* pi_for(CredentialEntry& entry, const Algorithm& a);
    Session* find_session(const std::string& origin, std::string_view algorithm,
                          std::string_view scope, std::string_view realm);
    void drop_session(const Session* s);

    ClientOptions options_;
    std::vector<KnownRealm> realms_;
    std::vector<CredentialEntry> credentials_;
    std::vector<Session> sessions_;
    std::size_t pi_derivations_ = 0;
};

class Exchange {
public:
    Exchange(ClientContext& context, Target target, Role role = Role::origin);
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    // Step 1 of §10.2: the first request (normal, req-KEX-C1 or req-VFY-C).
    Step begin();
    // The response to the request of the last send_request step.
    Step receive(const Response& response);
    // After need_credentials: the user name and password for the realm
    // (prepared here with the PRECIS profiles of §9).
    Step supply_credentials(std::string_view user, std::string_view password);
    Step decline_credentials();
    // For a send_request step with bind_to_connection: the Authorization
    // value of the req-VFY-C for the connection whose certificate hashes to
    // `tls_server_end_point` (RFC 5929 §4.1), computed with that value as vh.
    // nullopt when it is not the certificate the session was keyed over: the
    // request must then not be sent at all (a man in the middle could relay
    // it); call connection_changed().
    std::optional<std::string> bind(const Bytes& tls_server_end_point);
    // After bind() refused: the session is dropped (it belongs to another
    // certificate) and the exchange re-keys with req-KEX-C1 on the new
    // connection (§17.5), keeping the credentials.
    Step connection_changed();

    const SessionSummary& summary() const noexcept { return summary_; }
    // The classification of the last response ("401-INIT", "401-STALE",
    // "401-KEX-S1", "200-VFY-S", "normal response", ...), for verbose output.
    const std::string& last_response_kind() const noexcept { return last_kind_; }
    const Target& target() const noexcept { return target_; }
    // The Authentication-Control (RFC 8053) of the last response for the
    // realm in use; logout-timeout is set only when it was honoured.
    const AuthenticationControl& control() const noexcept { return control_; }

private:
    struct Selected {
        MutualChallenge challenge;
        const Algorithm* algorithm = nullptr;
        std::string scope;
    };
    struct PendingKex {
        const Algorithm* algorithm = nullptr;
        RealmId id;
        std::string scope;
        std::string user;
        Secret s_c1;
        Bytes k_c1;
    };

    Step receive_message(const Response& response);
    void apply_control(const Response& response, const Step& step);
    Step handle_init(const std::vector<MutualChallenge>& challenges, HeaderError parse_error,
                     bool optional);
    Step after_realm_chosen(const Selected& chosen);
    Step send_kex(const Selected& chosen);
    Step handle_kex_s1(const MutualChallenge& challenge, const Response& response);
    Step send_vfy(ClientContext::Session& session);
    std::string vfy_authorization(ClientContext::Session& session, const std::string& vh);
    Step verify(const Response& response);
    Step finish(AuthState state, Outcome outcome, Content content, std::string detail);
    Step send(MessageKind kind, std::string authorization);
    std::string vh_of(const Response& response) const;
    bool validation_acceptable(std::string_view validation) const;
    bool same_realm(const RealmId& id, const std::string& scope) const;
    ClientContext::Session* current_session();

    std::string omitted_scope() const;

    ClientContext& context_;
    Target target_;
    Role role_ = Role::origin;
    MessageKind sent_ = MessageKind::normal_request;
    unsigned requests_ = 0;
    bool finished_ = false;
    bool rekeyed_ = false;
    bool optional_init_ = false;
    unsigned certificate_rekeys_ = 0;  // re-keys because the certificate changed
    bool certificate_refused_ = false;  // bind() refused the request in flight
    std::vector<std::string> kex_realms_;   // realms a req-KEX-C1 was sent for
    std::optional<RealmInfo> expected_;     // the realm of the last authenticated request
    std::optional<Selected> awaiting_;      // the realm need_credentials asked about
    std::optional<PendingKex> pending_;
    // The req-VFY-C in flight.
    std::string session_origin_, session_algorithm_, session_scope_, session_realm_;
    std::uint64_t nc_used_ = 0;
    std::string vh_used_;
    SessionSummary summary_;
    std::string last_kind_;
    AuthenticationControl control_;
};

}  // namespace client
}  // namespace mutual

#endif

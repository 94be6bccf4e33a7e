// The user agent: the RFC 8120 state machine (client_session.h) driven over
// the libcurl transport (http_transport.h). fetch() performs one user-level
// request, with as many HTTP round trips as the protocol needs, and hands the
// response body and headers back only when the decision procedure allows it:
// always for AUTH-SUCCEED (vks verified), for UNAUTHENTICATED responses only
// when the caller opts in, never for a response whose verification failed.
#ifndef MUTUAL_CLIENT_MUTUAL_CLIENT_H
#define MUTUAL_CLIENT_MUTUAL_CLIENT_H

#include <functional>
#include <memory>
#include <string>

#include "bytes.h"
#include "client/client_session.h"
#include "client/http_transport.h"

namespace mutual {
namespace client {

// Asked when the server requires credentials for a realm the client has none
// for. Return false to decline (the exchange ends AUTH-REQUIRED).
using CredentialProvider =
    std::function<bool(const RealmInfo& realm, std::string& user, SecretString& password)>;

// One message of the exchange, for verbose output (never carries secrets:
// Authorization values hold only kc1/vkc, which are public protocol values).
struct ExchangeEvent {
    enum class Kind { request, response, note };  // note: `message` explains a decision
    Kind kind = Kind::request;
    std::string message;        // "req-KEX-C1", "401-KEX-S1", "200-VFY-S", ...
    std::string method, url;    // request
    std::string authorization;  // request; empty for a normal request
    long status = 0;            // response
    std::string reason_phrase;  // response
    HeaderList auth_headers;    // response: the authentication-related headers
    AuthenticationControl control;  // response: RFC 8053 entry of the realm in use
};
using ExchangeObserver = std::function<void(const ExchangeEvent&)>;

struct FetchResult {
    AuthState state = AuthState::unauthenticated;
    Outcome outcome = Outcome::protocol_error;
    bool transport_failed = false;  // outcome is meaningless then; see detail
    std::string detail;
    Content content = Content::withheld;
    bool released = false;          // headers and body below are filled
    long status = 0;                // final HTTP status (0 after a transport failure)
    std::string reason_phrase;
    HeaderList headers;             // only when released
    std::string body;               // only when released
    // The Location of a 3xx response whose content may be processed
    // (verified, or an unauthenticated response §10.1 allows), for
    // following redirects; never from a withheld response.
    std::string location;
    SessionSummary summary;
    std::string last_message;       // classification of the last response
    AuthenticationControl control;  // RFC 8053, for the realm in use
};

class MutualClient {
public:
    // Over libcurl.
    explicit MutualClient(ClientOptions client_options = {},
                          TransportOptions transport_options = {});
    // Over a caller-owned transport (tests, other stacks); it must outlive this.
    MutualClient(ClientOptions client_options, Transport& transport);

    void set_credential_provider(CredentialProvider provider) { provider_ = std::move(provider); }
    void set_observer(ExchangeObserver observer) { observer_ = std::move(observer); }
    // Release bodies of UNAUTHENTICATED responses (normal responses to the
    // first request, 401 pages). Off by default.
    void set_release_unauthenticated(bool release) { release_unauthenticated_ = release; }

    FetchResult fetch(const HttpRequest& request);

    ClientContext& context() noexcept { return context_; }
    Transport& transport() noexcept { return *transport_; }

private:
    ClientContext context_;
    std::unique_ptr<HttpTransport> owned_transport_;
    Transport* transport_;
    CredentialProvider provider_;
    ExchangeObserver observer_;
    bool release_unauthenticated_ = false;
};

}  // namespace client
}  // namespace mutual

#endif

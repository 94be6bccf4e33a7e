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
    bool proxy = false;         // a message of the proxy's exchange (RFC 8120 §14)
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
    // The outcome above is the proxy's exchange (RFC 8120 §14) that failed;
    // nothing reached the server, or nothing of its answer is released.
    bool proxy_failed = false;
};

class MutualClient {
public:
    // Over libcurl.
    explicit MutualClient(ClientOptions client_options = {},
                          TransportOptions transport_options = {});
    // Over a caller-owned transport (tests, other stacks); it must outlive this.
    MutualClient(ClientOptions client_options, Transport& transport);

    void set_credential_provider(CredentialProvider provider) { provider_ = std::move(provider); }
    // Mutual authentication with an HTTP proxy (RFC 8120 §14): every request
    // through it carries its own Proxy-Authorization exchange (for an https
    // target, the CONNECT of each new tunnel). The constructor with
    // TransportOptions calls this with TransportOptions::proxy; with a
    // caller-owned transport, configure that transport's proxy too. Only
    // http:// proxies (vh "http://host:port", validation host).
    bool set_proxy(std::string_view url, std::string* error = nullptr);
    void set_proxy_credential_provider(CredentialProvider provider) {
        proxy_provider_ = std::move(provider);
    }
    ClientContext& proxy_context() noexcept { return proxy_context_; }
    void set_observer(ExchangeObserver observer) { observer_ = std::move(observer); }
    // Release bodies of UNAUTHENTICATED responses (normal responses to the
    // first request, 401 pages). Off by default.
    void set_release_unauthenticated(bool release) { release_unauthenticated_ = release; }

    FetchResult fetch(const HttpRequest& request);

    ClientContext& context() noexcept { return context_; }
    Transport& transport() noexcept { return *transport_; }

private:
    bool perform(const HttpRequest& request, RequestCredentials credentials, HttpResult& out,
                 std::string& error, std::optional<Step>& proxy_failure);

    ClientContext context_;
    ClientContext proxy_context_;
    std::optional<Target> proxy_target_;
    std::string proxy_error_;
    CredentialProvider proxy_provider_;
    std::unique_ptr<HttpTransport> owned_transport_;
    Transport* transport_;
    CredentialProvider provider_;
    ExchangeObserver observer_;
    bool release_unauthenticated_ = false;
};

}  // namespace client
}  // namespace mutual

#endif

// A location's policy for one request (LocationPolicy: what Server::handle
// decides by), built by the core from the location's settings and the
// facts of the request's connection — the vh of RFC 8120 §7 from the
// origin or the server certificate (tls-server-end-point), the auth-scope's
// coverage of the origin — and kept per connection: a keep-alive
// connection asks for the same location again and again. Also the 401-INIT
// refusals answered outside the decision. No httpd types.
#ifndef MUTUAL_CONNECTION_POLICY_H
#define MUTUAL_CONNECTION_POLICY_H

#include <optional>
#include <string>
#include <string_view>

#include "server/location_settings.h"
#include "server/server_exchange.h"

namespace mutual {

// What the glue knows of a request and its connection.
struct ConnectionFacts {
    std::string_view realm;   // AuthName
    std::string_view uri;     // the request's URI (log lines)
    bool tls = false;         // the connection is TLS
    bool proxy = false;       // a forward-proxy request (RFC 8120 §14: 407, no path, no RFC 8053)
    // This server's own name as the request uses it (its ServerName, a
    // ServerAlias or the local address; never a name that is not ours) and
    // the connection's local port: the origin sessions are bound to.
    std::string_view host;
    unsigned port = 0;
    // The server certificate (PEM) of a TLS connection, asked for only when
    // tls-server-end-point needs it and the connection has no binding yet;
    // empty when unavailable.
    std::string (*server_certificate)(void* context) = nullptr;
    void* context = nullptr;
};

class ConnectionPolicy {
public:
    ConnectionPolicy();
    ~ConnectionPolicy();
    ConnectionPolicy(const ConnectionPolicy&) = delete;
    ConnectionPolicy& operator=(const ConnectionPolicy&) = delete;

    // The policy for a request: the one built last on this connection when
    // neither the settings nor the facts changed, else a new one (kept).
    // nullptr with the log line (tag, problem) when the configuration or the
    // connection does not allow one; failures are not kept.
    const LocationPolicy* policy(const LocationSettings& settings, const ConnectionFacts& facts,
                                 const char*& tag, std::string& problem);

    // The log line (MUT01401's message) when the request's Host header
    // names another host or port than the origin of `policy` (the last one
    // policy() returned); empty when it names the origin.
    std::string foreign_host(const LocationPolicy& policy, std::string_view host, bool tls);

    // A 401-INIT of this reason answered outside the decision (internal
    // error, an authorization denial, a logout without a session), with its
    // Authentication-Control; no www_authenticate when not even a challenge
    // can be built.
    static ExchangeResult refusal(const LocationSettings& settings, const ConnectionFacts& facts,
                                  std::string_view reason);
    // RFC 8053 Authentication-Control for the 200-VFY-S of a request
    // (check_authn takes it from the result; this is for the request a
    // subrequest's verification is answered on) and for the answer of a
    // mutual-logout handler. Empty: none (nothing set, or a proxy request).
    static std::string success_control(const LocationSettings& settings, const ConnectionFacts& facts);
    static std::string logout_control(const LocationSettings& settings, const ConnectionFacts& facts);
    // Optional-WWW-Authenticate (RFC 8053 §3) for an anonymous request of
    // this policy: the challenges of a 401-INIT with the path parameter.
    static std::string optional_www_authenticate(const LocationPolicy& policy);

private:
    bool same_facts(const ConnectionFacts& facts) const noexcept;

    bool valid_ = false;
    std::optional<LocationSettings> settings_;   // an owning copy
    std::string realm_, host_;
    unsigned port_ = 0;
    bool tls_ = false, proxy_ = false;
    LocationPolicy policy_;
    std::optional<std::string> binding_;          // tls-server-end-point of the connection
    std::optional<std::string> own_host_;         // a Host header known to name the origin
};

}  // namespace mutual

#endif

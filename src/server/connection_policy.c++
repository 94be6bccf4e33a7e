#include "server/connection_policy.h"

#include "algorithm.h"
#include "auth_scope.h"
#include "authentication_control.h"
#include "tls_server_end_point.h"

namespace mutual {

namespace {

using Validation = LocationSettings::Validation;

// The policy from the settings and the facts; false (with the log line)
// when it cannot be built. `binding`: the connection's tls-server-end-point
// (computed here when needed and still unknown); nullptr: no vh wanted
// (a plain 401-INIT), the policy is then complete up to origin and vh.
bool build(const LocationSettings& s, const ConnectionFacts& facts, std::optional<std::string>* binding,
           LocationPolicy& policy, const char*& tag, std::string& problem) {
    policy.algorithms.clear();
    for (std::size_t i = 0; i < s.algorithm_count(); ++i) policy.algorithms.push_back(s.algorithm(i));
    policy.realm.assign(facts.realm);
    policy.auth_scope.assign(s.auth_scope());
    policy.nc_max = s.nc_max();
    policy.nc_window = s.nc_window();
    policy.session_time = s.session_time();
    policy.path = s.path();
    policy.partition = s.partition();
    policy.recheck_interval = s.recheck_interval();
    policy.control = facts.proxy ? ControlHeaders() : control_headers(facts.realm, s.control());

    Validation v = s.validation();
    if (v == Validation::automatic) v = facts.tls ? Validation::tls_server_end_point : Validation::host;
    policy.validation = v == Validation::host ? "host" : "tls-server-end-point";

    const std::string uri = facts.uri.empty() ? std::string("?") : std::string(facts.uri);
    // The startup checks of the configuration again, for .htaccess files.
    if (const char* why = LocationSettings::realm_problem(facts.realm)) {
        tag = "MUT01410";
        problem = "AuthName for " + uri + " " + why + " (a Mutual realm is sent exactly as configured)";
        return false;
    }
    if (v == Validation::host && facts.tls && !s.has_host()) {
        tag = "MUT01411";
        problem = "AuthMutualValidation host on a TLS connection without AuthMutualHost for " + uri +
                  " (RFC 8120 section 7: use tls-server-end-point)";
        return false;
    }
    if (!s.has_auth_scope() || policy.algorithms.front() == nullptr) {
        // Still answer with a well-formed challenge (empty scope) and log why.
        tag = "MUT01012";
        problem = "AuthType Mutual without AuthMutualScope for " + uri +
                  " (set it next to AuthType, e.g. in .htaccess)";
        return false;
    }
    if (binding == nullptr) return true;
    // The server's own "<scheme>://<host>:<port>" (RFC 8120 §7): never the
    // Host header's port, never a host that is not ours: a request relayed
    // from another origin gets a vh its client cannot match.
    if (s.has_host()) {
        policy.origin.assign(s.host());
    } else {
        std::string name(facts.host);
        if (name.find(':') != std::string::npos && name.front() != '[') name = "[" + name + "]";
        policy.origin = host_validation_value(facts.tls ? "https" : "http", name, facts.port);
    }
    // A client refuses a challenge whose auth-scope does not cover its host
    // (RFC 8120 §5): say so here rather than send one.
    if (!auth_scope_covers(policy.auth_scope, policy.origin)) {
        tag = "MUT01405";
        problem = "AuthMutualScope \"" + policy.auth_scope + "\" does not cover this server's origin " +
                  policy.origin + " (a ServerAlias or AuthMutualHost outside the scope?)";
        return false;
    }
    if (v == Validation::host) {
        policy.vh = policy.origin;
        return true;
    }
    if (!facts.tls) {
        tag = "MUT01013";
        problem = "AuthMutualValidation tls-server-end-point on a connection without TLS";
        return false;
    }
    if (!*binding && facts.server_certificate != nullptr) {
        const std::string pem = facts.server_certificate(facts.context);
        if (!pem.empty())
            if (std::optional<Bytes> hash = tls_server_end_point(pem))
                binding->emplace(reinterpret_cast<const char*>(hash->data()), hash->size());
    }
    if (!*binding) {
        tag = "MUT01014";
        problem = "cannot compute the tls-server-end-point binding (SSL_SERVER_CERT unavailable "
                  "or unparsable)";
        return false;
    }
    policy.vh = **binding;
    return true;
}

}  // namespace

ConnectionPolicy::ConnectionPolicy() = default;
ConnectionPolicy::~ConnectionPolicy() = default;

bool ConnectionPolicy::same_facts(const ConnectionFacts& f) const noexcept {
    return f.realm == realm_ && f.host == host_ && f.port == port_ && f.tls == tls_ && f.proxy == proxy_;
}

const LocationPolicy* ConnectionPolicy::policy(const LocationSettings& settings, const ConnectionFacts& facts,
                                               const char*& tag, std::string& problem) {
    if (valid_ && same_facts(facts) && settings_->same(settings)) return &policy_;
    valid_ = false;
    own_host_.reset();
    if (!build(settings, facts, &binding_, policy_, tag, problem)) return nullptr;
    if (facts.proxy) policy_.path.reset();   // RFC 8120 §14: disregarded
    settings_.reset();
    settings_.emplace(settings);
    realm_.assign(facts.realm);
    host_.assign(facts.host);
    port_ = facts.port;
    tls_ = facts.tls;
    proxy_ = facts.proxy;
    valid_ = true;
    return &policy_;
}

std::string ConnectionPolicy::foreign_host(const LocationPolicy& policy, std::string_view host, bool tls) {
    if (own_host_ && *own_host_ == host) return std::string();
    std::string claimed = host_validation_value(tls ? "https" : "http", host, 0);
    claimed.resize(claimed.size() - 2);  // ":0"
    // A Host without a port names the scheme's default port.
    const std::size_t authority = claimed.find("://") + 3;
    if (claimed.find(':', claimed[authority] == '[' ? claimed.find(']', authority) : authority) ==
        std::string::npos)
        claimed += tls ? ":443" : ":80";
    if (claimed == policy.origin) {
        own_host_.emplace(host);
        return std::string();
    }
    return "vh is " + policy.origin + ": the request's Host \"" + claimed.substr(authority) +
           "\" is not this server's name and port (relayed or misdirected request, "
           "or a proxy in front without AuthMutualHost)";
}

ExchangeResult ConnectionPolicy::refusal(const LocationSettings& settings, const ConnectionFacts& facts,
                                         std::string_view reason) {
    LocationPolicy policy;
    const char* tag = nullptr;
    std::string problem;
    build(settings, facts, nullptr, policy, tag, problem);
    if (policy.algorithms.empty() || policy.algorithms.front() == nullptr) {
        ExchangeResult none;
        none.reason = std::string(reason);
        return none;
    }
    return init_response(policy, reason);
}

std::string ConnectionPolicy::success_control(const LocationSettings& settings, const ConnectionFacts& facts) {
    return facts.proxy ? std::string() : control_headers(facts.realm, settings.control()).success;
}

std::string ConnectionPolicy::logout_control(const LocationSettings& settings, const ConnectionFacts& facts) {
    return facts.proxy ? std::string() : control_headers(facts.realm, settings.control()).logout;
}

std::string ConnectionPolicy::optional_www_authenticate(const LocationPolicy& policy) {
    return mutual::optional_www_authenticate(init_challenges(policy, "initial"), policy.path);
}

}  // namespace mutual

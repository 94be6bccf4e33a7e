#include "client/mutual_client.h"

#include <openssl/crypto.h>

#include "ascii.h"
#include "log.h"

namespace mutual {
namespace client {
namespace {

bool is_auth_header(const std::string& name) {
    static const char* const names[] = {"www-authenticate",          "authentication-info",
                                        "optional-www-authenticate", "authentication-control",
                                        "proxy-authenticate",        "proxy-authentication-info"};
    for (const char* n : names) {
        if (name.size() != std::char_traits<char>::length(n)) continue;
        bool equal = true;
        for (std::size_t i = 0; i < name.size() && equal; ++i)
            equal = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i]))) == n[i];
        if (equal) return true;
    }
    return false;
}

void wipe(std::string& s) {
    if (!s.empty()) OPENSSL_cleanse(&s[0], s.size());
    s.clear();
}

// The proxy's answer as the state machine reads it (RFC 8120 §14): 407 is its
// 401, Proxy-Authenticate its WWW-Authenticate, Proxy-Authentication-Info its
// Authentication-Info. Any other answer passed the proxy (a 5xx may be the
// proxy's own error); the server's headers are not the proxy's business.
Response proxy_view(const Response& r) {
    Response v;
    v.status = r.status == 407 ? 401 : r.status >= 500 ? r.status : 200;
    v.tls = false;
    for (const auto& h : r.headers) {
        if (equal_ignoring_ascii_case(h.first, "proxy-authenticate"))
            v.headers.emplace_back("WWW-Authenticate", h.second);
        else if (equal_ignoring_ascii_case(h.first, "proxy-authentication-info"))
            v.headers.emplace_back("Authentication-Info", h.second);
    }
    return v;
}

}  // namespace

MutualClient::MutualClient(ClientOptions client_options, TransportOptions transport_options)
    : context_(client_options),
      proxy_context_(client_options),
      owned_transport_(std::make_unique<HttpTransport>(std::move(transport_options))),
      transport_(owned_transport_.get()) {
    const std::string& proxy = owned_transport_->options().proxy;
    if (!proxy.empty() && !set_proxy(proxy, &proxy_error_))
        proxy_error_ = "bad proxy " + proxy + ": " + proxy_error_;
}

MutualClient::MutualClient(ClientOptions client_options, Transport& transport)
    : context_(client_options), proxy_context_(client_options), transport_(&transport) {}

bool MutualClient::set_proxy(std::string_view url, std::string* error) {
    std::optional<Target> target = parse_target(url, error);
    if (!target) return false;
    if (target->https()) {
        if (error != nullptr) *error = "only http:// proxies are supported";
        return false;
    }
    target->path = "/";  // a proxy realm covers every request (§14)
    target->url = target->scheme + "://" + target->host + ":" + std::to_string(target->port) + "/";
    proxy_target_ = std::move(target);
    proxy_error_.clear();
    return true;
}

bool MutualClient::perform(const HttpRequest& request, RequestCredentials credentials,
                           HttpResult& out, std::string& error,
                           std::optional<Step>& proxy_failure) {
    if (!proxy_target_) return transport_->perform(request, credentials, out, &error);
    Exchange proxy(proxy_context_, *proxy_target_, Role::proxy);
    Step step = proxy.begin();
    for (;;) {
        if (step.action == Step::Action::need_credentials) {
            std::string user;
            SecretString password;
            const bool given = proxy_provider_ && proxy_provider_(step.realm, user, password);
            step = given ? proxy.supply_credentials(
                               user, std::string_view(password.data(), password.size()))
                         : proxy.decline_credentials();
            continue;
        }
        if (step.action == Step::Action::finished) {
            proxy_failure = std::move(step);
            return false;
        }
        credentials.proxy_value = step.authorization;
        if (observer_ && !step.authorization.empty()) {
            ExchangeEvent e;
            e.kind = ExchangeEvent::Kind::request;
            e.proxy = true;
            e.message = message_kind_name(step.message);
            e.method = request.method;
            e.url = proxy_target_->url;
            e.authorization = step.authorization;
            observer_(e);
        }
        if (!transport_->perform(request, credentials, out, &error)) return false;
        if (!out.proxy_seen) return true;  // a tunnel made earlier carried the request
        Step next = proxy.receive(proxy_view(out.proxy_response));
        if (observer_) {
            ExchangeEvent e;
            e.kind = ExchangeEvent::Kind::response;
            e.proxy = true;
            e.message = proxy.last_response_kind();
            e.status = out.proxy_response.status;
            for (const auto& h : out.proxy_response.headers)
                if (equal_ignoring_ascii_case(h.first, "proxy-authenticate") ||
                    equal_ignoring_ascii_case(h.first, "proxy-authentication-info"))
                    e.auth_headers.push_back(h);
            observer_(e);
        }
        if (next.action == Step::Action::finished) {
            switch (next.outcome) {
                case Outcome::success:         // vks of the proxy verified
                case Outcome::not_protected:   // the proxy wants no authentication
                case Outcome::server_error:    // a 5xx the server's exchange judges
                case Outcome::http_error:
                    if (out.tunnel_refused) {
                        error = "the proxy refused the CONNECT tunnel: " +
                                std::to_string(out.proxy_response.status) + " " +
                                out.reason_phrase;
                        return false;
                    }
                    return true;
                default:
                    proxy_failure = std::move(next);
                    return false;
            }
        }
        step = std::move(next);
    }
}

FetchResult MutualClient::fetch(const HttpRequest& request) {
    FetchResult result;
    std::string parse_error;
    std::optional<Target> target = parse_target(request.url, &parse_error);
    if (!target) {
        result.transport_failed = true;
        result.detail = "bad URL " + request.url + ": " + parse_error;
        return result;
    }
    if (!proxy_error_.empty()) {
        result.transport_failed = true;
        result.detail = proxy_error_;
        return result;
    }
    HttpRequest actual = request;
    actual.url = target->url;
    Exchange exchange(context_, *target);
    auto note = [this](std::string message) {
        if (!observer_) return;
        ExchangeEvent e;
        e.kind = ExchangeEvent::Kind::note;
        e.message = std::move(message);
        observer_(e);
    };
    Step step = exchange.begin();
    HttpResult last;
    bool have_response = false;
    for (;;) {
        if (step.action == Step::Action::send_request) {
            auto announce = [this, &actual, &step](const std::string& authorization) {
                if (!observer_) return;
                ExchangeEvent e;
                e.kind = ExchangeEvent::Kind::request;
                e.message = message_kind_name(step.message);
                e.method = actual.method;
                e.url = actual.url;
                e.authorization = authorization;
                observer_(e);
            };
            RequestCredentials credentials;
            credentials.value = step.authorization;
            if (step.bind_to_connection) {
                // The vkc is computed for the certificate of the connection
                // that carries it, once the transport has that connection.
                credentials.bind = [&exchange, &announce](const Bytes& end_point) {
                    std::optional<std::string> value = exchange.bind(end_point);
                    if (value) announce(*value);
                    return value;
                };
            } else {
                announce(step.authorization);
            }
            std::string error;
            std::optional<Step> proxy_failure;
            if (!perform(actual, credentials, last, error, proxy_failure)) {
                if (proxy_failure) {
                    result.proxy_failed = true;
                    result.state = proxy_failure->state;
                    result.outcome = proxy_failure->outcome;
                    result.content = Content::withheld;
                    result.detail = "proxy " + proxy_target_->url + ": " + proxy_failure->detail;
                    result.summary = exchange.summary();
                    result.status = last.response.status;
                    result.reason_phrase = last.reason_phrase;
                    wipe(last.body);
                    return result;
                }
                if (last.not_sent && step.bind_to_connection) {
                    note("the connection presents another server certificate than the session "
                         "was keyed over: req-VFY-C not sent; re-keying with req-KEX-C1");
                    step = exchange.connection_changed();
                    continue;
                }
                result.transport_failed = true;
                result.detail = error;
                result.summary = exchange.summary();
                return result;
            }
            have_response = true;
            Step next = exchange.receive(last.response);
            if (observer_) {
                ExchangeEvent e;
                e.kind = ExchangeEvent::Kind::response;
                e.message = exchange.last_response_kind();
                e.status = last.response.status;
                e.control = exchange.control();
                e.reason_phrase = last.reason_phrase;
                for (const auto& h : last.response.interim_headers)
                    if (is_auth_header(h.first)) e.auth_headers.push_back(h);
                for (const auto& h : last.response.headers)
                    if (is_auth_header(h.first)) e.auth_headers.push_back(h);
                observer_(e);
            }
            step = std::move(next);
            continue;
        }
        if (step.action == Step::Action::need_credentials) {
            std::string user;
            SecretString password;
            const bool given = provider_ && provider_(step.realm, user, password);
            step = given ? exchange.supply_credentials(user, std::string_view(password.data(),
                                                                              password.size()))
                         : exchange.decline_credentials();
            continue;
        }
        break;  // finished
    }
    result.state = step.state;
    result.outcome = step.outcome;
    result.detail = step.detail;
    result.content = step.content;
    result.summary = exchange.summary();
    result.last_message = exchange.last_response_kind();
    result.control = exchange.control();
    if (have_response) {
        result.status = last.response.status;
        result.reason_phrase = last.reason_phrase;
    }
    if (have_response && step.content != Content::withheld && result.status >= 300 &&
        result.status < 400)
        for (const auto& h : last.response.headers)
            if (equal_ignoring_ascii_case(h.first, "location"))
                result.location = h.second;
    const bool release =
        have_response && (step.content == Content::verified ||
                          (step.content == Content::unauthenticated && release_unauthenticated_));
    if (release) {
        result.released = true;
        result.headers = std::move(last.response.headers);
        result.body = std::move(last.body);
    } else {
        wipe(last.body);  // withheld content never leaves the library
    }
    return result;
}

}  // namespace client
}  // namespace mutual

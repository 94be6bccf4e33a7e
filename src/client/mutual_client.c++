#include "client/mutual_client.h"

#include <strings.h>

#include <openssl/crypto.h>

#include "log.h"

namespace mutual {
namespace client {
namespace {

bool is_auth_header(const std::string& name) {
    static const char* const names[] = {"www-authenticate", "authentication-info",
                                        "optional-www-authenticate", "authentication-control"};
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

}  // namespace

MutualClient::MutualClient(ClientOptions client_options, TransportOptions transport_options)
    : context_(std::move(client_options)),
      owned_transport_(std::make_unique<HttpTransport>(std::move(transport_options))),
      transport_(owned_transport_.get()) {}

MutualClient::MutualClient(ClientOptions client_options, Transport& transport)
    : context_(std::move(client_options)), transport_(&transport) {}

FetchResult MutualClient::fetch(const HttpRequest& request) {
    FetchResult result;
    std::string parse_error;
    std::optional<Target> target = parse_target(request.url, &parse_error);
    if (!target) {
        result.transport_failed = true;
        result.detail = "bad URL " + request.url + ": " + parse_error;
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
            if (!transport_->perform(actual, credentials, last, &error)) {
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
            if (h.first.size() == 8 && strncasecmp(h.first.c_str(), "location", 8) == 0)
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

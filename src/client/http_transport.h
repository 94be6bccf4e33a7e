// HTTP and HTTPS through one libcurl easy handle (so an HTTP/1.1 keep-alive
// connection carries the whole exchange). The body is buffered, bounded, and
// handed back only to the caller that decides whether it may be released;
// for HTTPS the transport reports the tls-server-end-point value of the
// certificate of the connection the response came on, and lets the caller
// compute credentials for that certificate before anything is sent
// (RequestCredentials::bind, through CURLOPT_PREREQFUNCTION, which libcurl
// calls for new, reused and TLS-resumed connections alike, after any proxy
// tunnel). With a proxy it reports the proxy's answer separately (§14).
#ifndef MUTUAL_CLIENT_HTTP_TRANSPORT_H
#define MUTUAL_CLIENT_HTTP_TRANSPORT_H

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "client/client_session.h"

namespace mutual {
namespace client {

struct TransportOptions {
    bool insecure = false;              // do not verify the certificate chain and name
    std::string ca_file;                // PEM bundle of trusted CAs (empty: system default)
    std::string ca_path;                // directory of hashed CA certificates (--capath)
    std::string client_certificate;     // PEM client certificate (--cert)
    std::string client_key;             // its private key (--key; default: in the cert file)
    std::vector<std::string> resolve;   // "host:port:address" entries (--resolve)
    // An HTTP proxy ("http://host:port"): http targets are requested through
    // it, https targets through a CONNECT tunnel. Empty: libcurl's default
    // (the *_proxy environment variables).
    std::string proxy;
    std::size_t max_body = 64u << 20;   // largest response body buffered (octets)
    long connect_timeout = 30;          // seconds
    long max_time = 0;                  // seconds for one HTTP request, 0: no limit
    std::string user_agent = "mutual-client";
};

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;   // extra "Name: value" lines
    std::string body;
    bool has_body = false;
};

// The credentials header a request carries.
struct RequestCredentials {
    std::string header = "Authorization";
    std::string value;  // sent as is (when not empty) unless `bind` is set
    // When set: called once the connection that will carry the request is
    // ready (TCP, proxy tunnel and TLS handshake done; new, reused or resumed
    // alike) and before any octet of the request is sent, with that
    // connection's tls-server-end-point (empty on plain HTTP). Returns the
    // value to send, or nullopt to send nothing: perform() then fails with
    // HttpResult::not_sent. It may be called again when the transport retries
    // on a fresh connection.
    std::function<std::optional<std::string>(const Bytes& tls_server_end_point)> bind;
    // Proxy-Authorization (RFC 8120 §14), sent to the proxy only: with the
    // request of an http target, with the CONNECT of an https target.
    std::string proxy_value;
};

struct HttpResult {
    Response response;                  // status, headers, TLS binding
    std::string reason_phrase;
    std::string body;                   // buffered; the caller decides on release
    bool not_sent = false;              // RequestCredentials::bind refused the connection
    // The proxy's answer to what this transfer sent it: the final response
    // of an http target (it carries the proxy's headers too), the CONNECT
    // response of an https target. proxy_seen is false without a proxy and
    // when the transfer reused a tunnel (nothing was sent to the proxy).
    bool proxy_seen = false;
    Response proxy_response;
    bool tunnel_refused = false;        // the CONNECT failed: `response` is its answer
};

// What the driver needs from a transport; tests substitute a scripted one.
class Transport {
public:
    virtual ~Transport() = default;
    // Sends `request` with `credentials`. Returns false with *error set on a
    // transport failure (DNS, connect, TLS, timeout, body over the limit) or
    // when credentials.bind refused the connection (out.not_sent).
    virtual bool perform(const HttpRequest& request, const RequestCredentials& credentials,
                         HttpResult& out, std::string* error) = 0;
};

class HttpTransport : public Transport {
public:
    explicit HttpTransport(TransportOptions options = {});
    ~HttpTransport() override;
    HttpTransport(const HttpTransport&) = delete;
    HttpTransport& operator=(const HttpTransport&) = delete;

    bool perform(const HttpRequest& request, const RequestCredentials& credentials,
                 HttpResult& out, std::string* error) override;

    const TransportOptions& options() const noexcept { return options_; }

private:
    struct Impl;
    Impl* impl_;
    TransportOptions options_;
};

}  // namespace client
}  // namespace mutual

#endif

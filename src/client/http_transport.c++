#include "client/http_transport.h"

#include <cstring>
#include <memory>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "client/channel_binding.h"
#include "log.h"

namespace mutual {
namespace client {
namespace {

struct SlistDeleter {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct X509Deleter {
    void operator()(X509* x) const noexcept { X509_free(x); }
};

std::string trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n'))
        --e;
    return std::string(s.substr(b, e - b));
}

// The state one transfer's callbacks fill in.
struct Transfer {
    CURL* curl = nullptr;
    HttpResult* out = nullptr;
    std::size_t max_body = 0;
    bool body_too_large = false;
    bool in_block = false;      // inside a response header block
    long block_status = 0;
    HeaderList block_headers;
    std::string block_reason;
    bool certificate_seen = false;
    bool header_block_too_large = false;
    std::size_t header_octets = 0;
    // Binding the credentials to the connection (PREREQFUNCTION).
    const std::vector<std::string>* request_headers = nullptr;
    const RequestCredentials* credentials = nullptr;
    Slist bound_headers;
    bool not_sent = false;
    bool prerequest_done = false;  // header blocks before it answer a CONNECT
    bool connect_seen = false;
};

// The certificate of the connection this transfer uses.
void capture_certificate(Transfer& t) {
    t.out->response.tls_server_end_point.clear();
    const curl_tlssessioninfo* info = nullptr;
    if (curl_easy_getinfo(t.curl, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == nullptr ||
        info->backend != CURLSSLBACKEND_OPENSSL || info->internals == nullptr)
        return;
    SSL* ssl = static_cast<SSL*>(info->internals);
    std::unique_ptr<X509, X509Deleter> certificate(SSL_get1_peer_certificate(ssl));
    if (!certificate) return;
    t.out->response.tls_server_end_point = tls_server_end_point(certificate.get());
    t.certificate_seen = true;
}

void end_block(Transfer& t) {
    if (!t.in_block) return;
    t.in_block = false;
    if (!t.prerequest_done) {
        // The proxy's answer to CONNECT (the request reaches the server only
        // after on_prerequest).
        if (t.block_status >= 200) {
            t.connect_seen = true;
            t.out->proxy_response.status = t.block_status;
            t.out->proxy_response.headers = std::move(t.block_headers);
            t.out->reason_phrase = std::move(t.block_reason);
        }
        t.block_headers.clear();
        return;
    }
    if (t.block_status >= 100 && t.block_status < 200) {
        for (auto& h : t.block_headers) t.out->response.interim_headers.push_back(std::move(h));
    } else {
        t.out->response.headers = std::move(t.block_headers);
        t.out->reason_phrase = std::move(t.block_reason);
        t.out->response.status = t.block_status;
    }
    t.block_headers.clear();
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
    Transfer& t = *static_cast<Transfer*>(user);
    const std::size_t length = size * count;
    t.header_octets += length;
    if (t.header_octets > (1u << 20)) {  // 1 MiB of headers is an attack, not a response
        t.header_block_too_large = true;
        return 0;
    }
    std::string_view line(data, length);
    if (line.compare(0, 5, "HTTP/") == 0) {
        end_block(t);
        t.in_block = true;
        t.block_headers.clear();
        t.block_status = 0;
        t.block_reason.clear();
        const std::size_t sp = line.find(' ');
        if (sp != std::string_view::npos) {
            std::string_view rest = line.substr(sp + 1);
            long status = 0;
            std::size_t i = 0;
            for (; i < rest.size() && i < 3 && rest[i] >= '0' && rest[i] <= '9'; ++i)
                status = status * 10 + (rest[i] - '0');
            t.block_status = status;
            t.block_reason = trim(rest.substr(i));
        }
        if (!t.certificate_seen && t.prerequest_done) capture_certificate(t);
        return length;
    }
    if (!t.in_block) return length;
    if (trim(line).empty()) {
        end_block(t);
        return length;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !t.block_headers.empty()) {
        // obs-fold: a continuation of the previous field value.
        t.block_headers.back().second += " " + trim(line);
        return length;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return length;
    t.block_headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    return length;
}

void append(Slist& list, const std::string& line) {
    curl_slist* next = curl_slist_append(list.get(), line.c_str());
    if (next != nullptr) {
        (void)list.release();
        list.reset(next);
    }
}

Slist header_list(const std::vector<std::string>& lines, const RequestCredentials* credentials,
                  const std::string* value) {
    Slist headers;
    for (const auto& h : lines) append(headers, h);
    if (credentials != nullptr && value != nullptr && !value->empty())
        append(headers, credentials->header + ": " + *value);
    append(headers, "Expect:");  // no 100-continue round trip for request bodies
    return headers;
}

// libcurl calls this once the connection is ready (after any proxy tunnel
// and the TLS handshake, for new and reused connections alike) and before it
// sends the request: the moment to learn the certificate of the connection
// that will carry the request and to bind the credentials to it.
int on_prerequest(void* user, char*, char*, int, int) {
    Transfer& t = *static_cast<Transfer*>(user);
    try {
        t.prerequest_done = true;
        capture_certificate(t);
        t.certificate_seen = true;
        if (t.credentials == nullptr || !t.credentials->bind) return CURL_PREREQFUNC_OK;
        const std::optional<std::string> value =
            t.credentials->bind(t.out->response.tls_server_end_point);
        if (!value) {
            t.not_sent = true;
            return CURL_PREREQFUNC_ABORT;
        }
        t.bound_headers = header_list(*t.request_headers, t.credentials, &*value);
        curl_easy_setopt(t.curl, CURLOPT_HTTPHEADER, t.bound_headers.get());
        return CURL_PREREQFUNC_OK;
    } catch (...) {
        t.not_sent = true;
        return CURL_PREREQFUNC_ABORT;
    }
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    Transfer& t = *static_cast<Transfer*>(user);
    const std::size_t length = size * count;
    if (t.out->body.size() + length > t.max_body) {
        t.body_too_large = true;
        return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    t.out->body.append(data, length);
    return length;
}

}  // namespace

struct HttpTransport::Impl {
    CURL* curl = nullptr;
    char error_buffer[CURL_ERROR_SIZE];
};

HttpTransport::HttpTransport(TransportOptions options)
    : impl_(new Impl), options_(std::move(options)) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    impl_->curl = curl_easy_init();
    impl_->error_buffer[0] = '\0';
}

HttpTransport::~HttpTransport() {
    if (impl_->curl != nullptr) curl_easy_cleanup(impl_->curl);
    delete impl_;
    curl_global_cleanup();
}

bool HttpTransport::perform(const HttpRequest& request, const RequestCredentials& credentials,
                            HttpResult& out, std::string* error) {
    out = HttpResult{};
    CURL* curl = impl_->curl;
    if (curl == nullptr) {
        if (error != nullptr) *error = "libcurl initialisation failed";
        return false;
    }
    // Reset every option but keep the connection cache, so the keep-alive
    // connection carries the next request of the exchange.
    curl_easy_reset(curl);
    Transfer transfer;
    transfer.curl = curl;
    transfer.out = &out;
    transfer.max_body = options_.max_body;

    transfer.request_headers = &request.headers;
    transfer.credentials = &credentials;
    // With a binding, the request carries no credentials until the
    // connection is known (on_prerequest).
    Slist headers = header_list(request.headers, &credentials,
                                credentials.bind ? nullptr : &credentials.value);

    impl_->error_buffer[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, impl_->error_buffer);
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout);
    if (options_.max_time > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT, options_.max_time);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    Slist proxy_headers;
    if (!options_.proxy.empty()) {
        curl_easy_setopt(curl, CURLOPT_PROXY, options_.proxy.c_str());
        // HTTPHEADER to the server only, PROXYHEADER to the proxy only (for
        // an http target, whose request the proxy receives, libcurl sends both).
        curl_easy_setopt(curl, CURLOPT_HEADEROPT, static_cast<long>(CURLHEADER_SEPARATE));
        if (!credentials.proxy_value.empty()) {
            append(proxy_headers, "Proxy-Authorization: " + credentials.proxy_value);
            curl_easy_setopt(curl, CURLOPT_PROXYHEADER, proxy_headers.get());
        }
    }
    curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, on_prerequest);
    curl_easy_setopt(curl, CURLOPT_PREREQDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.insecure ? 0L : 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.insecure ? 0L : 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!options_.ca_path.empty()) curl_easy_setopt(curl, CURLOPT_CAPATH, options_.ca_path.c_str());
    if (!options_.client_certificate.empty())
        curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.client_certificate.c_str());
    if (!options_.client_key.empty())
        curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.client_key.c_str());
    Slist resolve;
    for (const auto& entry : options_.resolve) append(resolve, entry);
    if (resolve) curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve.get());

    if (request.method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        if (request.has_body) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(request.body.size()));
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
        }
        if (request.method != (request.has_body ? "POST" : "GET"))
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }

    const CURLcode rc = curl_easy_perform(curl);
    end_block(transfer);
    if (rc != CURLE_OK && !options_.proxy.empty() && transfer.connect_seen &&
        !transfer.prerequest_done && out.proxy_response.status >= 300) {
        // The proxy refused the tunnel (a 407 asking for authentication, a
        // 403, ...): its answer is the response.
        out.proxy_seen = true;
        out.tunnel_refused = true;
        out.response.status = out.proxy_response.status;
        out.response.headers = out.proxy_response.headers;
        out.body.clear();
        return true;
    }
    if (rc != CURLE_OK) {
        std::string message;
        if (transfer.not_sent) {
            out.not_sent = true;
            message = "the request was not sent: its credentials belong to another connection";
        } else if (transfer.body_too_large)
            message = "response body larger than " + std::to_string(options_.max_body) + " octets";
        else if (transfer.header_block_too_large)
            message = "response headers larger than 1 MiB";
        else
            message = impl_->error_buffer[0] != '\0' ? impl_->error_buffer : curl_easy_strerror(rc);
        log(LogLevel::debug, "MUT05101", "transport error for " + request.url + ": " + message);
        if (error != nullptr) *error = message;
        out.body.clear();
        return false;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 0) out.response.status = status;
    const char* scheme = nullptr;
    curl_easy_getinfo(curl, CURLINFO_SCHEME, &scheme);
    out.response.tls = scheme != nullptr && (std::strcmp(scheme, "HTTPS") == 0 ||
                                             std::strcmp(scheme, "https") == 0);
    if (!options_.proxy.empty()) {
        if (transfer.connect_seen) {
            out.proxy_seen = true;  // the CONNECT of this transfer's tunnel
        } else if (!out.response.tls) {
            out.proxy_seen = true;  // the proxy answered the request itself
            out.proxy_response = out.response;
        }
    }
    return true;
}

}  // namespace client
}  // namespace mutual

#include "client/target.h"

#include <memory>

#include <curl/curl.h>
#include <libpsl.h>

namespace mutual {
namespace client {
namespace {

struct UrlDeleter {
    void operator()(CURLU* u) const noexcept { curl_url_cleanup(u); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

struct CurlStringDeleter {
    void operator()(char* s) const noexcept { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

std::optional<std::string> url_part(CURLU* url, CURLUPart part, unsigned flags) {
    char* raw = nullptr;
    if (curl_url_get(url, part, &raw, flags) != CURLUE_OK || raw == nullptr) return std::nullopt;
    CurlString owned(raw);
    return std::string(raw);
}

std::string lower_ascii(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

unsigned default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

bool fail(std::string* error, const char* message) {
    if (error != nullptr) *error = message;
    return false;
}

}  // namespace

std::string Target::origin() const {
    return scheme + "://" + host + ":" + std::to_string(port);
}

std::string Target::single_server_scope() const {
    if (port == default_port(scheme)) return scheme + "://" + host;
    return origin();
}

std::optional<Target> parse_target(std::string_view url, std::string* error) {
    UrlHandle handle(curl_url());
    if (!handle) {
        fail(error, "out of memory");
        return std::nullopt;
    }
    const std::string text(url);
    CURLUcode rc = curl_url_set(handle.get(), CURLUPART_URL, text.c_str(),
                                CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
    if (rc != CURLUE_OK) {
        fail(error, curl_url_strerror(rc));
        return std::nullopt;
    }
    Target target;
    auto scheme = url_part(handle.get(), CURLUPART_SCHEME, 0);
    auto host = url_part(handle.get(), CURLUPART_HOST, CURLU_PUNYCODE);
    if (!host) host = url_part(handle.get(), CURLUPART_HOST, 0);
    auto port = url_part(handle.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
    auto path = url_part(handle.get(), CURLUPART_PATH, 0);
    auto full = url_part(handle.get(), CURLUPART_URL, 0);
    if (!scheme || !host || !full) {
        fail(error, "URL lacks a scheme or a host");
        return std::nullopt;
    }
    target.scheme = lower_ascii(*scheme);
    if (target.scheme != "http" && target.scheme != "https") {
        fail(error, "only http and https URLs are supported");
        return std::nullopt;
    }
    target.host = lower_ascii(*host);
    if (target.host.empty()) {
        fail(error, "URL has an empty host");
        return std::nullopt;
    }
    target.port = default_port(target.scheme);
    if (port) {
        unsigned long value = 0;
        for (char c : *port) {
            if (c < '0' || c > '9' || value > 65535) {
                fail(error, "bad port");
                return std::nullopt;
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65535) {
            fail(error, "bad port");
            return std::nullopt;
        }
        target.port = static_cast<unsigned>(value);
    }
    target.path = (path && !path->empty()) ? *path : "/";
    target.url = *full;
    return target;
}

std::string default_auth_scope(const Target& target) { return target.single_server_scope(); }

bool is_public_suffix(std::string_view domain) {
    struct PslDeleter {
        void operator()(psl_ctx_t* p) const noexcept { psl_free(p); }
    };
    // The newest list on the system (Debian's publicsuffix package), else
    // the one built into libpsl; loaded once.
    static const std::unique_ptr<psl_ctx_t, PslDeleter> list(psl_latest(nullptr));
    const psl_ctx_t* psl = list ? list.get() : psl_builtin();
    if (psl == nullptr) return true;  // no list: treat every wildcard as too wide
    const std::string name = lower_ascii(std::string(domain));
    return psl_is_public_suffix2(psl, name.c_str(), PSL_TYPE_ANY) != 0;
}

bool scope_covers(std::string_view scope, const Target& target) {
    if (scope.empty()) return false;
    if (scope.find("://") != std::string_view::npos)
        return lower_ascii(std::string(scope)) == target.single_server_scope();
    const std::string lowered = lower_ascii(std::string(scope));
    if (lowered.size() > 2 && lowered[0] == '*' && lowered[1] == '.') {
        const std::string domain = lowered.substr(2);
        // §5 RECOMMENDS refusing wildcards over a public suffix ("*.com",
        // "*.co.uk", "*.github.io"): the Public Suffix List decides.
        if (domain.front() == '.' || domain.back() == '.' || target.host.front() == '[' ||
            is_public_suffix(domain))
            return false;
        if (target.host == domain) return true;
        return target.host.size() > domain.size() &&
               target.host.compare(target.host.size() - domain.size(), domain.size(), domain) == 0 &&
               target.host[target.host.size() - domain.size() - 1] == '.';
    }
    return lowered == target.host;
}

std::optional<std::string> resolve_reference(std::string_view base,
                                             std::string_view reference) {
    UrlHandle handle(curl_url());
    if (!handle) return std::nullopt;
    const std::string b(base), r(reference);
    if (curl_url_set(handle.get(), CURLUPART_URL, b.c_str(), CURLU_GUESS_SCHEME) != CURLUE_OK ||
        curl_url_set(handle.get(), CURLUPART_URL, r.c_str(), CURLU_NON_SUPPORT_SCHEME) !=
            CURLUE_OK)
        return std::nullopt;
    // A fragment never goes on the wire.
    curl_url_set(handle.get(), CURLUPART_FRAGMENT, nullptr, 0);
    return url_part(handle.get(), CURLUPART_URL, 0);
}

std::string path_directory(std::string_view path) {
    const auto slash = path.rfind('/');
    if (slash == std::string_view::npos) return "/";
    return std::string(path.substr(0, slash + 1));
}

}  // namespace client
}  // namespace mutual

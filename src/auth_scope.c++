#include "auth_scope.h"

#include <optional>

#include "ascii.h"

namespace mutual {

std::string host_validation_value(std::string_view scheme, std::string_view host, unsigned port) {
    std::string out;
    out.reserve(scheme.size() + host.size() + 10);
    for (char c : scheme) out += ascii_lower(c);
    out += "://";
    for (char c : host) out += ascii_lower(c);
    out += ':';
    out += std::to_string(port);
    return out;
}

unsigned default_port(std::string_view scheme) noexcept {
    if (scheme == "http") return 80;
    if (scheme == "https") return 443;
    return 0;
}

std::string single_server_scope(std::string_view scheme, std::string_view host, unsigned port) {
    std::string out = host_validation_value(scheme, host, port);
    if (port == default_port(ascii_lowercase(scheme))) out.resize(out.rfind(':'));
    return out;
}

AuthScopeForm auth_scope_form(std::string_view scope) noexcept {
    if (scope.find("://") != std::string_view::npos) return AuthScopeForm::single_server;
    if (scope.size() > 2 && scope.substr(0, 2) == "*.") return AuthScopeForm::wildcard_domain;
    return AuthScopeForm::single_host;
}

bool host_in_domain(std::string_view host, std::string_view domain) noexcept {
    if (host == domain) return true;
    return host.size() > domain.size() &&
           host.compare(host.size() - domain.size(), domain.size(), domain) == 0 &&
           host[host.size() - domain.size() - 1] == '.';
}

namespace {

bool is_host_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '%' || c == '!' || c == '$' || c == '&' ||
           c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' ||
           c == ';' || c == '=';
}

// host = reg-name in lower case, or [IPv6] (hex digits, ':' and '.').
std::string check_host(std::string_view host) {
    if (host.empty()) return "empty host";
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return "unterminated IPv6 literal";
        for (char c : host.substr(1, host.size() - 2))
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.'))
                return "bad character in IPv6 literal (lower case hex digits only)";
        return {};
    }
    for (char c : host) {
        if (c >= 'A' && c <= 'Z') return "host must be in lower case";
        if (!is_host_char(c)) return "bad character in host";
    }
    return {};
}

std::string check_port(std::string_view port) {
    if (port.empty()) return "empty port";
    if (port.size() > 5) return "port out of range";
    if (port.size() > 1 && port.front() == '0') return "port with leading zero";
    unsigned value = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return "port is not a number";
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return "port out of range";
    return {};
}

// Splits "<host>:<port>" where host may be an [IPv6] literal.
bool split_host_port(std::string_view hp, std::string_view& host,
                     std::optional<std::string_view>& port) {
    port.reset();
    if (!hp.empty() && hp.front() == '[') {
        const std::size_t close = hp.find(']');
        if (close == std::string_view::npos) return false;
        host = hp.substr(0, close + 1);
        std::string_view rest = hp.substr(close + 1);
        if (rest.empty()) return true;
        if (rest.front() != ':') return false;
        port = rest.substr(1);
        return true;
    }
    const std::size_t colon = hp.rfind(':');
    if (colon == std::string_view::npos) {
        host = hp;
        return true;
    }
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
    return true;
}

}  // namespace

std::string check_explicit_vh(std::string_view value) {
    std::string_view rest;
    if (value.substr(0, 7) == "http://") rest = value.substr(7);
    else if (value.substr(0, 8) == "https://") rest = value.substr(8);
    else return "must start with http:// or https:// (lower case)";
    std::string_view host;
    std::optional<std::string_view> port;
    if (!split_host_port(rest, host, port)) return "malformed host:port";
    if (!port) return "the port must always be present (RFC 8120 section 7)";
    std::string problem = check_host(host);
    if (!problem.empty()) return problem;
    return check_port(*port);
}

std::string check_auth_scope(std::string_view value) {
    if (value.empty()) return "empty auth-scope";
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return "auth-scope must be ASCII without spaces";
        if (c == '/' && value.find("://") == std::string_view::npos)
            return "auth-scope with a path (only <scheme>://<host>[:<port>], <host> or *.<domain>)";
    }
    const AuthScopeForm form = auth_scope_form(value);
    if (form == AuthScopeForm::single_server) {
        // single-server: <scheme>://<host>[:<port>], default port omitted
        const std::size_t sep = value.find("://");
        const std::string_view scheme = value.substr(0, sep);
        if (scheme != "http" && scheme != "https")
            return "scheme must be http or https (lower case)";
        std::string_view host;
        std::optional<std::string_view> port;
        std::string_view rest = value.substr(sep + 3);
        if (rest.find('/') != std::string_view::npos) return "auth-scope must not contain a path";
        if (!split_host_port(rest, host, port)) return "malformed host:port";
        std::string problem = check_host(host);
        if (!problem.empty()) return problem;
        if (port) {
            problem = check_port(*port);
            if (!problem.empty()) return problem;
            if (*port == std::to_string(default_port(scheme)))
                return "the default port must be omitted (RFC 8120 section 5)";
        }
        return {};
    }
    if (form == AuthScopeForm::wildcard_domain) {
        std::string problem = check_host(value.substr(2));
        if (!problem.empty()) return problem;
        if (value.find('.', 2) == std::string_view::npos)
            return "wildcard-domain auth-scope must name a registrable domain, not a top-level one";
        return {};
    }
    std::string_view host;
    std::optional<std::string_view> port;
    if (!split_host_port(value, host, port) || port)
        return "single-host auth-scope must not carry a port (use <scheme>://<host>:<port>)";
    return check_host(host);
}

namespace {

// "<scheme>://<authority>[/...]" -> scheme, host, port (default when absent).
bool split_uri(std::string_view uri, std::string& scheme, std::string& host, std::string& port) {
    const std::size_t sep = uri.find("://");
    if (sep == std::string_view::npos || sep == 0) return false;
    scheme = ascii_lowercase(uri.substr(0, sep));
    std::string_view authority = uri.substr(sep + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos) return false;
    std::string_view h;
    std::optional<std::string_view> p;
    if (!split_host_port(authority, h, p) || h.empty()) return false;
    host = ascii_lowercase(h);
    if (p && !p->empty()) {
        port = std::string(*p);
        return true;
    }
    const unsigned d = default_port(scheme);
    if (d == 0) return false;
    port = std::to_string(d);
    return true;
}

}  // namespace

bool auth_scope_covers(std::string_view scope, std::string_view uri) {
    std::string scheme, host, port;
    if (!split_uri(uri, scheme, host, port)) return false;
    const std::string s = ascii_lowercase(scope);
    const AuthScopeForm form = auth_scope_form(s);
    if (form == AuthScopeForm::single_server) {
        std::string scope_scheme, scope_host, scope_port;
        return split_uri(s, scope_scheme, scope_host, scope_port) && scope_scheme == scheme &&
               scope_host == host && scope_port == port;
    }
    if (form == AuthScopeForm::wildcard_domain) {
        // §5: "*.example.com" covers example.com and every host under it.
        return host_in_domain(host, std::string_view(s).substr(2));
    }
    return host == s;
}

}  // namespace mutual

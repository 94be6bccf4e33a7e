// The request target as RFC 8120 sees it: scheme, host and port (the server,
// §6), the path (for `path` coverage, §4.3), the host-validation string vh
// (§7 "host") and the authentication-scope rules of §5.
#ifndef MUTUAL_CLIENT_TARGET_H
#define MUTUAL_CLIENT_TARGET_H

#include <optional>
#include <string>
#include <string_view>

namespace mutual {
namespace client {

struct Target {
    std::string url;     // as given (after scheme guessing), what the transport fetches
    std::string scheme;  // "http" or "https", lower case
    std::string host;    // lower case; IDN in punycode; IPv6 in brackets
    unsigned port = 0;   // always set (default port filled in)
    std::string path;    // absolute path without query, at least "/"

    bool https() const noexcept { return scheme == "https"; }
    // "<scheme>://<host>:<port>": the server (sessions are local to it, §6)
    // and the vh value of the "host" validation method (§7).
    std::string origin() const;
    // The single-server auth-scope form (§5): port omitted when default.
    std::string single_server_scope() const;
};

// Parses an http/https URL with libcurl's URL parser (no I/O). A URL without
// a scheme is taken as http, like curl. Returns nullopt with *error set on
// failure or for other schemes.
std::optional<Target> parse_target(std::string_view url, std::string* error = nullptr);

// The authentication scope assumed when a challenge carries no auth-scope:
// the single-server type "<scheme>://<host>[:<port>]" (default port omitted,
// RFC 6454 serialization), as §4.1, which defines the parameter, says and
// Appendix A.16 records as deliberate. (§5 calls single-host "the default";
// docs/interop.md explains the reading.)
std::string default_auth_scope(const Target& target);

// §5: true when auth-scope `scope` includes the target's server. Accepts the
// single-server ("scheme://host[:port]"), single-host ("host") and
// wildcard-domain ("*.domain") forms; a wildcard whose domain is a public
// suffix ("*.com", "*.co.uk", "*.github.io") is refused, as §5 recommends.
bool scope_covers(std::string_view scope, const Target& target);

// True when `domain` (lower case, punycode) is a public suffix of the Public
// Suffix List (ICANN and private sections) as libpsl has it: the system's
// newest list, else libpsl's built-in one.
bool is_public_suffix(std::string_view domain);

// A redirect's Location resolved against the URL it answered (RFC 3986
// §5.2, with libcurl's parser). nullopt when it does not resolve.
std::optional<std::string> resolve_reference(std::string_view base, std::string_view reference);

// The directory of a path: everything up to and including the last "/".
std::string path_directory(std::string_view path);

}  // namespace client
}  // namespace mutual

#endif

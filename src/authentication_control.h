// RFC 8053 on the server side, as pure string builders (no httpd types):
// the Authentication-Control header of §4 and the Optional-WWW-Authenticate
// challenges of §3. Parameters use the header grammar's serializers
// (http_auth_grammar.h: string_param): tokens and integers plain, strings
// quoted, non-ASCII strings as name*=UTF-8''... (§4.1), the realm always a
// plain quoted-string (§4.1 interoperability note).
#ifndef MUTUAL_AUTHENTICATION_CONTROL_H
#define MUTUAL_AUTHENTICATION_CONTROL_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mutual {

// The administrator's Authentication-Control parameters for one location
// (AuthMutualLogoutTimeout, AuthMutualLocationWhenUnauthenticated, ...).
struct AuthenticationControl {
    std::optional<std::uint64_t> logout_timeout;            // logout-timeout (§4.6)
    std::optional<std::string> location_when_unauthenticated;  // §4.3
    std::optional<std::string> location_when_logout;        // §4.5
    std::optional<bool> modal;                               // auth-style (§4.2)
    bool no_auth = false;                                    // no-auth=true (§4.4)
    std::optional<std::string> username;                     // §4.7 (mind §8.1)
};

// The kind of response a header goes on, in RFC 8053 §2.1 terms; each
// parameter is sent only on the responses its section names.
enum class ControlResponse {
    initializing,   // 401-INIT (any reason): auth-style, location-when-unauthenticated,
                    //   no-auth, username
    negative,       // 401-STALE: auth-style, username
    intermediate,   // 401-KEX-S1: nothing
    optional,       // 2xx/3xx with Optional-WWW-Authenticate: nothing (auth-style is
                    //   disregarded there, the locations are NOT RECOMMENDED)
    success,        // 200-VFY-S: logout-timeout, location-when-logout
    logout,         // the answer of a mutual-logout handler: logout-timeout=0,
                    //   location-when-logout
};

// "Mutual realm=\"...\", name=value, ..." with the parameters relevant to
// `kind`, or an empty string when there is none to send.
std::string authentication_control(std::string_view realm, const AuthenticationControl& control,
                                   ControlResponse kind);

// A location's Authentication-Control values, one per kind of response
// that can carry parameters (empty: nothing to send on it); computed once
// with the location's policy.
struct ControlHeaders {
    std::string initializing, negative, success, logout;
};
ControlHeaders control_headers(std::string_view realm, const AuthenticationControl& control);

// Whether a value can be sent as an Authentication-Control string (or as a
// quoted-string realm): no control characters, valid UTF-8. nullptr when
// fine, else the problem (a static string).
const char* control_string_problem(std::string_view value) noexcept;
// The same, empty when fine.
std::string check_control_string(std::string_view value);

// Optional-WWW-Authenticate (§3): the challenges a 401-INIT reason=initial
// would carry, each with the path parameter when one is configured ("a hint
// of the URL space", which §3 says non-mandatory authentication SHOULD send).
std::string optional_www_authenticate(const std::vector<std::string>& init_challenges,
                                      const std::optional<std::string>& path);

// Whether an Authorization value names the Mutual scheme (its first token,
// case-insensitively). A request whose Authorization is of another scheme
// carries no Mutual credentials: unauthenticated as far as §3 goes.
bool is_mutual_authorization(std::string_view authorization) noexcept;

}  // namespace mutual

#endif

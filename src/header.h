// HTTP authentication header grammar (RFC 7235 §2.1/§4, RFC 7615 §3,
// RFC 5987 §3.2) as RFC 8120 §3 uses it, and the Mutual messages of §4.
//
// Two layers:
//  * grammar: parse_challenges / parse_credentials / parse_auth_info turn a
//    header value into schemes and (name, value) parameters: quoted strings
//    unescaped, `name*=UTF-8''...` decoded, names lower-cased, duplicates and
//    oversize input rejected, linear time.
//  * messages: parse_mutual_* interpret one Mutual challenge/credential per
//    RFC 8120 §4 (version must be "1", mandatory parameters, mutual
//    exclusion of reason/ks#/vks and kc#/vkc, token and number syntax).
//    Algorithm-determined values (kc1, ks1, vkc, vks) stay as text: the
//    algorithm decodes them because it knows their format and natural length.
#ifndef MUTUAL_HEADER_H
#define MUTUAL_HEADER_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.h"

namespace mutual {

// Largest header value any parser accepts (octets).
constexpr std::size_t max_header_length = 16384;
// Largest number of parameters in one challenge or credential.
constexpr std::size_t max_params = 64;

// Every rejection has its own code (stable names via header_error_name()).
enum class HeaderError {
    none = 0,
    // grammar
    too_long,              // value longer than max_header_length
    empty,                 // nothing but whitespace
    bad_scheme,            // auth-scheme is not a token
    bad_param_name,        // parameter name is not a token
    missing_equals,        // "name" without "=value"
    bad_token_value,       // unquoted value is not a token
    unterminated_quote,    // quoted-string without closing quote
    bad_quoted_char,       // control character inside a quoted-string
    bad_separator,         // junk where "," was expected
    too_many_params,       // more than max_params parameters
    duplicate_param,       // same name twice (also name vs name*)
    ext_syntax,            // name*= value not charset'lang'pct-encoded
    ext_charset,           // charset other than UTF-8
    ext_language,          // non-empty language tag (RFC 8120 §3.1)
    ext_percent,           // bad percent-encoding in an ext-value
    ext_realm,             // realm*= (forbidden by RFC 7235 / RFC 8120 §3.1)
    invalid_utf8,          // decoded value is not valid UTF-8
    b64token_credentials,  // token68 form where Mutual needs auth-params
    // messages (RFC 8120 §4)
    not_mutual,            // no challenge/credential with scheme "Mutual"
    missing_version,
    bad_version,           // version other than "1"
    missing_algorithm,
    missing_validation,
    missing_realm,
    missing_user,
    missing_sid,
    missing_nc,
    missing_reason,
    bad_extensive_token,   // algorithm/validation/reason not an extensive-token
    kc_vkc_conflict,       // request carries kc# and vkc (or ks#/vks)
    response_params_in_request,  // request carries ks#/vks
    request_params_in_response,  // response carries kc#/vkc
    reason_ks_vks_conflict,      // response carries two of reason/ks#/vks
    bad_sid,               // sid not a hex-fixed-number
    bad_nc,                // nc not an integer (leading zero, letters, empty)
    bad_nc_max,
    bad_nc_window,
    bad_time,
    missing_kex_value,     // credential with neither kc1 nor vkc
    missing_ks1_fields,    // 401-KEX-S1 lacking nc-max, nc-window or time
    bad_user,              // user empty or with a BOM
};

const char* header_error_name(HeaderError e) noexcept;

struct Param {
    std::string name;      // lower case, without the trailing "*"
    std::string value;     // unquoted / percent-decoded octets
    bool quoted = false;   // value was a quoted-string
    bool extended = false; // value came from name*=UTF-8''...
};

struct AuthItem {
    std::string scheme;    // as received; compare case-insensitively
    std::string token68;   // set when the item used the token68 form
    std::vector<Param> params;
    const Param* find(std::string_view lower_name) const noexcept;
};

// WWW-Authenticate / Optional-WWW-Authenticate: 1#challenge (several allowed).
HeaderError parse_challenges(std::string_view value, std::vector<AuthItem>& out);
// Authorization: exactly one credentials item.
HeaderError parse_credentials(std::string_view value, AuthItem& out);
// Authentication-Info (RFC 7615): #auth-param, no scheme.
HeaderError parse_auth_info(std::string_view value, std::vector<Param>& out);

// ---- Mutual messages ------------------------------------------------------

enum class RequestKind { kex_c1, vfy_c };
enum class ResponseKind { init, stale, kex_s1 };

// The fields common to every Mutual message after version.
struct RealmId {
    std::string algorithm;   // lower-cased extensive-token
    std::string validation;  // lower-cased extensive-token
    std::optional<std::string> auth_scope;
    std::string realm;
};

// Authorization: Mutual ... (req-KEX-C1 or req-VFY-C)
struct MutualCredentials {
    RequestKind kind = RequestKind::kex_c1;
    RealmId id;
    std::string user;        // kex_c1: UTF-8 (plain or from user*=)
    std::string kc1;         // kex_c1: algorithm-determined text
    Bytes sid;               // vfy_c
    std::string sid_text;    // vfy_c, as received (lower-cased)
    std::uint64_t nc = 0;    // vfy_c, saturated at UINT64_MAX
    std::string vkc;         // vfy_c: algorithm-determined text
};

// WWW-Authenticate: Mutual ... (401-INIT, 401-STALE, 401-KEX-S1)
struct MutualChallenge {
    ResponseKind kind = ResponseKind::init;
    RealmId id;
    std::string reason;      // init/stale
    Bytes sid;               // kex_s1
    std::string ks1;         // kex_s1, algorithm-determined text
    std::uint64_t nc_max = 0, nc_window = 0, time = 0;  // kex_s1
    std::optional<std::string> path;
};

// Authentication-Info: version=1, sid=..., vks=...
struct MutualAuthInfo {
    Bytes sid;
    std::string vks;
};

HeaderError parse_mutual_credentials(std::string_view authorization, MutualCredentials& out);
// Picks every Mutual challenge of a WWW-Authenticate value, in order; items of
// other schemes are skipped. Returns the first error of a Mutual challenge.
HeaderError parse_mutual_challenges(std::string_view www_authenticate,
                                    std::vector<MutualChallenge>& out);
HeaderError parse_mutual_challenge(const AuthItem& item, MutualChallenge& out);
HeaderError parse_mutual_auth_info(std::string_view authentication_info, MutualAuthInfo& out);

// Canonical serializers (RFC 8120 §3.2: tokens and integers unquoted, strings
// quoted, non-ASCII non-realm strings as name*=UTF-8''...). Parameter order
// is version, algorithm, validation, auth-scope, realm, then the message's own.
// `quote_kex` selects quoted-string for kc1/ks1/vkc/vks (base64-fixed-number)
// versus an unquoted token (hex-fixed-number).
std::string serialize_challenge(const MutualChallenge& c, bool quote_kex);
std::string serialize_credentials(const MutualCredentials& c, bool quote_kex);
std::string serialize_auth_info(const MutualAuthInfo& a, bool quote_kex);

// Helpers the serializers use, exposed for other headers (Authentication-Control).
std::string quote_string(std::string_view s);          // "..." with \" and \\ escaped
std::string ext_value_encode(std::string_view utf8);   // UTF-8''%xx... (RFC 5987)
// name=value in canonical form: quoted string, or name*=UTF-8''... if non-ASCII.
std::string string_param(std::string_view name, std::string_view value);

}  // namespace mutual

#endif

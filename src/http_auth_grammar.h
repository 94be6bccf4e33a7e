// The generic HTTP authentication header grammar: challenges and
// credentials (RFC 7235 §2.1/§4), Authentication-Info (RFC 7615 §3) and
// ext-values (RFC 5987 §3.2), with the restrictions of RFC 8120 §3 (realm*=
// refused, UTF-8 only, no language tag). Nothing here knows the Mutual
// scheme: mutual_messages.h interprets its challenges and credentials, and
// the RFC 8053 headers (Authentication-Control) reuse this grammar.
//
// parse_challenges / parse_credentials / parse_auth_info turn a header
// value into schemes and (name, value) parameters: quoted strings unescaped,
// `name*=UTF-8''...` decoded, names lower-cased, duplicates and oversize
// input rejected, linear time.
#ifndef MUTUAL_HTTP_AUTH_GRAMMAR_H
#define MUTUAL_HTTP_AUTH_GRAMMAR_H

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mutual {

// Largest header value any parser accepts (octets).
constexpr std::size_t max_header_length = 16384;
// Largest number of parameters in one challenge or credential.
constexpr std::size_t max_params = 64;

// Every rejection has its own code (stable names via header_error_name()).
// One type for every header parser, so a caller reports grammar and message
// errors alike: the grammar's codes first, then those of the messages built
// on it (mutual_messages.h; RFC 8053's headers add theirs here).
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

// ---- views: the server's per-request path ----------------------------------
// One parameter as views into the header value it was parsed from.
struct ParamView {
    std::string_view name;   // as received: compare ignoring ASCII case
    std::string_view value;  // the token, or the text between the quotes
    bool quoted = false;
};

struct CredentialsView {
    // Room for the usual credentials (a req-VFY-C has 8 or 9 parameters)
    // and a few extensions; more go to parse_credentials (the view is built
    // on every request: a small one is cheap to make).
    static constexpr std::size_t capacity = 16;
    std::string_view scheme;
    std::array<ParamView, capacity> params;
    std::size_t count = 0;
};

// parse_credentials without a copy, for the usual case only. true when
// `value` is credentials of at most CredentialsView::capacity parameters
// whose every value is a token or a quoted-string without quoted-pairs, no
// name*= ext-value, no token68 and no empty list elements: parse_credentials
// accepts exactly those with the same parameters (it lower-cases the names;
// the values are identical).
// false for anything else, valid or not: parse_credentials decides then.
// The views point into `value`. Never allocates.
bool parse_credentials_view(std::string_view value, CredentialsView& out) noexcept;

// ---- serializing parameters -----------------------------------------------
// The canonical forms RFC 8120 §3.2 asks for, for every header built on this
// grammar.
std::string quote_string(std::string_view s);          // "..." with \" and \\ escaped
void append_quoted(std::string& out, std::string_view s);   // quote_string(s) appended to out
std::string ext_value_encode(std::string_view utf8);   // UTF-8''%xx... (RFC 5987)
// name=value in canonical form: quoted string, or name*=UTF-8''... if non-ASCII.
std::string string_param(std::string_view name, std::string_view value);

}  // namespace mutual

#endif

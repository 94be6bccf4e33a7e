// The Mutual messages of RFC 8120 §4 over the generic grammar
// (http_auth_grammar.h): parse_mutual_* interpret one Mutual
// challenge/credential (version must be "1", mandatory parameters, mutual
// exclusion of reason/ks#/vks and kc#/vkc, token and number syntax), and the
// serializers write them canonically. Algorithm-determined values (kc1, ks1,
// vkc, vks) stay as text: the algorithm decodes them because it knows their
// format and natural length.
#ifndef MUTUAL_MUTUAL_MESSAGES_H
#define MUTUAL_MUTUAL_MESSAGES_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.h"
#include "http_auth_grammar.h"

namespace mutual {

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

}  // namespace mutual

#endif

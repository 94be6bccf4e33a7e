// The Mutual messages of RFC 8120 §4 over the generic grammar
// (http_auth_grammar.h): parse_mutual_* interpret one Mutual
// challenge/credential (version must be "1", mandatory parameters, mutual
// exclusion of reason/ks#/vks and kc#/vkc, token and number syntax), and the
// serializers write them canonically. Algorithm-determined values (kc1, ks1,
// vkc, vks) stay as text: the algorithm decodes them because it knows their
// format and natural length.
#ifndef MUTUAL_MUTUAL_MESSAGES_H
#define MUTUAL_MUTUAL_MESSAGES_H

#include <array>
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

// A req-VFY-C as views: the server's per-request path, without a copy of
// any parameter. From parse_mutual_verification (views into the header
// value, which must outlive it) or from_credentials (views into a
// MutualCredentials, which must outlive it).
struct VerificationView {
    // As received: algorithm and validation are compared after ASCII
    // lower-casing (parse_mutual_credentials lower-cases them).
    std::string_view algorithm, validation, realm;
    std::optional<std::string_view> auth_scope;
    std::uint64_t nc = 0;
    std::string_view vkc;
    ByteView sid() const noexcept {
        return ByteView(sid_source_ != nullptr ? sid_source_ : sid_octets_.data(), sid_length_);
    }

    static VerificationView from_credentials(const MutualCredentials& vfy_c) noexcept;
    // Longest sid parse_mutual_verification decodes in place (octets).
    static constexpr std::size_t max_inline_sid = 64;

private:
    friend bool parse_mutual_verification(std::string_view, VerificationView&) noexcept;
    std::array<std::uint8_t, max_inline_sid> sid_octets_{};
    const std::uint8_t* sid_source_ = nullptr;   // from_credentials: the sid's own octets
    std::size_t sid_length_ = 0;
};

// parse_mutual_credentials for the usual req-VFY-C, without copies: true
// when `authorization` is a req-VFY-C that parse_mutual_credentials accepts
// and parse_credentials_view reads (no quoted-pairs, no ext-values), with a
// sid of at most max_inline_sid octets; `out` then holds what
// parse_mutual_credentials would give. false for anything else (a
// req-KEX-C1, an error, an unusual form): call parse_mutual_credentials.
// Never allocates.
bool parse_mutual_verification(std::string_view authorization, VerificationView& out) noexcept;

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
// The same from its parts (one allocation: the server's per-request path).
std::string serialize_auth_info(ByteView sid, std::string_view vks, bool quote_kex);

}  // namespace mutual

#endif

// libFuzzer target: the header grammar and the Mutual message parsers and
// serializers of header.h.
//
// Input: the header value itself (no selector), fed to every parser.
// Properties:
//  * grammar: whatever parse_challenges / parse_credentials / parse_auth_info
//    accept, written back out by a straightforward serializer, parses to the
//    same items (names, values, quoted/extended flags, token68).
//  * messages: whatever parse_mutual_credentials / parse_mutual_challenges /
//    parse_mutual_auth_info accept, serialized canonically (both kex quoting
//    styles where the value allows), parses again to the same message, and
//    serializing that gives the same text (the canonical form is a fixed point).
//  * a rejection leaves the output empty / default.
//  * views: whatever the server's view parsers (parse_credentials_view,
//    parse_mutual_verification) accept, the owning parsers accept with the
//    same content.
#include "fuzz_common.h"

#include <optional>
#include <string>
#include <vector>

#include "ascii.h"
#include "header.h"

namespace mutual {
namespace fuzz {
namespace header_target {

bool is_tchar(char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

// ---- grammar round trip ---------------------------------------------------------

std::string write_param(const Param& p) {
    std::string out = p.name;
    if (p.extended) {
        out += "*=";
        out += ext_value_encode(p.value);
    } else if (p.quoted) {
        out += '=';
        out += quote_string(p.value);
    } else {
        out += '=';
        out += p.value;
    }
    return out;
}

std::string write_params(const std::vector<Param>& params) {
    std::string out;
    for (const Param& p : params) {
        if (!out.empty()) out += ", ";
        out += write_param(p);
    }
    return out;
}

std::string write_item(const AuthItem& item) {
    std::string out = item.scheme;
    if (!item.token68.empty()) {
        out += ' ';
        out += item.token68;
    } else if (!item.params.empty()) {
        out += ' ';
        out += write_params(item.params);
    }
    return out;
}

bool same_params(const std::vector<Param>& a, const std::vector<Param>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].name != b[i].name || a[i].value != b[i].value || a[i].quoted != b[i].quoted ||
            a[i].extended != b[i].extended)
            return false;
    return true;
}

bool same_item(const AuthItem& a, const AuthItem& b) {
    return a.scheme == b.scheme && a.token68 == b.token68 && same_params(a.params, b.params);
}

void check_grammar(std::string_view value) {
    std::vector<AuthItem> challenges;
    HeaderError e = parse_challenges(value, challenges);
    if (e != HeaderError::none) {
        FUZZ_CHECK(challenges.empty());
    } else {
        FUZZ_CHECK(!challenges.empty());
        std::string text;
        for (const AuthItem& item : challenges) {
            if (!text.empty()) text += ", ";
            text += write_item(item);
        }
        if (text.size() <= max_header_length) {
            std::vector<AuthItem> again;
            FUZZ_CHECK(parse_challenges(text, again) == HeaderError::none);
            FUZZ_CHECK(again.size() == challenges.size());
            for (std::size_t i = 0; i < again.size(); ++i)
                FUZZ_CHECK(same_item(again[i], challenges[i]));
        }
    }

    AuthItem credentials;
    e = parse_credentials(value, credentials);
    if (e == HeaderError::none) {
        std::string text = write_item(credentials);
        if (text.size() <= max_header_length) {
            AuthItem again;
            FUZZ_CHECK(parse_credentials(text, again) == HeaderError::none);
            FUZZ_CHECK(same_item(again, credentials));
        }
        // One credentials item is also a valid challenge list of one item.
        FUZZ_CHECK(challenges.size() == 1 && same_item(challenges[0], credentials));
    }

    std::vector<Param> info;
    e = parse_auth_info(value, info);
    if (e != HeaderError::none) {
        FUZZ_CHECK(info.empty());
    } else {
        std::string text = write_params(info);
        if (text.size() <= max_header_length) {
            std::vector<Param> again;
            FUZZ_CHECK(parse_auth_info(text, again) == HeaderError::none);
            FUZZ_CHECK(same_params(again, info));
        }
    }
}

// ---- message round trip ------------------------------------------------------------

bool same_id(const RealmId& a, const RealmId& b) {
    return a.algorithm == b.algorithm && a.validation == b.validation &&
           a.auth_scope == b.auth_scope && a.realm == b.realm;
}

bool same_credentials(const MutualCredentials& a, const MutualCredentials& b) {
    if (a.kind != b.kind || !same_id(a.id, b.id)) return false;
    if (a.kind == RequestKind::kex_c1) return a.user == b.user && a.kc1 == b.kc1;
    return a.sid == b.sid && a.sid_text == b.sid_text && a.nc == b.nc && a.vkc == b.vkc;
}

// The fields each response kind carries (RFC 8120 §4.1, §4.2): `path` only in
// 401-KEX-S1.
bool same_challenge(const MutualChallenge& a, const MutualChallenge& b) {
    if (a.kind != b.kind || !same_id(a.id, b.id)) return false;
    if (a.kind != ResponseKind::kex_s1) return a.reason == b.reason;
    return a.sid == b.sid && a.ks1 == b.ks1 && a.nc_max == b.nc_max &&
           a.nc_window == b.nc_window && a.time == b.time && a.path == b.path;
}

bool has_control(std::string_view s) noexcept {
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7f) return true;
    }
    return false;
}

// Finding F1 (docs/security.md): an ext-value (user*=, auth-scope*=, path*=)
// may decode to control characters, which quote_string drops on the way out.
bool f1_masked(const RealmId& id, std::string_view user, const std::optional<std::string>& path) {
    static const bool mask = masked("F1");
    return mask && (has_control(user) || (id.auth_scope && has_control(*id.auth_scope)) ||
                    (path && has_control(*path)));
}

void check_credentials_round_trip(const MutualCredentials& c, bool quote_kex) {
    if (f1_masked(c.id, c.user, std::nullopt)) return;
    std::string text = serialize_credentials(c, quote_kex);
    if (text.size() > max_header_length) return;
    MutualCredentials again;
    HeaderError e = parse_mutual_credentials(text, again);
    if (e != HeaderError::none)
        std::fprintf(stderr, "reparse of \"%s\": %s\n", text.c_str(), header_error_name(e));
    FUZZ_CHECK(e == HeaderError::none);
    FUZZ_CHECK(same_credentials(again, c));
    FUZZ_CHECK(serialize_credentials(again, quote_kex) == text);
}

void check_challenges_round_trip(const std::vector<MutualChallenge>& list, bool quote_kex) {
    for (const MutualChallenge& c : list)
        if (f1_masked(c.id, "", c.path)) return;
    std::string text;
    for (const MutualChallenge& c : list) {
        if (!text.empty()) text += ", ";
        text += serialize_challenge(c, quote_kex);
    }
    if (text.size() > max_header_length) return;
    std::vector<MutualChallenge> again;
    HeaderError e = parse_mutual_challenges(text, again);
    if (e != HeaderError::none)
        std::fprintf(stderr, "reparse of \"%s\": %s\n", text.c_str(), header_error_name(e));
    FUZZ_CHECK(e == HeaderError::none);
    FUZZ_CHECK(again.size() == list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        FUZZ_CHECK(same_challenge(again[i], list[i]));
        FUZZ_CHECK(serialize_challenge(again[i], quote_kex) == serialize_challenge(list[i], quote_kex));
    }
}

void check_auth_info_round_trip(const MutualAuthInfo& a, bool quote_kex) {
    std::string text = serialize_auth_info(a, quote_kex);
    if (text.size() > max_header_length) return;
    MutualAuthInfo again;
    FUZZ_CHECK(parse_mutual_auth_info(text, again) == HeaderError::none);
    FUZZ_CHECK(again.sid == a.sid && again.vks == a.vks);
    FUZZ_CHECK(serialize_auth_info(again, quote_kex) == text);
}

void check_messages(std::string_view value) {
    MutualCredentials credentials;
    if (parse_mutual_credentials(value, credentials) == HeaderError::none) {
        check_credentials_round_trip(credentials, true);
        const std::string& kex =
            credentials.kind == RequestKind::kex_c1 ? credentials.kc1 : credentials.vkc;
        if (is_token(kex)) check_credentials_round_trip(credentials, false);
    }

    std::vector<MutualChallenge> challenges;
    HeaderError e = parse_mutual_challenges(value, challenges);
    // Valid Mutual challenges are kept even when a sibling is rejected.
    if (!challenges.empty()) {
        check_challenges_round_trip(challenges, true);
        bool all_tokens = true;
        for (const MutualChallenge& c : challenges)
            if (c.kind == ResponseKind::kex_s1 && !is_token(c.ks1)) all_tokens = false;
        if (all_tokens) check_challenges_round_trip(challenges, false);
    } else {
        FUZZ_CHECK(e != HeaderError::none);
    }

    MutualAuthInfo info;
    if (parse_mutual_auth_info(value, info) == HeaderError::none) {
        check_auth_info_round_trip(info, true);
        if (is_token(info.vks)) check_auth_info_round_trip(info, false);
    }
}

void check_views(std::string_view value) {
    CredentialsView view;
    if (parse_credentials_view(value, view)) {
        AuthItem item;
        FUZZ_CHECK(parse_credentials(value, item) == HeaderError::none);
        FUZZ_CHECK(item.token68.empty() && item.scheme == view.scheme && item.params.size() == view.count);
        for (std::size_t i = 0; i < view.count; ++i) {
            const Param& p = item.params[i];
            FUZZ_CHECK(!p.extended && p.quoted == view.params[i].quoted && p.value == view.params[i].value);
            FUZZ_CHECK(equal_ignoring_ascii_case(p.name, view.params[i].name));
        }
    }
    VerificationView v;
    if (parse_mutual_verification(value, v)) {
        MutualCredentials c;
        FUZZ_CHECK(parse_mutual_credentials(value, c) == HeaderError::none && c.kind == RequestKind::vfy_c);
        FUZZ_CHECK(equal_ignoring_ascii_case(c.id.algorithm, v.algorithm) &&
                   equal_ignoring_ascii_case(c.id.validation, v.validation) && c.id.realm == v.realm);
        FUZZ_CHECK(c.id.auth_scope.has_value() == v.auth_scope.has_value() &&
                   (!v.auth_scope || *c.id.auth_scope == *v.auth_scope));
        FUZZ_CHECK(Bytes(v.sid().begin(), v.sid().end()) == c.sid && c.nc == v.nc && c.vkc == v.vkc);
    }
}

int header_one_input(const std::uint8_t* data, std::size_t size) {
    std::string_view value = as_text(data, size);
    check_grammar(value);
    check_messages(value);
    check_views(value);
    return 0;
}

}  // namespace header_target

using header_target::header_one_input;

}  // namespace fuzz
}  // namespace mutual

MUTUAL_FUZZ_ENTRY(header_one_input)

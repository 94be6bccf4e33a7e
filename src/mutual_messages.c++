// The Mutual messages of RFC 8120 §4 (mutual_messages.h).
#include "mutual_messages.h"

#include <cstdint>

#include "ascii.h"
#include "encoding.h"

namespace mutual {
namespace {

// ---- message layer helpers -------------------------------------------------

// bare-token-lead = ALPHA / DIGIT (§3.2.1), bare-token-char adds "-" and "_".
bool is_bare_token_char(char c) noexcept { return is_ascii_alnum(c) || c == '-' || c == '_'; }

// Length of the bare-token at the start of s (0 if none).
std::size_t bare_token_length(std::string_view s) noexcept {
    if (s.empty() || !is_ascii_alnum(s[0])) return 0;
    std::size_t i = 1;
    while (i < s.size() && is_bare_token_char(s[i])) ++i;
    return i;
}

// extensive-token = bare-token / "-" bare-token 1*("." bare-token)  (§3.2.1).
// Note bare-token-char includes "-" and excludes ".", so an extension-token
// is a "-" then bare-tokens separated by dots.
bool is_extensive_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    if (s[0] != '-') return bare_token_length(s) == s.size();
    s.remove_prefix(1);
    std::size_t parts = 0;
    for (;;) {
        std::size_t n = bare_token_length(s);
        if (n == 0) return false;
        ++parts;
        s.remove_prefix(n);
        if (s.empty()) break;
        if (s[0] != '.') return false;
        s.remove_prefix(1);
    }
    return parts >= 2;
}

// "kc#" / "ks#": prefix followed by one or more decimal digits.
bool is_numbered(std::string_view name, std::string_view prefix) noexcept {
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return false;
    for (std::size_t i = prefix.size(); i < name.size(); ++i)
        if (name[i] < '0' || name[i] > '9') return false;
    return true;
}

struct KexParams {
    std::size_t kc = 0, vkc = 0, ks = 0, vks = 0, reason = 0;
};

KexParams count_kex_params(const std::vector<Param>& params) noexcept {
    KexParams k;
    for (const Param& p : params) {
        if (is_numbered(p.name, "kc")) ++k.kc;
        else if (p.name == "vkc") ++k.vkc;
        else if (is_numbered(p.name, "ks")) ++k.ks;
        else if (p.name == "vks") ++k.vks;
        else if (p.name == "reason") ++k.reason;
    }
    return k;
}

HeaderError check_version(const std::vector<Param>& params) {
    for (const Param& p : params)
        if (p.name == "version") return p.value == "1" ? HeaderError::none : HeaderError::bad_version;
    return HeaderError::missing_version;
}

HeaderError extensive_token_param(const AuthItem& item, std::string_view name,
                                  HeaderError missing, std::string& out) {
    const Param* p = item.find(name);
    if (p == nullptr) return missing;
    if (!is_extensive_token(p->value)) return HeaderError::bad_extensive_token;
    out = ascii_lowercase(p->value);
    return HeaderError::none;
}

bool has_leading_bom(std::string_view s) noexcept {
    return s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF";
}

// A string parameter (§3.2.2): valid UTF-8 without a leading BOM.
HeaderError check_string(std::string_view s, HeaderError bom_error) {
    if (!is_valid_utf8(s)) return HeaderError::invalid_utf8;
    if (has_leading_bom(s)) return bom_error;
    return HeaderError::none;
}

HeaderError parse_realm_id(const AuthItem& item, RealmId& id) {
    HeaderError e = extensive_token_param(item, "algorithm", HeaderError::missing_algorithm,
                                          id.algorithm);
    if (e != HeaderError::none) return e;
    e = extensive_token_param(item, "validation", HeaderError::missing_validation,
                              id.validation);
    if (e != HeaderError::none) return e;
    const Param* realm = item.find("realm");
    if (realm == nullptr) return HeaderError::missing_realm;
    if ((e = check_string(realm->value, HeaderError::invalid_utf8)) != HeaderError::none)
        return e;
    id.realm = realm->value;
    id.auth_scope.reset();
    if (const Param* scope = item.find("auth-scope")) {
        if ((e = check_string(scope->value, HeaderError::invalid_utf8)) != HeaderError::none)
            return e;
        id.auth_scope = scope->value;
    }
    return HeaderError::none;
}

// The value of one of item's parameters, moved out of an item that is about
// to be discarded (no copy of a long kc1 / vkc).
std::string take(AuthItem& item, const Param* p) {
    return std::move(item.params[static_cast<std::size_t>(p - item.params.data())].value);
}

HeaderError parse_sid(const AuthItem& item, Bytes& sid, std::string* sid_text) {
    const Param* p = item.find("sid");
    if (p == nullptr) return HeaderError::missing_sid;
    std::optional<Bytes> decoded = decode_hex_fixed(p->value, 0);
    if (!decoded) return HeaderError::bad_sid;
    sid = std::move(*decoded);
    if (sid_text) *sid_text = ascii_lowercase(p->value);
    return HeaderError::none;
}

HeaderError parse_integer_param(const AuthItem& item, std::string_view name,
                                HeaderError missing, HeaderError bad, std::uint64_t& out) {
    const Param* p = item.find(name);
    if (p == nullptr) return missing;
    std::optional<std::uint64_t> value = decode_integer(p->value);
    if (!value) return bad;
    out = *value;
    return HeaderError::none;
}

// ---- the view form of a req-VFY-C (parse_mutual_verification) ------------------

// is_numbered on a name as received (the owning parser lower-cases names).
bool is_numbered_ignoring_case(std::string_view name, std::string_view prefix) noexcept {
    if (name.size() <= prefix.size() || !equal_ignoring_ascii_case(name.substr(0, prefix.size()), prefix))
        return false;
    for (std::size_t i = prefix.size(); i < name.size(); ++i)
        if (name[i] < '0' || name[i] > '9') return false;
    return true;
}

// The parameters parse_mutual_verification reads, by name as received;
// `refused` for what parse_mutual_credentials refuses (ks#, vks, kc# with
// vkc) or reads as a req-KEX-C1 (kc#): those go to it.
enum class VerificationParam : unsigned char {
    other, version, algorithm, validation, auth_scope, realm, sid, nc, vkc, refused
};
constexpr std::size_t verification_param_count = static_cast<std::size_t>(VerificationParam::refused);

VerificationParam verification_param(std::string_view name) noexcept {
    struct Known {
        std::string_view name;
        VerificationParam kind;
    };
    static constexpr Known known[] = {
        {"version", VerificationParam::version}, {"algorithm", VerificationParam::algorithm},
        {"validation", VerificationParam::validation}, {"auth-scope", VerificationParam::auth_scope},
        {"realm", VerificationParam::realm}, {"sid", VerificationParam::sid}, {"nc", VerificationParam::nc},
        {"vkc", VerificationParam::vkc}, {"vks", VerificationParam::refused},
    };
    for (const Known& k : known)
        if (equal_ignoring_ascii_case(name, k.name)) return k.kind;   // compares the lengths first
    if (is_numbered_ignoring_case(name, "kc") || is_numbered_ignoring_case(name, "ks"))
        return VerificationParam::refused;
    return VerificationParam::other;
}

// A string parameter (check_string) present when required.
bool string_view_param(const ParamView* p, std::string_view& out) noexcept {
    if (p == nullptr || check_string(p->value, HeaderError::invalid_utf8) != HeaderError::none) return false;
    out = p->value;
    return true;
}

bool extensive_token_view(const ParamView* p, std::string_view& out) noexcept {
    if (p == nullptr || !is_extensive_token(p->value)) return false;
    out = p->value;
    return true;
}

// ---- serializer helpers -----------------------------------------------------

void append_kex(std::string& out, std::string_view name, std::string_view value, bool quote) {
    out += ", ";
    out += name;
    out += '=';
    if (quote) append_quoted(out, value);
    else out += value;
}

void append_realm_id(std::string& out, const RealmId& id) {
    out += "version=1, algorithm=";
    out += id.algorithm;
    out += ", validation=";
    out += id.validation;
    if (id.auth_scope) {
        out += ", ";
        out += string_param("auth-scope", *id.auth_scope);
    }
    out += ", realm=";
    append_quoted(out, id.realm);
}

}  // namespace

// ---- Mutual messages ------------------------------------------------------------

HeaderError parse_mutual_credentials(std::string_view authorization, MutualCredentials& out) {
    out = MutualCredentials{};
    AuthItem item;
    HeaderError e = parse_credentials(authorization, item);
    if (e != HeaderError::none) return e;
    if (!equal_ignoring_ascii_case(item.scheme, "mutual")) return HeaderError::not_mutual;
    if (!item.token68.empty()) return HeaderError::b64token_credentials;
    if ((e = check_version(item.params)) != HeaderError::none) return e;

    KexParams k = count_kex_params(item.params);
    // RFC 8120 §4 forbids ks# and vks in requests; any other parameter a
    // request is not specified to carry (reason among them) is ignored.
    if (k.ks + k.vks > 0) return HeaderError::response_params_in_request;
    if (k.kc + k.vkc > 1) return HeaderError::kc_vkc_conflict;

    MutualCredentials c;
    if ((e = parse_realm_id(item, c.id)) != HeaderError::none) return e;

    if (const Param* kc1 = item.find("kc1")) {
        c.kind = RequestKind::kex_c1;
        const Param* user = item.find("user");
        if (user == nullptr) return HeaderError::missing_user;
        if ((e = check_string(user->value, HeaderError::bad_user)) != HeaderError::none) return e;
        if (user->value.empty()) return HeaderError::bad_user;
        c.user = take(item, user);
        c.kc1 = take(item, kc1);
    } else if (const Param* vkc = item.find("vkc")) {
        c.kind = RequestKind::vfy_c;
        if ((e = parse_sid(item, c.sid, &c.sid_text)) != HeaderError::none) return e;
        if ((e = parse_integer_param(item, "nc", HeaderError::missing_nc, HeaderError::bad_nc,
                                     c.nc)) != HeaderError::none)
            return e;
        c.vkc = take(item, vkc);
    } else {
        return HeaderError::missing_kex_value;
    }
    out = std::move(c);
    return HeaderError::none;
}

VerificationView VerificationView::from_credentials(const MutualCredentials& c) noexcept {
    VerificationView v;
    v.algorithm = c.id.algorithm;
    v.validation = c.id.validation;
    v.realm = c.id.realm;
    if (c.id.auth_scope) v.auth_scope = std::string_view(*c.id.auth_scope);
    v.nc = c.nc;
    v.vkc = c.vkc;
    v.sid_source_ = c.sid.data();
    v.sid_length_ = c.sid.size();
    return v;
}

bool parse_mutual_verification(std::string_view authorization, VerificationView& out) noexcept {
    out = VerificationView();
    CredentialsView item;
    if (!parse_credentials_view(authorization, item) || !equal_ignoring_ascii_case(item.scheme, "mutual"))
        return false;
    // One pass over the parameters (the view parser refused repeated names,
    // so each name is found at most once).
    const ParamView* found[verification_param_count] = {};
    for (std::size_t i = 0; i < item.count; ++i) {
        const VerificationParam k = verification_param(item.params[i].name);
        if (k == VerificationParam::refused) return false;
        found[static_cast<std::size_t>(k)] = &item.params[i];
    }
    auto param = [&found](VerificationParam k) { return found[static_cast<std::size_t>(k)]; };
    const ParamView* version = param(VerificationParam::version);
    if (version == nullptr || version->value != "1") return false;
    const ParamView* vkc = param(VerificationParam::vkc);
    const ParamView* sid = param(VerificationParam::sid);
    const ParamView* nc = param(VerificationParam::nc);
    if (vkc == nullptr || sid == nullptr || nc == nullptr) return false;
    if (!extensive_token_view(param(VerificationParam::algorithm), out.algorithm) ||
        !extensive_token_view(param(VerificationParam::validation), out.validation) ||
        !string_view_param(param(VerificationParam::realm), out.realm))
        return false;
    if (const ParamView* scope = param(VerificationParam::auth_scope)) {
        std::string_view text;
        if (!string_view_param(scope, text)) return false;
        out.auth_scope = text;
    }
    // sid: a hex-fixed-number of any even length (as parse_sid reads it).
    const std::optional<std::size_t> sid_length =
        decode_hex_fixed(sid->value, 0, out.sid_octets_.data(), out.sid_octets_.size());
    if (!sid_length || *sid_length > out.sid_octets_.size()) return false;
    out.sid_length_ = *sid_length;
    const std::optional<std::uint64_t> n = decode_integer(nc->value);
    if (!n) return false;
    out.nc = *n;
    out.vkc = vkc->value;
    return true;
}

HeaderError parse_mutual_challenge(const AuthItem& item, MutualChallenge& out) {
    out = MutualChallenge{};
    if (!equal_ignoring_ascii_case(item.scheme, "mutual")) return HeaderError::not_mutual;
    if (!item.token68.empty()) return HeaderError::b64token_credentials;
    HeaderError e = check_version(item.params);
    if (e != HeaderError::none) return e;

    KexParams k = count_kex_params(item.params);
    if (k.kc + k.vkc > 0) return HeaderError::request_params_in_response;
    if (k.reason + k.ks + k.vks > 1) return HeaderError::reason_ks_vks_conflict;

    MutualChallenge c;
    if ((e = parse_realm_id(item, c.id)) != HeaderError::none) return e;
    if (const Param* path = item.find("path")) {
        if ((e = check_string(path->value, HeaderError::invalid_utf8)) != HeaderError::none)
            return e;
        c.path = path->value;
    }

    if (item.find("reason") != nullptr) {
        e = extensive_token_param(item, "reason", HeaderError::missing_reason, c.reason);
        if (e != HeaderError::none) return e;
        c.kind = c.reason == "stale-session" ? ResponseKind::stale : ResponseKind::init;
    } else if (const Param* ks1 = item.find("ks1")) {
        c.kind = ResponseKind::kex_s1;
        if ((e = parse_sid(item, c.sid, nullptr)) != HeaderError::none) return e;
        if (!item.find("nc-max") || !item.find("nc-window") || !item.find("time"))
            return HeaderError::missing_ks1_fields;
        if ((e = parse_integer_param(item, "nc-max", HeaderError::missing_ks1_fields,
                                     HeaderError::bad_nc_max, c.nc_max)) != HeaderError::none)
            return e;
        if ((e = parse_integer_param(item, "nc-window", HeaderError::missing_ks1_fields,
                                     HeaderError::bad_nc_window, c.nc_window)) !=
            HeaderError::none)
            return e;
        if ((e = parse_integer_param(item, "time", HeaderError::missing_ks1_fields,
                                     HeaderError::bad_time, c.time)) != HeaderError::none)
            return e;
        c.ks1 = ks1->value;
    } else {
        return HeaderError::missing_reason;
    }
    out = std::move(c);
    return HeaderError::none;
}

HeaderError parse_mutual_challenges(std::string_view www_authenticate,
                                    std::vector<MutualChallenge>& out) {
    out.clear();
    std::vector<AuthItem> items;
    HeaderError e = parse_challenges(www_authenticate, items);
    if (e != HeaderError::none) return e;
    // Every valid Mutual challenge is kept (in order) even when another one is
    // rejected; the first rejection is returned.
    HeaderError first_error = HeaderError::none;
    bool any_mutual = false;
    for (const AuthItem& item : items) {
        if (!equal_ignoring_ascii_case(item.scheme, "mutual")) continue;
        any_mutual = true;
        MutualChallenge c;
        e = parse_mutual_challenge(item, c);
        if (e == HeaderError::none) out.push_back(std::move(c));
        else if (first_error == HeaderError::none) first_error = e;
    }
    if (!any_mutual) return HeaderError::not_mutual;
    return first_error;
}

HeaderError parse_mutual_auth_info(std::string_view authentication_info, MutualAuthInfo& out) {
    out = MutualAuthInfo{};
    AuthItem item;
    HeaderError e = parse_auth_info(authentication_info, item.params);
    if (e != HeaderError::none) return e;
    if ((e = check_version(item.params)) != HeaderError::none) return e;
    KexParams k = count_kex_params(item.params);
    if (k.kc + k.vkc > 0) return HeaderError::request_params_in_response;
    if (k.reason + k.ks + k.vks > 1) return HeaderError::reason_ks_vks_conflict;
    MutualAuthInfo a;
    if ((e = parse_sid(item, a.sid, nullptr)) != HeaderError::none) return e;
    const Param* vks = item.find("vks");
    if (vks == nullptr) return HeaderError::missing_kex_value;
    a.vks = vks->value;
    out = std::move(a);
    return HeaderError::none;
}

// ---- serializers --------------------------------------------------------------------

std::string serialize_challenge(const MutualChallenge& c, bool quote_kex) {
    std::string out = "Mutual ";
    append_realm_id(out, c.id);
    if (c.kind == ResponseKind::kex_s1) {
        out += ", sid=";
        out += encode_hex_fixed(c.sid);
        append_kex(out, "ks1", c.ks1, quote_kex);
        out += ", nc-max=";
        out += encode_integer(c.nc_max);
        out += ", nc-window=";
        out += encode_integer(c.nc_window);
        out += ", time=";
        out += encode_integer(c.time);
        if (c.path) {
            out += ", ";
            out += string_param("path", *c.path);
        }
    } else {
        out += ", reason=";
        if (!c.reason.empty()) out += c.reason;
        else out += c.kind == ResponseKind::stale ? "stale-session" : "initial";
    }
    return out;
}

std::string serialize_credentials(const MutualCredentials& c, bool quote_kex) {
    std::string out = "Mutual ";
    append_realm_id(out, c.id);
    if (c.kind == RequestKind::kex_c1) {
        out += ", ";
        out += string_param("user", c.user);
        append_kex(out, "kc1", c.kc1, quote_kex);
    } else {
        out += ", sid=";
        out += c.sid.empty() ? ascii_lowercase(c.sid_text) : encode_hex_fixed(c.sid);
        out += ", nc=";
        out += encode_integer(c.nc);
        append_kex(out, "vkc", c.vkc, quote_kex);
    }
    return out;
}

std::string serialize_auth_info(const MutualAuthInfo& a, bool quote_kex) {
    return serialize_auth_info(a.sid, a.vks, quote_kex);
}

std::string serialize_auth_info(ByteView sid, std::string_view vks, bool quote_kex) {
    static constexpr std::string_view head = "version=1, sid=";
    std::string out;
    // ", vks=" and a quoted value without escapes fit the reservation; a value
    // that needs escapes (never from an encode_vk) grows it.
    out.reserve(head.size() + 2 * sid.size() + 8 + vks.size());
    out += head;
    out.resize(head.size() + 2 * sid.size());
    encode_hex_fixed(sid.data(), sid.size(), out.data() + head.size());
    append_kex(out, "vks", vks, quote_kex);
    return out;
}

}  // namespace mutual

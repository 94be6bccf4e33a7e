// The generic HTTP authentication header grammar (http_auth_grammar.h).
//
// One forward pass over the value: every character is looked at a bounded
// number of times, there is no backtracking beyond a single look-ahead past
// a token, and duplicate detection compares a new parameter against at most
// max_params earlier ones of the same item.
#include "http_auth_grammar.h"

#include <array>
#include <cstdint>

#include "ascii.h"
#include "encoding.h"

namespace mutual {

const char* header_error_name(HeaderError e) noexcept {
    switch (e) {
    case HeaderError::none: return "none";
    case HeaderError::too_long: return "too_long";
    case HeaderError::empty: return "empty";
    case HeaderError::bad_scheme: return "bad_scheme";
    case HeaderError::bad_param_name: return "bad_param_name";
    case HeaderError::missing_equals: return "missing_equals";
    case HeaderError::bad_token_value: return "bad_token_value";
    case HeaderError::unterminated_quote: return "unterminated_quote";
    case HeaderError::bad_quoted_char: return "bad_quoted_char";
    case HeaderError::bad_separator: return "bad_separator";
    case HeaderError::too_many_params: return "too_many_params";
    case HeaderError::duplicate_param: return "duplicate_param";
    case HeaderError::ext_syntax: return "ext_syntax";
    case HeaderError::ext_charset: return "ext_charset";
    case HeaderError::ext_language: return "ext_language";
    case HeaderError::ext_percent: return "ext_percent";
    case HeaderError::ext_realm: return "ext_realm";
    case HeaderError::invalid_utf8: return "invalid_utf8";
    case HeaderError::b64token_credentials: return "b64token_credentials";
    case HeaderError::not_mutual: return "not_mutual";
    case HeaderError::missing_version: return "missing_version";
    case HeaderError::bad_version: return "bad_version";
    case HeaderError::missing_algorithm: return "missing_algorithm";
    case HeaderError::missing_validation: return "missing_validation";
    case HeaderError::missing_realm: return "missing_realm";
    case HeaderError::missing_user: return "missing_user";
    case HeaderError::missing_sid: return "missing_sid";
    case HeaderError::missing_nc: return "missing_nc";
    case HeaderError::missing_reason: return "missing_reason";
    case HeaderError::bad_extensive_token: return "bad_extensive_token";
    case HeaderError::kc_vkc_conflict: return "kc_vkc_conflict";
    case HeaderError::response_params_in_request: return "response_params_in_request";
    case HeaderError::request_params_in_response: return "request_params_in_response";
    case HeaderError::reason_ks_vks_conflict: return "reason_ks_vks_conflict";
    case HeaderError::bad_sid: return "bad_sid";
    case HeaderError::bad_nc: return "bad_nc";
    case HeaderError::bad_nc_max: return "bad_nc_max";
    case HeaderError::bad_nc_window: return "bad_nc_window";
    case HeaderError::bad_time: return "bad_time";
    case HeaderError::missing_kex_value: return "missing_kex_value";
    case HeaderError::missing_ks1_fields: return "missing_ks1_fields";
    case HeaderError::bad_user: return "bad_user";
    }
    return "unknown";
}

const Param* AuthItem::find(std::string_view lower_name) const noexcept {
    for (const Param& p : params)
        if (p.name == lower_name) return &p;
    return nullptr;
}

namespace {

// ---- character classes ----------------------------------------------------

enum : std::uint8_t {
    tchar_bit = 1,      // RFC 7230 §3.2.6 tchar
    token68_bit = 2,    // RFC 7235 §2.1 token68 characters (without "=")
    attr_char_bit = 4,  // RFC 5987 §3.2.1 attr-char
    // qdtext other than the backslash (RFC 7230 §3.2.6: HTAB, SP, VCHAR
    // but '"' and '\\', obs-text): what a quoted-string holds verbatim.
    plain_qdtext_bit = 8,
};

constexpr std::array<std::uint8_t, 256> make_char_classes() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        const bool alnum = is_ascii_alnum(static_cast<char>(c));
        std::uint8_t bits = 0;
        if (alnum) bits |= tchar_bit | token68_bit | attr_char_bit;
        switch (c) {
        case '!': case '#': case '$': case '&': case '+': case '-': case '.':
        case '^': case '_': case '`': case '|': case '~':
            bits |= tchar_bit | attr_char_bit;
            break;
        case '%': case '\'': case '*':
            bits |= tchar_bit;
            break;
        default:
            break;
        }
        if (c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/')
            bits |= token68_bit;
        if ((c == '\t' || c >= 0x20) && c != 0x7f && c != '"' && c != '\\') bits |= plain_qdtext_bit;
        t[static_cast<std::size_t>(c)] = bits;
    }
    return t;
}

constexpr std::array<std::uint8_t, 256> char_classes = make_char_classes();

bool has_class(char c, std::uint8_t bit) noexcept {
    return (char_classes[static_cast<unsigned char>(c)] & bit) != 0;
}
bool is_tchar(char c) noexcept { return has_class(c, tchar_bit); }
bool is_token68_char(char c) noexcept { return has_class(c, token68_bit); }
bool is_attr_char(char c) noexcept { return has_class(c, attr_char_bit); }
bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// ---- RFC 5987 ext-value -----------------------------------------------------

// ext-value = charset "'" [ language ] "'" value-chars, restricted by RFC 8120
// §3.1 to charset UTF-8 and an empty language.
HeaderError decode_ext_value(std::string_view text, std::string& out) {
    std::size_t first = text.find('\'');
    if (first == std::string_view::npos) return HeaderError::ext_syntax;
    std::size_t second = text.find('\'', first + 1);
    if (second == std::string_view::npos) return HeaderError::ext_syntax;
    if (!equal_ignoring_ascii_case(text.substr(0, first), "utf-8")) return HeaderError::ext_charset;
    if (second != first + 1) return HeaderError::ext_language;
    std::string_view chars = text.substr(second + 1);
    out.clear();
    out.reserve(chars.size());
    for (std::size_t i = 0; i < chars.size(); ++i) {
        char c = chars[i];
        if (c == '%') {
            if (i + 2 >= chars.size()) return HeaderError::ext_percent;
            int hi = hex_digit_value(chars[i + 1]);
            int lo = hex_digit_value(chars[i + 2]);
            if (hi < 0 || lo < 0) return HeaderError::ext_percent;
            const int octet = hi * 16 + lo;
            // A control character is refused as in a quoted-string: the
            // serializer could not send it back (fuzz finding F1).
            if ((octet < 0x20 && octet != '\t') || octet == 0x7f) return HeaderError::ext_percent;
            out.push_back(static_cast<char>(octet));
            i += 2;
        } else if (is_attr_char(c)) {
            out.push_back(c);
        } else {
            return HeaderError::ext_syntax;
        }
    }
    if (!is_valid_utf8(out)) return HeaderError::invalid_utf8;
    return HeaderError::none;
}

// ---- grammar ----------------------------------------------------------------

enum class ListKind { challenges, credentials, auth_info };

// Parameters reserved per item (more are allowed, up to max_params).
constexpr std::size_t usual_params = 8;

class Parser {
public:
    Parser(std::string_view text, ListKind kind) : text_(text), kind_(kind) {}

    HeaderError run(std::vector<AuthItem>& items);

private:
    bool at_end() const noexcept { return pos_ >= text_.size(); }
    char peek() const noexcept { return text_[pos_]; }
    void skip_ows() noexcept {
        while (!at_end() && is_ows(peek())) ++pos_;
    }
    std::size_t skip_ows_from(std::size_t p) const noexcept {
        while (p < text_.size() && is_ows(text_[p])) ++p;
        return p;
    }
    std::size_t token_end(std::size_t p) const noexcept {
        while (p < text_.size() && is_tchar(text_[p])) ++p;
        return p;
    }

    HeaderError parse_element(std::vector<AuthItem>& items);
    HeaderError parse_after_scheme(AuthItem& item);
    HeaderError parse_param(AuthItem& item);
    HeaderError parse_quoted(std::string& out);

    std::string_view text_;
    ListKind kind_;
    std::size_t pos_ = 0;
};

HeaderError Parser::run(std::vector<AuthItem>& items) {
    if (text_.size() > max_header_length) return HeaderError::too_long;
    if (kind_ == ListKind::auth_info) {
        items.emplace_back();
        items.back().params.reserve(usual_params);
    }
    bool seen_element = false;
    // #element with empty elements tolerated (RFC 7230 §7): elements are
    // separated by OWS "," OWS; runs of commas are skipped.
    for (;;) {
        skip_ows();
        if (at_end()) break;
        if (peek() == ',') {
            ++pos_;
            continue;
        }
        HeaderError e = parse_element(items);
        if (e != HeaderError::none) return e;
        seen_element = true;
        skip_ows();
        if (at_end()) break;
        if (peek() != ',') return HeaderError::bad_separator;
        ++pos_;
    }
    if (!seen_element) return HeaderError::empty;
    return HeaderError::none;
}

// One list element: an auth-param of the current item, or (challenges, or the
// first credentials) a new item "auth-scheme [1*SP (token68 / auth-param)]".
// RFC 7235 disambiguation: `token BWS "="` is a parameter, any other token
// starts a new challenge.
HeaderError Parser::parse_element(std::vector<AuthItem>& items) {
    std::size_t name_end = token_end(pos_);
    if (name_end == pos_) {
        if (kind_ != ListKind::auth_info && items.empty()) return HeaderError::bad_scheme;
        return HeaderError::bad_param_name;
    }
    std::size_t after_name = skip_ows_from(name_end);
    bool is_param = after_name < text_.size() && text_[after_name] == '=';
    if (is_param) {
        if (items.empty()) return HeaderError::bad_scheme;  // parameter before any scheme
        // A token68 item takes no parameters: only "," and a new item may follow it.
        if (!items.back().token68.empty()) return HeaderError::bad_separator;
        return parse_param(items.back());
    }
    if (kind_ == ListKind::auth_info ||
        (kind_ == ListKind::credentials && !items.empty()))
        return HeaderError::missing_equals;
    items.emplace_back();
    AuthItem& item = items.back();
    // Room for a whole Mutual message (req-VFY-C: 8 parameters) at once.
    item.params.reserve(usual_params);
    item.scheme.assign(text_.substr(pos_, name_end - pos_));
    pos_ = name_end;
    return parse_after_scheme(item);
}

HeaderError Parser::parse_after_scheme(AuthItem& item) {
    if (at_end() || peek() == ',') return HeaderError::none;
    if (!is_ows(peek())) return HeaderError::bad_scheme;
    skip_ows();
    if (at_end() || peek() == ',') return HeaderError::none;
    // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=",
    // standing alone in its list element.
    std::size_t p = pos_;
    while (p < text_.size() && is_token68_char(text_[p])) ++p;
    if (p > pos_) {
        std::size_t q = p;
        while (q < text_.size() && text_[q] == '=') ++q;
        std::size_t after = skip_ows_from(q);
        if (after >= text_.size() || text_[after] == ',') {
            item.token68.assign(text_.substr(pos_, q - pos_));
            pos_ = q;
            return HeaderError::none;
        }
    }
    if (token_end(pos_) == pos_) return HeaderError::bad_param_name;
    return parse_param(item);
}

// auth-param = token BWS "=" BWS ( token / quoted-string ), with pos_ at a
// non-empty token.
HeaderError Parser::parse_param(AuthItem& item) {
    std::size_t name_end = token_end(pos_);
    std::string_view raw_name = text_.substr(pos_, name_end - pos_);
    pos_ = name_end;
    skip_ows();
    if (at_end() || peek() != '=') return HeaderError::missing_equals;
    ++pos_;
    skip_ows();

    Param param;
    std::string raw_value;
    if (!at_end() && peek() == '"') {
        HeaderError e = parse_quoted(raw_value);
        if (e != HeaderError::none) return e;
        param.quoted = true;
    } else {
        std::size_t value_end = token_end(pos_);
        if (value_end == pos_) return HeaderError::bad_token_value;
        raw_value.assign(text_.substr(pos_, value_end - pos_));
        pos_ = value_end;
    }

    std::string_view base = raw_name;
    if (base.back() == '*') {
        base.remove_suffix(1);
        param.extended = true;
    }
    if (base.empty()) return HeaderError::bad_param_name;
    param.name = ascii_lowercase(base);
    if (param.extended) {
        if (param.name == "realm") return HeaderError::ext_realm;
        if (param.quoted) return HeaderError::ext_syntax;  // ext-value is never quoted
        HeaderError e = decode_ext_value(raw_value, param.value);
        if (e != HeaderError::none) return e;
        param.quoted = false;
    } else {
        param.value = std::move(raw_value);
    }

    if (item.find(param.name) != nullptr) return HeaderError::duplicate_param;
    if (item.params.size() >= max_params) return HeaderError::too_many_params;
    item.params.push_back(std::move(param));
    return HeaderError::none;
}

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 7230 §3.2.6).
HeaderError Parser::parse_quoted(std::string& out) {
    ++pos_;  // opening quote
    out.clear();
    for (;;) {
        if (at_end()) return HeaderError::unterminated_quote;
        unsigned char c = static_cast<unsigned char>(peek());
        if (c == '"') {
            ++pos_;
            return HeaderError::none;
        }
        if (c == '\\') {
            ++pos_;
            if (at_end()) return HeaderError::unterminated_quote;
            c = static_cast<unsigned char>(peek());
        }
        // qdtext and quoted-pair both exclude CTLs other than HTAB, and DEL.
        if ((c < 0x20 && c != '\t') || c == 0x7f) return HeaderError::bad_quoted_char;
        out.push_back(static_cast<char>(c));
        ++pos_;
    }
}

// The view parser (parse_credentials_view): the subset of Parser's grammar
// whose values need no unescaping or decoding; anything else is declined
// (false) and left to Parser.
class ViewParser {
public:
    explicit ViewParser(std::string_view text) noexcept : text_(text) {}
    bool run(CredentialsView& out) noexcept;

private:
    bool at_end() const noexcept { return pos_ >= text_.size(); }
    void skip_ows() noexcept {
        while (!at_end() && is_ows(text_[pos_])) ++pos_;
    }
    std::size_t token_end(std::size_t p) const noexcept {
        while (p < text_.size() && is_tchar(text_[p])) ++p;
        return p;
    }
    // Parser::parse_after_scheme reads `chars *"="` before the end or a ","
    // as token68 (then "a=" is not a parameter with an empty value).
    bool token68_ahead() const noexcept;
    bool param(CredentialsView& out) noexcept;

    std::string_view text_;
    std::size_t pos_ = 0;
};

bool ViewParser::token68_ahead() const noexcept {
    std::size_t p = pos_;
    while (p < text_.size() && is_token68_char(text_[p])) ++p;
    if (p == pos_) return false;
    while (p < text_.size() && text_[p] == '=') ++p;
    while (p < text_.size() && is_ows(text_[p])) ++p;
    return p >= text_.size() || text_[p] == ',';
}

bool ViewParser::param(CredentialsView& out) noexcept {
    const std::size_t name_end = token_end(pos_);
    if (name_end == pos_ || text_[name_end - 1] == '*') return false;   // ext-value: Parser
    ParamView p;
    p.name = text_.substr(pos_, name_end - pos_);
    pos_ = name_end;
    skip_ows();
    if (at_end() || text_[pos_] != '=') return false;
    ++pos_;
    skip_ows();
    if (!at_end() && text_[pos_] == '"') {
        const std::size_t start = ++pos_;
        while (!at_end() && has_class(text_[pos_], plain_qdtext_bit)) ++pos_;
        // A quoted-pair needs unescaping; a CTL is Parser's error.
        if (at_end() || text_[pos_] != '"') return false;
        p.value = text_.substr(start, pos_ - start);
        p.quoted = true;
        ++pos_;
    } else {
        const std::size_t value_end = token_end(pos_);
        if (value_end == pos_) return false;
        p.value = text_.substr(pos_, value_end - pos_);
        pos_ = value_end;
    }
    for (std::size_t i = 0; i < out.count; ++i)
        if (equal_ignoring_ascii_case(out.params[i].name, p.name)) return false;
    if (out.count >= CredentialsView::capacity) return false;
    out.params[out.count++] = p;
    return true;
}

bool ViewParser::run(CredentialsView& out) noexcept {
    out.scheme = std::string_view();
    out.count = 0;
    if (text_.size() > max_header_length) return false;
    skip_ows();
    const std::size_t scheme_end = token_end(pos_);
    if (scheme_end == pos_) return false;
    out.scheme = text_.substr(pos_, scheme_end - pos_);
    pos_ = scheme_end;
    if (at_end() || !is_ows(text_[pos_])) return false;
    skip_ows();
    if (at_end() || text_[pos_] == ',' || token68_ahead()) return false;
    for (;;) {
        if (!param(out)) return false;
        skip_ows();
        if (at_end()) return true;
        if (text_[pos_] != ',') return false;
        ++pos_;
        skip_ows();
        if (at_end() || text_[pos_] == ',') return false;   // empty list elements: Parser
    }
}

// ---- serializer helpers -----------------------------------------------------

bool is_ascii(std::string_view s) noexcept {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

}  // namespace

// ---- grammar entry points ------------------------------------------------------

HeaderError parse_challenges(std::string_view value, std::vector<AuthItem>& out) {
    out.clear();
    Parser parser(value, ListKind::challenges);
    HeaderError e = parser.run(out);
    if (e != HeaderError::none) out.clear();
    return e;
}

HeaderError parse_credentials(std::string_view value, AuthItem& out) {
    out = AuthItem{};
    std::vector<AuthItem> items;
    items.reserve(1);
    Parser parser(value, ListKind::credentials);
    HeaderError e = parser.run(items);
    if (e != HeaderError::none) return e;
    out = std::move(items.front());
    return HeaderError::none;
}

bool parse_credentials_view(std::string_view value, CredentialsView& out) noexcept {
    ViewParser parser(value);
    if (parser.run(out)) return true;
    out.count = 0;
    return false;
}

HeaderError parse_auth_info(std::string_view value, std::vector<Param>& out) {
    out.clear();
    std::vector<AuthItem> items;
    Parser parser(value, ListKind::auth_info);
    HeaderError e = parser.run(items);
    if (e != HeaderError::none) return e;
    out = std::move(items.front().params);
    return HeaderError::none;
}

// ---- serializing parameters -------------------------------------------------------

std::string quote_string(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    append_quoted(out, s);
    return out;
}

void append_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        // A quoted-string cannot carry CTLs (other than HTAB) or DEL: dropping
        // them keeps a bad value from splitting the header.
        if ((u < 0x20 && u != '\t') || u == 0x7f) continue;
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

std::string ext_value_encode(std::string_view utf8) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out = "UTF-8''";
    out.reserve(out.size() + utf8.size() * 3);
    for (char c : utf8) {
        if (is_attr_char(c)) {
            out += c;
        } else {
            unsigned char u = static_cast<unsigned char>(c);
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 0x0f];
        }
    }
    return out;
}

std::string string_param(std::string_view name, std::string_view value) {
    std::string out(name);
    if (is_ascii(value) || name == "realm") {
        out += '=';
        append_quoted(out, value);
    } else {
        out += "*=";
        out += ext_value_encode(value);
    }
    return out;
}

}  // namespace mutual

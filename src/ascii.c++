// ASCII helpers (ascii.h).
#include "ascii.h"

#include <algorithm>

namespace mutual {

std::string ascii_lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

std::string printable(std::string_view text, const PrintablePolicy& policy) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(policy.max_length != 0 ? std::min(text.size(), policy.max_length) + 8 : text.size());
    for (const char ch : text) {
        if (policy.max_length != 0 && out.size() >= policy.max_length) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(ch);
        const bool keep = c >= 0x20 && c != 0x7f && (c < 0x80 || policy.keep_non_ascii) &&
                          !(c == '"' && policy.escape_quote) &&
                          !(c == '\\' && policy.escape_backslash);
        if (keep) {
            out += ch;
        } else if (policy.replacement != '\0') {
            out += policy.replacement;
        } else {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

namespace {

// Octets of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no
// surrogates, at most U+10FFFF) of two or more octets at s[i], else 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = at(i);
    std::size_t n;
    unsigned char low = 0x80, high = 0xbf;  // range of the second octet
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) n = 3, low = c == 0xe0 ? 0xa0 : 0x80, high = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, low = c == 0xf0 ? 0x90 : 0x80, high = c == 0xf4 ? 0x8f : 0xbf;
    else return 0;
    if (i + n > s.size() || at(i + 1) < low || at(i + 1) > high) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
    return n;
}

}  // namespace

std::string loggable(std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min<std::size_t>(s.size(), 128) + 8);
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (out.size() >= 256) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (const std::size_t n = c >= 0x80 ? utf8_sequence(s, i) : 0; n != 0) {
            out.append(s.substr(i, n));
            i += n - 1;
        } else if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}


}  // namespace mutual

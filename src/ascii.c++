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

}  // namespace mutual

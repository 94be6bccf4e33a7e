// ASCII helpers every layer shares, each implemented once: letters and
// digits, case folding
// (protocol tokens, header names, schemes and hosts are ASCII
// case-insensitive, never locale-dependent), hex digits, and untrusted text
// made printable for a log line or a terminal.
#ifndef MUTUAL_ASCII_H
#define MUTUAL_ASCII_H

#include <cstddef>
#include <string>
#include <string_view>

namespace mutual {

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool is_ascii_alnum(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// s with A-Z folded to a-z; every other octet (UTF-8 too) unchanged.
std::string ascii_lowercase(std::string_view s);

constexpr bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

// The value of a hex digit (0-9, a-f, A-F); -1 for anything else.
constexpr int hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The same for formats whose canonical form has upper-case digits only
// (RFC 3986 §2.1 percent-encoding as the verifier record writes it).
constexpr int upper_hex_digit_value(char c) noexcept {
    return (c >= 'a' && c <= 'f') ? -1 : hex_digit_value(c);
}

// How untrusted text (from a client, a server, a file) is made printable.
struct PrintablePolicy {
    bool keep_non_ascii;     // octets >= 0x80 kept (UTF-8 on a terminal), else escaped
    bool escape_quote;       // '"' escaped (text shown between quotes)
    bool escape_backslash;   // '\' escaped, so an escape in the output is unambiguous
    char replacement;        // '\0': escape as \xHH; otherwise replace by this character
    std::size_t max_length;  // 0: unbounded; else the output stops at this length, then "..."
};

// One log line (server side): printable ASCII except '"' and '\' kept,
// every other octet as \xHH, at most 256 characters then "...".
inline constexpr PrintablePolicy printable_for_log{false, true, true, '\0', 256};
// A terminal (htmutual): control characters, DEL and '\' as \xHH, UTF-8 kept.
inline constexpr PrintablePolicy printable_for_terminal{true, false, true, '\0', 0};
// A terminal, lossy (mutual-client's trace of server text): control
// characters and DEL become '?', everything else is kept.
inline constexpr PrintablePolicy printable_replacing_controls{true, false, false, '?', 0};

// text with every octet the policy does not keep escaped or replaced; C0
// controls and DEL are never kept.
std::string printable(std::string_view text, const PrintablePolicy& policy);

// Client text for one server log line: printable ASCII except '"' and '\'
// kept, well-formed UTF-8 kept (httpd's error log escapes it once, as \xHH;
// escaping it here too gave "\\xHH"), every other octet as \xHH, at most
// 256 characters then "...".
std::string loggable(std::string_view text);

}  // namespace mutual

#endif

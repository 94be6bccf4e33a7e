// libFuzzer target: the RFC 8120 §3.2.3 / §12.1 value codecs of encoding.h.
//
// Input: one selector octet (which natural length to demand), then the text.
// Properties checked on every input:
//  * decode_integer accepts exactly "0" / %x31-39 *DIGIT; what it accepts
//    re-encodes to the same text unless it saturated, and saturation only
//    happens above 2^64-1.
//  * decode_hex_fixed / decode_base64_fixed accept exactly the canonical
//    spellings (re-encoding gives the text back, modulo hex case) and honour
//    the natural length; the input octets re-encoded decode to themselves.
//  * append_vi / append_vs produce minimal radix-128 that a reference decoder
//    reads back.
//  * is_valid_utf8 agrees with an independent implementation of Unicode
//    Table 3-7 (well-formed byte sequences).
#include "fuzz_common.h"

#include <algorithm>
#include <string>

#include "encoding.h"

namespace mutual {
namespace fuzz {
namespace encoding_target {

// Unicode 15 §3.9 Table 3-7, written as ranges of the second octet.
bool reference_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        unsigned c = static_cast<unsigned char>(s[i]);
        unsigned need = 0, lo = 0x80, hi = 0xbf;
        if (c <= 0x7f) { ++i; continue; }
        else if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c == 0xe0) { need = 2; lo = 0xa0; }
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) need = 2;
        else if (c == 0xed) { need = 2; hi = 0x9f; }
        else if (c == 0xf0) { need = 3; lo = 0x90; }
        else if (c >= 0xf1 && c <= 0xf3) need = 3;
        else if (c == 0xf4) { need = 3; hi = 0x8f; }
        else return false;
        if (s.size() - i < need + 1) return false;
        unsigned second = static_cast<unsigned char>(s[i + 1]);
        if (second < lo || second > hi) return false;
        for (unsigned k = 2; k <= need; ++k) {
            unsigned b = static_cast<unsigned char>(s[i + k]);
            if (b < 0x80 || b > 0xbf) return false;
        }
        i += need + 1;
    }
    return true;
}

bool all_digits(std::string_view s) noexcept {
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

bool is_hex_digit(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

void check_integer(std::string_view text) {
    DecodeError error = DecodeError::none;
    std::optional<std::uint64_t> value = decode_integer(text, &error);
    bool syntax_ok = !text.empty() && all_digits(text) && (text.size() == 1 || text[0] != '0');
    FUZZ_CHECK(value.has_value() == syntax_ok);
    FUZZ_CHECK(value.has_value() == (error == DecodeError::none));
    if (!value) return;
    std::string again = encode_integer(*value);
    if (again != text) {
        // Only saturation may change the spelling: more than 20 digits, or
        // 20 digits above "18446744073709551615".
        FUZZ_CHECK(*value == integer_saturation);
        FUZZ_CHECK(text.size() > 20 ||
                   (text.size() == 20 && text > std::string_view("18446744073709551615")));
    } else {
        FUZZ_CHECK(decode_integer(again) == value);
    }
}

void check_hex(std::string_view text, std::size_t natural_length) {
    DecodeError error = DecodeError::none;
    std::optional<Bytes> value = decode_hex_fixed(text, natural_length, &error);
    bool syntax_ok = !text.empty() && text.size() % 2 == 0;
    for (char c : text) syntax_ok = syntax_ok && is_hex_digit(c);
    if (natural_length != 0) syntax_ok = syntax_ok && text.size() == 2 * natural_length;
    FUZZ_CHECK(value.has_value() == syntax_ok);
    FUZZ_CHECK(value.has_value() == (error == DecodeError::none));
    if (!value) return;
    FUZZ_CHECK(value->size() * 2 == text.size());
    FUZZ_CHECK(encode_hex_fixed(*value) == ascii_lowercase(text));
}

void check_base64(std::string_view text, std::size_t natural_length) {
    DecodeError error = DecodeError::none;
    std::optional<Bytes> value = decode_base64_fixed(text, natural_length, &error);
    FUZZ_CHECK(value.has_value() == (error == DecodeError::none));
    if (!value) return;
    FUZZ_CHECK(!value->empty());
    if (natural_length != 0) FUZZ_CHECK(value->size() == natural_length);
    // Canonical: exactly one spelling per octet string.
    FUZZ_CHECK(encode_base64_fixed(*value) == text);
}

void check_octets_round_trip(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    std::string hex = encode_hex_fixed(data, size);
    std::optional<Bytes> from_hex = decode_hex_fixed(hex, size);
    FUZZ_CHECK(from_hex && from_hex->size() == size &&
               std::equal(from_hex->begin(), from_hex->end(), data));
    std::string b64 = encode_base64_fixed(data, size);
    FUZZ_CHECK(b64.size() == (size + 2) / 3 * 4);
    std::optional<Bytes> from_b64 = decode_base64_fixed(b64, size);
    FUZZ_CHECK(from_b64 && from_b64->size() == size &&
               std::equal(from_b64->begin(), from_b64->end(), data));
    // A natural length one off must be refused.
    FUZZ_CHECK(!decode_hex_fixed(hex, size + 1));
    FUZZ_CHECK(!decode_base64_fixed(b64, size + 1));
}

// Reads one VI at `p`; returns octets consumed (0 on malformed / overlong).
std::size_t reference_read_vi(const Bytes& b, std::size_t p, std::uint64_t& value) {
    value = 0;
    std::size_t start = p;
    while (p < b.size()) {
        std::uint8_t octet = b[p++];
        if (p - start == 1 && octet == 0x80) return 0;  // not minimal
        if (p - start > 10) return 0;
        value = value << 7 | (octet & 0x7f);
        if ((octet & 0x80) == 0) return p - start;
    }
    return 0;
}

void check_vi(const std::uint8_t* data, std::size_t size) {
    std::uint64_t i = 0;
    for (std::size_t k = 0; k < size && k < 8; ++k) i = i << 8 | data[k];
    Bytes out;
    append_vi(out, i);
    std::uint64_t back = 0;
    FUZZ_CHECK(reference_read_vi(out, 0, back) == out.size());
    FUZZ_CHECK(back == i);

    std::string_view s = as_text(data, size);
    Bytes vs;
    append_vs(vs, s);
    std::uint64_t length = 0;
    std::size_t header = reference_read_vi(vs, 0, length);
    FUZZ_CHECK(header != 0 && length == size && vs.size() == header + size);
    FUZZ_CHECK(std::equal(vs.begin() + static_cast<std::ptrdiff_t>(header), vs.end(), data));
}

int encoding_one_input(const std::uint8_t* data, std::size_t size) {
    std::uint8_t selector = take_selector(data, size);
    std::string_view text = as_text(data, size);
    // Natural length: any (0), the length the text would need, or a small fixed one.
    std::size_t hex_natural = 0, b64_natural = 0;
    switch (selector % 3) {
    case 0: break;
    case 1:
        hex_natural = text.size() / 2;
        b64_natural = text.size() / 4 * 3 - (text.size() >= 1 && text.back() == '=') -
                      (text.size() >= 2 && text[text.size() - 2] == '=');
        if (text.size() < 4) b64_natural = 0;
        break;
    default:
        hex_natural = b64_natural = selector / 3 % 66 + 1;
        break;
    }
    check_integer(text);
    check_hex(text, hex_natural);
    check_base64(text, b64_natural);
    check_octets_round_trip(data, size);
    check_vi(data, size);
    FUZZ_CHECK(is_valid_utf8(text) == reference_utf8(text));
    return 0;
}

}  // namespace encoding_target
}  // namespace fuzz
}  // namespace mutual

namespace mutual::fuzz {
using encoding_target::encoding_one_input;
}

MUTUAL_FUZZ_ENTRY(encoding_one_input)

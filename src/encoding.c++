#include "encoding.h"

#include <array>
#include <cstring>

#include "ascii.h"

namespace mutual {

const char* decode_error_name(DecodeError e) noexcept {
    switch (e) {
    case DecodeError::none: return "none";
    case DecodeError::empty: return "empty";
    case DecodeError::bad_character: return "bad-character";
    case DecodeError::leading_zero: return "leading-zero";
    case DecodeError::odd_length: return "odd-length";
    case DecodeError::bad_padding: return "bad-padding";
    case DecodeError::noncanonical_bits: return "noncanonical-pad-bits";
    case DecodeError::wrong_length: return "wrong-natural-length";
    }
    return "unknown";
}

namespace {

std::nullopt_t fail(DecodeError* error, DecodeError e) {
    if (error != nullptr) *error = e;
    return std::nullopt;
}

void succeed(DecodeError* error) {
    if (error != nullptr) *error = DecodeError::none;
}

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_base64_table() {
    std::array<std::int8_t, 256> table{};
    for (auto& v : table) v = -1;
    for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(base64_alphabet[i])] = i;
    return table;
}
constexpr std::array<std::int8_t, 256> base64_table = make_base64_table();

constexpr std::array<std::int8_t, 256> make_hex_table() {
    std::array<std::int8_t, 256> table{};
    for (int c = 0; c < 256; ++c) table[c] = static_cast<std::int8_t>(hex_digit_value(static_cast<char>(c)));
    return table;
}
constexpr std::array<std::int8_t, 256> hex_table = make_hex_table();

// The two lower-case hex digits of every octet.
constexpr std::array<char, 512> make_hex_pairs() {
    constexpr char digits[] = "0123456789abcdef";
    std::array<char, 512> pairs{};
    for (int octet = 0; octet < 256; ++octet) {
        pairs[static_cast<std::size_t>(2 * octet)] = digits[octet >> 4];
        pairs[static_cast<std::size_t>(2 * octet + 1)] = digits[octet & 0x0f];
    }
    return pairs;
}
constexpr std::array<char, 512> hex_pairs = make_hex_pairs();

}  // namespace

std::size_t encode_vi(std::uint64_t i, std::uint8_t (&out)[max_vi_length]) noexcept {
    std::uint8_t digits[max_vi_length];
    std::size_t n = 0;
    do {
        digits[n++] = static_cast<std::uint8_t>(i & 0x7f);
        i >>= 7;
    } while (i != 0);
    for (std::size_t k = 0; k < n; ++k)
        out[k] = static_cast<std::uint8_t>(k + 1 < n ? 0x80 | digits[n - 1 - k] : digits[0]);
    return n;
}

void append_vi(Bytes& out, std::uint64_t i) {
    std::uint8_t vi[max_vi_length];
    out.insert(out.end(), vi, vi + encode_vi(i, vi));
}

void append_vs(Bytes& out, const std::uint8_t* data, std::size_t length) {
    append_vi(out, length);
    out.insert(out.end(), data, data + length);
}

void append_vs(Bytes& out, std::string_view s) {
    append_vs(out, reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

std::optional<std::uint64_t> decode_integer(std::string_view text, DecodeError* error) {
    if (text.empty()) return fail(error, DecodeError::empty);
    for (char c : text)
        if (c < '0' || c > '9') return fail(error, DecodeError::bad_character);
    if (text.size() > 1 && text[0] == '0') return fail(error, DecodeError::leading_zero);
    std::uint64_t value = 0;
    for (char c : text) {
        const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
        if (value > (integer_saturation - digit) / 10) {
            value = integer_saturation;  // §6: saturate, never wrap
            break;
        }
        value = value * 10 + digit;
    }
    succeed(error);
    return value;
}

std::string encode_integer(std::uint64_t value) { return std::to_string(value); }

std::optional<std::size_t> decode_hex_fixed(std::string_view text, std::size_t natural_length,
                                            std::uint8_t* out, std::size_t capacity, DecodeError* error) noexcept {
    if (text.empty()) return fail(error, DecodeError::empty);
    const std::size_t length = text.size() / 2;
    if (text.size() % 2 != 0 || (natural_length != 0 && length != natural_length)) {
        // Which error, in the order the checks have always been made.
        int bad = 0;
        for (char c : text) bad |= hex_table[static_cast<unsigned char>(c)];
        if (bad < 0) return fail(error, DecodeError::bad_character);
        if (text.size() % 2 != 0) return fail(error, DecodeError::odd_length);
        return fail(error, DecodeError::wrong_length);
    }
    // One pass, one table lookup per character (every request carries a
    // sid and a vkc); at most `capacity` octets written.
    int bad = 0;
    for (std::size_t i = 0; i < length; ++i) {
        const int hi = hex_table[static_cast<unsigned char>(text[2 * i])];
        const int lo = hex_table[static_cast<unsigned char>(text[2 * i + 1])];
        bad |= hi | lo;
        if (i < capacity) out[i] = static_cast<std::uint8_t>((hi & 0x0f) << 4 | (lo & 0x0f));
    }
    if (bad < 0) return fail(error, DecodeError::bad_character);
    succeed(error);
    return length;
}

std::optional<Bytes> decode_hex_fixed(std::string_view text, std::size_t natural_length,
                                      DecodeError* error) {
    Bytes out(text.size() / 2);
    if (!decode_hex_fixed(text, natural_length, out.data(), out.size(), error)) return std::nullopt;
    return out;
}

std::size_t encode_hex_fixed(const std::uint8_t* data, std::size_t length, char* out) noexcept {
    for (std::size_t i = 0; i < length; ++i) std::memcpy(out + 2 * i, &hex_pairs[2 * data[i]], 2);
    return 2 * length;
}

std::string encode_hex_fixed(const std::uint8_t* data, std::size_t length) {
    std::string out(2 * length, '\0');
    encode_hex_fixed(data, length, out.data());
    return out;
}

std::size_t encode_base64_fixed(const std::uint8_t* data, std::size_t length, char* out) noexcept {
    char* const start = out;
    std::size_t i = 0;
    for (; i + 3 <= length; i += 3) {
        const std::uint32_t v = data[i] << 16 | data[i + 1] << 8 | data[i + 2];
        *out++ = base64_alphabet[v >> 18];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = base64_alphabet[(v >> 6) & 63];
        *out++ = base64_alphabet[v & 63];
    }
    if (length - i == 1) {
        const std::uint32_t v = data[i] << 16;
        *out++ = base64_alphabet[v >> 18];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (length - i == 2) {
        const std::uint32_t v = data[i] << 16 | data[i + 1] << 8;
        *out++ = base64_alphabet[v >> 18];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = base64_alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
    return static_cast<std::size_t>(out - start);
}

std::string encode_base64_fixed(const std::uint8_t* data, std::size_t length) {
    std::string out(base64_fixed_length(length), '\0');
    encode_base64_fixed(data, length, out.data());
    return out;
}

std::optional<std::size_t> decode_base64_fixed(std::string_view text, std::size_t natural_length,
                                               std::uint8_t* out, std::size_t capacity,
                                               DecodeError* error) noexcept {
    if (text.empty()) return fail(error, DecodeError::empty);
    std::size_t pad = 0;
    while (pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
    const std::size_t data_chars = text.size() - pad;
    for (std::size_t i = 0; i < data_chars; ++i)
        if (base64_table[static_cast<unsigned char>(text[i])] < 0)
            return fail(error, text[i] == '=' ? DecodeError::bad_padding
                                              : DecodeError::bad_character);
    // RFC 4648 §3.2: the encoded length is a multiple of 4, pad only to get there.
    if (data_chars == 0 || pad > 2 || text.size() % 4 != 0 || data_chars % 4 == 1)
        return fail(error, DecodeError::bad_padding);
    std::size_t length = 0;
    std::uint32_t accumulator = 0;
    int bits = 0;
    for (std::size_t i = 0; i < data_chars; ++i) {
        accumulator = accumulator << 6 | static_cast<std::uint32_t>(
                                             base64_table[static_cast<unsigned char>(text[i])]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (length < capacity) out[length] = static_cast<std::uint8_t>(accumulator >> bits);
            ++length;
            accumulator &= (1u << bits) - 1;
        }
    }
    // RFC 4648 §3.5: the bits left over must be zero in canonical encodings.
    if (accumulator != 0) return fail(error, DecodeError::noncanonical_bits);
    if (natural_length != 0 && length != natural_length)
        return fail(error, DecodeError::wrong_length);
    succeed(error);
    return length;
}

std::optional<Bytes> decode_base64_fixed(std::string_view text, std::size_t natural_length,
                                         DecodeError* error) {
    Bytes out(text.size() / 4 * 3);
    const std::optional<std::size_t> length =
        decode_base64_fixed(text, natural_length, out.data(), out.size(), error);
    if (!length) return std::nullopt;
    out.resize(*length);
    return out;
}

bool is_valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t n;
        std::uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
        else return false;
        if (static_cast<std::size_t>(end - p) <= n) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            if ((p[k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (p[k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

}  // namespace mutual

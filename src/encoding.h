// RFC 8120 §3.2.3 and §12.1 value encodings: octet, VI, VS, OCTETS, INT,
// integer, hex-fixed-number, base64-fixed-number.
#ifndef MUTUAL_ENCODING_H
#define MUTUAL_ENCODING_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bytes.h"

namespace mutual {

// Why a value failed to decode. Each is distinct so callers can map it to a
// `reason` and a log line, and tests can assert the exact rejection.
enum class DecodeError {
    none = 0,
    empty,               // no digits at all
    bad_character,       // a character outside the alphabet
    leading_zero,        // integer with a leading "0" (e.g. "007")
    odd_length,          // hex-fixed-number with an odd number of digits
    bad_padding,         // base64: wrong amount or position of "="
    noncanonical_bits,   // base64: pad bits not zero
    wrong_length,        // decoded length differs from the natural length
};

const char* decode_error_name(DecodeError e) noexcept;

// Largest value decode_integer returns; larger numbers saturate to it (§6:
// never wrap, never reject merely for size).
constexpr std::uint64_t integer_saturation = UINT64_MAX;

// VI(i): big-endian radix-128, continuation octets 0x80-0xff, last 0x00-0x7f.
void append_vi(Bytes& out, std::uint64_t i);
// VI(i) written into out (at most max_vi_length octets); returns its length.
constexpr std::size_t max_vi_length = 10;   // ceil(64 / 7)
std::size_t encode_vi(std::uint64_t i, std::uint8_t (&out)[max_vi_length]) noexcept;
// VS(s) = VI(length(s)) | s.
void append_vs(Bytes& out, std::string_view s);
void append_vs(Bytes& out, const std::uint8_t* data, std::size_t length);

// The `integer` syntax ("0" / %x31-39 *DIGIT). Values beyond 2^64-1 saturate
// to integer_saturation.
std::optional<std::uint64_t> decode_integer(std::string_view text,
                                            DecodeError* error = nullptr);
std::string encode_integer(std::uint64_t value);

// hex-fixed-number. natural_length 0 means any even length (sid); otherwise the
// decoded octet count must equal it. Accepts upper and lower case.
std::optional<Bytes> decode_hex_fixed(std::string_view text, std::size_t natural_length,
                                      DecodeError* error = nullptr);
std::string encode_hex_fixed(const std::uint8_t* data, std::size_t length);  // lower case
inline std::string encode_hex_fixed(ByteView b) { return encode_hex_fixed(b.data(), b.size()); }

// base64-fixed-number (RFC 4648 §4 alphabet, padding required, pad bits zero).
std::optional<Bytes> decode_base64_fixed(std::string_view text, std::size_t natural_length,
                                         DecodeError* error = nullptr);
std::string encode_base64_fixed(const std::uint8_t* data, std::size_t length);
inline std::string encode_base64_fixed(ByteView b) { return encode_base64_fixed(b.data(), b.size()); }
constexpr std::size_t base64_fixed_length(std::size_t octets) noexcept { return (octets + 2) / 3 * 4; }

// The same without an allocation (the server's per-request path): the
// decoders write at most `capacity` octets to out and return the decoded
// length (larger than capacity: the rest was dropped), or nullopt with the
// same errors; the encoders write 2 * length (hex) or
// base64_fixed_length(length) characters and return that count.
std::optional<std::size_t> decode_hex_fixed(std::string_view text, std::size_t natural_length,
                                            std::uint8_t* out, std::size_t capacity,
                                            DecodeError* error = nullptr) noexcept;
std::optional<std::size_t> decode_base64_fixed(std::string_view text, std::size_t natural_length,
                                               std::uint8_t* out, std::size_t capacity,
                                               DecodeError* error = nullptr) noexcept;
std::size_t encode_hex_fixed(const std::uint8_t* data, std::size_t length, char* out) noexcept;
std::size_t encode_base64_fixed(const std::uint8_t* data, std::size_t length, char* out) noexcept;

// True when s is well-formed UTF-8 (shortest forms, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace mutual

#endif

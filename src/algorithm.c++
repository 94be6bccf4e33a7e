// The parts of Algorithm that do not depend on the group: wire encodings of
// K and VK values, error names, constant-time comparison.
#include "algorithm.h"

#include <openssl/crypto.h>

namespace mutual {

const char* kex_error_name(KexError e) noexcept {
    switch (e) {
    case KexError::none: return "none";
    case KexError::bad_encoding: return "bad_encoding";
    case KexError::out_of_range: return "out_of_range";
    case KexError::not_on_curve: return "not_on_curve";
    case KexError::infinity: return "infinity";
    case KexError::bad_scalar: return "bad_scalar";
    case KexError::bad_verifier: return "bad_verifier";
    case KexError::internal: return "internal";
    }
    return "unknown";
}

std::size_t Algorithm::hash_length() const noexcept {
    int size = EVP_MD_get_size(hash());
    return size > 0 ? static_cast<std::size_t>(size) : 0;
}

KexError Algorithm::server_exchange(const Bytes& j, const Bytes& k_c1, Bytes& k_s1,
                                    Secret& z) const {
    const Secret s_s1 = random_server_scalar();  // wiped when it goes out of scope
    if (s_s1.empty()) return KexError::internal;  // logged by the algorithm
    return server_exchange_with(j, k_c1, s_s1, k_s1, z);
}

namespace {

std::string encode_fixed(WireFormat format, ByteView value) {
    return format == WireFormat::base64_fixed ? encode_base64_fixed(value)
                                              : encode_hex_fixed(value);
}

std::optional<Bytes> decode_fixed(WireFormat format, std::string_view text,
                                  std::size_t natural_length, DecodeError* error) {
    return format == WireFormat::base64_fixed ? decode_base64_fixed(text, natural_length, error)
                                              : decode_hex_fixed(text, natural_length, error);
}

}  // namespace

std::string Algorithm::encode_key(const Bytes& k) const {
    return encode_fixed(wire_format(), k);
}

std::optional<Bytes> Algorithm::decode_key(std::string_view text, DecodeError* error) const {
    return decode_fixed(wire_format(), text, element_length(), error);
}

std::string Algorithm::encode_vk(ByteView vk) const {
    return encode_fixed(wire_format(), vk);
}

std::optional<Bytes> Algorithm::decode_vk(std::string_view text, DecodeError* error) const {
    return decode_fixed(wire_format(), text, hash_length(), error);
}

ByteView Algorithm::decode_vk(std::string_view text, std::array<std::uint8_t, EVP_MAX_MD_SIZE>& out,
                              DecodeError* error) const noexcept {
    const std::size_t natural = hash_length();
    if (natural == 0 || natural > out.size()) {
        if (error != nullptr) *error = DecodeError::wrong_length;
        return ByteView();
    }
    const std::optional<std::size_t> length =
        wire_format() == WireFormat::base64_fixed
            ? decode_base64_fixed(text, natural, out.data(), out.size(), error)
            : decode_hex_fixed(text, natural, out.data(), out.size(), error);
    return length ? ByteView(out.data(), *length) : ByteView();
}

std::string_view Algorithm::encode_vk(ByteView vk, std::array<char, max_vk_text>& out) const noexcept {
    if (vk.size() > EVP_MAX_MD_SIZE) return std::string_view();
    const std::size_t length = wire_format() == WireFormat::base64_fixed
                                   ? encode_base64_fixed(vk.data(), vk.size(), out.data())
                                   : encode_hex_fixed(vk.data(), vk.size(), out.data());
    return std::string_view(out.data(), length);
}

bool equal_constant_time(ByteView a, ByteView b) noexcept {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mutual

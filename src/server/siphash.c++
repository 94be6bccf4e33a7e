#include "server/siphash.h"

#include <openssl/rand.h>

namespace mutual {

bool draw_hash_key(HashKey& key) noexcept { return RAND_bytes(key.bytes, sizeof key.bytes) == 1; }

namespace {

inline std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }

inline std::uint64_t load_le64(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

inline void sip_round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2,
                      std::uint64_t& v3) noexcept {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
}

}  // namespace

std::uint64_t siphash24(const HashKey& key, const void* data, std::size_t length) noexcept {
    const std::uint64_t k0 = load_le64(key.bytes);
    const std::uint64_t k1 = load_le64(key.bytes + 8);
    std::uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    std::uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    std::uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    std::uint64_t v3 = 0x7465646279746573ULL ^ k1;
    const auto* in = static_cast<const std::uint8_t*>(data);
    const std::size_t whole = length - (length % 8);
    for (std::size_t i = 0; i < whole; i += 8) {
        const std::uint64_t m = load_le64(in + i);
        v3 ^= m;
        sip_round(v0, v1, v2, v3);
        sip_round(v0, v1, v2, v3);
        v0 ^= m;
    }
    std::uint64_t b = static_cast<std::uint64_t>(length) << 56;
    for (std::size_t i = 0; i < length % 8; ++i)
        b |= static_cast<std::uint64_t>(in[whole + i]) << (8 * i);
    v3 ^= b;
    sip_round(v0, v1, v2, v3);
    sip_round(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) sip_round(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace mutual

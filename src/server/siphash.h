// SipHash-2-4 (Aumasson & Bernstein), the keyed hash of the session table:
// a per-start server secret keys it, so clients cannot aim many sids at one
// bucket. No httpd types.
#ifndef MUTUAL_SIPHASH_H
#define MUTUAL_SIPHASH_H

#include <cstddef>
#include <cstdint>

namespace mutual {

struct HashKey {
    std::uint8_t bytes[16];
};

// A new random key (OpenSSL's RAND_bytes); false when the generator failed.
bool draw_hash_key(HashKey& key) noexcept;

// SipHash-2-4 of data under key.
std::uint64_t siphash24(const HashKey& key, const void* data, std::size_t length) noexcept;

}  // namespace mutual

#endif

// What the two KAM3 families (kam3_dl.c++, kam3_ec.c++) share: BIGNUMs from
// octets, scalars checked against [1, r-1], random scalars, the blinded
// inversion and the client's exponent (S_c1 + t_2) / (S_c1 * t_1 + pi) mod r
// of RFC 8121 §3.2/§3.3. Only the algorithm files include this header.
#ifndef MUTUAL_KAM3_MATH_H
#define MUTUAL_KAM3_MATH_H

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <openssl/bn.h>

#include "algorithm.h"
#include "bytes.h"
#include "openssl_ptr.h"

namespace mutual {
namespace kam3 {

using PublicBn = UniquePtr<BIGNUM>;
using SecretBn = SecretPtr<BIGNUM>;

// The subgroup order r of an algorithm, with what the shared code needs.
struct Order {
    const BIGNUM* r = nullptr;
    const BIGNUM* r_minus_1 = nullptr;
    std::size_t length = 0;          // OCTETS length of r (scalar_length)
    std::string_view algorithm;      // for log lines
};

PublicBn public_from(const std::uint8_t* data, std::size_t length);
// A BIGNUM flagged BN_FLG_CONSTTIME, wiped when freed.
SecretBn secret_from(const std::uint8_t* data, std::size_t length);
SecretBn new_secret();

// Logs "OpenSSL failure computing <what> for <algorithm>" under tag, clears
// OpenSSL's error queue, returns KexError::internal.
KexError openssl_failure(const char* tag, const char* what, std::string_view algorithm);

// S in [1, r - 1] and, when minimum is not null, S >= minimum.
KexError scalar_from(const Order& order, const Secret& octets, const BIGNUM* minimum,
                     SecretBn& out);
// A uniform S in [1, r - 1] (and >= minimum when not null) as OCTETS in
// order.length; empty on failure.
Secret random_scalar(const Order& order, const BIGNUM* minimum);

// 1 / x mod r for a secret x != 0 (r prime): invert x * b for a fresh
// uniform b in [1, r - 1], then multiply by b. x * b is uniform and
// independent of x, so the inversion's timing says nothing about x.
bool blinded_inverse(const Order& order, BIGNUM* out, const BIGNUM* x, BN_CTX* ctx);

// The client's exponent (S_c1 + t_2) / (S_c1 * t_1 + pi) mod r, t_1 and t_2
// already reduced or not (they are reduced here), into out. bad_scalar when
// the denominator or the result is 0 mod r (negligible for honest inputs).
KexError client_exponent(const Order& order, const BIGNUM* s_c1, const BIGNUM* t1,
                         const BIGNUM* t2, const Secret& pi, BIGNUM* out, BN_CTX* ctx);

}  // namespace kam3
}  // namespace mutual

#endif

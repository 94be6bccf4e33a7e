// What the two KAM3 families (kam3_dl.c++, kam3_ec.c++) share: BIGNUMs from
// octets, scalars checked against [1, r-1], random scalars, the blinded
// inversion and the client's exponent (S_c1 + t_2) / (S_c1 * t_1 + pi) mod r
// of RFC 8121 §3.2/§3.3. Only the algorithm files include this header.
#ifndef MUTUAL_KAM3_MATH_H
#define MUTUAL_KAM3_MATH_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <openssl/bn.h>
#include <openssl/evp.h>

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

// What both families' Algorithm classes hold and answer alike: the name,
// H, the lengths, the order r and the server's random scalar. Objects are
// created by the registry and never destroyed (algorithm_registry.c++), so
// nothing here is freed.
class Family : public Algorithm {
public:
    std::string_view name() const noexcept final { return name_; }
    const EVP_MD* hash() const noexcept final { return md_; }
    std::size_t element_length() const noexcept final { return element_length_; }
    std::size_t scalar_length() const noexcept final { return scalar_length_; }
    Secret random_server_scalar() const final {
        return ready_ ? random_scalar(order(), nullptr) : Secret();
    }

protected:
    // Fetches H; the family's constructor sets the rest and ready_.
    Family(std::string_view name, const char* hash_name);

    Order order() const noexcept { return Order{r_, r_minus_1_, scalar_length_, name_}; }
    KexError fail(const char* tag, const char* what) const {
        return openssl_failure(tag, what, name_);
    }
    // The stored J failed the receiver's checks with e: a server-side
    // problem (a corrupt verifier record), not the client's. Logs it under
    // tag and returns bad_verifier; internal (an OpenSSL failure) passes.
    KexError verifier_rejected(const char* tag, KexError e) const;

    std::string name_;
    EVP_MD* md_ = nullptr;
    const BIGNUM* r_ = nullptr;
    BIGNUM* r_minus_1_ = nullptr;
    std::size_t element_length_ = 0;
    std::size_t scalar_length_ = 0;
    bool ready_ = false;
};

// The server's exchange from its two formulas: key(K_s1) computes K_s1,
// secret(K_s1, z) the server's z from it; K_s1 and z are written only when
// both succeed.
template <typename KeyFormula, typename SecretFormula>
KexError server_exchange(KeyFormula&& key, SecretFormula&& secret, Bytes& k_s1, Secret& z) {
    Bytes k_s1_octets;
    if (KexError e = key(k_s1_octets); e != KexError::none) return e;
    Secret z_octets;
    if (KexError e = secret(k_s1_octets, z_octets); e != KexError::none) return e;
    k_s1 = std::move(k_s1_octets);
    z = std::move(z_octets);
    return KexError::none;
}

}  // namespace kam3
}  // namespace mutual

#endif

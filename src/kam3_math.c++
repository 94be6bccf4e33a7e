// The arithmetic both KAM3 families share (kam3_math.h).
#include "kam3_math.h"

#include <string>

#include <openssl/err.h>

#include "log.h"

namespace mutual {
namespace kam3 {

Family::Family(std::string_view name, const char* hash_name)
    : name_(name), md_(EVP_MD_fetch(nullptr, hash_name, nullptr)) {}

KexError Family::verifier_rejected(const char* tag, KexError e) const {
    if (e == KexError::internal) return e;
    log(LogLevel::error, tag,
        "stored verifier J of " + name_ + " is not a valid group element: " + kex_error_name(e));
    return KexError::bad_verifier;
}

PublicBn public_from(const std::uint8_t* data, std::size_t length) {
    return PublicBn(BN_bin2bn(data, static_cast<int>(length), nullptr));
}

SecretBn secret_from(const std::uint8_t* data, std::size_t length) {
    SecretBn bn(BN_bin2bn(data, static_cast<int>(length), nullptr));
    if (bn) BN_set_flags(bn.get(), BN_FLG_CONSTTIME);
    return bn;
}

SecretBn new_secret() {
    SecretBn bn(BN_new());
    if (bn) BN_set_flags(bn.get(), BN_FLG_CONSTTIME);
    return bn;
}

KexError openssl_failure(const char* tag, const char* what, std::string_view algorithm) {
    ERR_clear_error();
    log(LogLevel::error, tag,
        std::string("OpenSSL failure computing ") + what + " for " + std::string(algorithm));
    return KexError::internal;
}

KexError scalar_from(const Order& order, const Secret& octets, const BIGNUM* minimum,
                     SecretBn& out) {
    if (octets.empty()) return KexError::bad_scalar;
    out = secret_from(octets.data(), octets.size());
    if (!out) return openssl_failure("MUT01901", "a scalar", order.algorithm);
    if (BN_is_zero(out.get()) || BN_cmp(out.get(), order.r) >= 0) return KexError::bad_scalar;
    if (minimum != nullptr && BN_cmp(out.get(), minimum) < 0) return KexError::bad_scalar;
    return KexError::none;
}

Secret random_scalar(const Order& order, const BIGNUM* minimum) {
    Secret out;
    SecretBn s = new_secret();
    if (!s) {
        openssl_failure("MUT01902", "a random scalar", order.algorithm);
        return out;
    }
    // Below the minimum (DL clients: S_c1 < bits(q)) with probability
    // about 2^-2036: 64 draws never all miss unless the generator is broken.
    for (int attempt = 0; attempt < 64; ++attempt) {
        // [0, r - 2] + 1 = [1, r - 1]
        if (!BN_priv_rand_range(s.get(), order.r_minus_1) || !BN_add_word(s.get(), 1)) {
            openssl_failure("MUT01903", "a random scalar", order.algorithm);
            return out;
        }
        if (minimum != nullptr && BN_cmp(s.get(), minimum) < 0) continue;
        out.assign(order.length, 0);
        if (BN_bn2binpad(s.get(), out.data(), static_cast<int>(out.size())) < 0) {
            openssl_failure("MUT01904", "a random scalar", order.algorithm);
            out.clear();
        }
        return out;
    }
    log(LogLevel::error, "MUT01905", "random number generator keeps returning tiny scalars");
    return out;
}

bool blinded_inverse(const Order& order, BIGNUM* out, const BIGNUM* x, BN_CTX* ctx) {
    SecretBn blind = new_secret();
    SecretBn blinded = new_secret();
    return blind && blinded && BN_priv_rand_range(blind.get(), order.r_minus_1) &&
           BN_add_word(blind.get(), 1) && BN_mod_mul(blinded.get(), x, blind.get(), order.r, ctx) &&
           BN_mod_inverse(out, blinded.get(), order.r, ctx) != nullptr &&
           BN_mod_mul(out, out, blind.get(), order.r, ctx);
}

KexError client_exponent(const Order& order, const BIGNUM* s_c1, const BIGNUM* t1,
                         const BIGNUM* t2, const Secret& pi, BIGNUM* out, BN_CTX* ctx) {
    if (pi.empty()) return KexError::bad_scalar;
    SecretBn p = secret_from(pi.data(), pi.size());
    SecretBn numerator = new_secret();
    SecretBn denominator = new_secret();
    if (!p || !numerator || !denominator || !BN_nnmod(p.get(), p.get(), order.r, ctx) ||
        // (S_c1 + t_2) mod r
        !BN_mod_add(numerator.get(), s_c1, t2, order.r, ctx) ||
        // (S_c1 * t_1 + pi) mod r
        !BN_mod_mul(denominator.get(), s_c1, t1, order.r, ctx) ||
        !BN_mod_add(denominator.get(), denominator.get(), p.get(), order.r, ctx))
        return openssl_failure("MUT01906", "the client exponent", order.algorithm);
    if (BN_is_zero(denominator.get())) {
        log(LogLevel::error, "MUT01907", "degenerate client exponent (S_c1 * t_1 + pi = 0 mod r)");
        return KexError::bad_scalar;
    }
    if (!blinded_inverse(order, out, denominator.get(), ctx) ||
        !BN_mod_mul(out, out, numerator.get(), order.r, ctx))
        return openssl_failure("MUT01908", "the client exponent", order.algorithm);
    if (BN_is_zero(out)) return KexError::bad_scalar;  // S_c1 = -t_2 mod r
    return KexError::none;
}

}  // namespace kam3
}  // namespace mutual

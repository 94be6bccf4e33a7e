// RFC 8121 §3.2: iso-kam3-dl-2048-sha256 and iso-kam3-dl-4096-sha512 over the
// RFC 3526 MODP groups (Appendix A: g = 2, r = (q - 1) / 2).
//
// Every exponentiation with a secret exponent (pi, S_c1, S_s1, the client's
// combined exponent) goes through BN_mod_exp_mont_consttime with a
// Montgomery context built once per group; the inversion mod r is blinded.
// Group objects are built when the registry first creates the algorithm and
// are intentionally never freed (the registry leaks its objects so nothing
// runs at module unload).
#include <string>
#include <string_view>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "algorithm.h"
#include "kam3_math.h"
#include "log.h"
#include "openssl_ptr.h"

namespace mutual {
namespace {

using kam3::new_secret;
using kam3::public_from;
using kam3::PublicBn;
using kam3::secret_from;
using kam3::SecretBn;
using BnCtx = UniquePtr<BN_CTX>;

class Kam3Dl final : public kam3::Family {
public:
    using PrimeFunction = BIGNUM* (*)(BIGNUM*);

    Kam3Dl(std::string_view name, const char* hash_name, PrimeFunction prime)
        : Family(name, hash_name) {
        BnCtx ctx(BN_CTX_new());
        q_ = prime(nullptr);
        q_minus_1_ = BN_new();
        BIGNUM* r = BN_new();
        r_ = r;
        r_minus_1_ = BN_new();
        g_ = BN_new();
        min_client_scalar_ = BN_new();
        mont_q_ = BN_MONT_CTX_new();
        ready_ = md_ && ctx && q_ && q_minus_1_ && r_ && r_minus_1_ && g_ && min_client_scalar_ &&
                 mont_q_ && BN_sub(q_minus_1_, q_, BN_value_one()) &&
                 BN_rshift1(r, q_) &&  // q is odd: (q - 1) / 2 == q >> 1
                 BN_sub(r_minus_1_, r_, BN_value_one()) && BN_set_word(g_, 2) &&
                 BN_MONT_CTX_set(mont_q_, q_, ctx.get());
        if (ready_) {
            element_length_ = static_cast<std::size_t>(BN_num_bytes(q_));
            scalar_length_ = static_cast<std::size_t>(BN_num_bytes(r_));
        }
        // g^S > q  <=>  S >= bits(q) for g = 2 (q is not a power of two).
        ready_ = ready_ && BN_set_word(min_client_scalar_, static_cast<BN_ULONG>(BN_num_bits(q_)));
        if (!ready_) {
            ERR_clear_error();
            log(LogLevel::error, "MUT03101", "cannot set up the group of " + name_);
        }
    }

    WireFormat wire_format() const noexcept override { return WireFormat::base64_fixed; }

    KexError verifier(const Secret& pi, Bytes& j) const override {
        if (!ready_) return KexError::internal;
        if (pi.empty()) return KexError::bad_scalar;
        BnCtx ctx(BN_CTX_new());
        SecretBn exponent = secret_from(pi.data(), pi.size());
        SecretBn result = new_secret();
        if (!ctx || !exponent || !result || !exp_secret(result.get(), g_, exponent.get(), ctx.get()))
            return fail("MUT03102", "J");
        return to_element(result.get(), j);
    }

    Secret random_client_scalar() const override {
        return ready_ ? kam3::random_scalar(order(), min_client_scalar_) : Secret();
    }

    KexError client_key(const Secret& s_c1, Bytes& k_c1) const override {
        if (!ready_) return KexError::internal;
        SecretBn s;
        if (KexError e = kam3::scalar_from(order(), s_c1, min_client_scalar_, s); e != KexError::none)
            return e;
        BnCtx ctx(BN_CTX_new());
        PublicBn result(BN_new());
        if (!ctx || !result || !exp_secret(result.get(), g_, s.get(), ctx.get()))
            return fail("MUT03103", "K_c1");
        return to_element(result.get(), k_c1);
    }

    KexError check_client_key(const Bytes& k_c1) const override {
        if (!ready_) return KexError::internal;
        PublicBn k;
        return to_group_element(k_c1, k);
    }

    KexError server_key(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                        Bytes& k_s1) const override {
        ServerInputs in;
        if (KexError e = server_inputs(j, k_c1, s_s1, in); e != KexError::none) return e;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03104", "K_s1");
        return server_k_s1(in, k_c1, k_s1, ctx.get());
    }

    KexError check_server_key(const Bytes& k_s1) const override {
        if (!ready_) return KexError::internal;
        PublicBn k;
        return to_group_element(k_s1, k);
    }

    KexError client_secret(const Secret& pi, const Secret& s_c1, const Bytes& k_c1,
                           const Bytes& k_s1, Secret& z) const override {
        if (!ready_) return KexError::internal;
        PublicBn k_s;
        if (KexError e = to_group_element(k_s1, k_s); e != KexError::none) return e;
        if (k_c1.size() != element_length_) return KexError::bad_encoding;
        SecretBn s;
        if (KexError e = kam3::scalar_from(order(), s_c1, min_client_scalar_, s); e != KexError::none)
            return e;
        if (pi.empty()) return KexError::bad_scalar;

        const Bytes t1_octets = compute_t1(*this, k_c1);
        const Bytes t2_octets = compute_t2(*this, k_c1, k_s1);
        PublicBn t1 = public_from(t1_octets.data(), t1_octets.size());
        PublicBn t2 = public_from(t2_octets.data(), t2_octets.size());
        BnCtx ctx(BN_CTX_new());
        SecretBn exponent = new_secret();
        SecretBn result = new_secret();
        if (t1_octets.empty() || t2_octets.empty() || !t1 || !t2 || !ctx || !exponent || !result)
            return fail("MUT03106", "the client exponent");
        if (KexError e = kam3::client_exponent(order(), s.get(), t1.get(), t2.get(), pi,
                                               exponent.get(), ctx.get());
            e != KexError::none)
            return e;
        if (!exp_secret(result.get(), k_s.get(), exponent.get(), ctx.get()))
            return fail("MUT03108", "z (client)");
        return to_secret_octets(result.get(), z);
    }

    KexError server_secret(const Bytes& k_c1, const Bytes& k_s1, const Secret& s_s1,
                           Secret& z) const override {
        if (!ready_) return KexError::internal;
        PublicBn k;
        if (KexError e = to_group_element(k_c1, k); e != KexError::none) return e;
        if (k_s1.size() != element_length_) return KexError::bad_encoding;
        SecretBn s;
        if (KexError e = kam3::scalar_from(order(), s_s1, nullptr, s); e != KexError::none) return e;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03109", "z (server)");
        return server_z(k.get(), s.get(), k_c1, k_s1, z, ctx.get());
    }

    // The server's whole exchange with K_c1, J and S_s1 parsed once, through
    // the same two formulas as server_key and server_secret.
    KexError server_exchange_with(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                                  Bytes& k_s1, Secret& z) const override {
        ServerInputs in;
        if (KexError e = server_inputs(j, k_c1, s_s1, in); e != KexError::none) return e;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03120", "K_s1");
        return kam3::server_exchange(
            [&](Bytes& k) { return server_k_s1(in, k_c1, k, ctx.get()); },
            [&](const Bytes& k, Secret& out) {
                return server_z(in.k_c1.get(), in.s_s1.get(), k_c1, k, out, ctx.get());
            },
            k_s1, z);
    }

private:
    struct ServerInputs {
        PublicBn k_c1;
        SecretBn j;
        SecretBn s_s1;
    };

    // K_c1 (the client's: its errors), J (ours: bad_verifier) and S_s1.
    KexError server_inputs(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                           ServerInputs& in) const {
        if (!ready_) return KexError::internal;
        if (KexError e = to_group_element(k_c1, in.k_c1); e != KexError::none) return e;
        if (KexError e = to_secret_element(j, in.j); e != KexError::none)
            return verifier_rejected("MUT03119", e);
        return kam3::scalar_from(order(), s_s1, nullptr, in.s_s1);
    }

    // K_s1 = (J * K_c1^t_1)^S_s1 mod q, which must satisfy 1 < K_s1 < q - 1:
    // otherwise the exchange is rejected (RFC 8121 §3.2 and §5.2).
    KexError server_k_s1(const ServerInputs& in, const Bytes& k_c1, Bytes& k_s1,
                         BN_CTX* ctx) const {
        const Bytes t1_octets = compute_t1(*this, k_c1);
        PublicBn t1 = public_from(t1_octets.data(), t1_octets.size());
        PublicBn k_t1(BN_new());
        SecretBn base = new_secret();
        PublicBn result(BN_new());
        if (t1_octets.empty() || !t1 || !k_t1 || !base || !result ||
            // K_c1^t_1 (public exponent)
            !BN_mod_exp_mont(k_t1.get(), in.k_c1.get(), t1.get(), q_, ctx, mont_q_) ||
            // J * K_c1^t_1 through Montgomery multiplication (J stays out of BN_div)
            !BN_to_montgomery(base.get(), in.j.get(), mont_q_, ctx) ||
            !BN_mod_mul_montgomery(base.get(), base.get(), k_t1.get(), mont_q_, ctx) ||
            !exp_secret(result.get(), base.get(), in.s_s1.get(), ctx))
            return fail("MUT03122", "K_s1");
        if (!in_range(result.get())) {
            log(LogLevel::warn, "MUT03105",
                "computed K_s1 is out of range; rejecting the exchange (the verifier J is suspect)");
            return KexError::bad_verifier;
        }
        return to_element(result.get(), k_s1);
    }

    // z = (K_c1 * g^t_2)^S_s1 mod q, the secret exponent through
    // BN_mod_exp_mont_consttime.
    KexError server_z(const BIGNUM* k, const BIGNUM* s, const Bytes& k_c1, const Bytes& k_s1,
                      Secret& z, BN_CTX* ctx) const {
        const Bytes t2_octets = compute_t2(*this, k_c1, k_s1);
        PublicBn t2 = public_from(t2_octets.data(), t2_octets.size());
        PublicBn base(BN_new());
        SecretBn result = new_secret();
        if (t2_octets.empty() || !t2 || !base || !result ||
            // g^t_2 (public exponent), then K_c1 * g^t_2
            !BN_mod_exp_mont_word(base.get(), 2, t2.get(), q_, ctx, mont_q_) ||
            !BN_mod_mul(base.get(), base.get(), k, q_, ctx) ||
            !exp_secret(result.get(), base.get(), s, ctx))
            return fail("MUT03121", "z (server)");
        return to_secret_octets(result.get(), z);
    }

    bool exp_secret(BIGNUM* out, const BIGNUM* base, const BIGNUM* exponent, BN_CTX* ctx) const {
        return BN_mod_exp_mont_consttime(out, base, exponent, q_, ctx, mont_q_) == 1;
    }

    // 1 < x < q - 1
    bool in_range(const BIGNUM* x) const {
        return BN_cmp(x, BN_value_one()) > 0 && BN_cmp(x, q_minus_1_) < 0;
    }

    // OCTETS(K) -> K, with the receiver's check 1 < K < q - 1.
    KexError to_group_element(const Bytes& octets, PublicBn& out) const {
        if (octets.size() != element_length_) return KexError::bad_encoding;
        out = public_from(octets.data(), octets.size());
        if (!out) return fail("MUT03110", "a group element");
        return in_range(out.get()) ? KexError::none : KexError::out_of_range;
    }

    KexError to_secret_element(const Bytes& octets, SecretBn& out) const {
        if (octets.size() != element_length_) return KexError::bad_encoding;
        out = secret_from(octets.data(), octets.size());
        if (!out) return fail("MUT03111", "a group element");
        return in_range(out.get()) ? KexError::none : KexError::out_of_range;
    }

    KexError to_element(const BIGNUM* x, Bytes& out) const {
        out.assign(element_length_, 0);
        if (BN_bn2binpad(x, out.data(), static_cast<int>(out.size())) < 0)
            return fail("MUT03113", "OCTETS");
        return KexError::none;
    }

    KexError to_secret_octets(const BIGNUM* x, Secret& out) const {
        out.assign(element_length_, 0);
        if (BN_bn2binpad(x, out.data(), static_cast<int>(out.size())) < 0)
            return fail("MUT03114", "OCTETS");
        return KexError::none;
    }

    // Never freed (see Family).
    BIGNUM* q_ = nullptr;
    BIGNUM* q_minus_1_ = nullptr;
    BIGNUM* g_ = nullptr;
    BN_MONT_CTX* mont_q_ = nullptr;
    BIGNUM* min_client_scalar_ = nullptr;
};

}  // namespace

// Registry entries. Created on first use and intentionally never destroyed.
const Algorithm* new_kam3_dl_2048_sha256() {
    return new Kam3Dl("iso-kam3-dl-2048-sha256", "SHA2-256", BN_get_rfc3526_prime_2048);
}

const Algorithm* new_kam3_dl_4096_sha512() {
    return new Kam3Dl("iso-kam3-dl-4096-sha512", "SHA2-512", BN_get_rfc3526_prime_4096);
}

}  // namespace mutual

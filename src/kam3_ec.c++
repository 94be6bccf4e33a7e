// RFC 8121 §3.3: iso-kam3-ec-p256-sha256 and iso-kam3-ec-p521-sha512 over the
// NIST prime curves (cofactor 1).
//
// Elements cross the interface as OCTETS(P(p)) with P(p) = 2x + (y mod 2);
// P' decompresses with EC_POINT_set_compressed_coordinates after checking
// x < p. Multiplications by secret scalars use EC_POINT_mul with a single
// point (OpenSSL's constant-time ladder or the curve's constant-time
// implementation); secret arithmetic mod r uses the consttime flag and a
// blinded inversion. The EC_GROUP is created once per algorithm and intentionally
// never freed (see algorithm_registry.c++).
#include <memory>
#include <string>
#include <string_view>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "algorithm.h"
#include "log.h"

namespace mutual {
namespace {

struct BnFree {
    void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
struct BnClearFree {
    void operator()(BIGNUM* b) const noexcept { BN_clear_free(b); }
};
struct BnCtxFree {
    void operator()(BN_CTX* c) const noexcept { BN_CTX_free(c); }
};
struct PointClearFree {
    void operator()(EC_POINT* p) const noexcept { EC_POINT_clear_free(p); }
};
using PublicBn = std::unique_ptr<BIGNUM, BnFree>;
using SecretBn = std::unique_ptr<BIGNUM, BnClearFree>;
using BnCtx = std::unique_ptr<BN_CTX, BnCtxFree>;
using Point = std::unique_ptr<EC_POINT, PointClearFree>;

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

class Kam3Ec final : public Algorithm {
public:
    Kam3Ec(std::string_view name, const char* hash_name, int curve_nid) : name_(name) {
        md_ = EVP_MD_fetch(nullptr, hash_name, nullptr);
        group_ = EC_GROUP_new_by_curve_name(curve_nid);
        r_minus_1_ = BN_new();
        BnCtx ctx(BN_CTX_new());
        ready_ = md_ && group_ && r_minus_1_ && ctx &&
                 BN_is_one(EC_GROUP_get0_cofactor(group_));
        if (ready_) {
            p_ = EC_GROUP_get0_field(group_);
            r_ = EC_GROUP_get0_order(group_);
            ready_ = p_ && r_ && BN_sub(r_minus_1_, r_, BN_value_one());
        }
        if (ready_) {
            // P(p) < 2p: one bit more than the field.
            element_length_ = static_cast<std::size_t>((BN_num_bits(p_) + 1 + 7) / 8);
            scalar_length_ = static_cast<std::size_t>(BN_num_bytes(r_));
            field_length_ = static_cast<std::size_t>(BN_num_bytes(p_));
        } else {
            ERR_clear_error();
            log(LogLevel::error, "MUT03201", "cannot set up the curve of " + name_);
        }
    }

    std::string_view name() const noexcept override { return name_; }
    const EVP_MD* hash() const noexcept override { return md_; }
    std::size_t element_length() const noexcept override { return element_length_; }
    std::size_t scalar_length() const noexcept override { return scalar_length_; }
    WireFormat wire_format() const noexcept override { return WireFormat::hex_fixed; }

    // J = P([pi] * G)
    KexError verifier(const Secret& pi, Bytes& j) const override {
        if (!ready_) return KexError::internal;
        if (pi.empty()) return KexError::bad_scalar;
        BnCtx ctx(BN_CTX_new());
        SecretBn scalar = secret_from(pi.data(), pi.size());
        Point result(EC_POINT_new(group_));
        if (!ctx || !scalar || !result || !BN_nnmod(scalar.get(), scalar.get(), r_, ctx.get()))
            return fail("MUT03202", "J");
        if (BN_is_zero(scalar.get())) return KexError::bad_scalar;
        if (!EC_POINT_mul(group_, result.get(), scalar.get(), nullptr, nullptr, ctx.get()))
            return fail("MUT03203", "J");
        Secret octets;
        if (KexError e = encode_point(result.get(), octets, ctx.get()); e != KexError::none) return e;
        j.assign(octets.begin(), octets.end());
        return KexError::none;
    }

    Secret random_client_scalar() const override { return random_scalar(); }
    Secret random_server_scalar() const override { return random_scalar(); }

    // K_c1 = P([S_c1] * G)
    KexError client_key(const Secret& s_c1, Bytes& k_c1) const override {
        if (!ready_) return KexError::internal;
        SecretBn s;
        if (KexError e = to_scalar(s_c1, s); e != KexError::none) return e;
        BnCtx ctx(BN_CTX_new());
        Point result(EC_POINT_new(group_));
        if (!ctx || !result ||
            !EC_POINT_mul(group_, result.get(), s.get(), nullptr, nullptr, ctx.get()))
            return fail("MUT03204", "K_c1");
        return encode_public(result.get(), k_c1, ctx.get());
    }

    KexError check_client_key(const Bytes& k_c1) const override {
        if (!ready_) return KexError::internal;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03205", "a BN_CTX");
        Point point;
        return decode_point(k_c1, point, ctx.get());
    }

    // K_s1 = P([S_s1] * (J + [t_1] * K_c1'))
    KexError server_key(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                        Bytes& k_s1) const override {
        if (!ready_) return KexError::internal;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03206", "a BN_CTX");
        Point k_c;
        if (KexError e = decode_point(k_c1, k_c, ctx.get()); e != KexError::none) return e;
        Point verifier;
        if (KexError e = decode_point(j, verifier, ctx.get()); e != KexError::none) {
            // A server-side problem (corrupt verifier record), not the client's.
            log(LogLevel::error, "MUT03227",
                std::string("stored verifier J is not a valid curve point: ") + kex_error_name(e));
            return KexError::internal;
        }
        SecretBn s;
        if (KexError e = to_scalar(s_s1, s); e != KexError::none) return e;

        PublicBn t1 = hash_scalar(compute_t1(*this, k_c1), ctx.get());
        Point base(EC_POINT_new(group_));
        Point result(EC_POINT_new(group_));
        if (!t1 || !base || !result ||
            !EC_POINT_mul(group_, base.get(), nullptr, k_c.get(), t1.get(), ctx.get()) ||
            !EC_POINT_add(group_, base.get(), base.get(), verifier.get(), ctx.get()))
            return fail("MUT03207", "K_s1");
        if (EC_POINT_is_at_infinity(group_, base.get())) {
            log(LogLevel::warn, "MUT03208", "J + [t_1]K_c1 is the point at infinity; rejecting the exchange");
            return KexError::infinity;
        }
        if (!EC_POINT_mul(group_, result.get(), nullptr, base.get(), s.get(), ctx.get()))
            return fail("MUT03209", "K_s1");
        return encode_public(result.get(), k_s1, ctx.get());
    }

    KexError check_server_key(const Bytes& k_s1) const override {
        return check_client_key(k_s1);
    }

    // z = P([(S_c1 + t_2) / (S_c1 * t_1 + pi) mod r] * K_s1')
    KexError client_secret(const Secret& pi, const Secret& s_c1, const Bytes& k_c1,
                           const Bytes& k_s1, Secret& z) const override {
        if (!ready_) return KexError::internal;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03210", "a BN_CTX");
        Point k_s;
        if (KexError e = decode_point(k_s1, k_s, ctx.get()); e != KexError::none) return e;
        if (k_c1.size() != element_length_) return KexError::bad_encoding;
        SecretBn s;
        if (KexError e = to_scalar(s_c1, s); e != KexError::none) return e;
        if (pi.empty()) return KexError::bad_scalar;
        SecretBn p = secret_from(pi.data(), pi.size());

        PublicBn t1 = hash_scalar(compute_t1(*this, k_c1), ctx.get());
        PublicBn t2 = hash_scalar(compute_t2(*this, k_c1, k_s1), ctx.get());
        SecretBn numerator = new_secret();
        SecretBn denominator = new_secret();
        SecretBn exponent = new_secret();
        Point result(EC_POINT_new(group_));
        if (!p || !t1 || !t2 || !numerator || !denominator || !exponent || !result ||
            !BN_nnmod(p.get(), p.get(), r_, ctx.get()) ||
            !BN_mod_add(numerator.get(), s.get(), t2.get(), r_, ctx.get()) ||
            !BN_mod_mul(denominator.get(), s.get(), t1.get(), r_, ctx.get()) ||
            !BN_mod_add(denominator.get(), denominator.get(), p.get(), r_, ctx.get()))
            return fail("MUT03211", "the client scalar");
        if (BN_is_zero(denominator.get())) {
            log(LogLevel::error, "MUT03212", "degenerate client scalar (S_c1 * t_1 + pi = 0 mod r)");
            return KexError::bad_scalar;
        }
        if (!blinded_inverse(exponent.get(), denominator.get(), ctx.get()) ||
            !BN_mod_mul(exponent.get(), exponent.get(), numerator.get(), r_, ctx.get()))
            return fail("MUT03213", "the client scalar");
        if (BN_is_zero(exponent.get())) return KexError::bad_scalar;  // S_c1 = -t_2 mod r
        if (!EC_POINT_mul(group_, result.get(), nullptr, k_s.get(), exponent.get(), ctx.get()))
            return fail("MUT03214", "z (client)");
        return encode_point(result.get(), z, ctx.get());
    }

    // z = P([S_s1] * (K_c1' + [t_2] * G)), computed as
    // [S_s1] * K_c1' + [S_s1 * t_2 mod r] * G: two single-term EC_POINT_mul
    // calls, each constant-time whatever the curve implementation, and
    // cheaper than adding first (the generator term uses precomputation).
    KexError server_secret(const Bytes& k_c1, const Bytes& k_s1, const Secret& s_s1,
                           Secret& z) const override {
        if (!ready_) return KexError::internal;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03215", "a BN_CTX");
        Point k_c;
        if (KexError e = decode_point(k_c1, k_c, ctx.get()); e != KexError::none) return e;
        if (k_s1.size() != element_length_) return KexError::bad_encoding;
        SecretBn s;
        if (KexError e = to_scalar(s_s1, s); e != KexError::none) return e;

        PublicBn t2 = hash_scalar(compute_t2(*this, k_c1, k_s1), ctx.get());
        SecretBn s_t2 = new_secret();
        Point generator_term(EC_POINT_new(group_));
        Point result(EC_POINT_new(group_));
        if (!t2 || !s_t2 || !generator_term || !result ||
            !BN_mod_mul(s_t2.get(), s.get(), t2.get(), r_, ctx.get()) ||
            !EC_POINT_mul(group_, generator_term.get(), s_t2.get(), nullptr, nullptr, ctx.get()) ||
            !EC_POINT_mul(group_, result.get(), nullptr, k_c.get(), s.get(), ctx.get()) ||
            !EC_POINT_add(group_, result.get(), result.get(), generator_term.get(), ctx.get()))
            return fail("MUT03216", "z (server)");
        // Infinity only when K_c1' = -[t_2] * G: refuse rather than encode it.
        if (EC_POINT_is_at_infinity(group_, result.get())) {
            log(LogLevel::warn, "MUT03217", "K_c1 + [t_2]G is the point at infinity; rejecting the exchange");
            return KexError::infinity;
        }
        return encode_point(result.get(), z, ctx.get());
    }

    // The server's whole exchange with K_c1 and J decompressed once each:
    // K_s1 = P([S_s1] * (J + [t_1] * K_c1')) and
    // z = P([S_s1] * K_c1' + [S_s1 * t_2 mod r] * G), the same single-point
    // EC_POINT_mul calls as server_key and server_secret.
    KexError server_exchange(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                             Bytes& k_s1, Secret& z) const override {
        if (!ready_) return KexError::internal;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03228", "a BN_CTX");
        Point k_c;
        if (KexError e = decode_point(k_c1, k_c, ctx.get()); e != KexError::none) return e;
        Point verifier;
        if (KexError e = decode_point(j, verifier, ctx.get()); e != KexError::none) {
            // A server-side problem (corrupt verifier record), not the client's.
            log(LogLevel::error, "MUT03229",
                std::string("stored verifier J is not a valid curve point: ") + kex_error_name(e));
            return KexError::internal;
        }
        SecretBn s;
        if (KexError e = to_scalar(s_s1, s); e != KexError::none) return e;

        PublicBn t1 = hash_scalar(compute_t1(*this, k_c1), ctx.get());
        Point base(EC_POINT_new(group_));
        Point point(EC_POINT_new(group_));
        if (!t1 || !base || !point ||
            !EC_POINT_mul(group_, base.get(), nullptr, k_c.get(), t1.get(), ctx.get()) ||
            !EC_POINT_add(group_, base.get(), base.get(), verifier.get(), ctx.get()))
            return fail("MUT03230", "K_s1");
        if (EC_POINT_is_at_infinity(group_, base.get())) {
            log(LogLevel::warn, "MUT03231", "J + [t_1]K_c1 is the point at infinity; rejecting the exchange");
            return KexError::infinity;
        }
        if (!EC_POINT_mul(group_, point.get(), nullptr, base.get(), s.get(), ctx.get()))
            return fail("MUT03232", "K_s1");
        Bytes k_s1_octets;
        if (KexError e = encode_public(point.get(), k_s1_octets, ctx.get()); e != KexError::none)
            return KexError::bad_scalar;  // cannot happen for S_s1 in [1, r-1]; retry

        PublicBn t2 = hash_scalar(compute_t2(*this, k_c1, k_s1_octets), ctx.get());
        SecretBn s_t2 = new_secret();
        Point generator_term(EC_POINT_new(group_));
        if (!t2 || !s_t2 || !generator_term ||
            !BN_mod_mul(s_t2.get(), s.get(), t2.get(), r_, ctx.get()) ||
            !EC_POINT_mul(group_, generator_term.get(), s_t2.get(), nullptr, nullptr, ctx.get()) ||
            !EC_POINT_mul(group_, point.get(), nullptr, k_c.get(), s.get(), ctx.get()) ||
            !EC_POINT_add(group_, point.get(), point.get(), generator_term.get(), ctx.get()))
            return fail("MUT03233", "z (server)");
        // Infinity only when K_c1' = -[t_2] * G, t_2 depending on K_s1: a new
        // S_s1 gives a new t_2.
        if (EC_POINT_is_at_infinity(group_, point.get())) {
            log(LogLevel::warn, "MUT03234", "K_c1 + [t_2]G is the point at infinity; retrying with a new S_s1");
            return KexError::bad_scalar;
        }
        Secret z_octets;
        if (KexError e = encode_point(point.get(), z_octets, ctx.get()); e != KexError::none)
            return e == KexError::infinity ? KexError::bad_scalar : e;
        k_s1 = std::move(k_s1_octets);
        z = std::move(z_octets);
        return KexError::none;
    }

private:
    KexError fail(const char* tag, const char* what) const {
        ERR_clear_error();
        log(LogLevel::error, tag, std::string("OpenSSL failure computing ") + what + " for " + name_);
        return KexError::internal;
    }

    // 1 / x mod r for a secret x != 0 (r is prime): invert x * b for a fresh
    // uniform b in [1, r - 1], then multiply by b. x * b is uniform and
    // independent of x, so the inversion's timing says nothing about x.
    bool blinded_inverse(BIGNUM* out, const BIGNUM* x, BN_CTX* ctx) const {
        SecretBn blind = new_secret();
        SecretBn blinded = new_secret();
        return blind && blinded && BN_priv_rand_range(blind.get(), r_minus_1_) &&
               BN_add_word(blind.get(), 1) && BN_mod_mul(blinded.get(), x, blind.get(), r_, ctx) &&
               BN_mod_inverse(out, blinded.get(), r_, ctx) != nullptr &&
               BN_mod_mul(out, out, blind.get(), r_, ctx);
    }

    // INT(H(...)) mod r; nullptr on failure.
    PublicBn hash_scalar(const Bytes& digest, BN_CTX* ctx) const {
        if (digest.empty()) return nullptr;
        PublicBn t = public_from(digest.data(), digest.size());
        if (!t || !BN_nnmod(t.get(), t.get(), r_, ctx)) return nullptr;
        return t;
    }

    // S in [1, r - 1]
    KexError to_scalar(const Secret& octets, SecretBn& out) const {
        if (octets.empty()) return KexError::bad_scalar;
        out = secret_from(octets.data(), octets.size());
        if (!out) return fail("MUT03219", "a scalar");
        if (BN_is_zero(out.get()) || BN_cmp(out.get(), r_) >= 0) return KexError::bad_scalar;
        return KexError::none;
    }

    // OCTETS(P(point)) in element_length octets: the compressed form
    // (02|03) || X, rewritten as X << 1 | (y mod 2).
    KexError encode_point(const EC_POINT* point, Secret& out, BN_CTX* ctx) const {
        if (EC_POINT_is_at_infinity(group_, point)) {
            log(LogLevel::warn, "MUT03220", "computed point is the point at infinity");
            return KexError::infinity;
        }
        Secret compressed(1 + field_length_);
        if (EC_POINT_point2oct(group_, point, POINT_CONVERSION_COMPRESSED, compressed.data(),
                               compressed.size(), ctx) != compressed.size())
            return fail("MUT03221", "a point encoding");
        const std::uint8_t parity = compressed[0] & 1;
        const std::uint8_t* x = compressed.data() + 1;
        out.assign(element_length_, 0);
        // element_length_ is field_length_ or field_length_ + 1; right-align X,
        // then shift the whole string left by one bit.
        const std::size_t offset = element_length_ - field_length_;
        for (std::size_t i = 0; i < field_length_; ++i) {
            out[offset + i] = static_cast<std::uint8_t>(x[i] << 1);
            if (i + 1 < field_length_) out[offset + i] |= static_cast<std::uint8_t>(x[i + 1] >> 7);
        }
        if (offset > 0) out[offset - 1] |= static_cast<std::uint8_t>(x[0] >> 7);
        else if (x[0] & 0x80) return fail("MUT03222", "a point encoding");  // cannot happen: 2x < 2^(8L)
        out[element_length_ - 1] |= parity;
        return KexError::none;
    }

    KexError encode_public(const EC_POINT* point, Bytes& out, BN_CTX* ctx) const {
        Secret octets;
        if (KexError e = encode_point(point, octets, ctx); e != KexError::none) return e;
        out.assign(octets.begin(), octets.end());
        return KexError::none;
    }

    // P'(INT(octets)) with the receiver's checks: natural length, x < p, the
    // point exists on the curve and is not the point at infinity (cofactor 1).
    KexError decode_point(const Bytes& octets, Point& out, BN_CTX* ctx) const {
        if (octets.size() != element_length_) return KexError::bad_encoding;
        PublicBn x = public_from(octets.data(), octets.size());
        out.reset(EC_POINT_new(group_));
        if (!x || !out) return fail("MUT03223", "a point");
        // 0_E has no coordinates and no P(); the integer 0 is its conventional
        // encoding, so it is refused as the point at infinity rather than read
        // as (0, even y), which an honest peer reaches with negligible probability.
        if (BN_is_zero(x.get())) return KexError::infinity;
        const int y_bit = BN_is_odd(x.get()) ? 1 : 0;
        if (!BN_rshift1(x.get(), x.get())) return fail("MUT03224", "a point");
        if (BN_cmp(x.get(), p_) >= 0) return KexError::not_on_curve;
        if (!EC_POINT_set_compressed_coordinates(group_, out.get(), x.get(), y_bit, ctx)) {
            ERR_clear_error();  // an expected rejection; leave no error on the queue
            return KexError::not_on_curve;
        }
        if (EC_POINT_is_on_curve(group_, out.get(), ctx) != 1) {
            ERR_clear_error();
            return KexError::not_on_curve;
        }
        if (EC_POINT_is_at_infinity(group_, out.get())) return KexError::infinity;
        return KexError::none;
    }

    Secret random_scalar() const {
        Secret out;
        if (!ready_) return out;
        SecretBn s = new_secret();
        // [0, r - 2] + 1 = [1, r - 1]
        if (!s || !BN_priv_rand_range(s.get(), r_minus_1_) || !BN_add_word(s.get(), 1)) {
            fail("MUT03225", "a random scalar");
            return out;
        }
        out.assign(scalar_length_, 0);
        if (BN_bn2binpad(s.get(), out.data(), static_cast<int>(out.size())) < 0) {
            fail("MUT03226", "a random scalar");
            out.clear();
        }
        return out;
    }

    std::string name_;
    EVP_MD* md_ = nullptr;
    EC_GROUP* group_ = nullptr;
    const BIGNUM* p_ = nullptr;
    const BIGNUM* r_ = nullptr;
    BIGNUM* r_minus_1_ = nullptr;
    std::size_t element_length_ = 0;
    std::size_t scalar_length_ = 0;
    std::size_t field_length_ = 0;
    bool ready_ = false;
};

}  // namespace

// Registry entries. Created on first use and intentionally never destroyed.
const Algorithm* new_kam3_ec_p256_sha256() {
    return new Kam3Ec("iso-kam3-ec-p256-sha256", "SHA2-256", NID_X9_62_prime256v1);
}

const Algorithm* new_kam3_ec_p521_sha512() {
    return new Kam3Ec("iso-kam3-ec-p521-sha512", "SHA2-512", NID_secp521r1);
}

}  // namespace mutual

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
#include <string>
#include <string_view>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

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
using Point = SecretPtr<EC_POINT>;  // points may be secret (J, z): wiped when freed

class Kam3Ec final : public kam3::Family {
public:
    Kam3Ec(std::string_view name, const char* hash_name, int curve_nid)
        : Family(name, hash_name) {
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

    Secret random_client_scalar() const override {
        return ready_ ? kam3::random_scalar(order(), nullptr) : Secret();
    }

    // K_c1 = P([S_c1] * G)
    KexError client_key(const Secret& s_c1, Bytes& k_c1) const override {
        if (!ready_) return KexError::internal;
        SecretBn s;
        if (KexError e = kam3::scalar_from(order(), s_c1, nullptr, s); e != KexError::none) return e;
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

    KexError server_key(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                        Bytes& k_s1) const override {
        if (!ready_) return KexError::internal;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03206", "a BN_CTX");
        ServerInputs in;
        if (KexError e = server_inputs(j, k_c1, s_s1, in, ctx.get()); e != KexError::none) return e;
        return server_k_s1(in, k_c1, k_s1, ctx.get());
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
        if (KexError e = kam3::scalar_from(order(), s_c1, nullptr, s); e != KexError::none) return e;
        if (pi.empty()) return KexError::bad_scalar;

        PublicBn t1 = hash_scalar(compute_t1(*this, k_c1), ctx.get());
        PublicBn t2 = hash_scalar(compute_t2(*this, k_c1, k_s1), ctx.get());
        SecretBn exponent = new_secret();
        Point result(EC_POINT_new(group_));
        if (!t1 || !t2 || !exponent || !result) return fail("MUT03211", "the client scalar");
        if (KexError e = kam3::client_exponent(order(), s.get(), t1.get(), t2.get(), pi,
                                               exponent.get(), ctx.get());
            e != KexError::none)
            return e;
        if (!EC_POINT_mul(group_, result.get(), nullptr, k_s.get(), exponent.get(), ctx.get()))
            return fail("MUT03214", "z (client)");
        return encode_point(result.get(), z, ctx.get());
    }

    KexError server_secret(const Bytes& k_c1, const Bytes& k_s1, const Secret& s_s1,
                           Secret& z) const override {
        if (!ready_) return KexError::internal;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03215", "a BN_CTX");
        Point k_c;
        if (KexError e = decode_point(k_c1, k_c, ctx.get()); e != KexError::none) return e;
        if (k_s1.size() != element_length_) return KexError::bad_encoding;
        SecretBn s;
        if (KexError e = kam3::scalar_from(order(), s_s1, nullptr, s); e != KexError::none) return e;
        return server_z(k_c.get(), s.get(), k_c1, k_s1, z, ctx.get());
    }

    // The server's whole exchange with K_c1 and J decompressed once each,
    // through the same two formulas as server_key and server_secret.
    KexError server_exchange_with(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                                  Bytes& k_s1, Secret& z) const override {
        if (!ready_) return KexError::internal;
        BnCtx ctx(BN_CTX_new());
        if (!ctx) return fail("MUT03228", "a BN_CTX");
        ServerInputs in;
        if (KexError e = server_inputs(j, k_c1, s_s1, in, ctx.get()); e != KexError::none) return e;
        return kam3::server_exchange(
            [&](Bytes& k) { return server_k_s1(in, k_c1, k, ctx.get()); },
            [&](const Bytes& k, Secret& out) {
                return server_z(in.k_c1.get(), in.s_s1.get(), k_c1, k, out, ctx.get());
            },
            k_s1, z);
    }

private:
    struct ServerInputs {
        Point k_c1;
        Point j;
        SecretBn s_s1;
    };

    // K_c1 (the client's: its errors), J (ours: bad_verifier) and S_s1.
    KexError server_inputs(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                           ServerInputs& in, BN_CTX* ctx) const {
        if (KexError e = decode_point(k_c1, in.k_c1, ctx); e != KexError::none) return e;
        if (KexError e = decode_point(j, in.j, ctx); e != KexError::none)
            return verifier_rejected("MUT03229", e);
        return kam3::scalar_from(order(), s_s1, nullptr, in.s_s1);
    }

    // K_s1 = P([S_s1] * (J + [t_1] * K_c1')). J + [t_1]K_c1' = 0_E blames
    // K_c1 (infinity); a K_s1 that is not a valid point otherwise (cannot
    // happen for S_s1 in [1, r-1], cofactor 1) rejects the exchange
    // (RFC 8121 §3.3 and §5.2).
    KexError server_k_s1(const ServerInputs& in, const Bytes& k_c1, Bytes& k_s1,
                         BN_CTX* ctx) const {
        PublicBn t1 = hash_scalar(compute_t1(*this, k_c1), ctx);
        Point base(EC_POINT_new(group_));
        Point result(EC_POINT_new(group_));
        if (!t1 || !base || !result ||
            !EC_POINT_mul(group_, base.get(), nullptr, in.k_c1.get(), t1.get(), ctx) ||
            !EC_POINT_add(group_, base.get(), base.get(), in.j.get(), ctx))
            return fail("MUT03230", "K_s1");
        if (EC_POINT_is_at_infinity(group_, base.get())) {
            log(LogLevel::warn, "MUT03231", "J + [t_1]K_c1 is the point at infinity; rejecting the exchange");
            return KexError::infinity;
        }
        if (!EC_POINT_mul(group_, result.get(), nullptr, base.get(), in.s_s1.get(), ctx))
            return fail("MUT03232", "K_s1");
        const KexError e = encode_public(result.get(), k_s1, ctx);
        return e == KexError::infinity ? KexError::bad_verifier : e;
    }

    // z = P([S_s1] * (K_c1' + [t_2] * G)), computed as
    // [S_s1] * K_c1' + [S_s1 * t_2 mod r] * G: two single-term EC_POINT_mul
    // calls, each constant-time whatever the curve implementation, and
    // cheaper than adding first (the generator term uses precomputation).
    KexError server_z(const EC_POINT* k_c, const BIGNUM* s, const Bytes& k_c1, const Bytes& k_s1,
                      Secret& z, BN_CTX* ctx) const {
        PublicBn t2 = hash_scalar(compute_t2(*this, k_c1, k_s1), ctx);
        SecretBn s_t2 = new_secret();
        Point generator_term(EC_POINT_new(group_));
        Point result(EC_POINT_new(group_));
        if (!t2 || !s_t2 || !generator_term || !result ||
            !BN_mod_mul(s_t2.get(), s, t2.get(), r_, ctx) ||
            !EC_POINT_mul(group_, generator_term.get(), s_t2.get(), nullptr, nullptr, ctx) ||
            !EC_POINT_mul(group_, result.get(), nullptr, k_c, s, ctx) ||
            !EC_POINT_add(group_, result.get(), result.get(), generator_term.get(), ctx))
            return fail("MUT03216", "z (server)");
        // Infinity only when K_c1' = -[t_2] * G: K_c1 is refused rather than
        // 0_E encoded.
        if (EC_POINT_is_at_infinity(group_, result.get())) {
            log(LogLevel::warn, "MUT03217", "K_c1 + [t_2]G is the point at infinity; rejecting the exchange");
            return KexError::infinity;
        }
        return encode_point(result.get(), z, ctx);
    }

    // INT(H(...)) mod r; nullptr on failure.
    PublicBn hash_scalar(const Bytes& digest, BN_CTX* ctx) const {
        if (digest.empty()) return nullptr;
        PublicBn t = public_from(digest.data(), digest.size());
        if (!t || !BN_nnmod(t.get(), t.get(), r_, ctx)) return nullptr;
        return t;
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

    // Never freed (see Family).
    EC_GROUP* group_ = nullptr;
    const BIGNUM* p_ = nullptr;
    std::size_t field_length_ = 0;
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

// The KAM3 authentication algorithms of RFC 8121 §3 behind one interface, and
// the default functions of RFC 8120 §12.2 (pi, VK_c, VK_s) and §13 (b_1, b_2).
//
// All values cross this interface as octet strings in their natural length
// (RFC 8120 §3.2.3): K_c1, K_s1, J and z are OCTETS of the group element
// (DL: the integer; EC: P(p) = 2x + (y mod 2)), S values are OCTETS of a
// scalar below r. Secrets travel in Secret buffers, wiped when freed.
//
// Adding an algorithm: one new file defining a subclass and one line in the
// table of algorithm_registry.c++.
#ifndef MUTUAL_ALGORITHM_H
#define MUTUAL_ALGORITHM_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>

#include "bytes.h"
#include "encoding.h"

namespace mutual {

enum class KexError {
    none = 0,
    bad_encoding,      // value text does not decode (see DecodeError)
    out_of_range,      // DL: not 1 < K < q-1
    not_on_curve,      // EC: P'(K) does not exist
    infinity,          // EC: [h]*P'(K) is the point at infinity
    bad_scalar,        // S value outside [1, r-1] (or DL S_c1 below minimum)
    bad_verifier,      // server: stored J invalid, or J and K_c1 give an invalid K_s1
    internal,          // OpenSSL failure (allocation, etc.)
};
const char* kex_error_name(KexError e) noexcept;

enum class WireFormat { base64_fixed, hex_fixed };

class Algorithm {
public:
    virtual ~Algorithm() = default;

    // The lower-case token, NUL-terminated (the module keeps name().data()).
    virtual std::string_view name() const noexcept = 0;
    virtual const EVP_MD* hash() const noexcept = 0;         // H
    std::size_t hash_length() const noexcept;                // hSize / 8
    virtual std::size_t element_length() const noexcept = 0; // OCTETS length of K, J, z
    virtual std::size_t scalar_length() const noexcept = 0;  // OCTETS length of r
    virtual WireFormat wire_format() const noexcept = 0;
    virtual unsigned pi_iterations() const noexcept { return 16384; }

    // J(pi) (RFC 8121 §3.2/§3.3), OCTETS in element_length.
    virtual KexError verifier(const Secret& pi, Bytes& j) const = 0;

    // ---- Client role -------------------------------------------------------
    // A uniformly random S_c1 in [1, r-1] from OpenSSL's CSPRNG that also
    // satisfies the algorithm's minimum (DL: g^S_c1 > q); empty on failure.
    virtual Secret random_client_scalar() const = 0;
    // K_c1 from S_c1.
    virtual KexError client_key(const Secret& s_c1, Bytes& k_c1) const = 0;
    // The client's checks on a received K_s1.
    virtual KexError check_server_key(const Bytes& k_s1) const = 0;
    // z, client formula (checks K_s1).
    virtual KexError client_secret(const Secret& pi, const Secret& s_c1, const Bytes& k_c1,
                                   const Bytes& k_s1, Secret& z) const = 0;

    // ---- Server role -------------------------------------------------------
    // The server's checks on a received K_c1.
    virtual KexError check_client_key(const Bytes& k_c1) const = 0;
    // The server's whole key exchange in one call: draws S_s1, checks K_c1,
    // computes K_s1 and the server's z (each point decoded once) and wipes
    // S_s1. Nothing is written on failure. Errors:
    //   bad_encoding / out_of_range / not_on_curve / infinity: K_c1 rejected
    //     (infinity also when J + [t_1]K_c1 or K_c1 + [t_2]G is the identity:
    //     K_c1 is to blame);
    //   bad_verifier: the stored J is not a valid group element, or J and
    //     K_c1 give an invalid K_s1. RFC 8121 §3.2/§3.3 say the server MUST
    //     reject the exchange then, and §5.2 says why it never retries with
    //     another S_s1: the cause is most likely an invalid J, not bad luck.
    //     The caller treats the record as corrupt (logged here);
    //   internal: an OpenSSL failure (logged here).
    KexError server_exchange(const Bytes& j, const Bytes& k_c1, Bytes& k_s1, Secret& z) const;

    // ---- Step by step, for known-answer tests and test peers ---------------
    // The same computations as server_exchange with a given S_s1 (the same
    // code: each algorithm has one K_s1 and one z formula).
    // A uniformly random S_s1 in [1, r-1]; empty on failure.
    virtual Secret random_server_scalar() const = 0;
    // server_exchange with this S_s1 (bad_scalar: S_s1 outside [1, r-1]).
    virtual KexError server_exchange_with(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                                          Bytes& k_s1, Secret& z) const = 0;
    // K_s1 alone from J, K_c1 (checked) and S_s1, with server_exchange's errors.
    virtual KexError server_key(const Bytes& j, const Bytes& k_c1, const Secret& s_s1,
                                Bytes& k_s1) const = 0;
    // z alone, server formula (checks K_c1).
    virtual KexError server_secret(const Bytes& k_c1, const Bytes& k_s1, const Secret& s_s1,
                                   Secret& z) const = 0;

    // Wire forms of kc1/ks1 (element_length) and vkc/vks (hash_length).
    bool quoted_on_wire() const noexcept { return wire_format() == WireFormat::base64_fixed; }
    std::string encode_key(const Bytes& k) const;
    std::optional<Bytes> decode_key(std::string_view text, DecodeError* error = nullptr) const;
    std::string encode_vk(ByteView vk) const;
    std::optional<Bytes> decode_vk(std::string_view text, DecodeError* error = nullptr) const;
    // The same without an allocation (the server's per-request path):
    // decode_vk into `out`, a view of it (empty when it does not decode:
    // *error says why); encode_vk into `out`, a view of it.
    ByteView decode_vk(std::string_view text, std::array<std::uint8_t, EVP_MAX_MD_SIZE>& out,
                       DecodeError* error = nullptr) const noexcept;
    static constexpr std::size_t max_vk_text = 2 * EVP_MAX_MD_SIZE;
    std::string_view encode_vk(ByteView vk, std::array<char, max_vk_text>& out) const noexcept;
};

// Case-insensitive lookup of an algorithm token; nullptr when unknown.
const Algorithm* find_algorithm(std::string_view name) noexcept;
// Every supported algorithm, in the order of RFC 8121 §3.
const std::vector<const Algorithm*>& all_algorithms() noexcept;
// Their names, joined with ", " (for a refusal naming what is supported).
std::string known_algorithm_names();
// find_algorithm, and when unknown, the problem for a configuration error:
// unknown algorithm "name" (known: ...).
const Algorithm* find_algorithm(std::string_view name, std::string& problem);

// ---- RFC 8120 §12.2 default functions and §13 channel bindings -----------

// VS(algorithm) | VS(auth-scope) | VS(realm) | VS(username)
Bytes pi_salt(const Algorithm& a, std::string_view auth_scope, std::string_view realm,
              std::string_view user);
// pi = INT(PBKDF2(HMAC_H, password, salt, nIterPi, hSize/8)). Inputs must be
// already prepared (string_prep.h). Returns an empty Secret on failure.
Secret compute_pi(const Algorithm& a, std::string_view password, std::string_view auth_scope,
                  std::string_view realm, std::string_view user);

// t_1 = H(octet(1) | OCTETS(K_c1)); t_2 = H(octet(2) | OCTETS(K_c1) | OCTETS(K_s1))
Bytes compute_t1(const Algorithm& a, const Bytes& k_c1);
Bytes compute_t2(const Algorithm& a, const Bytes& k_c1, const Bytes& k_s1);

// VK_c (octet 4) and VK_s (octet 3): H(octet | K_c1 | K_s1 | z | VI(nc) | VS(vh))
// (Views: the server hashes the keys where the session table keeps them.)
Bytes compute_vk_c(const Algorithm& a, ByteView k_c1, ByteView k_s1, ByteView z,
                   std::uint64_t nc, std::string_view vh);
Bytes compute_vk_s(const Algorithm& a, ByteView k_c1, ByteView k_s1, ByteView z,
                   std::uint64_t nc, std::string_view vh);
// A hash value held in place (no heap), wiped when it goes away.
class HashValue {
public:
    HashValue() = default;
    HashValue(const HashValue&) = default;
    HashValue& operator=(const HashValue&) = default;
    ~HashValue();
    ByteView view() const noexcept { return ByteView(octets_.data(), size_); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

private:
    friend class TranscriptHasher;
    std::array<std::uint8_t, EVP_MAX_MD_SIZE> octets_{};
    std::size_t size_ = 0;
};

// The hashes of one exchange's transcript (VK_c, VK_s, the inner values of
// b_1 and b_2) with one OpenSSL digest context, reset between them: no
// allocation per hash and no copy of the keys into a buffer.
class TranscriptHasher {
public:
    TranscriptHasher() noexcept;
    ~TranscriptHasher();
    TranscriptHasher(const TranscriptHasher&) = delete;
    TranscriptHasher& operator=(const TranscriptHasher&) = delete;
    // H(octet(label) | OCTETS(K_c1) | OCTETS(K_s1) | OCTETS(z) | VI(nc) | VS(vh))
    // into out; false (out empty, logged) on an OpenSSL failure.
    bool hash(const Algorithm& a, std::uint8_t label, ByteView k_c1, ByteView k_s1, ByteView z,
              std::uint64_t nc, std::string_view vh, HashValue& out);
    // The labels of RFC 8120 §12.2 and §13.
    static constexpr std::uint8_t vk_s = 3, vk_c = 4, b1_inner = 6, b2_inner = 7;

private:
    EVP_MD_CTX* ctx_;
};

// b_1 = H(H(octet(6) | ... | VI(0) | VS(vh)) | VS(t)); b_2 the same with octet(7), VI(nc).
Bytes compute_b1(const Algorithm& a, const Bytes& k_c1, const Bytes& k_s1, const Secret& z,
                 std::string_view vh, std::string_view t);
Bytes compute_b2(const Algorithm& a, const Bytes& k_c1, const Bytes& k_s1, const Secret& z,
                 std::uint64_t nc, std::string_view vh, std::string_view t);
// The inner hashes of b_1 and b_2, which do not depend on t, and
// b = H(inner | VS(t)): what an application derives its bindings from
// (the module exports the inner hashes to the request environment). They
// are keys of the session: never log them.
Bytes compute_b1_inner(const Algorithm& a, ByteView k_c1, ByteView k_s1, ByteView z,
                       std::string_view vh);
Bytes compute_b2_inner(const Algorithm& a, ByteView k_c1, ByteView k_s1, ByteView z,
                       std::uint64_t nc, std::string_view vh);
Bytes channel_binding_from_inner(const Algorithm& a, const Bytes& inner, std::string_view t);

// Constant-time comparison (CRYPTO_memcmp); false when lengths differ.
bool equal_constant_time(ByteView a, ByteView b) noexcept;

}  // namespace mutual

#endif

// RFC 8120 §12.2 default functions (pi, VK_c, VK_s), the intermediate values
// t_1 and t_2 of RFC 8121 §3.2/§3.3, and the channel bindings b_1, b_2 of
// RFC 8120 §13.
#include "algorithm.h"

#include <cstring>
#include <limits>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "log.h"

namespace mutual {
namespace {

// H(data) as hash_length octets; empty on an OpenSSL failure.
Bytes digest(const Algorithm& a, const std::uint8_t* data, std::size_t length) {
    Bytes out(a.hash_length());
    unsigned int out_length = 0;
    if (out.empty() ||
        EVP_Digest(data, length, out.data(), &out_length, a.hash(), nullptr) != 1 ||
        out_length != out.size()) {
        ERR_clear_error();
        log(LogLevel::error, "MUT03001", "hash computation failed");
        return Bytes();
    }
    return out;
}

template <typename Buffer>
Bytes digest(const Algorithm& a, const Buffer& data) {
    return digest(a, data.data(), data.size());
}

void append(Secret& out, const std::uint8_t* data, std::size_t length) {
    out.insert(out.end(), data, data + length);
}

// H(octet(n) | OCTETS(K_c1) | OCTETS(K_s1) | OCTETS(z) | VI(nc) | VS(vh)):
// the transcript hashed by VK_c, VK_s and the inner values of b_1 and b_2.
Bytes transcript_digest(const Algorithm& a, std::uint8_t label, ByteView k_c1, ByteView k_s1,
                        ByteView z, std::uint64_t nc, std::string_view vh) {
    TranscriptHasher hasher;
    HashValue value;
    if (!hasher.hash(a, label, k_c1, k_s1, z, nc, vh, value)) return Bytes();
    return Bytes(value.view().begin(), value.view().end());
}

}  // namespace

// Only the octets a hash was written to held it (a failed hash wipes its
// octets itself).
HashValue::~HashValue() {
    if (size_ != 0) OPENSSL_cleanse(octets_.data(), size_);
}

TranscriptHasher::TranscriptHasher() noexcept : ctx_(EVP_MD_CTX_new()) {}

TranscriptHasher::~TranscriptHasher() { EVP_MD_CTX_free(ctx_); }

bool TranscriptHasher::hash(const Algorithm& a, std::uint8_t label, ByteView k_c1, ByteView k_s1,
                            ByteView z, std::uint64_t nc, std::string_view vh, HashValue& out) {
    out.size_ = 0;
    // VI(nc) | VS(vh) in one piece when vh is short (it is a host
    // validation value or a certificate hash): fewer digest calls.
    std::uint8_t vi_nc[max_vi_length], vi_vh[max_vi_length], tail[2 * max_vi_length + 96];
    const std::size_t nc_length = encode_vi(nc, vi_nc);
    const std::size_t vh_length = encode_vi(vh.size(), vi_vh);
    const bool one_tail = nc_length + vh_length + vh.size() <= sizeof tail;
    if (one_tail) {
        std::memcpy(tail, vi_nc, nc_length);
        std::memcpy(tail + nc_length, vi_vh, vh_length);
        if (!vh.empty()) std::memcpy(tail + nc_length + vh_length, vh.data(), vh.size());
    }
    // The session table keeps K_c1, K_s1 and z side by side: one update.
    const bool adjacent = k_c1.data() + k_c1.size() == k_s1.data() && k_s1.data() + k_s1.size() == z.data();
    const int md_size = EVP_MD_get_size(a.hash());
    unsigned int length = 0;
    bool ok = ctx_ != nullptr && md_size > 0 && static_cast<std::size_t>(md_size) <= out.octets_.size() &&
              EVP_DigestInit_ex2(ctx_, a.hash(), nullptr) == 1 && EVP_DigestUpdate(ctx_, &label, 1) == 1;
    if (ok && adjacent) {
        ok = EVP_DigestUpdate(ctx_, k_c1.data(), k_c1.size() + k_s1.size() + z.size()) == 1;
    } else if (ok) {
        ok = EVP_DigestUpdate(ctx_, k_c1.data(), k_c1.size()) == 1 &&
             EVP_DigestUpdate(ctx_, k_s1.data(), k_s1.size()) == 1 &&
             EVP_DigestUpdate(ctx_, z.data(), z.size()) == 1;
    }
    if (ok && one_tail) {
        ok = EVP_DigestUpdate(ctx_, tail, nc_length + vh_length + vh.size()) == 1;
    } else if (ok) {
        ok = EVP_DigestUpdate(ctx_, vi_nc, nc_length) == 1 && EVP_DigestUpdate(ctx_, vi_vh, vh_length) == 1 &&
             EVP_DigestUpdate(ctx_, vh.data(), vh.size()) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx_, out.octets_.data(), &length) == 1 &&
         length == static_cast<unsigned int>(md_size);
    if (!ok) {
        OPENSSL_cleanse(out.octets_.data(), out.octets_.size());
        ERR_clear_error();
        log(LogLevel::error, "MUT02801", "hash computation failed");
        return false;
    }
    out.size_ = length;
    return true;
}

Bytes pi_salt(const Algorithm& a, std::string_view auth_scope, std::string_view realm,
              std::string_view user) {
    Bytes salt;
    salt.reserve(a.name().size() + auth_scope.size() + realm.size() + user.size() + 16);
    append_vs(salt, a.name());
    append_vs(salt, auth_scope);
    append_vs(salt, realm);
    append_vs(salt, user);
    return salt;
}

Secret compute_pi(const Algorithm& a, std::string_view password, std::string_view auth_scope,
                  std::string_view realm, std::string_view user) {
    const Bytes salt = pi_salt(a, auth_scope, realm, user);
    Secret pi(a.hash_length());
    if (pi.empty() || password.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
        salt.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
        PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                          static_cast<int>(salt.size()), static_cast<int>(a.pi_iterations()),
                          a.hash(), static_cast<int>(pi.size()), pi.data()) != 1) {
        ERR_clear_error();
        log(LogLevel::error, "MUT03002", "PBKDF2 computation of pi failed");
        return Secret();
    }
    return pi;
}

Bytes compute_t1(const Algorithm& a, const Bytes& k_c1) {
    Bytes input;
    input.reserve(1 + k_c1.size());
    input.push_back(1);
    input.insert(input.end(), k_c1.begin(), k_c1.end());
    return digest(a, input);
}

Bytes compute_t2(const Algorithm& a, const Bytes& k_c1, const Bytes& k_s1) {
    Bytes input;
    input.reserve(1 + k_c1.size() + k_s1.size());
    input.push_back(2);
    input.insert(input.end(), k_c1.begin(), k_c1.end());
    input.insert(input.end(), k_s1.begin(), k_s1.end());
    return digest(a, input);
}

Bytes compute_vk_c(const Algorithm& a, ByteView k_c1, ByteView k_s1, ByteView z,
                   std::uint64_t nc, std::string_view vh) {
    return transcript_digest(a, 4, k_c1, k_s1, z, nc, vh);
}

Bytes compute_vk_s(const Algorithm& a, ByteView k_c1, ByteView k_s1, ByteView z,
                   std::uint64_t nc, std::string_view vh) {
    return transcript_digest(a, 3, k_c1, k_s1, z, nc, vh);
}

Bytes compute_b1_inner(const Algorithm& a, ByteView k_c1, ByteView k_s1, ByteView z,
                       std::string_view vh) {
    return transcript_digest(a, 6, k_c1, k_s1, z, 0, vh);
}

Bytes compute_b2_inner(const Algorithm& a, ByteView k_c1, ByteView k_s1, ByteView z,
                       std::uint64_t nc, std::string_view vh) {
    return transcript_digest(a, 7, k_c1, k_s1, z, nc, vh);
}

// H(inner | VS(t))
Bytes channel_binding_from_inner(const Algorithm& a, const Bytes& inner, std::string_view t) {
    if (inner.empty()) return Bytes();
    Secret input(inner.begin(), inner.end());
    Bytes vs_t;
    append_vs(vs_t, t);
    append(input, vs_t.data(), vs_t.size());
    return digest(a, input);
}

Bytes compute_b1(const Algorithm& a, const Bytes& k_c1, const Bytes& k_s1, const Secret& z,
                 std::string_view vh, std::string_view t) {
    Bytes inner = compute_b1_inner(a, k_c1, k_s1, z, vh);
    Bytes b = channel_binding_from_inner(a, inner, t);
    OPENSSL_cleanse(inner.data(), inner.size());
    return b;
}

Bytes compute_b2(const Algorithm& a, const Bytes& k_c1, const Bytes& k_s1, const Secret& z,
                 std::uint64_t nc, std::string_view vh, std::string_view t) {
    Bytes inner = compute_b2_inner(a, k_c1, k_s1, z, nc, vh);
    Bytes b = channel_binding_from_inner(a, inner, t);
    OPENSSL_cleanse(inner.data(), inner.size());
    return b;
}

}  // namespace mutual

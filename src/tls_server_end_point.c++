#include "tls_server_end_point.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "openssl_ptr.h"

namespace mutual {

const EVP_MD* tls_server_end_point_hash(X509* certificate) {
    int digest_nid = NID_undef;
    if (certificate == nullptr ||
        X509_get_signature_info(certificate, &digest_nid, nullptr, nullptr,
                                nullptr) != 1)
        digest_nid = NID_undef;
    if (digest_nid == NID_undef || digest_nid == NID_md5 || digest_nid == NID_sha1 ||
        digest_nid == NID_md5_sha1)
        return EVP_sha256();
    const EVP_MD* md = EVP_get_digestbynid(digest_nid);
    return md != nullptr ? md : EVP_sha256();
}

Bytes tls_server_end_point(X509* certificate) {
    if (certificate == nullptr) return {};
    const EVP_MD* md = tls_server_end_point_hash(certificate);
    unsigned char* der = nullptr;
    const int der_length = i2d_X509(certificate, &der);
    if (der_length <= 0) return {};
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int out_length = 0;
    const int ok = EVP_Digest(der, static_cast<std::size_t>(der_length), out.data(), &out_length,
                              md, nullptr);
    OPENSSL_free(der);
    if (ok != 1) return {};
    out.resize(out_length);
    return out;
}

std::optional<Bytes> tls_server_end_point(std::string_view pem) {
    UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return std::nullopt;
    UniquePtr<X509> certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!certificate) return std::nullopt;
    Bytes out = tls_server_end_point(certificate.get());
    if (out.empty()) return std::nullopt;
    return out;
}

}  // namespace mutual

#include "client/channel_binding.h"

#include <memory>

#include <openssl/evp.h>
#include <openssl/objects.h>

namespace mutual {
namespace client {
namespace {

struct X509Deleter {
    void operator()(X509* x) const noexcept { X509_free(x); }
};

const EVP_MD* end_point_hash(X509* certificate) {
    int digest_nid = NID_undef;
    if (X509_get_signature_info(certificate, &digest_nid, nullptr, nullptr, nullptr) != 1)
        digest_nid = NID_undef;
    if (digest_nid == NID_undef || digest_nid == NID_md5 || digest_nid == NID_sha1 ||
        digest_nid == NID_md5_sha1)
        return EVP_sha256();
    const EVP_MD* md = EVP_get_digestbynid(digest_nid);
    return md != nullptr ? md : EVP_sha256();
}

}  // namespace

Bytes tls_server_end_point(X509* certificate) {
    if (certificate == nullptr) return {};
    const EVP_MD* md = end_point_hash(certificate);
    unsigned char* der = nullptr;
    const int der_length = i2d_X509(certificate, &der);
    if (der_length <= 0) return {};
    Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md)));
    unsigned int out_length = 0;
    const int ok = EVP_Digest(der, static_cast<std::size_t>(der_length), out.data(), &out_length,
                              md, nullptr);
    OPENSSL_free(der);
    if (ok != 1) return {};
    out.resize(out_length);
    return out;
}

Bytes tls_server_end_point_der(const Bytes& der) {
    const unsigned char* p = der.data();
    std::unique_ptr<X509, X509Deleter> certificate(
        d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!certificate) return {};
    return tls_server_end_point(certificate.get());
}

}  // namespace client
}  // namespace mutual

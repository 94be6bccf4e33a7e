// Check suite: the tls-server-end-point channel binding of RFC 5929 §4.1
// (src/tls_server_end_point.h) the server and the client share: the hash
// follows the certificate's signature, SHA-256 replacing MD5 and SHA-1, and
// the PEM and X509 entry points agree.
#include <cstdlib>
#include <optional>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "openssl_ptr.h"
#include "tls_server_end_point.h"

#include "test_support.h"  // before check.h (its fail() macro)

// After the C++ headers: check.h defines a macro named fail.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

namespace {

Bytes digest(const EVP_MD* md, const Bytes& data) {
    Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md)));
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr), 1);
    return out;
}

// A self-signed certificate of `key` signed with `md` (nullptr for
// Ed25519, which hashes internally).
UniquePtr<X509> self_signed(EVP_PKEY* key, const EVP_MD* md) {
    UniquePtr<X509> cert(X509_new());
    ck_assert_ptr_nonnull(cert.get());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key);
    ck_assert_int_gt(X509_sign(cert.get(), key, md), 0);
    return cert;
}

Bytes der_of(X509* cert) {
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert, &der);
    ck_assert_int_gt(n, 0);
    Bytes out(der, der + n);
    OPENSSL_free(der);
    return out;
}

std::string pem_of(X509* cert) {
    UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
    ck_assert_int_eq(PEM_write_bio_X509(bio.get(), cert), 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// The hash of the certificate signed by `key` with `signature_md` must be
// `expected_md` over its DER encoding, by every entry point.
void check_hash(EVP_PKEY* key, const EVP_MD* signature_md, const EVP_MD* expected_md) {
    UniquePtr<X509> cert = self_signed(key, signature_md);
    const Bytes der = der_of(cert.get());
    const Bytes expected = digest(expected_md, der);
    ck_assert_int_eq(EVP_MD_get_type(tls_server_end_point_hash(cert.get())),
                     EVP_MD_get_type(expected_md));
    ck_assert(tls_server_end_point(cert.get()) == expected);
    const std::string pem = pem_of(cert.get());
    const std::optional<Bytes> from_pem = tls_server_end_point(std::string_view(pem));
    ck_assert(from_pem.has_value());
    ck_assert(*from_pem == expected);
}

START_TEST(ecdsa_signatures_use_their_own_hash) {
    UniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
    ck_assert_ptr_nonnull(key.get());
    check_hash(key.get(), EVP_sha256(), EVP_sha256());
    check_hash(key.get(), EVP_sha384(), EVP_sha384());
    check_hash(key.get(), EVP_sha512(), EVP_sha512());
}
END_TEST

START_TEST(md5_and_sha1_signatures_are_replaced_by_sha256) {
    UniquePtr<EVP_PKEY> ec(EVP_EC_gen("P-256"));
    ck_assert_ptr_nonnull(ec.get());
    check_hash(ec.get(), EVP_sha1(), EVP_sha256());
    UniquePtr<EVP_PKEY> rsa(EVP_RSA_gen(1024));
    ck_assert_ptr_nonnull(rsa.get());
    check_hash(rsa.get(), EVP_md5(), EVP_sha256());
    check_hash(rsa.get(), EVP_sha1(), EVP_sha256());
    check_hash(rsa.get(), EVP_sha384(), EVP_sha384());
}
END_TEST

START_TEST(signatures_without_a_single_hash_use_sha256) {
    UniquePtr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    ck_assert_ptr_nonnull(key.get());
    check_hash(key.get(), nullptr, EVP_sha256());
}
END_TEST

START_TEST(unparsable_input_gives_nothing) {
    ck_assert(tls_server_end_point(static_cast<X509*>(nullptr)).empty());
    ck_assert(!tls_server_end_point(std::string_view("not a certificate")).has_value());
    const std::string_view truncated =
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    ck_assert(!tls_server_end_point(truncated).has_value());
}
END_TEST

}  // namespace

int main() {
    Suite* s = suite_create("tls_server_end_point");
    TCase* tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ecdsa_signatures_use_their_own_hash);
    tcase_add_test(tc, md5_and_sha1_signatures_are_replaced_by_sha256);
    tcase_add_test(tc, signatures_without_a_single_hash_use_sha256);
    tcase_add_test(tc, unparsable_input_gives_nothing);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

// UniquePtr<T> / SecretPtr<T> (unique_handle.h) for the OpenSSL types the
// project uses. Add a type here, once, rather than a deleter in a .c++ file.
#ifndef MUTUAL_OPENSSL_PTR_H
#define MUTUAL_OPENSSL_PTR_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>

#include "unique_handle.h"

MUTUAL_MAKE_DELETER(BIGNUM, BN_free)
MUTUAL_MAKE_CLEARING_DELETER(BIGNUM, BN_clear_free)
MUTUAL_MAKE_DELETER(BN_CTX, BN_CTX_free)
MUTUAL_MAKE_DELETER(BN_MONT_CTX, BN_MONT_CTX_free)
MUTUAL_MAKE_DELETER(EC_GROUP, EC_GROUP_free)
MUTUAL_MAKE_DELETER(EC_POINT, EC_POINT_free)
MUTUAL_MAKE_CLEARING_DELETER(EC_POINT, EC_POINT_clear_free)
MUTUAL_MAKE_DELETER(EVP_MD, EVP_MD_free)
MUTUAL_MAKE_DELETER(EVP_MD_CTX, EVP_MD_CTX_free)
MUTUAL_MAKE_DELETER(EVP_PKEY, EVP_PKEY_free)
MUTUAL_MAKE_DELETER(EVP_CIPHER, EVP_CIPHER_free)
MUTUAL_MAKE_DELETER(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
MUTUAL_MAKE_DELETER(EVP_KDF, EVP_KDF_free)
MUTUAL_MAKE_DELETER(EVP_KDF_CTX, EVP_KDF_CTX_free)
MUTUAL_MAKE_DELETER(BIO, BIO_free)
MUTUAL_MAKE_DELETER(X509, X509_free)

#endif

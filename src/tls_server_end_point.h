// The "tls-server-end-point" channel binding of RFC 5929 §4.1, the vh of the
// tls-server-end-point validation method (RFC 8120 §7): one implementation
// for the server (its own certificate, PEM) and the client (the certificate
// of the connection, X509). Pure OpenSSL.
#ifndef MUTUAL_TLS_SERVER_END_POINT_H
#define MUTUAL_TLS_SERVER_END_POINT_H

#include <optional>
#include <string_view>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bytes.h"

namespace mutual {

// The hash RFC 5929 §4.1 names for a certificate: its signature's hash,
// replaced by SHA-256 when that is MD5 or SHA-1. Signature algorithms
// without a single hash (Ed25519, Ed448: undefined in RFC 5929) also get
// SHA-256, a documented choice.
const EVP_MD* tls_server_end_point_hash(X509* certificate);

// H(DER(certificate)) with that hash; empty on failure or a null pointer.
Bytes tls_server_end_point(X509* certificate);
// The same from a PEM certificate; nullopt when the PEM does not parse.
std::optional<Bytes> tls_server_end_point(std::string_view pem_certificate);

}  // namespace mutual

#endif

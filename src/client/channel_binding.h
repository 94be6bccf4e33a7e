// The "tls-server-end-point" validation value of RFC 8120 §7: the hash of the
// server certificate as RFC 5929 §4.1 defines it. Pure OpenSSL, no libcurl,
// so the server side can use the same function.
#ifndef MUTUAL_CLIENT_CHANNEL_BINDING_H
#define MUTUAL_CLIENT_CHANNEL_BINDING_H

#include <openssl/x509.h>

#include "bytes.h"

namespace mutual {
namespace client {

// H(DER(cert)) where H is the certificate signature's hash, replaced by
// SHA-256 when that hash is MD5 or SHA-1 (RFC 5929 §4.1). Signature
// algorithms without a separate hash (Ed25519, Ed448) also use SHA-256.
// Returns an empty Bytes on failure.
Bytes tls_server_end_point(X509* certificate);
// The same from the DER encoding of a certificate.
Bytes tls_server_end_point_der(const Bytes& der);

}  // namespace client
}  // namespace mutual

#endif

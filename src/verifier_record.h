// The verifier record: what the DBM file written by htmutual stores for one
// user, and the module reads. Format (docs/verifier-format.md):
//
//   value = entry *( "," entry )
//   entry = "1" ";" algorithm ";" pct(auth-scope) ";" pct(realm) ";" J
//
// "1" is the record format version. algorithm is the lower-case RFC 8121 token.
// pct() percent-encodes (upper-case %XX) every octet outside
// ALPHA / DIGIT / "-" / "." / "_" / "~" / "*", so the value never contains
// ":", ";", ",", "%" unescaped, whitespace or non-ASCII. J is in the
// algorithm's wire encoding: base64-fixed-number for DL, hex-fixed-number
// of P(J) for EC. The DBM key is the prepared user name (UTF-8).
#ifndef MUTUAL_VERIFIER_RECORD_H
#define MUTUAL_VERIFIER_RECORD_H

#include <string>
#include <string_view>
#include <vector>

#include "bytes.h"

namespace mutual {

class Algorithm;

struct VerifierEntry {
    const Algorithm* algorithm = nullptr;
    std::string auth_scope;
    std::string realm;
    Bytes j;  // OCTETS(J), element_length of the algorithm
};

enum class RecordError {
    none = 0,
    empty,
    bad_version,      // entry does not start with "1;"
    bad_field_count,  // not five ";"-separated fields
    unknown_algorithm,
    bad_percent,      // malformed %XX or a character that must be escaped
    bad_verifier,     // J does not decode or is not a valid group element
    duplicate_entry,  // two entries for the same (algorithm, scope, realm)
};
const char* record_error_name(RecordError e) noexcept;

// validate: also check every J is a valid group element (range / on-curve;
// an EC point decompression each). The module passes false and lets
// Algorithm::server_exchange reject the one J it uses; htmutual keeps true.
// Length, encoding and canonical spelling of J are always checked.
RecordError decode_record(std::string_view value, std::vector<VerifierEntry>& out,
                          bool validate = true);
std::string encode_record(const std::vector<VerifierEntry>& entries);

// The entry for (algorithm, scope, realm), or nullptr.
const VerifierEntry* find_entry(const std::vector<VerifierEntry>& entries,
                                const Algorithm& algorithm, std::string_view auth_scope,
                                std::string_view realm) noexcept;

std::string percent_encode_field(std::string_view s);
bool percent_decode_field(std::string_view s, std::string& out);

}  // namespace mutual

#endif

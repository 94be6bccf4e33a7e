// RFC 8120 §9 string preparation with the PRECIS profiles of RFC 7613:
// UsernameCasePreserved (§3.3) for user names, OpaqueString (§4.2) for
// passwords. Unicode data (normalization, general categories, width
// mappings) comes from ICU.
#ifndef MUTUAL_STRING_PREP_H
#define MUTUAL_STRING_PREP_H

#include <string>
#include <string_view>

#include "bytes.h"

namespace mutual {

enum class PrepError {
    none = 0,
    invalid_utf8,       // input is not well-formed UTF-8
    empty,              // empty after preparation
    disallowed_char,    // a code point the profile disallows
    bidi_rule,          // RFC 5893 Bidi Rule violated (user names)
    internal,           // ICU failure
};
const char* prep_error_name(PrepError e) noexcept;

// UsernameCasePreserved: width mapping, NFC, IdentifierClass, Bidi Rule.
PrepError prepare_username(std::string_view in, std::string& out);
// OpaqueString: non-ASCII spaces to U+0020, NFC, FreeformClass.
PrepError prepare_password(std::string_view in, SecretString& out);

// A user name a server configuration names (AuthMutualUsername, RFC 8053
// §4.7: the name as the client prepares it): prepared into `out`; "" when
// acceptable, else the problem ("not a valid user name (reason)", or longer
// than max_user_name_length octets).
std::string check_configured_username(std::string_view in, std::string& out);

}  // namespace mutual

#endif

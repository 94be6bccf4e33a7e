// The decimal numbers of the module's directives (AuthMutualSessionTime,
// AuthMutualSessionTableSize, ...): one parser and one wording of its
// refusals for the per-location and the server-wide settings. No httpd
// types.
#ifndef MUTUAL_DIRECTIVE_NUMBER_H
#define MUTUAL_DIRECTIVE_NUMBER_H

#include <cstdint>
#include <string>
#include <string_view>

namespace mutual {

// An unsigned decimal number (no sign, no leading zero) within [low, high]
// into `out`. Empty when accepted, else the refusal naming the directive:
// `<directive>: "<text>" is not a decimal number` or
// `<directive>: <text> is out of range (<low>..<high>)`.
std::string parse_directive_number(std::string_view directive, std::string_view text,
                                   std::uint64_t low, std::uint64_t high, std::uint64_t& out);

}  // namespace mutual

#endif

// The protocol defaults every side agrees on, named once: the module's
// directive defaults, the tools' defaults and the limits the server and
// the verifier writer apply to user names.
#ifndef MUTUAL_PROTOCOL_DEFAULTS_H
#define MUTUAL_PROTOCOL_DEFAULTS_H

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mutual {

// The algorithm a location offers and htmutual writes when none is named
// (RFC 8121 §3, the one every implementation supports).
inline constexpr std::string_view default_algorithm_name = "iso-kam3-ec-p256-sha256";

// The nonce-number and session-lifetime defaults of a location (RFC 8120
// §4.2: nc-max, nc-window, time).
inline constexpr std::uint64_t default_nc_max = 10000;
inline constexpr std::uint32_t default_nc_window = 128;  // §4.3 recommends >= 128
inline constexpr std::uint32_t default_session_time = 300;  // seconds

// The longest user name, in octets after string preparation, the server
// looks up (longer ones get a fake session, §11 Note 2) and a verifier file
// should hold.
inline constexpr std::size_t max_user_name_length = 256;

}  // namespace mutual

#endif

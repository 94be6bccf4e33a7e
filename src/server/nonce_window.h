// The nonce numbers of one session (RFC 8120 §4.3, §6, §11): nc-max, the
// largest nc received and a bitmap of the nc-window numbers below it. A
// trivially copyable struct that lives in a session-table slot (shared
// memory) and is read and written under that slot's stripe lock.
// No httpd types.
#ifndef MUTUAL_NONCE_WINDOW_H
#define MUTUAL_NONCE_WINDOW_H

#include <cstdint>

namespace mutual {

constexpr std::uint32_t min_nc_window = 128;      // RFC 8120 §4.3 recommends >= 128
constexpr std::uint32_t max_nc_window = 1024;     // bits of the bitmap

enum class NonceVerdict { fresh, above_max, below_window, duplicate };

struct NonceWindow {
    std::uint64_t nc_max;
    std::uint64_t largest_nc;
    std::uint32_t size;                       // nc-window of the session
    std::uint32_t reserved;
    std::uint64_t seen[max_nc_window / 64];   // bit i: nc == largest_nc - i was received

    // A new session: nothing received yet.
    void reset(std::uint64_t nc_max, std::uint32_t size) noexcept;
    // Whether nc may be used now. The session's own nc-max and nc-window
    // are tightened by the serving location's (the stricter wins).
    NonceVerdict check(std::uint64_t nc, std::uint64_t limit_nc_max,
                       std::uint32_t limit_size) const noexcept;
    // Records nc as received (after check() said fresh).
    void record(std::uint64_t nc) noexcept;
};

}  // namespace mutual

#endif

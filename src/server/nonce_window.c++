#include "server/nonce_window.h"

#include <cstring>

namespace mutual {

namespace {

constexpr std::uint32_t words = max_nc_window / 64;

// Shifts the bitmap towards higher distances by `by` bits (bits falling off
// beyond max_nc_window are dropped; bits beyond the window size are never read).
void shift(std::uint64_t (&w)[words], std::uint64_t by) noexcept {
    if (by >= max_nc_window) {
        for (auto& word : w) word = 0;
        return;
    }
    const unsigned whole = static_cast<unsigned>(by / 64);
    const unsigned bits = static_cast<unsigned>(by % 64);
    for (int i = static_cast<int>(words) - 1; i >= 0; --i) {
        std::uint64_t v = 0;
        const int src = i - static_cast<int>(whole);
        if (src >= 0) {
            v = w[src] << bits;
            if (bits != 0 && src >= 1) v |= w[src - 1] >> (64 - bits);
        }
        w[i] = v;
    }
}

}  // namespace

void NonceWindow::reset(std::uint64_t max, std::uint32_t window_size) noexcept {
    nc_max = max;
    largest_nc = 0;
    size = window_size;
    reserved = 0;
    std::memset(seen, 0, sizeof seen);
}

NonceVerdict NonceWindow::check(std::uint64_t nc, std::uint64_t limit_nc_max,
                                std::uint32_t limit_size) const noexcept {
    if (nc > nc_max || nc > limit_nc_max) return NonceVerdict::above_max;
    if (nc > largest_nc) return NonceVerdict::fresh;
    const std::uint64_t distance = largest_nc - nc;
    if (distance >= size || distance >= limit_size) return NonceVerdict::below_window;
    const bool was_seen = (seen[distance / 64] >> (distance % 64)) & 1u;
    return was_seen ? NonceVerdict::duplicate : NonceVerdict::fresh;
}

void NonceWindow::record(std::uint64_t nc) noexcept {
    if (nc > largest_nc) {
        shift(seen, nc - largest_nc);
        largest_nc = nc;
        seen[0] |= 1u;
    } else {
        const std::uint64_t distance = largest_nc - nc;
        seen[distance / 64] |= std::uint64_t(1) << (distance % 64);
    }
}

}  // namespace mutual

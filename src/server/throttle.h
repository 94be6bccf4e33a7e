// Online-guessing throttle and per-client key-exchange budget (RFC 8120
// §17.3, §17.3.1), as counters in one block of shared memory that every
// child process maps: a small open-addressed table of fixed-size entries,
// addressed by a keyed hash (SipHash-2-4 under a server secret) of what is
// counted, under one robust process-shared mutex (ProcessSharedLocks with one
// lock). Only key exchanges and failed verifications touch it: the
// session-reuse path never does.
//
// Three kinds of entries:
//   user failures    failed verifications of one prepared user name (in one
//                    verifier source), known or not: the answer never tells
//                    whether a user exists
//   client failures  failed verifications from one client address (IPv6 by
//                    /64), whatever the user names
//   client budget    a token bucket of unverified key exchanges per client
//                    address (their KAM3 work included)
//
// docs/security.md describes the lock-out trade-off and the defaults. No
// httpd types.
#ifndef MUTUAL_THROTTLE_H
#define MUTUAL_THROTTLE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/session_table.h"
#include "server/siphash.h"

namespace mutual {

// count events in `seconds`; disabled when either is 0.
struct ThrottleLimit {
    std::uint32_t count = 0;
    std::uint32_t seconds = 0;
    bool enabled() const noexcept { return count != 0 && seconds != 0; }
};

struct ThrottlePolicy {
    ThrottleLimit user_failures;    // AuthMutualMaxFailures
    ThrottleLimit client_failures;  // AuthMutualMaxFailuresPerClient
    ThrottleLimit client_pending;   // AuthMutualMaxPendingPerClient (token bucket)
    bool any() const noexcept {
        return user_failures.enabled() || client_failures.enabled() || client_pending.enabled();
    }
};

enum class ThrottleVerdict {
    allowed,
    user_locked,     // too many failures for this user name
    client_locked,   // too many failures from this client
    client_budget,   // the client's key-exchange bucket is empty
    lock_failed,     // the mutex could not be taken: allowed (fail open), logged
};
const char* throttle_verdict_name(ThrottleVerdict v) noexcept;

struct ThrottleDecision {
    ThrottleVerdict verdict = ThrottleVerdict::allowed;
    std::int64_t retry_after = 0;  // seconds, at least 1 when refused
};

// The part of a client address that is counted: an IPv4 address as it is
// (also IPv4-mapped IPv6), an IPv6 address by its /64 prefix. Unparsable
// text is counted as it is.
std::string client_prefix(std::string_view address);

class ThrottleTable {
public:
    static constexpr std::uint32_t default_entries = 16384;
    // Octets for `entries` entries (rounded up to a power of two).
    static std::size_t bytes_needed(std::uint32_t entries) noexcept;
    // Writes an empty table (64-byte aligned memory). false when too small.
    static bool format(void* memory, std::size_t size, std::uint32_t entries) noexcept;
    ThrottleTable(void* memory, std::size_t size, StripeLocks& lock, const HashKey& key) noexcept;
    bool valid() const noexcept { return header_ != nullptr; }

    // Before the KAM3 work of a req-KEX-C1. `partition` separates verifier
    // sources (the same name in two user files is two users); `user` is the
    // name as the session table keeps it. Refusals take no bucket token.
    ThrottleDecision admit_key_exchange(std::string_view partition, std::string_view user,
                                        std::string_view client, std::int64_t now_ms,
                                        const ThrottlePolicy& policy) noexcept;
    // After a req-VFY-C answered auth-failed by the VK_c comparison.
    // What this failure locked out (it was not locked before).
    struct NewLockOuts {
        bool user = false, client = false;
    };
    NewLockOuts record_failure(std::string_view partition, std::string_view user,
                        std::string_view client, std::int64_t now_ms,
                        const ThrottlePolicy& policy) noexcept;

    struct Statistics {
        std::uint32_t entries = 0, used = 0, locked = 0;
    };
    Statistics statistics(std::int64_t now_ms) noexcept;

private:
    struct Header;
    struct Entry;
    static int rank(const Entry& e, std::int64_t now_ms) noexcept;
    Entry* find(std::uint8_t kind, std::string_view a, std::string_view b, std::int64_t now_ms,
                bool create) noexcept;
    Header* header_ = nullptr;
    Entry* entries_ = nullptr;
    StripeLocks& lock_;
    HashKey key_;
};

}  // namespace mutual

#endif

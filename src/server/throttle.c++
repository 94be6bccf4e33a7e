#include "server/throttle.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace mutual {

namespace {

constexpr std::uint64_t magic = 0x4d55545448524f54ull;  // "MUTTHROT"
constexpr std::uint32_t version = 1;
constexpr unsigned probes = 8;

enum Kind : std::uint8_t { user_failures = 1, client_failures = 2, client_bucket = 3 };

std::uint32_t round_up_pow2(std::uint32_t n) noexcept {
    std::uint32_t p = 64;
    while (p < n && p < (1u << 24)) p <<= 1;
    return p;
}

std::int64_t ceil_seconds(std::int64_t ms) noexcept { return ms <= 0 ? 1 : (ms + 999) / 1000; }

}  // namespace

struct ThrottleTable::Header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t entries;  // a power of two
    std::uint64_t bytes;
    char pad[40];
};

struct ThrottleTable::Entry {
    std::uint64_t key;            // 0: empty
    std::int64_t window_start;    // ms; failures: start of the counting window
    std::int64_t blocked_until;   // ms; failures: refused until then
    std::int64_t touched;         // ms; last use (eviction order, bucket refill)
    std::uint64_t tokens;         // bucket: thousandths of a key exchange
    std::uint32_t count;          // failures in the window
    std::uint8_t kind;
    std::uint8_t pad[3];
};

const char* throttle_verdict_name(ThrottleVerdict v) noexcept {
    switch (v) {
        case ThrottleVerdict::allowed: return "allowed";
        case ThrottleVerdict::user_locked: return "user-locked";
        case ThrottleVerdict::client_locked: return "client-locked";
        case ThrottleVerdict::client_budget: return "client-budget";
        case ThrottleVerdict::lock_failed: return "lock-failed";
    }
    return "?";
}

std::string client_prefix(std::string_view address) {
    std::string text(address);
    const std::size_t percent = text.find('%');  // zone index
    if (percent != std::string::npos) text.resize(percent);
    unsigned char v6[16];
    if (text.find(':') != std::string::npos && inet_pton(AF_INET6, text.c_str(), v6) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        char out[INET6_ADDRSTRLEN];
        if (std::memcmp(v6, mapped, sizeof mapped) == 0) {
            if (inet_ntop(AF_INET, v6 + 12, out, sizeof out) != nullptr) return out;
            return text;
        }
        std::memset(v6 + 8, 0, 8);
        if (inet_ntop(AF_INET6, v6, out, sizeof out) == nullptr) return text;
        std::string prefix(out);
        prefix += "/64";
        return prefix;
    }
    return text;
}

std::size_t ThrottleTable::bytes_needed(std::uint32_t entries) noexcept {
    return sizeof(Header) + static_cast<std::size_t>(round_up_pow2(entries)) * sizeof(Entry);
}

bool ThrottleTable::format(void* memory, std::size_t size, std::uint32_t entries) noexcept {
    const std::uint32_t n = round_up_pow2(entries);
    if (memory == nullptr || size < bytes_needed(n)) return false;
    std::memset(memory, 0, bytes_needed(n));
    auto* h = static_cast<Header*>(memory);
    h->version = version;
    h->entries = n;
    h->bytes = bytes_needed(n);
    h->magic = magic;
    return true;
}

ThrottleTable::ThrottleTable(void* memory, std::size_t size, StripeLocks& lock,
                             const HashKey& key) noexcept
    : lock_(lock), key_(key) {
    auto* h = static_cast<Header*>(memory);
    if (h == nullptr || size < sizeof(Header) || h->magic != magic || h->version != version ||
        h->bytes > size || h->bytes != bytes_needed(h->entries))
        return;
    header_ = h;
    entries_ = reinterpret_cast<Entry*>(h + 1);
}

// Which entry a new one replaces: an empty one, else one that refuses
// nobody now, else (the table is full of lock-outs there) the oldest.
int ThrottleTable::rank(const Entry& e, std::int64_t now_ms) noexcept {
    if (e.key == 0) return 0;
    return e.blocked_until <= now_ms ? 1 : 2;
}

ThrottleTable::Entry* ThrottleTable::find(std::uint8_t kind, std::string_view a, std::string_view b,
                                          std::int64_t now_ms, bool create) noexcept {
    // kind | length of a | a | b: no two inputs give the same octets.
    std::string input;
    try {
        input.reserve(5 + a.size() + b.size());
        input.push_back(static_cast<char>(kind));
        const auto n = static_cast<std::uint32_t>(a.size());
        input.append(reinterpret_cast<const char*>(&n), sizeof n);
        input.append(a);
        input.append(b);
    } catch (...) {
        return nullptr;
    }
    std::uint64_t hash = siphash24(key_, input.data(), input.size());
    if (hash == 0) hash = 1;
    const std::uint32_t mask = header_->entries - 1;
    Entry* victim = nullptr;
    for (unsigned i = 0; i < probes; ++i) {
        Entry& e = entries_[(static_cast<std::uint32_t>(hash) + i) & mask];
        if (e.key == hash && e.kind == kind) return &e;
        if (!create) continue;
        if (victim == nullptr || rank(e, now_ms) < rank(*victim, now_ms) ||
            (rank(e, now_ms) == rank(*victim, now_ms) && e.touched < victim->touched))
            victim = &e;
    }
    if (!create) return nullptr;
    std::memset(static_cast<void*>(victim), 0, sizeof(Entry));
    victim->key = hash;
    victim->kind = kind;
    victim->window_start = now_ms;
    victim->touched = now_ms;
    return victim;
}

ThrottleDecision ThrottleTable::admit_key_exchange(std::string_view partition, std::string_view user,
                                                   std::string_view client, std::int64_t now_ms,
                                                   const ThrottlePolicy& policy) noexcept {
    ThrottleDecision d;
    if (!valid() || !policy.any()) return d;
    if (lock_.lock(0) == LockResult::failed) {
        d.verdict = ThrottleVerdict::lock_failed;
        return d;
    }
    std::int64_t wait = 0;
    if (policy.user_failures.enabled())
        if (Entry* e = find(user_failures, partition, user, now_ms, false))
            if (e->blocked_until > now_ms) {
                d.verdict = ThrottleVerdict::user_locked;
                wait = e->blocked_until - now_ms;
            }
    if (d.verdict == ThrottleVerdict::allowed && policy.client_failures.enabled())
        if (Entry* e = find(client_failures, std::string_view(), client, now_ms, false))
            if (e->blocked_until > now_ms) {
                d.verdict = ThrottleVerdict::client_locked;
                wait = e->blocked_until - now_ms;
            }
    if (d.verdict == ThrottleVerdict::allowed && policy.client_pending.enabled()) {
        const ThrottleLimit& l = policy.client_pending;
        const std::uint64_t capacity = std::uint64_t(l.count) * 1000;
        Entry* e = find(client_bucket, std::string_view(), client, now_ms, true);
        if (e != nullptr) {
            if (e->tokens == 0 && e->count == 0) {  // new entry: a full bucket
                e->tokens = capacity;
                e->count = 1;
            } else if (now_ms > e->touched) {
                // count key exchanges per `seconds`: count/seconds per second.
                const std::uint64_t elapsed = static_cast<std::uint64_t>(now_ms - e->touched);
                const std::uint64_t refill = elapsed * l.count / l.seconds;  // thousandths
                e->tokens = refill >= capacity - std::min(e->tokens, capacity) ? capacity : e->tokens + refill;
            }
            e->touched = std::max(e->touched, now_ms);
            if (e->tokens >= 1000) {
                e->tokens -= 1000;
            } else {
                d.verdict = ThrottleVerdict::client_budget;
                wait = static_cast<std::int64_t>((1000 - e->tokens) * l.seconds / l.count);
            }
        }
    }
    lock_.unlock(0);
    if (d.verdict != ThrottleVerdict::allowed) d.retry_after = ceil_seconds(wait);
    return d;
}

ThrottleTable::NewLockOuts ThrottleTable::record_failure(std::string_view partition, std::string_view user,
                                   std::string_view client, std::int64_t now_ms,
                                   const ThrottlePolicy& policy) noexcept {
    NewLockOuts locked;
    if (!valid() || !(policy.user_failures.enabled() || policy.client_failures.enabled())) return locked;
    if (lock_.lock(0) == LockResult::failed) return locked;
    auto count = [&](std::uint8_t kind, std::string_view a, std::string_view b, const ThrottleLimit& l) {
        if (!l.enabled()) return false;
        Entry* e = find(kind, a, b, now_ms, true);
        if (e == nullptr) return false;
        bool now_locked = false;
        const std::int64_t window = std::int64_t(l.seconds) * 1000;
        if (now_ms - e->window_start >= window) {
            e->window_start = now_ms;
            e->count = 0;
        }
        e->touched = now_ms;
        if (e->count < UINT32_MAX) ++e->count;
        if (e->count >= l.count) {
            // Locked for `seconds` after the failure that reached the limit
            // (and again after each failure while locked).
            now_locked = e->blocked_until <= now_ms;
            e->blocked_until = now_ms + window;
        }
        return now_locked;
    };
    locked.user = count(user_failures, partition, user, policy.user_failures);
    locked.client = count(client_failures, std::string_view(), client, policy.client_failures);
    lock_.unlock(0);
    return locked;
}

ThrottleTable::Statistics ThrottleTable::statistics(std::int64_t now_ms) noexcept {
    Statistics s;
    if (!valid()) return s;
    s.entries = header_->entries;
    if (lock_.lock(0) == LockResult::failed) return s;
    for (std::uint32_t i = 0; i < header_->entries; ++i) {
        const Entry& e = entries_[i];
        if (e.key == 0) continue;
        ++s.used;
        if (e.blocked_until > now_ms) ++s.locked;
    }
    lock_.unlock(0);
    return s;
}

}  // namespace mutual

// The throttle and the counters of mutual-status behind one object
// (request_guard.h).
#include "server/request_guard.h"

#include <cstring>

#include "algorithm.h"
#include "ascii.h"
#include "server/server_exchange.h"
#include "server/session_store.h"

namespace mutual {

namespace {

constexpr std::size_t align64(std::size_t n) noexcept { return (n + 63) & ~std::size_t(63); }

// [mutex][hash key][MetricCounters][ThrottleTable] from the first 64-byte
// boundary.
struct Parts {
    char* lock = nullptr;
    HashKey* key = nullptr;
    MetricCounters* counters = nullptr;
    void* table = nullptr;
    std::size_t table_bytes = 0;
};

std::size_t lock_bytes() noexcept { return align64(ProcessSharedLocks::bytes_needed(1)); }
constexpr std::size_t key_bytes() noexcept { return align64(sizeof(HashKey)); }
constexpr std::size_t counter_bytes() noexcept { return align64(sizeof(MetricCounters)); }
std::size_t table_bytes() noexcept { return ThrottleTable::bytes_needed(ThrottleTable::default_entries); }

bool split(void* memory, std::size_t size, Parts& parts) noexcept {
    if (memory == nullptr || size < RequestGuard::bytes_needed()) return false;
    const auto base = reinterpret_cast<std::uintptr_t>(memory);
    parts.lock = reinterpret_cast<char*>(align64(base));
    parts.key = reinterpret_cast<HashKey*>(parts.lock + lock_bytes());
    parts.counters = reinterpret_cast<MetricCounters*>(parts.lock + lock_bytes() + key_bytes());
    parts.table = parts.lock + lock_bytes() + key_bytes() + counter_bytes();
    parts.table_bytes = table_bytes();
    return true;
}

}  // namespace

std::size_t RequestGuard::bytes_needed() noexcept {
    return lock_bytes() + key_bytes() + counter_bytes() + table_bytes() + 64;
}

bool RequestGuard::format(void* memory, std::size_t size, const char*& tag, const char*& problem) noexcept {
    Parts parts;
    const bool formatted = split(memory, size, parts);
    if (formatted) std::memset(static_cast<void*>(parts.counters), 0, counter_bytes());  // zeroed atomics: all 0
    if (!formatted || !ProcessSharedLocks::format(parts.lock, 1) ||
        !ThrottleTable::format(parts.table, parts.table_bytes, ThrottleTable::default_entries)) {
        tag = "MUT01811";
        problem = "cannot format the throttle counters";
        return false;
    }
    if (!draw_hash_key(*parts.key)) {
        tag = "MUT01812";
        problem = "the random number generator failed (throttle key)";
        return false;
    }
    return true;
}

RequestGuard::RequestGuard(void* memory, std::size_t size, const SessionStore* store) : store_(store) {
    Parts parts;
    if (!split(memory, size, parts)) return;
    lock_ = std::make_unique<ProcessSharedLocks>(parts.lock, 1u);
    auto throttle = std::make_unique<ThrottleTable>(parts.table, parts.table_bytes, *lock_, *parts.key);
    if (!throttle->valid()) return;
    throttle_ = std::move(throttle);
    counters_ = parts.counters;
}

RequestGuard::~RequestGuard() = default;

bool RequestGuard::valid() const noexcept { return throttle_ != nullptr && counters_ != nullptr; }

std::uint32_t RequestGuard::admit_key_exchange(const ThrottlePolicy& limits, std::string_view partition,
                                               std::string_view user, std::string_view client_address,
                                               std::int64_t now_ms, LogLevel log_level) noexcept {
    try {
        if (!limits.any() || !valid()) return 0;
        const std::string client = client_prefix(client_address);
        const ThrottleDecision decision = throttle_->admit_key_exchange(
            partition, user.substr(0, max_user_length), client, now_ms, limits);
        if (decision.verdict == ThrottleVerdict::allowed) return 0;
        if (decision.verdict == ThrottleVerdict::lock_failed) {
            log(LogLevel::error, "MUT01803", "throttle counters: lock failed; key exchange allowed");
            return 0;
        }
        MetricCounters::add(counters_->throttled);
        const char* tag = decision.verdict == ThrottleVerdict::user_locked     ? "MUT01800"
                          : decision.verdict == ThrottleVerdict::client_locked ? "MUT01801"
                                                                               : "MUT01802";
        // A flood is answered here: its lines are formatted only when written.
        if (log_level >= LogLevel::info) {
            std::string message = "429 for a req-KEX-C1 (";
            message.append(throttle_verdict_name(decision.verdict));
            message += ", client " + client + "), Retry-After " + std::to_string(decision.retry_after);
            log(LogLevel::info, tag, message);
        }
        return decision.retry_after;
    } catch (...) {
        return 0;   // out of memory formatting a log line: the throttle fails open
    }
}

void RequestGuard::count(const ThrottlePolicy& limits, std::string_view partition,
                         const ExchangeResult& result, std::string_view client_address,
                         std::int64_t now_ms) noexcept {
    if (!valid()) return;
    switch (result.outcome) {
        case ExchangeOutcome::verified:
            MetricCounters::add(counters_->verifications_success);
            return;
        case ExchangeOutcome::stale:
            MetricCounters::add(counters_->verifications_stale);
            return;
        case ExchangeOutcome::kex_s1:
            if (const Algorithm* a = find_algorithm(result.algorithm))
                if (auto index = algorithm_index(*a))
                    if (*index < max_metric_algorithms) MetricCounters::add(counters_->key_exchanges[*index]);
            return;
        case ExchangeOutcome::unavailable:   // logged by the session store
            return;
        case ExchangeOutcome::init:
            break;
    }
    if (result.store_failed) MetricCounters::add(counters_->store_errors);
    if (!result.verification_failed) return;
    MetricCounters::add(counters_->verifications_failure);
    try {
        const std::string client = client_prefix(client_address);
        const ThrottleTable::NewLockOuts locked =
            throttle_->record_failure(partition, result.user, client, now_ms, limits);
        if (locked.user)
            log(LogLevel::warn, "MUT01804",
                "user \"" + loggable(result.user) + "\" locked out for " +
                    std::to_string(limits.user_failures.seconds) + " s after " +
                    std::to_string(limits.user_failures.count) + " failed verifications: its key exchanges get 429");
        if (locked.client)
            log(LogLevel::warn, "MUT01807",
                "client " + client + " locked out for " + std::to_string(limits.client_failures.seconds) +
                    " s after " + std::to_string(limits.client_failures.count) +
                    " failed verifications: its key exchanges get 429");
    } catch (...) {
        // out of memory formatting a log line: the failure was counted
    }
}

MetricsSnapshot RequestGuard::snapshot(std::int64_t now_ms) const {
    MetricsSnapshot m;
    if (!valid()) return m;
    const MetricCounters& c = *counters_;
    const auto& all = all_algorithms();
    for (std::size_t i = 0; i < all.size() && i < max_metric_algorithms; ++i) {
        std::string name;
        name.append(all[i]->name());
        m.key_exchanges.emplace_back(std::move(name), c.key_exchanges[i].load(std::memory_order_relaxed));
    }
    m.success = c.verifications_success.load(std::memory_order_relaxed);
    m.failure = c.verifications_failure.load(std::memory_order_relaxed);
    m.stale = c.verifications_stale.load(std::memory_order_relaxed);
    m.throttled = c.throttled.load(std::memory_order_relaxed);
    m.store_errors = c.store_errors.load(std::memory_order_relaxed);
    if (store_ != nullptr) {
        const TableStatistics t = store_->statistics();
        m.key_exchanging = t.key_exchanging;
        m.authenticated = t.authenticated;
        m.capacity = t.slots;
        m.evictions = t.evicted_expired + t.evicted_rejected + t.evicted_quota + t.evicted_authenticated +
                      t.evicted_key_exchanging;
    }
    m.locked_out = throttle_->statistics(now_ms).locked;
    return m;
}

std::string RequestGuard::prometheus(std::int64_t now_ms) const {
    return prometheus_text(snapshot(now_ms));
}

std::string RequestGuard::status_auto(std::int64_t now_ms) const {
    return status_auto_text(snapshot(now_ms));
}

std::vector<std::pair<std::string, std::uint64_t>> RequestGuard::status_rows(std::int64_t now_ms) const {
    const MetricsSnapshot m = snapshot(now_ms);
    std::vector<std::pair<std::string, std::uint64_t>> rows;
    for (const auto& kex : m.key_exchanges)
        if (kex.second != 0) rows.emplace_back("key exchanges, " + kex.first, kex.second);
    for (const StatusField& f : status_fields) rows.emplace_back(f.label, m.*f.value);
    return rows;
}

}  // namespace mutual

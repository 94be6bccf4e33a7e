// The server's accounting of requests, behind one object: the online-
// guessing throttle (throttle.h) and the counters of mutual-status
// (metrics.h), in one block of shared memory the caller provides and keeps
// across graceful restarts — [mutex][hash key][MetricCounters][ThrottleTable],
// each 64-byte aligned. The glue asks it before a key exchange, tells it every
// decision, and shows its page; what is counted, what is refused, what is
// logged and how the figures are rendered is decided here. No httpd types.
//
//   RequestGuard::bytes_needed()                 memory to provide
//   RequestGuard::format(memory, size, tag, problem)   first start
//   RequestGuard(memory, size, store)            attach (every start)
//   guard.admit_key_exchange(...)                before the KAM3 work
//   guard.count(...)                             after Server::handle
//   guard.prometheus() / status_auto() / status_rows()
#ifndef MUTUAL_REQUEST_GUARD_H
#define MUTUAL_REQUEST_GUARD_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log.h"
#include "server/metrics.h"
#include "server/throttle.h"

namespace mutual {

struct ExchangeResult;
class SessionStore;

class RequestGuard {
public:
    // Octets to provide (any alignment: 64 octets of slack included).
    static std::size_t bytes_needed() noexcept;
    // Writes empty counters, an empty throttle table and a new random key
    // for its hash (it lives and goes with the memory). false when too
    // small, the mutex cannot be made or the random number generator
    // failed, with the startup log line (tag, problem).
    static bool format(void* memory, std::size_t size, const char*& tag, const char*& problem) noexcept;
    // Attaches to formatted memory; valid() is false when that failed.
    // store: the session store whose gauges the pages show (nullptr: none;
    // it outlives the guard — the module's Server::store()).
    explicit RequestGuard(void* memory, std::size_t size, const SessionStore* store = nullptr);
    ~RequestGuard();
    RequestGuard(const RequestGuard&) = delete;
    RequestGuard& operator=(const RequestGuard&) = delete;
    bool valid() const noexcept;

    // Before the KAM3 work of a req-KEX-C1: 0 to go on, otherwise the
    // Retry-After seconds of a 429 (counted; logged at info, formatted only
    // when log_level shows info). A failed lock allows it (logged). Known
    // and unknown names take the same path.
    std::uint32_t admit_key_exchange(const ThrottlePolicy& limits, std::string_view partition,
                                     std::string_view user, std::string_view client_address,
                                     std::int64_t now_ms, LogLevel log_level) noexcept;
    // What Server::handle decided, for the counters and the failure
    // throttle (a new lock-out is logged).
    void count(const ThrottlePolicy& limits, std::string_view partition, const ExchangeResult& result,
               std::string_view client_address, std::int64_t now_ms) noexcept;

    // SetHandler mutual-status: Prometheus text format 0.0.4, with the
    // session store's gauges when the guard has a store.
    std::string prometheus(std::int64_t now_ms) const;
    // mod_status ?auto: "Name: value" lines.
    std::string status_auto(std::int64_t now_ms) const;
    // mod_status: the rows of its table (label, value); key exchanges by
    // algorithm only when not zero.
    std::vector<std::pair<std::string, std::uint64_t>> status_rows(std::int64_t now_ms) const;

private:
    MetricsSnapshot snapshot(std::int64_t now_ms) const;
    const SessionStore* store_;
    std::unique_ptr<ProcessSharedLocks> lock_;
    MetricCounters* counters_ = nullptr;
    std::unique_ptr<ThrottleTable> throttle_;
};

}  // namespace mutual

#endif

// Counters of the server's decisions, in shared memory beside the throttle
// table (lock-free 64-bit atomics, so every thread of every child adds to
// them without a lock), and their Prometheus text exposition (format
// 0.0.4) for `SetHandler mutual-status`. The memory is retained across
// graceful restarts, so the counters only grow. No httpd types.
#ifndef MUTUAL_METRICS_H
#define MUTUAL_METRICS_H

#include <atomic>
#include <type_traits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mutual {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "counters shared between processes must be lock-free atomics");

constexpr std::size_t max_metric_algorithms = 16;

// Lives in shared memory: only atomics, no pointers. Zeroed memory is a
// valid, empty set of counters.
struct MetricCounters {
    std::atomic<std::uint64_t> key_exchanges[max_metric_algorithms];  // by algorithm_index
    std::atomic<std::uint64_t> verifications_success;
    std::atomic<std::uint64_t> verifications_failure;
    std::atomic<std::uint64_t> verifications_stale;
    std::atomic<std::uint64_t> throttled;
    std::atomic<std::uint64_t> store_errors;

    static void add(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }
};
static_assert(std::is_standard_layout<MetricCounters>::value, "shared-memory layout");

// Everything one exposition shows (counters read once, gauges of the
// session table).
struct MetricsSnapshot {
    std::vector<std::pair<std::string, std::uint64_t>> key_exchanges;  // algorithm name, count
    std::uint64_t success = 0, failure = 0, stale = 0;
    std::uint64_t throttled = 0, store_errors = 0;
    std::uint64_t key_exchanging = 0, authenticated = 0, capacity = 0, evictions = 0;
    std::uint64_t locked_out = 0;  // throttle entries refusing now
};

// Prometheus text format 0.0.4 (Content-Type
// "text/plain; version=0.0.4; charset=utf-8").
std::string prometheus_text(const MetricsSnapshot& s);

// The single-valued figures of a snapshot, in the order both status views
// show them: the ?auto name and the label of mod_status's HTML table.
struct StatusField {
    const char* auto_name;
    const char* label;
    std::uint64_t MetricsSnapshot::*value;
};
extern const StatusField status_fields[10];

// "Name: value" lines in the style of mod_status ?auto.
std::string status_auto_text(const MetricsSnapshot& s);

}  // namespace mutual

#endif

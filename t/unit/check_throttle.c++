// Check suite: the throttle counters (src/server/throttle.h) on heap memory
// and the Prometheus exposition (src/server/metrics.h): failure windows and
// lock-outs per name and per client, the token bucket, client prefixes
// (IPv6 by /64), entry replacement, a failing lock.
#include "test_support.h"  // before check.h (its fail() macro)

#include <check.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/metrics.h"
#include "server/request_guard.h"
#include "server/server.h"
#include "server/server_exchange.h"
#include "server/throttle.h"

using namespace mutual;

namespace {

class TestLock final : public StripeLocks {
public:
    LockResult lock(unsigned) noexcept override {
        if (fail) return LockResult::failed;
        m.lock();
        ++held;
        return LockResult::held;
    }
    void unlock(unsigned) noexcept override {
        --held;
        m.unlock();
    }
    std::mutex m;
    bool fail = false;
    int held = 0;
};

struct Fixture {
    explicit Fixture(std::uint32_t entries = 1024) : memory(ThrottleTable::bytes_needed(entries) + 64) {
        void* aligned = align();
        ck_assert(ThrottleTable::format(aligned, ThrottleTable::bytes_needed(entries), entries));
        HashKey key{};
        for (int i = 0; i < 16; ++i) key.bytes[i] = static_cast<std::uint8_t>(i * 7);
        table = std::make_unique<ThrottleTable>(aligned, ThrottleTable::bytes_needed(entries), lock, key);
        ck_assert(table->valid());
    }
    void* align() {
        auto p = reinterpret_cast<std::uintptr_t>(memory.data());
        return reinterpret_cast<void*>((p + 63) & ~std::uintptr_t(63));
    }
    std::vector<unsigned char> memory;
    TestLock lock;
    std::unique_ptr<ThrottleTable> table;
};

ThrottlePolicy user_policy(std::uint32_t count, std::uint32_t seconds) {
    ThrottlePolicy p;
    p.user_failures = {count, seconds};
    return p;
}

}  // namespace

START_TEST(disabled_policy_allows_everything) {
    Fixture f;
    ThrottlePolicy none;
    for (int i = 0; i < 100; ++i) {
        ck_assert(!f.table->record_failure("users", "alice", "192.0.2.1", 1000, none).user);
        ck_assert(f.table->admit_key_exchange("users", "alice", "192.0.2.1", 1000, none).verdict ==
                  ThrottleVerdict::allowed);
    }
    ck_assert_int_eq(f.lock.held, 0);
}
END_TEST

START_TEST(user_locked_after_count_failures_for_seconds) {
    Fixture f;
    const ThrottlePolicy p = user_policy(5, 60);
    std::int64_t now = 1'000'000;
    for (int i = 0; i < 4; ++i) {
        ck_assert(!f.table->record_failure("users", "alice", "192.0.2.1", now + i, p).user);
        ck_assert(f.table->admit_key_exchange("users", "alice", "192.0.2.1", now + i, p).verdict ==
                  ThrottleVerdict::allowed);
    }
    ck_assert(f.table->record_failure("users", "alice", "192.0.2.1", now + 4, p).user);  // the fifth
    ThrottleDecision d = f.table->admit_key_exchange("users", "alice", "192.0.2.9", now + 5, p);
    ck_assert(d.verdict == ThrottleVerdict::user_locked);
    ck_assert_int_eq(d.retry_after, 60);
    d = f.table->admit_key_exchange("users", "alice", "192.0.2.9", now + 30'004, p);
    ck_assert(d.verdict == ThrottleVerdict::user_locked);
    ck_assert_int_eq(d.retry_after, 30);
    // other names, and the same name in another user file, are not locked
    ck_assert(f.table->admit_key_exchange("users", "bob", "192.0.2.1", now + 5, p).verdict ==
              ThrottleVerdict::allowed);
    ck_assert(f.table->admit_key_exchange("users2", "alice", "192.0.2.1", now + 5, p).verdict ==
              ThrottleVerdict::allowed);
    // the lock ends `seconds` after the fifth failure
    ck_assert(f.table->admit_key_exchange("users", "alice", "192.0.2.1", now + 4 + 60'000, p).verdict ==
              ThrottleVerdict::allowed);
    ck_assert_int_eq(f.lock.held, 0);
}
END_TEST

START_TEST(failures_outside_the_window_do_not_add_up) {
    Fixture f;
    const ThrottlePolicy p = user_policy(3, 10);
    std::int64_t now = 5'000'000;
    for (int i = 0; i < 10; ++i) {
        // two failures per 10-second window: never three in one
        ck_assert(!f.table->record_failure("u", "alice", "c", now, p).user);
        ck_assert(!f.table->record_failure("u", "alice", "c", now + 1, p).user);
        now += 10'000;
        ck_assert(f.table->admit_key_exchange("u", "alice", "c", now, p).verdict == ThrottleVerdict::allowed);
    }
}
END_TEST

START_TEST(client_failures_lock_the_client_for_every_name) {
    Fixture f;
    ThrottlePolicy p;
    p.client_failures = {3, 60};
    ck_assert(!f.table->record_failure("u", "alice", "192.0.2.7", 0, p).client);
    ck_assert(!f.table->record_failure("u", "bob", "192.0.2.7", 1, p).client);
    ck_assert(f.table->record_failure("u", "nobody", "192.0.2.7", 2, p).client);
    ck_assert(f.table->admit_key_exchange("u", "carol", "192.0.2.7", 3, p).verdict ==
              ThrottleVerdict::client_locked);
    ck_assert(f.table->admit_key_exchange("u", "carol", "192.0.2.8", 3, p).verdict ==
              ThrottleVerdict::allowed);
}
END_TEST

START_TEST(token_bucket_of_key_exchanges) {
    Fixture f;
    ThrottlePolicy p;
    p.client_pending = {4, 2};  // 4 per 2 seconds: one every 500 ms
    const std::int64_t now = 10'000;
    for (int i = 0; i < 4; ++i)
        ck_assert(f.table->admit_key_exchange("u", "x", "c1", now, p).verdict == ThrottleVerdict::allowed);
    ThrottleDecision d = f.table->admit_key_exchange("u", "x", "c1", now, p);
    ck_assert(d.verdict == ThrottleVerdict::client_budget);
    ck_assert_int_eq(d.retry_after, 1);
    // refusals take no token: 500 ms later exactly one more
    for (int i = 0; i < 10; ++i)
        ck_assert(f.table->admit_key_exchange("u", "x", "c1", now + 100, p).verdict ==
                  ThrottleVerdict::client_budget);
    ck_assert(f.table->admit_key_exchange("u", "x", "c1", now + 500, p).verdict == ThrottleVerdict::allowed);
    ck_assert(f.table->admit_key_exchange("u", "x", "c1", now + 500, p).verdict ==
              ThrottleVerdict::client_budget);
    // another client has its own full bucket
    for (int i = 0; i < 4; ++i)
        ck_assert(f.table->admit_key_exchange("u", "x", "c2", now, p).verdict == ThrottleVerdict::allowed);
    // a long pause refills up to the capacity only
    for (int i = 0; i < 4; ++i)
        ck_assert(f.table->admit_key_exchange("u", "x", "c1", now + 3'600'000, p).verdict ==
                  ThrottleVerdict::allowed);
    ck_assert(f.table->admit_key_exchange("u", "x", "c1", now + 3'600'000, p).verdict ==
              ThrottleVerdict::client_budget);
}
END_TEST

START_TEST(client_prefixes) {
    ck_assert(client_prefix("192.0.2.1") == "192.0.2.1");
    ck_assert(client_prefix("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
    ck_assert(client_prefix("2001:db8:1:2::ffff") == "2001:db8:1:2::/64");
    ck_assert(client_prefix("fe80::1%eth0") == "fe80::/64");
    ck_assert(client_prefix("::ffff:192.0.2.5") == "192.0.2.5");
    ck_assert(client_prefix("not an address") == "not an address");
}
END_TEST

START_TEST(lock_outs_are_kept_when_the_table_is_full) {
    Fixture f(64);  // the smallest table: 64 entries, 8 probes
    const ThrottlePolicy p = user_policy(1, 600);
    ck_assert(f.table->record_failure("u", "victim", "c", 0, p).user);
    // a flood of other names, none locked out: they replace one another,
    // never the entry that refuses someone now
    const ThrottlePolicy q = user_policy(1000, 1);
    for (int i = 0; i < 5000; ++i) f.table->record_failure("u", "m" + std::to_string(i), "c", 2 + i, q);
    ck_assert(f.table->admit_key_exchange("u", "victim", "c", 6000, p).verdict == ThrottleVerdict::user_locked);
    const ThrottleTable::Statistics s = f.table->statistics(6000);
    ck_assert_int_eq(s.entries, 64);
    ck_assert_int_eq(s.used, 64);
    ck_assert_int_eq(s.locked, 1);
    ck_assert_int_eq(f.lock.held, 0);
}
END_TEST

START_TEST(lock_failure_fails_open_and_is_said) {
    Fixture f;
    const ThrottlePolicy p = user_policy(1, 60);
    ck_assert(f.table->record_failure("u", "alice", "c", 0, p).user);
    f.lock.fail = true;
    ck_assert(f.table->admit_key_exchange("u", "alice", "c", 1, p).verdict == ThrottleVerdict::lock_failed);
    ck_assert(!f.table->record_failure("u", "alice", "c", 1, p).user);
}
END_TEST

START_TEST(format_checks) {
    std::vector<unsigned char> small(100);
    ck_assert(!ThrottleTable::format(small.data(), small.size(), 64));
    Fixture f;
    TestLock lock;
    HashKey key{};
    std::vector<unsigned char> junk(ThrottleTable::bytes_needed(64), 0xab);
    ThrottleTable t(junk.data(), junk.size(), lock, key);
    ck_assert(!t.valid());
}
END_TEST

START_TEST(prometheus_exposition) {
    MetricsSnapshot s;
    s.key_exchanges = {{"iso-kam3-ec-p256-sha256", 7}};
    s.success = 3;
    s.failure = 2;
    s.stale = 1;
    s.throttled = 4;
    s.capacity = 4096;
    const std::string t = prometheus_text(s);
    ck_assert(t.find("# TYPE mutual_key_exchanges_total counter\n") != std::string::npos);
    ck_assert(t.find("mutual_key_exchanges_total{algorithm=\"iso-kam3-ec-p256-sha256\"} 7\n") != std::string::npos);
    ck_assert(t.find("mutual_verifications_total{result=\"success\"} 3\n") != std::string::npos);
    ck_assert(t.find("mutual_verifications_total{result=\"failure\"} 2\n") != std::string::npos);
    ck_assert(t.find("mutual_verifications_total{result=\"stale\"} 1\n") != std::string::npos);
    ck_assert(t.find("mutual_throttled_total 4\n") != std::string::npos);
    ck_assert(t.find("mutual_sessions{state=\"key-exchanging\"} 0\n") != std::string::npos);
    ck_assert(t.find("mutual_session_capacity 4096\n") != std::string::npos);
    ck_assert(t.find("# TYPE mutual_sessions gauge\n") != std::string::npos);
    ck_assert(t.back() == '\n');
    const std::string a = status_auto_text(s);
    ck_assert(a.find("MutualThrottled: 4\n") != std::string::npos);
}
END_TEST

// The facade the module uses: counters, the failure throttle and its log
// lines, the pages, over memory of any alignment.
std::vector<std::string> guard_log;
void guard_capture(void*, LogLevel, const char* tag, const std::string& message) {
    guard_log.push_back(std::string(tag) + " " + message);
}

START_TEST(request_guard_counts_throttles_and_shows) {
    std::vector<unsigned char> memory(RequestGuard::bytes_needed() + 1);
    void* unaligned = memory.data() + 1;
    const char* tag = nullptr;
    const char* problem = nullptr;
    ck_assert(!RequestGuard::format(unaligned, RequestGuard::bytes_needed() - 1, tag, problem));
    ck_assert_str_eq(tag, "MUT01811");
    ck_assert_str_eq(problem, "cannot format the throttle counters");
    tag = nullptr;
    ck_assert(RequestGuard::format(unaligned, RequestGuard::bytes_needed(), tag, problem));
    ck_assert(tag == nullptr);
    RequestGuard guard(unaligned, RequestGuard::bytes_needed());
    ck_assert(guard.valid());
    guard_log.clear();
    set_log_sink(guard_capture, nullptr);
    const ThrottlePolicy limits = user_policy(2, 60);
    ck_assert_uint_eq(guard.admit_key_exchange(limits, "p", "alice", "192.0.2.1", 1000, LogLevel::info), 0);
    ExchangeResult kex;
    kex.outcome = ExchangeOutcome::kex_s1;
    kex.algorithm = "iso-kam3-ec-p256-sha256";
    guard.count(limits, "p", kex, "192.0.2.1", 1000);
    ExchangeResult failed;
    failed.verification_failed = true;
    failed.user = "alice";
    guard.count(limits, "p", failed, "192.0.2.1", 1001);
    ck_assert(guard_log.empty());
    guard.count(limits, "p", failed, "192.0.2.1", 1002);
    ck_assert_uint_eq(guard_log.size(), 1);
    ck_assert_str_eq(guard_log[0].c_str(),
                     "MUT01804 user \"alice\" locked out for 60 s after 2 failed verifications: its key exchanges get 429");
    // Refused, the line formatted only when info is shown.
    const std::uint32_t quiet = guard.admit_key_exchange(limits, "p", "alice", "192.0.2.1", 2000, LogLevel::notice);
    ck_assert_uint_gt(quiet, 0);
    ck_assert_uint_eq(guard_log.size(), 1);
    ck_assert_uint_gt(guard.admit_key_exchange(limits, "p", "alice", "192.0.2.1", 2000, LogLevel::info), 0);
    ck_assert_uint_eq(guard_log.size(), 2);
    ck_assert(guard_log[1].rfind("MUT01800 429 for a req-KEX-C1 (", 0) == 0);
    set_log_sink(nullptr, nullptr);
    const std::string page = guard.prometheus(2000);
    ck_assert(page.find("mutual_key_exchanges_total{algorithm=\"iso-kam3-ec-p256-sha256\"} 1\n") != std::string::npos);
    ck_assert(page.find("mutual_verifications_total{result=\"failure\"} 2\n") != std::string::npos);
    ck_assert(page.find("mutual_throttled_total 2\n") != std::string::npos);
    ck_assert(guard.status_auto(2000).find("MutualThrottled: 2\n") != std::string::npos);
    const auto rows = guard.status_rows(2000);
    ck_assert_str_eq(rows.at(0).first.c_str(), "key exchanges, iso-kam3-ec-p256-sha256");
    ck_assert_uint_eq(rows.at(0).second, 1);
    ck_assert_str_eq(rows.back().first.c_str(), "lock-outs now");
    ck_assert_uint_eq(rows.back().second, 1);
    // A second attachment sees the same counters (the memory is what is shared).
    RequestGuard again(unaligned, RequestGuard::bytes_needed());
    ck_assert(again.prometheus(2000) == page);
    ck_assert(page.find("mutual_session_capacity 0\n") != std::string::npos);   // no store: zero gauges
    // Attached with the server's store, the pages show its gauges.
    ServerOptions options;
    options.table_slots = 256;
    options.stripes = 4;
    options.use_default_algorithm();
    const ServerPlan plan = Server::plan(options);
    std::vector<unsigned char> shared(plan.shared_bytes);
    ck_assert(Server::format_shared(shared.data(), shared.size(), options, tag, problem));
    Server server(shared.data(), shared.size(), options);
    ck_assert(server.valid());
    RequestGuard shown(unaligned, RequestGuard::bytes_needed(), &server.store());
    const std::string gauges = "mutual_session_capacity " + std::to_string(plan.layout.slots) + "\n";
    ck_assert_msg(shown.prometheus(2000).find(gauges) != std::string::npos, "%s", shown.prometheus(2000).c_str());
    ck_assert(shown.status_auto(2000).find("MutualSessionCapacity: " + std::to_string(plan.layout.slots) + "\n") !=
              std::string::npos);
}
END_TEST

int main() {
    Suite* s = suite_create("throttle");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, disabled_policy_allows_everything);
    tcase_add_test(tc, user_locked_after_count_failures_for_seconds);
    tcase_add_test(tc, failures_outside_the_window_do_not_add_up);
    tcase_add_test(tc, client_failures_lock_the_client_for_every_name);
    tcase_add_test(tc, token_bucket_of_key_exchanges);
    tcase_add_test(tc, client_prefixes);
    tcase_add_test(tc, lock_outs_are_kept_when_the_table_is_full);
    tcase_add_test(tc, lock_failure_fails_open_and_is_said);
    tcase_add_test(tc, format_checks);
    tcase_add_test(tc, prometheus_exposition);
    tcase_add_test(tc, request_guard_counts_throttles_and_shows);
    suite_add_tcase(s, tc);
    return mutual::test::run_suite(s);
}

// Check suite: the shared-memory session table (src/server/session_table.h) on
// plain heap memory: geometry, insert/lookup/evict, the nonce window rules of
// RFC 8120 §6/§11, the key-exchange quota, validate(), and concurrent use.
#include <algorithm>
#include <check.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/session_table.h"

using namespace mutual;

namespace {

// Locks for the tests: real mutexes, with a switch that makes lock() fail and
// a balance counter proving every lock is released.
class TestLocks final : public StripeLocks {
public:
    LockResult lock(unsigned stripe) noexcept override {
        if (fail) return LockResult::failed;
        mutexes[stripe % 64].lock();
        ++held;
        return LockResult::held;
    }
    void unlock(unsigned stripe) noexcept override {
        --held;
        mutexes[stripe % 64].unlock();
    }
    std::mutex mutexes[64];
    std::atomic<int> held{0};
    bool fail = false;
};

struct FreeDeleter {
    void operator()(void* p) const noexcept { std::free(p); }
};

HashKey test_key() {
    HashKey k;
    for (int i = 0; i < 16; ++i) k.bytes[i] = static_cast<std::uint8_t>(0xa0 + i);
    return k;
}

// A formatted table on the heap ("shared memory" of the tests).
struct Fixture {
    explicit Fixture(TableGeometry g) : geometry(g) {
        layout = plan_table(g);
        size = static_cast<std::size_t>(layout.total_bytes);
        memory.reset(std::aligned_alloc(64, (size + 63) / 64 * 64));
        ck_assert_ptr_nonnull(memory.get());
        ck_assert(SessionTable::format(memory.get(), size, g));
        table = std::make_unique<SessionTable>(memory.get(), size, locks, test_key());
        ck_assert(table->valid());
    }
    void check_valid() {
        std::string problem;
        ck_assert_msg(table->validate(problem), "validate: %s", problem.c_str());
        ck_assert_int_eq(locks.held.load(), 0);
    }
    TableGeometry geometry;
    TableLayout layout;
    std::size_t size = 0;
    std::unique_ptr<void, FreeDeleter> memory;
    TestLocks locks;
    std::unique_ptr<SessionTable> table;
};

// Ends a session of realm 7 the way a client can: an nc above every nc-max
// makes it inactive (removed). false if it was not there.
bool drop(Fixture& f, const Bytes& sid) {
    SessionSnapshot snap;
    return f.table->begin_verify(sid, 7, UINT64_MAX, 1000, snap) == VerifyCheck::above_nc_max;
}

TableGeometry small_geometry(std::uint32_t slots, std::uint32_t stripes, std::uint32_t kex) {
    TableGeometry g;
    g.slots = slots;
    g.stripes = stripes;
    g.max_key_exchanges = kex;
    g.key_capacity = 3 * 67;
    return g;
}

Bytes sid_bytes(const SessionId& sid) { return Bytes(sid.begin(), sid.end()); }

SessionId make_sid(std::uint32_t n) {
    SessionId sid{};
    for (int i = 0; i < 4; ++i) sid[i] = static_cast<std::uint8_t>(n >> (8 * i));
    sid[15] = 0x5a;
    return sid;
}

bool same_octets(ByteView a, ByteView b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

struct Keys {
    Bytes k_c1 = Bytes(33, 0x11);
    Bytes k_s1 = Bytes(33, 0x22);
    Secret z = Secret(32, 0x33);
};

InsertResult add(Fixture& f, std::uint32_t n, std::uint64_t realm = 7, std::int64_t now = 1000,
                 std::int64_t lifetime = 300, std::uint64_t nc_max = 400, std::uint32_t window = 128,
                 bool fake = false, std::string_view user = "alice") {
    static const Keys keys;
    NewSession s;
    s.sid = make_sid(n);
    s.realm_id = realm;
    s.algorithm = 2;
    s.fake = fake;
    s.user = user;
    s.k_c1 = &keys.k_c1;
    s.k_s1 = &keys.k_s1;
    s.z = &keys.z;
    s.nc_max = nc_max;
    s.nc_window = window;
    s.now = now;
    s.expires = now + lifetime;
    return f.table->insert(s);
}

// One full verification of nc (both steps), verified or not.
VerifyCheck use(Fixture& f, std::uint32_t n, std::uint64_t nc, bool verified = true,
                std::int64_t now = 1001, VerifyCommit* commit_out = nullptr) {
    SessionSnapshot snap;
    const Bytes sid = sid_bytes(make_sid(n));
    const VerifyCheck c = f.table->begin_verify(sid, 7, nc, now, snap);
    if (c != VerifyCheck::ok) return c;
    const VerifyCommit commit = f.table->finish_verify(snap, nc, verified, now);
    if (commit_out) *commit_out = commit;
    return c;
}

#define CHECK_IS(actual, expected) \
    ck_assert_msg((actual) == (expected), "%s: got %d, want %d", #actual, static_cast<int>(actual), \
                  static_cast<int>(expected))

}  // namespace

START_TEST(siphash_reference_vectors) {
    // SipHash-2-4 paper, Appendix A: key 00..0f, message 00..0e.
    HashKey k;
    for (int i = 0; i < 16; ++i) k.bytes[i] = static_cast<std::uint8_t>(i);
    std::uint8_t msg[64];
    for (int i = 0; i < 64; ++i) msg[i] = static_cast<std::uint8_t>(i);
    ck_assert_uint_eq(siphash24(k, msg, 15), 0xa129ca6149be45e5ULL);
    ck_assert_uint_eq(siphash24(k, msg, 0), 0x726fdb47dd0e0e31ULL);
    ck_assert_uint_eq(siphash24(k, msg, 8), 0x93f5f5799a932462ULL);
    // The key matters.
    HashKey other = k;
    other.bytes[0] ^= 1;
    ck_assert_uint_ne(siphash24(k, msg, 15), siphash24(other, msg, 15));
}
END_TEST

START_TEST(geometry_is_normalised) {
    TableLayout l = plan_table(small_geometry(100, 16, 30));
    ck_assert_uint_eq(l.stripes, 16);
    ck_assert_uint_eq(l.slots_per_stripe, 7);      // ceil(100 / 16)
    ck_assert_uint_eq(l.slots, 112);
    ck_assert_uint_eq(l.buckets_per_stripe, 8);    // power of two >= 7
    ck_assert_uint_eq(l.max_kex_per_stripe, 2);    // ceil(30 / 16)
    ck_assert_uint_eq(l.slot_stride % 64, 0);
    ck_assert_uint_ge(l.slot_stride, max_user_length + 3 * 67);
    ck_assert_uint_ge(l.total_bytes, l.slot_offset + l.slots * l.slot_stride);

    l = plan_table(small_geometry(5, 16, 0));      // fewer slots than stripes
    ck_assert_uint_eq(l.stripes, 4);
    ck_assert_uint_eq(l.slots_per_stripe, 2);
    ck_assert_uint_eq(l.max_kex_per_stripe, 2);    // 0 means "no separate bound"

    l = plan_table(small_geometry(0, 16, 1));
    ck_assert_uint_eq(l.slots, 0);
    l = plan_table(small_geometry(10, 0, 1));
    ck_assert_uint_eq(l.slots, 0);
}
END_TEST

START_TEST(format_and_attach_checks) {
    TableGeometry g = small_geometry(64, 4, 32);
    TableLayout l = plan_table(g);
    std::unique_ptr<void, FreeDeleter> mem(std::aligned_alloc(64, (l.total_bytes + 127) / 64 * 64));
    ck_assert(!SessionTable::format(mem.get(), static_cast<std::size_t>(l.total_bytes) - 1, g));
    ck_assert(!SessionTable::format(static_cast<char*>(mem.get()) + 8, static_cast<std::size_t>(l.total_bytes), g));
    ck_assert(!SessionTable::format(nullptr, 1 << 20, g));
    TestLocks locks;
    std::memset(mem.get(), 0x5a, static_cast<std::size_t>(l.total_bytes));
    SessionTable garbage(mem.get(), static_cast<std::size_t>(l.total_bytes), locks, test_key());
    ck_assert(!garbage.valid());
    std::string problem;
    ck_assert(!garbage.validate(problem));
    ck_assert(SessionTable::format(mem.get(), static_cast<std::size_t>(l.total_bytes), g));
    SessionTable too_small(mem.get(), static_cast<std::size_t>(l.total_bytes) - 64, locks, test_key());
    ck_assert(!too_small.valid());
    SessionTable ok(mem.get(), static_cast<std::size_t>(l.total_bytes), locks, test_key());
    ck_assert(ok.valid());
    ck_assert_uint_eq(ok.layout().slots, 64);
    ck_assert(ok.validate(problem));
    TableStatistics st = ok.statistics();
    ck_assert_uint_eq(st.free, 64);
    ck_assert_uint_eq(st.key_exchanging + st.authenticated + st.rejected, 0);
}
END_TEST

START_TEST(insert_lookup_snapshot) {
    Fixture f(small_geometry(64, 4, 64));
    const Keys keys;
    CHECK_IS(add(f, 1).status, InsertStatus::ok);
    SessionSnapshot snap;
    const Bytes sid = sid_bytes(make_sid(1));
    CHECK_IS(f.table->begin_verify(sid, 7, 1, 1001, snap), VerifyCheck::ok);
    CHECK_IS(snap.state, SessionState::key_exchanging);
    ck_assert(!snap.fake);
    ck_assert_uint_eq(snap.algorithm, 2);
    ck_assert(snap.user == "alice");
    ck_assert(same_octets(snap.k_c1, keys.k_c1));
    ck_assert(same_octets(snap.k_s1, keys.k_s1));
    ck_assert(same_octets(snap.z, keys.z));
    // Nothing consumed by the check: the same nc passes again.
    CHECK_IS(f.table->begin_verify(sid, 7, 1, 1001, snap), VerifyCheck::ok);
    CHECK_IS(f.table->finish_verify(snap, 1, true, 1001), VerifyCommit::ok);
    CHECK_IS(f.table->begin_verify(sid, 7, 2, 1002, snap), VerifyCheck::ok);
    CHECK_IS(snap.state, SessionState::authenticated);
    ck_assert(same_octets(snap.z, keys.z));  // z as stored by the key exchange
    // Another realm, another sid, a sid of another length: not found.
    CHECK_IS(f.table->begin_verify(sid, 8, 2, 1002, snap), VerifyCheck::unknown);
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(2)), 7, 2, 1002, snap), VerifyCheck::unknown);
    CHECK_IS(f.table->begin_verify(Bytes(8, 1), 7, 2, 1002, snap), VerifyCheck::unknown);
    SessionSnapshot nowhere;
    CHECK_IS(f.table->finish_verify(nowhere, 2, true, 1002), VerifyCommit::vanished);
    f.check_valid();
    ck_assert(drop(f, sid));
    ck_assert(!drop(f, sid));
    CHECK_IS(f.table->begin_verify(sid, 7, 2, 1002, snap), VerifyCheck::unknown);
    f.check_valid();
}
END_TEST

START_TEST(fake_flag_and_user_are_kept) {
    Fixture f(small_geometry(16, 2, 16));
    CHECK_IS(add(f, 3, 7, 1000, 300, 400, 128, true, "nobody-known").status, InsertStatus::ok);
    SessionSnapshot snap;
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(3)), 7, 1, 1001, snap), VerifyCheck::ok);
    ck_assert(snap.fake);
    ck_assert(snap.user == "nobody-known");
}
END_TEST

START_TEST(oversize_values_rejected) {
    Fixture f(small_geometry(16, 2, 16));
    const std::string long_user(max_user_length + 1, 'u');
    CHECK_IS(add(f, 1, 7, 1000, 300, 400, 128, false, long_user).status, InsertStatus::too_large);
    const std::string max_user(max_user_length, 'u');
    CHECK_IS(add(f, 2, 7, 1000, 300, 400, 128, false, max_user).status, InsertStatus::ok);
    // Keys beyond the slot's key capacity (3 * 67 here).
    Bytes big(150, 1);
    Secret s(32, 2);
    NewSession n;
    n.sid = make_sid(9);
    n.k_c1 = &big;
    n.k_s1 = &big;
    n.z = &s;
    n.nc_window = 128;
    CHECK_IS(f.table->insert(n).status, InsertStatus::too_large);
    n.k_s1 = nullptr;
    CHECK_IS(f.table->insert(n).status, InsertStatus::bad_argument);
    Bytes small(10, 1);
    n.k_c1 = n.k_s1 = &small;
    n.nc_window = 127;
    CHECK_IS(f.table->insert(n).status, InsertStatus::bad_argument);
    n.nc_window = max_nc_window + 1;
    CHECK_IS(f.table->insert(n).status, InsertStatus::bad_argument);
    f.check_valid();
    ck_assert_uint_eq(f.table->statistics().key_exchanging, 1);
}
END_TEST

START_TEST(nonce_duplicate_makes_session_inactive) {
    Fixture f(small_geometry(16, 2, 16));
    add(f, 1);
    CHECK_IS(use(f, 1, 1), VerifyCheck::ok);
    CHECK_IS(use(f, 1, 2), VerifyCheck::ok);
    CHECK_IS(use(f, 1, 5), VerifyCheck::ok);
    CHECK_IS(use(f, 1, 4), VerifyCheck::ok);   // out of order inside the window
    CHECK_IS(use(f, 1, 2), VerifyCheck::duplicate);
    // The session is gone (inactive): even a fresh nc is now stale.
    CHECK_IS(use(f, 1, 6), VerifyCheck::unknown);
    f.check_valid();
    ck_assert_uint_eq(f.table->statistics().free, f.layout.slots);
}
END_TEST

START_TEST(nonce_window_edges) {
    Fixture f(small_geometry(16, 2, 16));
    add(f, 1, 7, 1000, 300, 1000000, 128);
    CHECK_IS(use(f, 1, 200), VerifyCheck::ok);        // largest-nc = 200
    CHECK_IS(use(f, 1, 73), VerifyCheck::ok);         // 200 - 73 = 127 < 128: inside
    VerifyCommit commit;
    add(f, 2, 7, 1000, 300, 1000000, 128);
    CHECK_IS(use(f, 2, 200), VerifyCheck::ok);
    CHECK_IS(use(f, 2, 72, true, 1001, &commit), VerifyCheck::below_window);  // 200 - 128
    CHECK_IS(use(f, 2, 201), VerifyCheck::unknown);   // below-window made it inactive
    // A jump larger than the window clears the history but keeps the rule.
    add(f, 3, 7, 1000, 300, 1000000, 128);
    CHECK_IS(use(f, 3, 1), VerifyCheck::ok);
    CHECK_IS(use(f, 3, 5000), VerifyCheck::ok);
    CHECK_IS(use(f, 3, 4873), VerifyCheck::ok);       // 5000 - 127
    CHECK_IS(use(f, 3, 4999), VerifyCheck::ok);
    CHECK_IS(use(f, 3, 4999), VerifyCheck::duplicate);
    // A larger window (1024) accepts what 128 refuses.
    add(f, 4, 7, 1000, 300, 1000000, 1024);
    CHECK_IS(use(f, 4, 2000), VerifyCheck::ok);
    CHECK_IS(use(f, 4, 977), VerifyCheck::ok);        // 2000 - 1023
    CHECK_IS(use(f, 4, 1500), VerifyCheck::ok);
    CHECK_IS(use(f, 4, 1500), VerifyCheck::duplicate);
    add(f, 5, 7, 1000, 300, 1000000, 1024);
    CHECK_IS(use(f, 5, 2000), VerifyCheck::ok);
    CHECK_IS(use(f, 5, 976), VerifyCheck::below_window);
    // Shifts by amounts that straddle 64-bit words keep old bits.
    add(f, 6, 7, 1000, 300, 1000000, 1024);
    CHECK_IS(use(f, 6, 10), VerifyCheck::ok);
    CHECK_IS(use(f, 6, 75), VerifyCheck::ok);          // shift 65
    CHECK_IS(use(f, 6, 203), VerifyCheck::ok);         // shift 128
    CHECK_IS(use(f, 6, 1033), VerifyCheck::ok);        // shift 830: 10 now at distance 1023
    CHECK_IS(use(f, 6, 75), VerifyCheck::duplicate);
    f.check_valid();
}
END_TEST

// The example of RFC 8120 §6: nc-window 128, nc-max 400.
START_TEST(nonce_rfc8120_section6_example) {
    Fixture f(small_geometry(16, 2, 16));
    std::vector<std::uint64_t> used;
    auto range = [&](std::uint64_t a, std::uint64_t b) {
        for (std::uint64_t i = a; i <= b; ++i) used.push_back(i);
    };
    range(1, 120);
    used.push_back(122);
    used.push_back(124);
    range(130, 238);
    range(255, 360);
    range(363, 372);
    auto fresh_session = [&](std::uint32_t n) {
        add(f, n, 7, 1000, 300, 400, 128);
        for (std::uint64_t nc : used) CHECK_IS(use(f, n, nc), VerifyCheck::ok);
    };
    std::uint32_t n = 100;
    // Usable next: {245-254, 361, 362, 373-400}.
    for (std::uint64_t nc : {245u, 250u, 254u, 361u, 362u, 373u, 399u, 400u}) {
        fresh_session(++n);
        CHECK_IS(use(f, n, nc), VerifyCheck::ok);
        drop(f, sid_bytes(make_sid(n)));
    }
    // Rejected: {0, 121, 123, 125-129, 239-244} (window limit 244 = 372 - 128),
    // duplicates, and anything above nc-max.
    for (std::uint64_t nc : {0u, 121u, 123u, 125u, 129u, 239u, 244u}) {
        fresh_session(++n);
        CHECK_IS(use(f, n, nc), VerifyCheck::below_window);
    }
    for (std::uint64_t nc : {372u, 363u, 300u, 255u}) {
        fresh_session(++n);
        CHECK_IS(use(f, n, nc), VerifyCheck::duplicate);
    }
    fresh_session(++n);
    CHECK_IS(use(f, n, 401), VerifyCheck::above_nc_max);
    CHECK_IS(use(f, n, 380), VerifyCheck::unknown);  // made inactive
    f.check_valid();
}
END_TEST

START_TEST(nonce_max_and_saturation) {
    Fixture f(small_geometry(16, 2, 16));
    add(f, 1, 7, 1000, 300, 10, 128);
    CHECK_IS(use(f, 1, 10), VerifyCheck::ok);
    CHECK_IS(use(f, 1, 11), VerifyCheck::above_nc_max);
    add(f, 2, 7, 1000, 300, std::uint64_t(1) << 62, 128);
    // The header parser saturates huge nc values to UINT64_MAX (RFC 8120 §6:
    // never wrap); they are above any nc-max.
    CHECK_IS(use(f, 2, UINT64_MAX), VerifyCheck::above_nc_max);
    add(f, 3, 7, 1000, 300, std::uint64_t(1) << 62, 128);
    CHECK_IS(use(f, 3, (std::uint64_t(1) << 62)), VerifyCheck::ok);
    CHECK_IS(use(f, 3, (std::uint64_t(1) << 62) - 127), VerifyCheck::ok);
    CHECK_IS(use(f, 3, (std::uint64_t(1) << 62) - 128), VerifyCheck::below_window);
    f.check_valid();
}
END_TEST

START_TEST(only_verified_requests_consume_nonces) {
    Fixture f(small_geometry(16, 2, 16));
    add(f, 1);
    VerifyCommit commit;
    CHECK_IS(use(f, 1, 1, true, 1001, &commit), VerifyCheck::ok);
    CHECK_IS(commit, VerifyCommit::ok);
    // A forged request (wrong vkc) on an authenticated session: nothing recorded.
    CHECK_IS(use(f, 1, 2, false, 1001, &commit), VerifyCheck::ok);
    CHECK_IS(commit, VerifyCommit::kept);
    CHECK_IS(use(f, 1, 2, true, 1001, &commit), VerifyCheck::ok);  // nc 2 still usable
    CHECK_IS(commit, VerifyCommit::ok);
    // A failed first verification rejects a key-exchanging session.
    add(f, 2);
    CHECK_IS(use(f, 2, 1, false, 1001, &commit), VerifyCheck::ok);
    CHECK_IS(commit, VerifyCommit::rejected);
    CHECK_IS(use(f, 2, 2, true, 1001, &commit), VerifyCheck::rejected);
    TableStatistics st = f.table->statistics();
    ck_assert_uint_eq(st.rejected, 1);
    ck_assert_uint_eq(st.authenticated, 1);
    ck_assert_uint_eq(st.verified, 2);
    ck_assert_uint_eq(st.failed, 2);
    f.check_valid();
}
END_TEST

START_TEST(concurrent_same_nonce_second_is_duplicate) {
    Fixture f(small_geometry(16, 2, 16));
    add(f, 1);
    const Bytes sid = sid_bytes(make_sid(1));
    SessionSnapshot a, b;
    CHECK_IS(f.table->begin_verify(sid, 7, 1, 1001, a), VerifyCheck::ok);
    CHECK_IS(f.table->begin_verify(sid, 7, 1, 1001, b), VerifyCheck::ok);
    CHECK_IS(f.table->finish_verify(a, 1, true, 1001), VerifyCommit::ok);
    CHECK_IS(f.table->finish_verify(b, 1, true, 1001), VerifyCommit::duplicate);
    CHECK_IS(f.table->begin_verify(sid, 7, 2, 1001, a), VerifyCheck::unknown);
    // A session evicted between the steps vanishes.
    add(f, 2);
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(2)), 7, 1, 1001, a), VerifyCheck::ok);
    drop(f, sid_bytes(make_sid(2)));
    CHECK_IS(f.table->finish_verify(a, 1, true, 1001), VerifyCommit::vanished);
    // ... also when its slot was taken by another session meanwhile.
    add(f, 3);
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(3)), 7, 1, 1001, a), VerifyCheck::ok);
    drop(f, sid_bytes(make_sid(3)));
    add(f, 4);
    CHECK_IS(f.table->finish_verify(a, 1, true, 1001), VerifyCommit::vanished);
    f.check_valid();
}
END_TEST

START_TEST(sessions_expire) {
    Fixture f(small_geometry(16, 2, 16));
    add(f, 1, 7, 1000, 10);
    CHECK_IS(use(f, 1, 1, true, 1009), VerifyCheck::ok);
    CHECK_IS(use(f, 1, 2, true, 1010), VerifyCheck::expired);
    CHECK_IS(use(f, 1, 3, true, 1011), VerifyCheck::unknown);
    add(f, 2, 7, 1000, 10);
    CHECK_IS(use(f, 2, 1, true, 2000), VerifyCheck::expired);
    f.check_valid();
    ck_assert_uint_eq(f.table->statistics().evicted_expired, 2);
}
END_TEST

START_TEST(eviction_policy) {
    // One stripe, 4 slots, at most 2 pending key exchanges.
    Fixture f(small_geometry(4, 1, 2));
    InsertResult r;
    CHECK_IS(add(f, 1).eviction, Eviction::none);
    CHECK_IS(add(f, 2).eviction, Eviction::none);
    // Quota reached: the oldest key exchange (1) goes, although slots are free.
    r = add(f, 3);
    CHECK_IS(r.status, InsertStatus::ok);
    CHECK_IS(r.eviction, Eviction::key_exchange_quota);
    CHECK_IS(use(f, 1, 1), VerifyCheck::unknown);
    // Authenticate 2 and 3 (LRU order: 2 then 3), then fill with 4 and 5.
    CHECK_IS(use(f, 2, 1, true, 1001), VerifyCheck::ok);
    CHECK_IS(use(f, 3, 1, true, 1002), VerifyCheck::ok);
    CHECK_IS(add(f, 4).eviction, Eviction::none);
    CHECK_IS(add(f, 5).eviction, Eviction::none);
    f.check_valid();
    // 5 rejected; table full: the rejected one goes first.
    VerifyCommit commit;
    CHECK_IS(use(f, 5, 1, false, 1003, &commit), VerifyCheck::ok);
    CHECK_IS(commit, VerifyCommit::rejected);
    r = add(f, 6);
    CHECK_IS(r.eviction, Eviction::rejected);
    CHECK_IS(use(f, 5, 2), VerifyCheck::unknown);
    // Touch 2 so 3 is the least recently used authenticated session.
    CHECK_IS(use(f, 2, 2, true, 1004), VerifyCheck::ok);
    // kex {4, 6} = quota: the next insert evicts the oldest kex (4).
    r = add(f, 7);
    CHECK_IS(r.eviction, Eviction::key_exchange_quota);
    CHECK_IS(use(f, 4, 1), VerifyCheck::unknown);
    // Authenticate 6 and 7: table = {2, 3, 6, 7} all authenticated.
    CHECK_IS(use(f, 6, 1, true, 1005), VerifyCheck::ok);
    CHECK_IS(use(f, 7, 1, true, 1006), VerifyCheck::ok);
    r = add(f, 8);
    CHECK_IS(r.eviction, Eviction::authenticated);
    CHECK_IS(use(f, 3, 2), VerifyCheck::unknown);    // least recently used
    CHECK_IS(use(f, 2, 3, true, 1007), VerifyCheck::ok);
    f.check_valid();
    TableStatistics st = f.table->statistics();
    ck_assert_uint_eq(st.evicted_quota, 2);
    ck_assert_uint_eq(st.evicted_rejected, 1);
    ck_assert_uint_eq(st.evicted_authenticated, 1);
}
END_TEST

START_TEST(eviction_full_of_key_exchanges) {
    // Quota = table: a table full of pending key exchanges evicts the oldest.
    Fixture f(small_geometry(3, 1, 3));
    add(f, 1);
    add(f, 2);
    add(f, 3);
    InsertResult r = add(f, 4);
    CHECK_IS(r.eviction, Eviction::key_exchange_quota);
    CHECK_IS(use(f, 1, 1), VerifyCheck::unknown);
    CHECK_IS(use(f, 2, 1), VerifyCheck::ok);
    // Expired sessions at the list heads are cleared first.
    add(f, 10, 7, 5000, 5);
    r = add(f, 11, 7, 6000, 300);
    CHECK_IS(r.eviction, Eviction::expired);
    f.check_valid();
}
END_TEST

// The module's locks: robust process-shared mutexes. A process that dies
// holding one does not leave a dead lock: the next locker gets the stripe,
// emptied (its sessions may be half-updated), and the table works on.
START_TEST(process_shared_lock_survives_a_dead_owner) {
    TableGeometry g = small_geometry(16, 1, 16);
    const TableLayout l = plan_table(g);
    const std::size_t lock_bytes = ProcessSharedLocks::bytes_needed(l.stripes);
    const std::size_t total = lock_bytes + static_cast<std::size_t>(l.total_bytes);
    void* shared = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(shared != MAP_FAILED);
    ck_assert(ProcessSharedLocks::format(shared, l.stripes));
    ProcessSharedLocks locks(shared, l.stripes);
    void* memory = static_cast<char*>(shared) + lock_bytes;
    ck_assert(SessionTable::format(memory, static_cast<std::size_t>(l.total_bytes), g));
    SessionTable table(memory, static_cast<std::size_t>(l.total_bytes), locks, test_key());
    ck_assert(table.valid());
    static const Keys keys;
    NewSession n;
    n.sid = make_sid(1);
    n.realm_id = 7;
    n.user = "alice";
    n.k_c1 = &keys.k_c1;
    n.k_s1 = &keys.k_s1;
    n.z = &keys.z;
    n.nc_max = 400;
    n.now = 1000;
    n.expires = 1300;
    CHECK_IS(table.insert(n).status, InsertStatus::ok);
    SessionSnapshot snap;
    CHECK_IS(table.begin_verify(sid_bytes(make_sid(1)), 7, 1, 1001, snap), VerifyCheck::ok);

    const pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        ProcessSharedLocks theirs(shared, l.stripes);
        _exit(theirs.lock(0) == LockResult::held ? 0 : 1);   // dies holding it
    }
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    // Not a lock failure: the stripe is emptied, the session is gone.
    CHECK_IS(table.finish_verify(snap, 1, true, 1001), VerifyCommit::vanished);
    CHECK_IS(table.begin_verify(sid_bytes(make_sid(1)), 7, 1, 1001, snap), VerifyCheck::unknown);
    CHECK_IS(table.insert(n).status, InsertStatus::ok);
    CHECK_IS(table.begin_verify(sid_bytes(make_sid(1)), 7, 1, 1001, snap), VerifyCheck::ok);
    CHECK_IS(table.finish_verify(snap, 1, true, 1001), VerifyCommit::ok);
    std::string problem;
    ck_assert_msg(table.validate(problem), "validate: %s", problem.c_str());
    munmap(shared, total);
}
END_TEST

START_TEST(lock_failure_is_reported) {
    Fixture f(small_geometry(16, 2, 16));
    add(f, 1);
    f.locks.fail = true;
    CHECK_IS(add(f, 2).status, InsertStatus::lock_failed);
    SessionSnapshot snap;
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(1)), 7, 1, 1001, snap), VerifyCheck::lock_failed);
    f.locks.fail = false;
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(1)), 7, 1, 1001, snap), VerifyCheck::ok);
    f.locks.fail = true;
    CHECK_IS(f.table->finish_verify(snap, 1, true, 1001), VerifyCommit::lock_failed);
    std::string problem;
    ck_assert(!f.table->validate(problem));
    f.locks.fail = false;
    CHECK_IS(use(f, 1, 1), VerifyCheck::ok);
    f.check_valid();
}
END_TEST

START_TEST(realm_ids_are_keyed_and_distinct) {
    Fixture f(small_geometry(16, 2, 16));
    const std::uint64_t a = f.table->realm_id("iso-kam3-ec-p256-sha256", "example.com", "r", "/f");
    ck_assert_uint_eq(a, f.table->realm_id("iso-kam3-ec-p256-sha256", "example.com", "r", "/f"));
    ck_assert_uint_ne(a, f.table->realm_id("iso-kam3-dl-2048-sha256", "example.com", "r", "/f"));
    ck_assert_uint_ne(a, f.table->realm_id("iso-kam3-ec-p256-sha256", "example.co", "mr", "/f"));
    ck_assert_uint_ne(a, f.table->realm_id("iso-kam3-ec-p256-sha256", "example.com", "r", "/g"));
    // the origin (validation method and server) binds a session too
    const std::uint64_t o = f.table->realm_id("iso-kam3-ec-p256-sha256", "example.com", "r", "/f",
                                              "host http://example.com:8080");
    ck_assert_uint_ne(a, o);
    ck_assert_uint_ne(o, f.table->realm_id("iso-kam3-ec-p256-sha256", "example.com", "r", "/f",
                                           "host http://example.com:8081"));
    ck_assert_uint_ne(o, f.table->realm_id("iso-kam3-ec-p256-sha256", "example.com", "r", "/f",
                                           "tls-server-end-point http://example.com:8080"));
    TestLocks locks;
    HashKey k = test_key();
    k.bytes[3] ^= 0x80;
    SessionTable other(f.memory.get(), f.size, locks, k);
    ck_assert_uint_ne(a, other.realm_id("iso-kam3-ec-p256-sha256", "example.com", "r", "/f"));
}
END_TEST

// Issue #10: the serving location's limits tighten a session's own.
START_TEST(location_limits_tighten_the_sessions_own) {
    Fixture f(small_geometry(16, 2, 16));
    const Bytes sid = sid_bytes(make_sid(1));
    SessionSnapshot snap;
    SessionLimits strict;
    strict.nc_max = 5;
    ck_assert(add(f, 1, 7, 1000, 300, 400, 1024).status == InsertStatus::ok);
    CHECK_IS(use(f, 1, 1), VerifyCheck::ok);
    // nc 50: within the session's nc-max 400, above the location's 5
    CHECK_IS(f.table->begin_verify(sid, 7, 50, 1001, snap, strict), VerifyCheck::above_nc_max);
    CHECK_IS(f.table->begin_verify(sid, 7, 2, 1001, snap), VerifyCheck::unknown);

    SessionLimits narrow;
    narrow.nc_window = 128;
    ck_assert(add(f, 2, 7, 1000, 300, 4000, 1024).status == InsertStatus::ok);
    CHECK_IS(use(f, 2, 400), VerifyCheck::ok);
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(2)), 7, 200, 1001, snap), VerifyCheck::ok);
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(2)), 7, 200, 1001, snap, narrow),
             VerifyCheck::below_window);

    SessionLimits brief;
    brief.lifetime = 2;
    ck_assert(add(f, 3, 7, 1000, 300).status == InsertStatus::ok);
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(3)), 7, 1, 1001, snap, brief), VerifyCheck::ok);
    CHECK_IS(f.table->begin_verify(sid_bytes(make_sid(3)), 7, 1, 1002, snap, brief),
             VerifyCheck::expired);
    f.check_valid();
}
END_TEST

START_TEST(random_operations_keep_invariants) {
    Fixture f(small_geometry(50, 4, 20));
    std::mt19937 rng(12345);
    std::vector<std::uint64_t> next_nc(400, 1);
    std::int64_t now = 1000;
    for (int step = 0; step < 20000; ++step) {
        const std::uint32_t n = rng() % 400;
        switch (rng() % 5) {
            case 0:
                add(f, n, 7, now, 1 + rng() % 50);
                next_nc[n] = 1;
                break;
            case 1:
            case 2:
                use(f, n, next_nc[n]++, true, now);
                break;
            case 3:
                use(f, n, rng() % 8, rng() % 2 == 0, now);
                break;
            case 4:
                if (rng() % 10 == 0) drop(f, sid_bytes(make_sid(n)));
                ++now;
                break;
        }
        if (step % 997 == 0) f.check_valid();
    }
    f.check_valid();
    TableStatistics st = f.table->statistics();
    ck_assert_uint_eq(st.free + st.key_exchanging + st.authenticated + st.rejected, st.slots);
    ck_assert_uint_gt(st.verified, 0);
}
END_TEST

START_TEST(threads_share_the_table) {
    Fixture f(small_geometry(256, 16, 128));
    std::atomic<int> verified{0}, stale{0};
    auto worker = [&](std::uint32_t base) {
        for (std::uint32_t i = 0; i < 300; ++i) {
            const std::uint32_t n = base + (i % 20);
            if (i % 20 == 0 || i < 20) add(f, n, 7, 1000, 300);
            const VerifyCheck c = use(f, n, 1 + i / 20, true, 1001);
            if (c == VerifyCheck::ok) ++verified;
            else ++stale;
            // Every thread also hammers one shared session with fresh nc values.
            use(f, 999999, 1000 + base + i, true, 1001);
        }
    };
    add(f, 999999, 7, 1000, 300, 1u << 30, 1024);
    std::vector<std::thread> threads;
    for (std::uint32_t t = 0; t < 8; ++t) threads.emplace_back(worker, 1000 * (t + 1));
    for (auto& t : threads) t.join();
    f.check_valid();
    ck_assert_int_gt(verified.load(), 0);
    ck_assert_int_eq(f.locks.held.load(), 0);
}
END_TEST

START_TEST(end_session_and_verifier_check) {
    Fixture f(small_geometry(64, 4, 64));
    const Bytes j1(33, 0x01), j2(33, 0x02);
    ck_assert(f.table->verifier_tag(j1) == f.table->verifier_tag(Bytes(33, 0x01)));
    ck_assert(f.table->verifier_tag(j1) != f.table->verifier_tag(j2));
    static const Keys keys;
    NewSession s;
    s.sid = make_sid(1);
    s.realm_id = 7;
    s.user = "alice";
    s.k_c1 = &keys.k_c1;
    s.k_s1 = &keys.k_s1;
    s.z = &keys.z;
    s.nc_max = 100;
    s.now = 1000;
    s.expires = 2000;
    s.verifier_tag = f.table->verifier_tag(j1);
    CHECK_IS(f.table->insert(s).status, InsertStatus::ok);
    const Bytes sid = sid_bytes(make_sid(1));
    SessionSnapshot snap;
    CHECK_IS(f.table->begin_verify(sid, 7, 1, 1001, snap), VerifyCheck::ok);
    ck_assert(snap.verifier_tag == f.table->verifier_tag(j1));
    ck_assert_int_eq(snap.verifier_checked, 1000);  // checked at the key exchange
    ck_assert(f.table->mark_verifier_checked(sid, 7, 1500));
    ck_assert(!f.table->mark_verifier_checked(sid, 8, 1600));   // another space
    ck_assert(f.table->mark_verifier_checked(sid, 7, 1400));    // never backwards
    CHECK_IS(f.table->begin_verify(sid, 7, 1, 1501, snap), VerifyCheck::ok);
    ck_assert_int_eq(snap.verifier_checked, 1500);
    // end_session: only in its own space, for good
    ck_assert(!f.table->end_session(sid, 8));
    CHECK_IS(f.table->begin_verify(sid, 7, 1, 1501, snap), VerifyCheck::ok);
    const SessionSnapshot before_end = snap;
    ck_assert(f.table->end_session(sid, 7));
    ck_assert(!f.table->end_session(sid, 7));
    CHECK_IS(f.table->begin_verify(sid, 7, 1, 1501, snap), VerifyCheck::unknown);
    CHECK_IS(f.table->finish_verify(before_end, 1, true, 1501), VerifyCommit::vanished);
    ck_assert(!f.table->mark_verifier_checked(sid, 7, 1600));
    f.check_valid();
}
END_TEST

int main() {
    Suite* s = suite_create("session_table");
    TCase* tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, siphash_reference_vectors);
    tcase_add_test(tc, geometry_is_normalised);
    tcase_add_test(tc, format_and_attach_checks);
    tcase_add_test(tc, insert_lookup_snapshot);
    tcase_add_test(tc, end_session_and_verifier_check);
    tcase_add_test(tc, fake_flag_and_user_are_kept);
    tcase_add_test(tc, oversize_values_rejected);
    tcase_add_test(tc, nonce_duplicate_makes_session_inactive);
    tcase_add_test(tc, nonce_window_edges);
    tcase_add_test(tc, nonce_rfc8120_section6_example);
    tcase_add_test(tc, nonce_max_and_saturation);
    tcase_add_test(tc, only_verified_requests_consume_nonces);
    tcase_add_test(tc, concurrent_same_nonce_second_is_duplicate);
    tcase_add_test(tc, sessions_expire);
    tcase_add_test(tc, eviction_policy);
    tcase_add_test(tc, eviction_full_of_key_exchanges);
    tcase_add_test(tc, lock_failure_is_reported);
    tcase_add_test(tc, process_shared_lock_survives_a_dead_owner);
    tcase_add_test(tc, realm_ids_are_keyed_and_distinct);
    tcase_add_test(tc, location_limits_tighten_the_sessions_own);
    tcase_add_test(tc, random_operations_keep_invariants);
    tcase_add_test(tc, threads_share_the_table);
    suite_add_tcase(s, tc);
    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

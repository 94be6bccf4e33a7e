#include "server/session_table.h"

#include <cerrno>
#include <cstring>
#include <pthread.h>
#include <type_traits>
#include <vector>

#include <openssl/crypto.h>

#include "encoding.h"

namespace mutual {

// ---- names ----------------------------------------------------------------

// ---- layout ---------------------------------------------------------------

namespace {

constexpr std::uint64_t table_magic = 0x3153534554554d4dULL;  // "MMUTESS1"
constexpr std::uint32_t table_version = 4;  // 3: views/generation and verifier_tag/verifier_checked; 4: slots handed out lazily (Stripe::fresh)
constexpr std::uint32_t nil = 0xffffffffu;
constexpr unsigned list_count = 4;   // indexed by SessionState: free, kex, auth, rejected

constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t to) noexcept {
    return (v + to - 1) / to * to;
}

std::uint32_t floor_power_of_two(std::uint32_t v) noexcept {
    std::uint32_t p = 1;
    while (p <= v / 2) p <<= 1;
    return p;
}

std::uint32_t ceil_power_of_two(std::uint32_t v) noexcept {
    std::uint32_t p = 1;
    while (p < v && p < 0x80000000u) p <<= 1;
    return p;
}

}  // namespace

struct SessionTable::Header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t header_bytes;
    std::uint64_t total_bytes;
    std::uint32_t stripes;
    std::uint32_t slots_per_stripe;
    std::uint32_t buckets_per_stripe;
    std::uint32_t slot_stride;
    std::uint32_t key_capacity;
    std::uint32_t max_kex_per_stripe;
    std::uint64_t stripe_offset;
    std::uint64_t bucket_offset;
    std::uint64_t slot_offset;
};

struct ListHead {
    std::uint32_t head;
    std::uint32_t tail;
    std::uint32_t count;
};

struct alignas(64) SessionTable::Stripe {
    ListHead lists[list_count];
    // Slots [0, fresh) have been handed out at least once and are on exactly
    // one list; slots [fresh, slots_per_stripe) were never used and are free
    // without being listed, so formatting never touches the slot area (a
    // table of millions of slots starts at once and its pages are only
    // faulted in as sessions arrive).
    std::uint32_t fresh;
    std::uint64_t created;
    std::uint64_t verified;
    std::uint64_t failed;
    std::uint64_t stale;
    std::uint64_t evicted_expired;
    std::uint64_t evicted_rejected;
    std::uint64_t evicted_quota;
    std::uint64_t evicted_authenticated;
    std::uint64_t evicted_key_exchanging;
};

// The fixed part of a slot; the user name and the key octets follow it.
struct alignas(8) SessionTable::Slot {
    std::uint64_t sid_hash;
    std::uint64_t realm_id;
    std::int64_t created;
    std::int64_t expires;
    std::int64_t last_used;
    std::uint32_t bucket_next;
    std::uint32_t prev;
    std::uint32_t next;
    std::uint32_t generation;             // +1 whenever the slot is released
    NonceWindow nonces;
    std::uint8_t sid[session_id_length];
    std::uint8_t state;
    std::uint8_t fake;
    std::uint8_t algorithm;
    std::uint8_t in_bucket;
    std::uint16_t user_length;
    std::uint16_t k_c1_length;
    std::uint16_t k_s1_length;
    std::uint16_t secret_length;
    std::uint64_t verifier_tag;           // revocation: fingerprint of J at the key exchange
    std::int64_t verifier_checked;        // revocation: last time J was found unchanged
};

namespace {

// Checked where the private types are visible (inside member functions).
template <typename T>
constexpr bool shm_safe() {
    return std::is_trivially_copyable<T>::value && std::is_standard_layout<T>::value;
}

}  // namespace

TableLayout plan_table(const TableGeometry& g) noexcept {
    TableLayout l;
    if (g.slots == 0 || g.stripes == 0 || g.key_capacity == 0 || g.key_capacity > 3 * 65535u)
        return l;
    std::uint32_t stripes = floor_power_of_two(g.stripes);
    if (stripes > g.slots) stripes = floor_power_of_two(g.slots);
    l.stripes = stripes;
    l.slots_per_stripe = (g.slots + stripes - 1) / stripes;
    l.buckets_per_stripe = ceil_power_of_two(l.slots_per_stripe);
    std::uint32_t kex = g.max_key_exchanges;
    if (kex == 0 || kex > g.slots) kex = g.slots;
    l.max_kex_per_stripe = (kex + stripes - 1) / stripes;
    if (l.max_kex_per_stripe > l.slots_per_stripe) l.max_kex_per_stripe = l.slots_per_stripe;
    if (l.max_kex_per_stripe == 0) l.max_kex_per_stripe = 1;
    l.key_capacity = g.key_capacity;
    l.slots = static_cast<std::uint64_t>(l.slots_per_stripe) * stripes;
    using Slot = SessionTable::Slot;
    using Stripe = SessionTable::Stripe;
    using Header = SessionTable::Header;
    l.slot_stride = static_cast<std::uint32_t>(round_up(sizeof(Slot) + max_user_length + l.key_capacity, 64));
    l.stripe_offset = round_up(sizeof(Header), 64);
    l.bucket_offset = l.stripe_offset + round_up(sizeof(Stripe) * l.stripes, 64);
    l.slot_offset = l.bucket_offset +
                    round_up(sizeof(std::uint32_t) * std::uint64_t(l.buckets_per_stripe) * l.stripes, 64);
    l.total_bytes = l.slot_offset + std::uint64_t(l.slot_stride) * l.slots;
    return l;
}

bool SessionTable::format(void* memory, std::size_t size, const TableGeometry& geometry) noexcept {
    static_assert(shm_safe<Header>(), "shared memory holds only trivially copyable data");
    static_assert(shm_safe<Stripe>(), "shared memory holds only trivially copyable data");
    static_assert(shm_safe<Slot>(), "shared memory holds only trivially copyable data");
    TableLayout l = plan_table(geometry);
    if (l.slots == 0 || memory == nullptr) return false;
    if (reinterpret_cast<std::uintptr_t>(memory) % 64 != 0) return false;
    const std::uint64_t stride = l.slot_stride;
    const std::uint64_t stripe_off = l.stripe_offset;
    const std::uint64_t bucket_off = l.bucket_offset;
    const std::uint64_t slot_off = l.slot_offset;
    const std::uint64_t total = l.total_bytes;
    if (total > size) return false;

    // The slot area is left as it is: slots are wiped as they are handed out
    // (take_slot), and a fresh shared-memory segment is zero anyway.
    std::memset(memory, 0, static_cast<std::size_t>(slot_off));
    auto* base = static_cast<std::uint8_t*>(memory);
    auto* h = reinterpret_cast<Header*>(base);
    h->magic = table_magic;
    h->version = table_version;
    h->header_bytes = sizeof(Header);
    h->total_bytes = total;
    h->stripes = l.stripes;
    h->slots_per_stripe = l.slots_per_stripe;
    h->buckets_per_stripe = l.buckets_per_stripe;
    h->slot_stride = static_cast<std::uint32_t>(stride);
    h->key_capacity = l.key_capacity;
    h->max_kex_per_stripe = l.max_kex_per_stripe;
    h->stripe_offset = stripe_off;
    h->bucket_offset = bucket_off;
    h->slot_offset = slot_off;

    for (std::uint32_t s = 0; s < l.stripes; ++s) reset_stripe(base, *h, s);
    return true;
}

// Wipes one slot for a new use; its generation moves on, so that views a
// reader took of its previous contents go stale.
void SessionTable::wipe_slot(std::uint8_t* slot_memory, std::uint64_t stride) noexcept {
    auto* sl = reinterpret_cast<Slot*>(slot_memory);
    const std::uint32_t generation = sl->generation + 1;
    OPENSSL_cleanse(sl, static_cast<std::size_t>(stride));
    sl->generation = generation;
    sl->bucket_next = sl->prev = sl->next = nil;
    sl->state = static_cast<std::uint8_t>(SessionState::free);
}

// Empties one stripe: every slot used so far wiped, every slot fresh again
// (never used, free), every bucket empty, counters kept. Used by format()
// and when a stripe's lock comes back from an owner that died holding it.
void SessionTable::reset_stripe(std::uint8_t* base, const Header& h, unsigned s) noexcept {
    const std::uint64_t stride = h.slot_stride;
    auto* buckets = reinterpret_cast<std::uint32_t*>(base + h.bucket_offset) +
                    std::uint64_t(s) * h.buckets_per_stripe;
    for (std::uint32_t b = 0; b < h.buckets_per_stripe; ++b) buckets[b] = nil;
    auto* st = reinterpret_cast<Stripe*>(base + h.stripe_offset) + s;
    for (auto& list : st->lists) list = ListHead{nil, nil, 0};
    std::uint8_t* first = base + h.slot_offset + stride * std::uint64_t(s) * h.slots_per_stripe;
    const std::uint32_t used = st->fresh < h.slots_per_stripe ? st->fresh : h.slots_per_stripe;
    for (std::uint32_t i = 0; i < used; ++i) wipe_slot(first + stride * i, stride);
    st->fresh = 0;
}

SessionTable::SessionTable(void* memory, std::size_t size, StripeLocks& locks,
                           const HashKey& key) noexcept
    : locks_(locks), key_(key) {
    if (memory == nullptr || size < sizeof(Header)) return;
    auto* h = static_cast<Header*>(memory);
    if (h->magic != table_magic || h->version != table_version ||
        h->header_bytes != sizeof(Header) || h->total_bytes > size || h->stripes == 0 ||
        (h->stripes & (h->stripes - 1)) != 0 || h->slots_per_stripe == 0 ||
        h->buckets_per_stripe == 0 || (h->buckets_per_stripe & (h->buckets_per_stripe - 1)) != 0)
        return;
    const std::uint64_t need = h->slot_offset + std::uint64_t(h->slot_stride) * h->slots_per_stripe * h->stripes;
    if (need > h->total_bytes) return;
    header_ = h;
    base_ = static_cast<std::uint8_t*>(memory);
    layout_.stripes = h->stripes;
    layout_.slots_per_stripe = h->slots_per_stripe;
    layout_.buckets_per_stripe = h->buckets_per_stripe;
    layout_.max_kex_per_stripe = h->max_kex_per_stripe;
    layout_.key_capacity = h->key_capacity;
    layout_.slot_stride = h->slot_stride;
    layout_.slots = std::uint64_t(h->slots_per_stripe) * h->stripes;
    layout_.total_bytes = h->total_bytes;
}

// ---- addressing -----------------------------------------------------------

std::uint64_t SessionTable::sid_hash(const std::uint8_t* sid, std::size_t length) const noexcept {
    return siphash24(key_, sid, length);
}

unsigned SessionTable::stripe_of(std::uint64_t hash) const noexcept {
    return static_cast<unsigned>(hash & (header_->stripes - 1));
}

std::uint32_t SessionTable::bucket_of(std::uint64_t hash) const noexcept {
    return static_cast<std::uint32_t>((hash >> 32) & (header_->buckets_per_stripe - 1));
}

SessionTable::Stripe& SessionTable::stripe(unsigned index) const noexcept {
    return reinterpret_cast<Stripe*>(base_ + header_->stripe_offset)[index];
}

SessionTable::Slot& SessionTable::slot(unsigned s, std::uint32_t index) const noexcept {
    return *reinterpret_cast<Slot*>(base_ + header_->slot_offset +
                                    std::uint64_t(header_->slot_stride) *
                                        (std::uint64_t(s) * header_->slots_per_stripe + index));
}

std::uint32_t& SessionTable::bucket(unsigned s, std::uint32_t b) const noexcept {
    return reinterpret_cast<std::uint32_t*>(base_ + header_->bucket_offset)
        [std::uint64_t(s) * header_->buckets_per_stripe + b];
}

std::uint8_t* SessionTable::user_area(Slot& s) const noexcept {
    return reinterpret_cast<std::uint8_t*>(&s) + sizeof(Slot);
}

std::uint8_t* SessionTable::key_area(Slot& s) const noexcept {
    return reinterpret_cast<std::uint8_t*>(&s) + sizeof(Slot) + max_user_length;
}

std::uint64_t SessionTable::realm_id(std::string_view algorithm, std::string_view auth_scope,
                                     std::string_view realm, std::string_view partition,
                                     std::string_view origin) const {
    return keyed_realm_id(key_, algorithm, auth_scope, realm, partition, origin);
}

// ---- lists and buckets (caller holds the stripe lock) ---------------------

std::uint32_t SessionTable::find(unsigned s, std::uint64_t hash, const std::uint8_t* sid) const noexcept {
    std::uint32_t i = bucket(s, bucket_of(hash));
    std::uint32_t guard = header_->slots_per_stripe;
    while (i != nil && guard-- > 0) {
        Slot& sl = slot(s, i);
        if (sl.sid_hash == hash && CRYPTO_memcmp(sl.sid, sid, session_id_length) == 0) return i;
        i = sl.bucket_next;
    }
    return nil;
}

void SessionTable::list_remove(unsigned s, std::uint32_t index) noexcept {
    Slot& sl = slot(s, index);
    ListHead& list = stripe(s).lists[sl.state];
    if (sl.prev != nil) slot(s, sl.prev).next = sl.next; else list.head = sl.next;
    if (sl.next != nil) slot(s, sl.next).prev = sl.prev; else list.tail = sl.prev;
    sl.prev = sl.next = nil;
    --list.count;
}

void SessionTable::list_append(unsigned s, std::uint32_t index, SessionState state) noexcept {
    Slot& sl = slot(s, index);
    ListHead& list = stripe(s).lists[static_cast<unsigned>(state)];
    sl.state = static_cast<std::uint8_t>(state);
    sl.next = nil;
    sl.prev = list.tail;
    if (list.tail != nil) slot(s, list.tail).next = index; else list.head = index;
    list.tail = index;
    ++list.count;
}

void SessionTable::bucket_remove(unsigned s, std::uint32_t index) noexcept {
    Slot& sl = slot(s, index);
    if (!sl.in_bucket) return;
    std::uint32_t* link = &bucket(s, bucket_of(sl.sid_hash));
    std::uint32_t guard = header_->slots_per_stripe;
    while (*link != nil && guard-- > 0) {
        if (*link == index) {
            *link = sl.bucket_next;
            break;
        }
        link = &slot(s, *link).bucket_next;
    }
    sl.bucket_next = nil;
    sl.in_bucket = 0;
}

// Takes a slot out of its bucket and list, wipes it, puts it on the free list.
void SessionTable::release(unsigned s, std::uint32_t index) noexcept {
    Slot& sl = slot(s, index);
    bucket_remove(s, index);
    list_remove(s, index);
    OPENSSL_cleanse(key_area(sl), header_->key_capacity);
    OPENSSL_cleanse(user_area(sl), max_user_length);
    sl.nonces.reset(0, 0);
    ++sl.generation;
    sl.user_length = sl.k_c1_length = sl.k_s1_length = sl.secret_length = 0;
    sl.sid_hash = sl.realm_id = 0;
    std::memset(sl.sid, 0, sizeof sl.sid);
    list_append(s, index, SessionState::free);
}

// A slot for a new key-exchanging session, following the eviction policy of
// docs/session-table.md. The slot returned is detached from every list.
std::uint32_t SessionTable::take_slot(unsigned s, std::int64_t now, Eviction& eviction) noexcept {
    Stripe& st = stripe(s);
    ListHead& kex = st.lists[static_cast<unsigned>(SessionState::key_exchanging)];
    ListHead& auth = st.lists[static_cast<unsigned>(SessionState::authenticated)];
    ListHead& rejected = st.lists[static_cast<unsigned>(SessionState::rejected)];
    ListHead& free_list = st.lists[static_cast<unsigned>(SessionState::free)];

    // Expired sessions at the heads of the time-ordered lists go first.
    for (ListHead* list : {&kex, &auth}) {
        if (list->head != nil && slot(s, list->head).expires <= now) {
            const std::uint32_t i = list->head;
            release(s, i);
            ++st.evicted_expired;
            if (eviction == Eviction::none) eviction = Eviction::expired;
        }
    }

    std::uint32_t victim = nil;
    if (kex.count >= header_->max_kex_per_stripe && kex.head != nil) {
        victim = kex.head;
        eviction = Eviction::key_exchange_quota;
        ++st.evicted_quota;
    } else if (free_list.head != nil) {
        const std::uint32_t i = free_list.head;
        list_remove(s, i);
        return i;
    } else if (st.fresh < header_->slots_per_stripe) {
        const std::uint32_t i = st.fresh++;
        wipe_slot(reinterpret_cast<std::uint8_t*>(&slot(s, i)), header_->slot_stride);
        return i;
    } else if (rejected.head != nil) {
        victim = rejected.head;
        eviction = Eviction::rejected;
        ++st.evicted_rejected;
    } else if (auth.head != nil) {
        victim = auth.head;
        eviction = Eviction::authenticated;
        ++st.evicted_authenticated;
    } else if (kex.head != nil) {
        victim = kex.head;
        eviction = Eviction::key_exchanging;
        ++st.evicted_key_exchanging;
    } else {
        return nil;  // cannot happen: slots_per_stripe >= 1
    }
    release(s, victim);
    list_remove(s, victim);
    return victim;
}

// Holds a stripe lock for a scope. A lock whose owner died holding it may
// guard a half-updated stripe: its sessions are dropped (their clients get
// 401-STALE and make new ones) before anything reads it.
class SessionTable::Guard {
public:
    Guard(const SessionTable& table, unsigned stripe) noexcept
        : locks_(table.locks_), stripe_(stripe) {
        const LockResult r = locks_.lock(stripe);
        held_ = r != LockResult::failed;
        if (r == LockResult::held_owner_died) reset_stripe(table.base_, *table.header_, stripe);
    }
    ~Guard() {
        if (held_) locks_.unlock(stripe_);
    }
    bool held() const noexcept { return held_; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

private:
    StripeLocks& locks_;
    unsigned stripe_;
    bool held_ = false;
};

// ---- process-shared locks ---------------------------------------------------

namespace {

constexpr std::size_t mutex_stride = (sizeof(pthread_mutex_t) + 63) / 64 * 64;

pthread_mutex_t* mutex_at(void* memory, unsigned i) noexcept {
    return reinterpret_cast<pthread_mutex_t*>(static_cast<std::uint8_t*>(memory) + mutex_stride * i);
}

}  // namespace

std::size_t ProcessSharedLocks::bytes_needed(unsigned count) noexcept { return mutex_stride * count; }

bool ProcessSharedLocks::format(void* memory, unsigned count) noexcept {
    if (memory == nullptr || reinterpret_cast<std::uintptr_t>(memory) % 64 != 0) return false;
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0) return false;
    bool ok = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0 &&
              pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0;
    for (unsigned i = 0; ok && i < count; ++i) {
        std::memset(mutex_at(memory, i), 0, mutex_stride);
        ok = pthread_mutex_init(mutex_at(memory, i), &attr) == 0;
    }
    pthread_mutexattr_destroy(&attr);
    return ok;
}

ProcessSharedLocks::ProcessSharedLocks(void* memory, unsigned count) noexcept
    : memory_(memory), count_(count) {}

LockResult ProcessSharedLocks::lock(unsigned stripe) noexcept {
    if (stripe >= count_) return LockResult::failed;
    pthread_mutex_t* m = mutex_at(memory_, stripe);
    const int rv = pthread_mutex_lock(m);
    if (rv == 0) return LockResult::held;
    if (rv == EOWNERDEAD && pthread_mutex_consistent(m) == 0) return LockResult::held_owner_died;
    return LockResult::failed;
}

void ProcessSharedLocks::unlock(unsigned stripe) noexcept {
    if (stripe < count_) pthread_mutex_unlock(mutex_at(memory_, stripe));
}

// ---- operations -------------------------------------------------------------

InsertResult SessionTable::insert(const NewSession& n) noexcept {
    InsertResult result;
    if (!header_ || !n.k_c1 || !n.k_s1 || !n.z) {
        result.status = InsertStatus::bad_argument;
        return result;
    }
    const std::size_t keys = n.k_c1->size() + n.k_s1->size() + n.z->size();
    if (n.user.size() > max_user_length || keys > header_->key_capacity ||
        n.k_c1->size() > 0xffff || n.k_s1->size() > 0xffff || n.z->size() > 0xffff) {
        result.status = InsertStatus::too_large;
        return result;
    }
    if (n.nc_window < min_nc_window || n.nc_window > max_nc_window) {
        result.status = InsertStatus::bad_argument;
        return result;
    }
    const std::uint64_t hash = sid_hash(n.sid.data(), n.sid.size());
    const unsigned s = stripe_of(hash);
    Guard guard(*this, s);
    if (!guard.held()) {
        result.status = InsertStatus::lock_failed;
        return result;
    }
    // A sid is 128 random bits: a collision means a broken RNG. Replace.
    const std::uint32_t existing = find(s, hash, n.sid.data());
    if (existing != nil) release(s, existing);

    const std::uint32_t i = take_slot(s, n.now, result.eviction);
    if (i == nil) {
        result.status = InsertStatus::bad_argument;
        return result;
    }
    Slot& sl = slot(s, i);
    sl.sid_hash = hash;
    sl.realm_id = n.realm_id;
    sl.created = n.now;
    sl.verifier_tag = n.verifier_tag;
    sl.verifier_checked = n.now;
    sl.expires = n.expires;
    sl.last_used = n.now;
    sl.nonces.reset(n.nc_max, n.nc_window);
    std::memcpy(sl.sid, n.sid.data(), session_id_length);
    sl.fake = n.fake ? 1 : 0;
    sl.algorithm = n.algorithm;
    sl.user_length = static_cast<std::uint16_t>(n.user.size());
    if (!n.user.empty()) std::memcpy(user_area(sl), n.user.data(), n.user.size());
    std::uint8_t* keys_out = key_area(sl);
    sl.k_c1_length = static_cast<std::uint16_t>(n.k_c1->size());
    sl.k_s1_length = static_cast<std::uint16_t>(n.k_s1->size());
    sl.secret_length = static_cast<std::uint16_t>(n.z->size());
    if (!n.k_c1->empty()) std::memcpy(keys_out, n.k_c1->data(), n.k_c1->size());
    keys_out += n.k_c1->size();
    if (!n.k_s1->empty()) std::memcpy(keys_out, n.k_s1->data(), n.k_s1->size());
    keys_out += n.k_s1->size();
    if (!n.z->empty()) std::memcpy(keys_out, n.z->data(), n.z->size());

    std::uint32_t& head = bucket(s, bucket_of(hash));
    sl.bucket_next = head;
    sl.in_bucket = 1;
    head = i;
    list_append(s, i, SessionState::key_exchanging);
    ++stripe(s).created;
    return result;
}

namespace {

// The session's time is over: its own expiry, or the serving location's
// lifetime counted from the key exchange.
template <typename SlotT>
bool expired(const SlotT& sl, std::int64_t now, const SessionLimits& limits) noexcept {
    if (sl.expires <= now) return true;
    return limits.lifetime < INT64_MAX && now - sl.created >= limits.lifetime;
}

}  // namespace

VerifyCheck SessionTable::begin_verify(ByteView sid, std::uint64_t realm, std::uint64_t nc,
                                       std::int64_t now, SessionSnapshot& out,
                                       const SessionLimits& limits) noexcept {
    if (!header_) return VerifyCheck::lock_failed;
    if (sid.size() != session_id_length) return VerifyCheck::unknown;
    const std::uint64_t hash = sid_hash(sid.data(), sid.size());
    const unsigned s = stripe_of(hash);
    Guard guard(*this, s);
    if (!guard.held()) return VerifyCheck::lock_failed;
    Stripe& st = stripe(s);
    const std::uint32_t i = find(s, hash, sid.data());
    if (i == nil) {
        ++st.stale;
        return VerifyCheck::unknown;
    }
    Slot& sl = slot(s, i);
    if (sl.realm_id != realm) {
        ++st.stale;
        return VerifyCheck::unknown;
    }
    if (expired(sl, now, limits)) {
        release(s, i);
        ++st.evicted_expired;
        ++st.stale;
        return VerifyCheck::expired;
    }
    const auto state = static_cast<SessionState>(sl.state);
    if (state == SessionState::rejected) return VerifyCheck::rejected;
    switch (sl.nonces.check(nc, limits.nc_max, limits.nc_window)) {
        case NonceVerdict::above_max:
            release(s, i);
            ++st.stale;
            return VerifyCheck::above_nc_max;
        case NonceVerdict::below_window:
            release(s, i);
            ++st.stale;
            return VerifyCheck::below_window;
        case NonceVerdict::duplicate:
            release(s, i);
            ++st.stale;
            return VerifyCheck::duplicate;
        case NonceVerdict::fresh:
            break;
    }
    out.state = state;
    out.fake = sl.fake != 0;
    out.created = sl.created;
    out.verifier_tag = sl.verifier_tag;
    out.verifier_checked = sl.verifier_checked;
    out.algorithm = sl.algorithm;
    const std::uint8_t* keys = key_area(sl);
    out.user = std::string_view(reinterpret_cast<const char*>(user_area(sl)), sl.user_length);
    out.k_c1 = ByteView(keys, sl.k_c1_length);
    keys += sl.k_c1_length;
    out.k_s1 = ByteView(keys, sl.k_s1_length);
    keys += sl.k_s1_length;
    out.z = ByteView(keys, sl.secret_length);
    out.stripe = s;
    out.slot = i;
    out.generation = sl.generation;
    out.sid_hash = hash;
    return VerifyCheck::ok;
}

VerifyCommit SessionTable::finish_verify(const SessionSnapshot& found, std::uint64_t nc,
                                         bool verified, std::int64_t now,
                                         const SessionLimits& limits) noexcept {
    if (!header_) return VerifyCommit::lock_failed;
    if (found.stripe >= header_->stripes || found.slot >= header_->slots_per_stripe)
        return VerifyCommit::vanished;
    const unsigned s = found.stripe;
    const std::uint32_t i = found.slot;
    Guard guard(*this, s);
    if (!guard.held()) return VerifyCommit::lock_failed;
    Stripe& st = stripe(s);
    // The same session still in the slot: not released since begin_verify.
    if (slot(s, i).generation != found.generation || slot(s, i).state == 0 ||
        slot(s, i).sid_hash != found.sid_hash) {
        ++st.stale;
        return VerifyCommit::vanished;
    }
    Slot& sl = slot(s, i);
    const auto state = static_cast<SessionState>(sl.state);
    if (!verified) {
        ++st.failed;
        if (state == SessionState::key_exchanging) {
            list_remove(s, i);
            list_append(s, i, SessionState::rejected);
            // A rejected session's z is never used again.
            OPENSSL_cleanse(key_area(sl) + sl.k_c1_length + sl.k_s1_length, sl.secret_length);
            sl.secret_length = 0;
            return VerifyCommit::rejected;
        }
        return VerifyCommit::kept;
    }
    if (state == SessionState::rejected) {
        // Another request failed on this session meanwhile; it stays rejected.
        ++st.failed;
        return VerifyCommit::kept;
    }
    switch (sl.nonces.check(nc, limits.nc_max, limits.nc_window)) {
        case NonceVerdict::duplicate:
            release(s, i);
            ++st.stale;
            return VerifyCommit::duplicate;
        case NonceVerdict::below_window:
            release(s, i);
            ++st.stale;
            return VerifyCommit::below_window;
        case NonceVerdict::above_max:   // checked by begin_verify with the same limits
            release(s, i);
            ++st.stale;
            return VerifyCommit::vanished;
        case NonceVerdict::fresh:
            break;
    }
    sl.nonces.record(nc);
    // Least recently used order: a verified session moves to the tail of
    // the authenticated list (a key-exchanging one joins it).
    list_remove(s, i);
    list_append(s, i, SessionState::authenticated);
    sl.last_used = now;
    ++st.verified;
    return VerifyCommit::ok;
}

// Runs f(stripe, index) on the session `sid` under its stripe lock; with a
// realm, only when the session belongs to it. false when absent, of
// another realm, or when the lock failed.
template <typename F>
bool SessionTable::with_session(ByteView sid, const std::uint64_t* realm, F f) noexcept {
    if (!header_ || sid.size() != session_id_length) return false;
    const std::uint64_t hash = sid_hash(sid.data(), sid.size());
    const unsigned s = stripe_of(hash);
    Guard guard(*this, s);
    if (!guard.held()) return false;
    const std::uint32_t i = find(s, hash, sid.data());
    if (i == nil || (realm != nullptr && slot(s, i).realm_id != *realm)) return false;
    f(s, i);
    return true;
}

bool SessionTable::end_session(ByteView sid, std::uint64_t realm) noexcept {
    return with_session(sid, &realm, [this](unsigned s, std::uint32_t i) { release(s, i); });
}

std::uint64_t SessionTable::verifier_tag(const Bytes& j) const noexcept {
    return keyed_verifier_tag(key_, j);
}

bool SessionTable::mark_verifier_checked(ByteView sid, std::uint64_t realm, std::int64_t now) noexcept {
    return with_session(sid, &realm, [this, now](unsigned s, std::uint32_t i) {
        Slot& sl = slot(s, i);
        if (now > sl.verifier_checked) sl.verifier_checked = now;
    });
}

// ---- validation and statistics ----------------------------------------------

bool SessionTable::validate(std::string& problem) const {
    if (!header_) {
        problem = "table not attached";
        return false;
    }
    const std::uint32_t n = header_->slots_per_stripe;
    for (unsigned s = 0; s < header_->stripes; ++s) {
        Guard guard(*this, s);
        if (!guard.held()) {
            problem = "lock failed on stripe " + std::to_string(s);
            return false;
        }
        const Stripe& st = stripe(s);
        if (st.fresh > n) {
            problem = "stripe " + std::to_string(s) + ": more slots handed out than it has";
            return false;
        }
        const std::uint32_t used = st.fresh;  // slots [used, n) are fresh: free, on no list
        std::vector<std::uint8_t> seen(n, 0);
        std::uint64_t total = 0;
        for (unsigned l = 0; l < list_count; ++l) {
            const ListHead& list = st.lists[l];
            std::uint32_t count = 0, prev = nil, i = list.head;
            while (i != nil) {
                if (i >= used) {
                    problem = "stripe " + std::to_string(s) + ": index out of range in list " + std::to_string(l);
                    return false;
                }
                if (seen[i]) {
                    problem = "stripe " + std::to_string(s) + ": slot " + std::to_string(i) + " on two lists or a cycle";
                    return false;
                }
                seen[i] = 1;
                const Slot& sl = slot(s, i);
                if (sl.state != l) {
                    problem = "stripe " + std::to_string(s) + ": slot " + std::to_string(i) + " state does not match its list";
                    return false;
                }
                if (sl.prev != prev) {
                    problem = "stripe " + std::to_string(s) + ": broken prev link at slot " + std::to_string(i);
                    return false;
                }
                if (l != 0) {
                    if (sl.user_length > max_user_length ||
                        std::uint64_t(sl.k_c1_length) + sl.k_s1_length + sl.secret_length > header_->key_capacity) {
                        problem = "stripe " + std::to_string(s) + ": slot " + std::to_string(i) + " lengths out of bounds";
                        return false;
                    }
                    if (sl.nonces.size < min_nc_window || sl.nonces.size > max_nc_window) {
                        problem = "stripe " + std::to_string(s) + ": slot " + std::to_string(i) + " bad nc-window";
                        return false;
                    }
                    if (!sl.in_bucket || sl.sid_hash != siphash24(key_, sl.sid, session_id_length)) {
                        problem = "stripe " + std::to_string(s) + ": slot " + std::to_string(i) + " hash or bucket membership wrong";
                        return false;
                    }
                } else if (sl.in_bucket) {
                    problem = "stripe " + std::to_string(s) + ": free slot " + std::to_string(i) + " still in a bucket";
                    return false;
                }
                prev = i;
                i = sl.next;
                ++count;
            }
            if (prev != list.tail || count != list.count) {
                problem = "stripe " + std::to_string(s) + ": list " + std::to_string(l) + " tail or count wrong";
                return false;
            }
            total += count;
        }
        if (total != used) {
            problem = "stripe " + std::to_string(s) + ": " + std::to_string(used - total) + " slots on no list";
            return false;
        }
        if (st.lists[static_cast<unsigned>(SessionState::key_exchanging)].count > header_->max_kex_per_stripe) {
            problem = "stripe " + std::to_string(s) + ": key-exchange quota exceeded";
            return false;
        }
        // Every used slot in exactly one chain, in the right bucket.
        std::uint64_t chained = 0;
        for (std::uint32_t b = 0; b < header_->buckets_per_stripe; ++b) {
            std::uint32_t i = bucket(s, b), guard_count = n + 1;
            while (i != nil) {
                if (i >= used || guard_count-- == 0) {
                    problem = "stripe " + std::to_string(s) + ": bucket chain " + std::to_string(b) + " broken";
                    return false;
                }
                const Slot& sl = slot(s, i);
                if (sl.state == 0 || bucket_of(sl.sid_hash) != b || seen[i] != 1) {
                    problem = "stripe " + std::to_string(s) + ": slot " + std::to_string(i) + " in wrong bucket";
                    return false;
                }
                seen[i] = 2;
                ++chained;
                i = sl.bucket_next;
            }
        }
        if (chained != used - st.lists[0].count) {
            problem = "stripe " + std::to_string(s) + ": used slots missing from buckets";
            return false;
        }
    }
    problem.clear();
    return true;
}

TableStatistics SessionTable::statistics() const noexcept {
    TableStatistics t;
    if (!header_) return t;
    t.slots = layout_.slots;
    for (unsigned s = 0; s < header_->stripes; ++s) {
        Guard guard(*this, s);
        if (!guard.held()) continue;
        const Stripe& st = stripe(s);
        t.free += st.lists[0].count + (header_->slots_per_stripe - st.fresh);
        t.key_exchanging += st.lists[1].count;
        t.authenticated += st.lists[2].count;
        t.rejected += st.lists[3].count;
        t.created += st.created;
        t.verified += st.verified;
        t.failed += st.failed;
        t.stale += st.stale;
        t.evicted_expired += st.evicted_expired;
        t.evicted_rejected += st.evicted_rejected;
        t.evicted_quota += st.evicted_quota;
        t.evicted_authenticated += st.evicted_authenticated;
        t.evicted_key_exchanging += st.evicted_key_exchanging;
    }
    return t;
}

}  // namespace mutual

#include "server/session_cache.h"

#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <sys/mman.h>

#include <openssl/crypto.h>

namespace mutual {

namespace {

struct Key {
    SessionId sid{};
    std::uint64_t realm = 0;
    bool operator==(const Key& o) const noexcept { return realm == o.realm && sid == o.sid; }
};

// Only verified sessions are cached and their sids are the server's random
// numbers: a client cannot choose keys to crowd one bucket.
struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
        std::uint64_t h = 0;
        std::memcpy(&h, k.sid.data(), sizeof h);
        return static_cast<std::size_t>(h ^ (k.realm * 0x9e3779b97f4a7c15ull));
    }
};

constexpr std::uint32_t none = 0xffffffffu;

}  // namespace

struct SessionCache::Impl {
    struct Slot {
        Key key;
        Fields fields;
        std::size_t length = 0;
        std::uint32_t prev = none, next = none;   // least recently used list (head: oldest)
        bool used = false;
    };

    std::size_t capacity = 0, record_capacity = 0;
    std::uint8_t* arena = nullptr;   // capacity * record_capacity octets, mapped
    std::size_t arena_size = 0;
    std::vector<Slot> slots;
    std::vector<std::uint32_t> free_slots;
    std::unordered_map<Key, std::uint32_t, KeyHash> index;
    std::uint32_t head = none, tail = none;
    std::uint64_t evictions = 0;
    mutable std::mutex mutex;

    std::uint8_t* octets(std::uint32_t i) const noexcept { return arena + std::size_t(i) * record_capacity; }

    void unlink(std::uint32_t i) noexcept {
        Slot& s = slots[i];
        (s.prev == none ? head : slots[s.prev].next) = s.next;
        (s.next == none ? tail : slots[s.next].prev) = s.prev;
        s.prev = s.next = none;
    }
    void append(std::uint32_t i) noexcept {
        Slot& s = slots[i];
        s.prev = tail;
        s.next = none;
        (tail == none ? head : slots[tail].next) = i;
        tail = i;
    }
    // Wipes the slot and returns it to the free list.
    void release(std::uint32_t i) noexcept {
        Slot& s = slots[i];
        unlink(i);
        index.erase(s.key);
        OPENSSL_cleanse(octets(i), s.length);
        OPENSSL_cleanse(&s.key, sizeof s.key);
        s.length = 0;
        s.fields = Fields();
        s.used = false;
        free_slots.push_back(i);
    }
};

SessionCache::SessionCache(std::size_t capacity, std::size_t record_capacity) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    if (capacity == 0 || record_capacity == 0 || capacity >= none) return;
    const std::size_t size = capacity * record_capacity;
    // Anonymous memory: zero pages until used (a process that caches few
    // sessions touches few), never grown, out of core dumps.
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
#ifdef MADV_DONTDUMP
    madvise(p, size, MADV_DONTDUMP);
#endif
    m.arena = static_cast<std::uint8_t*>(p);
    m.arena_size = size;
    m.capacity = capacity;
    m.record_capacity = record_capacity;
    m.slots.resize(capacity);
    m.free_slots.reserve(capacity);
    for (std::size_t i = capacity; i-- > 0;) m.free_slots.push_back(static_cast<std::uint32_t>(i));
    m.index.reserve(capacity);
}

SessionCache::~SessionCache() {
    Impl& m = *impl_;
    if (m.arena != nullptr) {
        OPENSSL_cleanse(m.arena, m.arena_size);
        munmap(m.arena, m.arena_size);
    }
}

bool SessionCache::find(const SessionId& sid, std::uint64_t realm, Fields& fields, Secret& record) {
    Impl& m = *impl_;
    if (m.capacity == 0) return false;
    std::lock_guard<std::mutex> lock(m.mutex);
    const auto it = m.index.find(Key{sid, realm});
    if (it == m.index.end()) return false;
    const std::uint32_t i = it->second;
    const Impl::Slot& s = m.slots[i];
    fields = s.fields;
    record.assign(m.octets(i), m.octets(i) + s.length);
    m.unlink(i);
    m.append(i);
    return true;
}

void SessionCache::put(const SessionId& sid, std::uint64_t realm, const Fields& fields, ByteView record) {
    Impl& m = *impl_;
    if (m.capacity == 0 || record.size() > m.record_capacity) return;
    const Key key{sid, realm};
    std::lock_guard<std::mutex> lock(m.mutex);
    const auto it = m.index.find(key);
    if (it != m.index.end()) m.release(it->second);
    if (m.free_slots.empty()) {
        m.release(m.head);
        ++m.evictions;
    }
    const std::uint32_t i = m.free_slots.back();
    m.free_slots.pop_back();
    Impl::Slot& s = m.slots[i];
    s.key = key;
    s.fields = fields;
    s.length = record.size();
    s.used = true;
    if (!record.empty()) std::memcpy(m.octets(i), record.data(), record.size());
    m.index.emplace(key, i);
    m.append(i);
}

void SessionCache::erase(const SessionId& sid, std::uint64_t realm) noexcept {
    Impl& m = *impl_;
    if (m.capacity == 0) return;
    std::lock_guard<std::mutex> lock(m.mutex);
    const auto it = m.index.find(Key{sid, realm});
    if (it != m.index.end()) m.release(it->second);
}

void SessionCache::checked(const SessionId& sid, std::uint64_t realm, std::int64_t when) noexcept {
    Impl& m = *impl_;
    if (m.capacity == 0) return;
    std::lock_guard<std::mutex> lock(m.mutex);
    const auto it = m.index.find(Key{sid, realm});
    if (it == m.index.end()) return;
    Fields& f = m.slots[it->second].fields;
    if (when > f.verifier_checked) f.verifier_checked = when;
}

void SessionCache::clear() noexcept {
    Impl& m = *impl_;
    std::lock_guard<std::mutex> lock(m.mutex);
    while (m.head != none) m.release(m.head);
}

std::size_t SessionCache::size() const noexcept {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->index.size();
}

std::size_t SessionCache::capacity() const noexcept { return impl_->capacity; }

std::uint64_t SessionCache::evictions() const noexcept {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->evictions;
}

ByteView SessionCache::slot_octets(std::size_t i) const noexcept {
    const Impl& m = *impl_;
    if (i >= m.capacity) return ByteView();
    return ByteView(m.octets(static_cast<std::uint32_t>(i)), m.record_capacity);
}

}  // namespace mutual

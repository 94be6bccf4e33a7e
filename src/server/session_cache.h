// A bounded per-process cache of the immutable part of authenticated
// sessions kept in a shared store (RedisSessionStore): the decrypted record
// (K_c1, K_s1, z, user, algorithm, verifier fingerprint) and the fields that
// never change after the key exchange (created, expires, nc-max), keyed by
// (sid, realm id). It lets a session-reusing req-VFY-C skip the store's
// first round trip; it never decides anything: the store's atomic finish
// step re-checks the session (there, not ended, not rejected, the nonce
// rules) and gives the verdict. docs/session-store-redis.md, "The node's
// session cache".
//
// Memory: one fixed arena of `capacity` slots of `record_capacity` octets,
// mapped once (anonymous, excluded from core dumps where the system allows),
// so the cache never grows; the least recently used entry is evicted when
// full; a slot is wiped (OPENSSL_cleanse) whenever its entry goes (evicted,
// erased, replaced, cleared) and the arena when the cache goes.
//
// Thread-safe (one mutex; the critical sections are a hash lookup and a
// copy of at most record_capacity octets). No httpd types.
#ifndef MUTUAL_SESSION_CACHE_H
#define MUTUAL_SESSION_CACHE_H

#include <cstddef>
#include <cstdint>
#include <memory>

#include "bytes.h"
#include "server/session_store.h"

namespace mutual {

class SessionCache {
public:
    // The immutable fields of a session, and the lower bound of when its
    // verifier was last found unchanged (it only moves forward).
    struct Fields {
        std::int64_t created = 0, expires = 0;   // seconds
        std::uint64_t nc_max = 0;
        std::int64_t verifier_checked = 0;       // seconds
    };

    // capacity 0: the cache is off (every find misses, put does nothing).
    explicit SessionCache(std::size_t capacity, std::size_t record_capacity = 2048);
    ~SessionCache();
    SessionCache(const SessionCache&) = delete;
    SessionCache& operator=(const SessionCache&) = delete;

    // Copies the entry of (sid, realm) into `fields` and `record` (which
    // wipes what it held); false if there is none.
    bool find(const SessionId& sid, std::uint64_t realm, Fields& fields, Secret& record);
    // Adds or replaces the entry (a record longer than record_capacity is
    // not cached). Evicts the least recently used entry when full.
    void put(const SessionId& sid, std::uint64_t realm, const Fields& fields, ByteView record);
    void erase(const SessionId& sid, std::uint64_t realm) noexcept;
    // The verifier was found unchanged at `when` (raises the lower bound).
    void checked(const SessionId& sid, std::uint64_t realm, std::int64_t when) noexcept;
    void clear() noexcept;

    std::size_t size() const noexcept;
    std::size_t capacity() const noexcept;
    std::uint64_t evictions() const noexcept;
    // Tests: the octets of slot i of the arena (all zero when the slot is free).
    ByteView slot_octets(std::size_t i) const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mutual

#endif

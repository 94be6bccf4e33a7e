// The server's session table (RFC 8120 §11) laid out in one block of shared
// memory: fixed-size slots addressed by indices, never pointers, so every
// child process and thread of httpd can map it at any address.
//
// The table is split into stripes. A keyed hash (SipHash-2-4 with a per-start
// server secret) of the sid picks the stripe and a bucket inside it; each
// stripe has its own lock, slots, bucket array, lists and counters, so
// requests for different sessions rarely wait for each other and every
// operation is O(1). The locks come from the caller (httpd global mutexes in
// the module, std::mutex or nothing in tests); they are never held across
// cryptography or I/O. docs/session-table.md describes layout, locking,
// eviction and memory per slot.
//
// No httpd types here.
#ifndef MUTUAL_SESSION_TABLE_H
#define MUTUAL_SESSION_TABLE_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bytes.h"
#include "protocol_defaults.h"
#include "server/nonce_window.h"
#include "server/session_store.h"
#include "server/siphash.h"

namespace mutual {

// What taking a stripe lock gave.
enum class LockResult {
    held,
    // Held, but its previous owner died holding it (a robust mutex): the
    // stripe may be half-updated; the table empties it before using it.
    held_owner_died,
    failed,        // not taken (the caller answers internal-error)
};

// One lock per stripe, supplied by the owner of the memory
// (ProcessSharedLocks in the module, std::mutex or nothing in tests).
class StripeLocks {
public:
    virtual ~StripeLocks() = default;
    virtual LockResult lock(unsigned stripe) noexcept = 0;
    virtual void unlock(unsigned stripe) noexcept = 0;
};

// Robust, process-shared pthread mutexes, one per stripe, in a block of
// shared memory beside the table: every thread of every child locks them
// with a futex (no system call when uncontended, no lock file, no false
// EDEADLK of fcntl locks), and a child that dies holding one hands the next
// locker held_owner_died instead of a dead lock.
class ProcessSharedLocks final : public StripeLocks {
public:
    static std::size_t bytes_needed(unsigned count) noexcept;
    // Initialises count mutexes in memory (64-byte aligned). false on failure.
    static bool format(void* memory, unsigned count) noexcept;
    ProcessSharedLocks(void* memory, unsigned count) noexcept;
    LockResult lock(unsigned stripe) noexcept override;
    void unlock(unsigned stripe) noexcept override;

private:
    void* memory_;
    unsigned count_;
};

// Requested geometry; table_bytes()/format() normalise it (stripes a power
// of two not above slots, slots rounded up to a multiple of stripes).
struct TableGeometry {
    std::uint32_t slots = 4096;
    std::uint32_t stripes = 16;
    std::uint32_t max_key_exchanges = 2048;   // pending (unverified) sessions, whole table
    std::uint32_t key_capacity = 1536;        // octets for K_c1 | K_s1 | z
};

// The normalised geometry and the size of the memory block it needs; slots
// == 0 when the request is unusable.
struct TableLayout {
    std::uint32_t stripes = 0;
    std::uint32_t slots_per_stripe = 0;
    std::uint32_t buckets_per_stripe = 0;
    std::uint32_t max_kex_per_stripe = 0;
    std::uint32_t key_capacity = 0;
    std::uint32_t slot_stride = 0;            // octets per slot, multiple of 64
    std::uint64_t slots = 0;
    std::uint64_t stripe_offset = 0, bucket_offset = 0, slot_offset = 0;
    std::uint64_t total_bytes = 0;
};
TableLayout plan_table(const TableGeometry& geometry) noexcept;

class SessionTable final : public SessionStore {
public:
    // Writes an empty table into memory (at least plan_table().total_bytes,
    // 64-byte aligned). false when the geometry or the memory is unusable.
    static bool format(void* memory, std::size_t size, const TableGeometry& geometry) noexcept;

    // Attaches to formatted memory. valid() is false when the header does not
    // match (wrong magic, version or size).
    SessionTable(void* memory, std::size_t size, StripeLocks& locks, const HashKey& key) noexcept;
    bool valid() const noexcept { return header_ != nullptr; }
    const TableLayout& layout() const noexcept { return layout_; }

    // Keyed identifier of a protection space: the session of one realm is
    // not found under another. partition separates verifier sources; origin
    // binds the session to the server and validation method of its key
    // exchange (RFC 8120 §6: sessions are local to scheme, host and port).
    std::uint64_t realm_id(std::string_view algorithm, std::string_view auth_scope,
                           std::string_view realm, std::string_view partition,
                           std::string_view origin = std::string_view()) const override;

    // req-KEX-C1: stores a new key-exchanging session, evicting one if needed.
    InsertResult insert(const NewSession& session) noexcept override;

    // req-VFY-C step 1, under the stripe lock: finds the session, applies the
    // nonce rules of §6/§11 and copies what the verification needs. Nothing
    // is consumed here; a failed check that makes the session inactive
    // removes it.
    VerifyCheck begin_verify(ByteView sid, std::uint64_t realm_id, std::uint64_t nc,
                             std::int64_t now, SessionSnapshot& out,
                             const SessionLimits& limits = SessionLimits()) noexcept override;

    // req-VFY-C step 2, under the lock again, for the session begin_verify
    // found (vanished if its slot was released meanwhile): records the
    // verdict. When verified, re-checks nc (another request may have used
    // it meanwhile), records it and marks the session authenticated. When
    // not verified, a key-exchanging session becomes rejected.
    VerifyCommit finish_verify(const SessionSnapshot& found, std::uint64_t nc, bool verified,
                               std::int64_t now,
                               const SessionLimits& limits = SessionLimits()) noexcept override;

    // Ends a session of this protection space for good (logout, revoked
    // verifier): the sid is gone, any later req-VFY-C for it is 401-STALE.
    // false if absent (or of another space) or the lock failed.
    bool end_session(ByteView sid, std::uint64_t realm_id) noexcept override;

    // Revocation: a keyed fingerprint of a verifier J stored with the
    // session at its key exchange, and the time it was last found unchanged.
    std::uint64_t verifier_tag(const Bytes& j) const noexcept override;
    // Records that the session's verifier was re-read at `now` and is
    // unchanged. false if the session is gone.
    bool mark_verifier_checked(ByteView sid, std::uint64_t realm_id, std::int64_t now) noexcept override;

    // Walks every stripe under its lock and checks every invariant: list
    // links and counts, states, bucket chains and hashes, slot bounds.
    bool validate(std::string& problem) const;

    TableStatistics statistics() const noexcept override;

private:
    friend TableLayout plan_table(const TableGeometry& geometry) noexcept;
    struct Stripe;
    struct Slot;

    std::uint64_t sid_hash(const std::uint8_t* sid, std::size_t length) const noexcept;
    unsigned stripe_of(std::uint64_t hash) const noexcept;
    std::uint32_t bucket_of(std::uint64_t hash) const noexcept;
    Stripe& stripe(unsigned index) const noexcept;
    Slot& slot(unsigned stripe, std::uint32_t index) const noexcept;
    std::uint32_t& bucket(unsigned stripe, std::uint32_t b) const noexcept;
    std::uint8_t* user_area(Slot& s) const noexcept;
    std::uint8_t* key_area(Slot& s) const noexcept;

    static void wipe_slot(std::uint8_t* slot_memory, std::uint64_t stride) noexcept;
    std::uint32_t find(unsigned stripe, std::uint64_t hash, const std::uint8_t* sid) const noexcept;
    template <typename F>
    bool with_session(ByteView sid, const std::uint64_t* realm_id, F f) noexcept;
    void list_remove(unsigned stripe, std::uint32_t index) noexcept;
    void list_append(unsigned stripe, std::uint32_t index, SessionState state) noexcept;
    void bucket_remove(unsigned stripe, std::uint32_t index) noexcept;
    void release(unsigned stripe, std::uint32_t index) noexcept;
    struct Header;
    static void reset_stripe(std::uint8_t* base, const Header& header, unsigned stripe) noexcept;
    class Guard;
    std::uint32_t take_slot(unsigned stripe, std::int64_t now, Eviction& eviction) noexcept;

    Header* header_ = nullptr;
    std::uint8_t* base_ = nullptr;
    TableLayout layout_{};
    StripeLocks& locks_;
    HashKey key_{};
};

}  // namespace mutual

#endif

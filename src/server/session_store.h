// The session store seam of the decision procedure (RFC 8120 §11): what
// server_exchange.c++ asks of the server's table of session states, and the
// types it passes. Two implementations: SessionTable (shared memory of one
// httpd, session_table.h) and RedisSessionStore (sessions shared by many
// httpd nodes, redis_session_store.h). docs/architecture.md, "The server
// core and its seams"; docs/session-table.md; docs/session-store-redis.md.
//
// No httpd types.
#ifndef MUTUAL_SESSION_STORE_H
#define MUTUAL_SESSION_STORE_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bytes.h"
#include "protocol_defaults.h"
#include "server/nonce_window.h"
#include "server/siphash.h"

namespace mutual {

constexpr std::size_t session_id_length = 16;     // 128 random bits
constexpr std::size_t max_user_length = max_user_name_length;  // protocol_defaults.h

using SessionId = std::array<std::uint8_t, session_id_length>;

// Session states of RFC 8120 §11. "inactive" sessions are removed from the
// table at once: the answer to an inactive sid and to an unknown one is the
// same 401-STALE.
enum class SessionState : std::uint8_t {
    free = 0,
    key_exchanging = 1,
    authenticated = 2,
    rejected = 3,
};

// What a req-KEX-C1 creates.
struct NewSession {
    SessionId sid{};
    std::uint64_t realm_id = 0;
    std::uint8_t algorithm = 0;       // index into all_algorithms()
    bool fake = false;
    std::string_view user;
    const Bytes* k_c1 = nullptr;
    const Bytes* k_s1 = nullptr;
    const Secret* z = nullptr;        // the session secret z
    std::uint64_t nc_max = 0;
    std::uint32_t nc_window = min_nc_window;
    std::int64_t now = 0;             // seconds
    std::int64_t expires = 0;         // seconds; the session is gone at this time
    std::uint64_t verifier_tag = 0;   // verifier_tag(J) of the key exchange (revocation)
};

// What begin_verify found, for the crypto done outside the lock. The keys
// and the user name are views, not copies: in the shared-memory table views
// into the session's slot (below), in other stores into `owned`. In the
// table they are
// written once when the session is inserted and stay as they are until the
// slot is released. A slot released (and perhaps reused) after begin_verify
// may change under the views; finish_verify then answers vanished (the
// slot's generation moved), so nothing computed from the views is used
// unless finish_verify says ok. Copy what must outlive the exchange (the
// user name) before finish_verify.
struct SessionSnapshot {
    SessionState state = SessionState::free;
    bool fake = false;
    std::uint8_t algorithm = 0;
    std::int64_t created = 0;         // seconds: the key exchange
    std::string_view user;
    ByteView k_c1, k_s1;
    ByteView z;                       // the session secret z (RFC 8121 §3)
    // Where the session is, for finish_verify.
    unsigned stripe = 0;
    std::uint32_t slot = 0xffffffffu;
    std::uint32_t generation = 0;
    std::uint64_t sid_hash = 0;
    std::uint64_t verifier_tag = 0;   // as inserted
    std::int64_t verifier_checked = 0;  // seconds: last time the verifier was found unchanged
    // A store that keeps sessions elsewhere (Redis) decrypts the session
    // into this buffer and points the views above into it; wiped when the
    // snapshot goes. The shared-memory table leaves it empty (no
    // allocation: its views point into the slot).
    Secret owned;
    SessionId sid{};                  // set by stores that look the session up again by sid
    std::uint64_t realm_id = 0;
    // Stores that cache sessions on the node (Redis): the session's fixed
    // expiry and nc-max, and whether begin_verify was answered from the
    // node's cache (finish_verify must then make every check itself).
    std::int64_t expires = 0;
    std::uint64_t nc_max = 0;
    bool from_cache = false;
};

// The limits of the location serving a request. A session made elsewhere in
// the realm obeys both its own limits (announced when it was made) and
// these; the stricter wins (lifetime counted from the key exchange).
struct SessionLimits {
    std::uint64_t nc_max = UINT64_MAX;
    std::uint32_t nc_window = max_nc_window;
    std::int64_t lifetime = INT64_MAX;   // seconds since the key exchange
};

// Which session an insertion had to push out (for statistics and debug logs).
enum class Eviction : std::uint8_t {
    none,
    expired,            // an expired session (checked at the list heads)
    rejected,           // a rejected session
    key_exchange_quota, // the oldest pending key exchange, quota reached
    authenticated,      // the least recently used authenticated session
    key_exchanging,     // the oldest pending key exchange, table full of them
};
const char* eviction_name(Eviction e) noexcept;

// unavailable: the store did not answer (down, slow): the module answers
// 503 with Retry-After, never a decision made without the store.
enum class InsertStatus { ok, lock_failed, too_large, bad_argument, unavailable };
struct InsertResult {
    InsertStatus status = InsertStatus::ok;
    Eviction eviction = Eviction::none;
};

// Outcome of the first (checking) step of a req-VFY-C.
enum class VerifyCheck {
    ok,             // snapshot filled in; compute and compare VK_c
    unknown,        // no such sid for this realm (or inactive) -> 401-STALE
    expired,        // the session's time is over; removed -> 401-STALE
    rejected,       // the session failed verification before -> 401-INIT
    above_nc_max,   // nc > nc-max; session made inactive -> 401-STALE
    below_window,   // nc <= largest-nc - nc-window; inactive -> 401-STALE
    duplicate,      // nc seen before; inactive -> 401-STALE
    lock_failed,
    unavailable,    // the store did not answer -> 503, nothing decided
};

// Outcome of the second (committing) step.
enum class VerifyCommit {
    ok,             // nonce recorded, session authenticated
    rejected,       // failure recorded (key-exchanging -> rejected)
    kept,           // failure on an authenticated session, left as it was
    vanished,       // the session went away between the two steps -> 401-STALE
    duplicate,      // a concurrent request used the same nc first -> 401-STALE
    below_window,   // concurrent requests moved the window past nc -> 401-STALE
    lock_failed,
    unavailable,    // the store did not answer -> 503, nothing recorded nor accepted
};

struct TableStatistics {
    std::uint64_t slots = 0;
    std::uint64_t key_exchanging = 0, authenticated = 0, rejected = 0, free = 0;
    std::uint64_t created = 0, verified = 0, failed = 0, stale = 0;
    std::uint64_t evicted_expired = 0, evicted_rejected = 0, evicted_quota = 0;
    std::uint64_t evicted_authenticated = 0, evicted_key_exchanging = 0;
};

class SessionStore {
public:
    virtual ~SessionStore();

    // Keyed identifier of a protection space: the session of one realm is
    // not found under another. partition separates verifier sources; origin
    // binds the session to the server and validation method of its key
    // exchange (RFC 8120 §6: sessions are local to scheme, host and port).
    // Every node sharing a store computes the same ids.
    virtual std::uint64_t realm_id(std::string_view algorithm, std::string_view auth_scope,
                                   std::string_view realm, std::string_view partition,
                                   std::string_view origin = std::string_view()) const = 0;

    // req-KEX-C1: stores a new key-exchanging session (evicting one if needed).
    virtual InsertResult insert(const NewSession& session) noexcept = 0;

    // req-VFY-C step 1: finds the session, applies the nonce rules of §6/§11
    // and fills `out` for the verification. Nothing is consumed; a failed
    // check that makes the session inactive removes it.
    virtual VerifyCheck begin_verify(ByteView sid, std::uint64_t realm_id, std::uint64_t nc,
                                     std::int64_t now, SessionSnapshot& out,
                                     const SessionLimits& limits = SessionLimits()) noexcept = 0;

    // req-VFY-C step 2, atomically: records the verdict; when verified,
    // re-checks nc (another request, on any node, may have used it
    // meanwhile), records it and marks the session authenticated; when not,
    // a key-exchanging session becomes rejected.
    virtual VerifyCommit finish_verify(const SessionSnapshot& found, std::uint64_t nc, bool verified,
                                       std::int64_t now,
                                       const SessionLimits& limits = SessionLimits()) noexcept = 0;

    // Ends a session of this protection space for good (logout, revoked
    // verifier). false if absent, of another space, or the store failed.
    virtual bool end_session(ByteView sid, std::uint64_t realm_id) noexcept = 0;
    // The same, telling a store that did not answer apart (the logout
    // handler answers 503 then, not "logged out").
    enum class EndResult { ended, absent, unavailable };
    virtual EndResult end(ByteView sid, std::uint64_t realm_id) noexcept {
        return end_session(sid, realm_id) ? EndResult::ended : EndResult::absent;
    }

    // Revocation: a keyed fingerprint of a verifier J (the same on every
    // node sharing the store), and the record of a successful re-check.
    virtual std::uint64_t verifier_tag(const Bytes& j) const noexcept = 0;
    virtual bool mark_verifier_checked(ByteView sid, std::uint64_t realm_id,
                                       std::int64_t now) noexcept = 0;

    virtual TableStatistics statistics() const noexcept = 0;
};

// The realm id and verifier fingerprint of a store keyed by `key` (each
// with its own key derived from it, so they never coincide with each other
// nor with a sid hash): the computations every store shares.
std::uint64_t keyed_realm_id(const HashKey& key, std::string_view algorithm,
                             std::string_view auth_scope, std::string_view realm,
                             std::string_view partition, std::string_view origin);
std::uint64_t keyed_verifier_tag(const HashKey& key, const Bytes& j) noexcept;

}  // namespace mutual

#endif

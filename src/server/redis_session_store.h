// Sessions shared by several httpd nodes through Redis (AuthMutualSessionStore
// redis://…): the SessionStore seam (session_store.h) over hiredis. One hash
// per session; every state change is a server-side Lua script (EVALSHA,
// re-loaded on NOSCRIPT), so that the nonce check-and-record of a req-VFY-C
// is atomic across nodes; the session secrets (K_c1, K_s1, z) and the user
// name sit in Redis only as one AES-256-GCM blob under a key every node reads
// from AuthMutualSessionStoreKey. Redis Cluster: MOVED and ASK replies are
// followed, with connections per node. A store that does not answer within
// the timeout is "unavailable" (the module answers 503): never a decision
// without it. docs/session-store-redis.md describes the data layout, the
// scripts, the encryption and the failure handling.
//
// No httpd types; hiredis stays inside the .c++ file.
#ifndef MUTUAL_REDIS_SESSION_STORE_H
#define MUTUAL_REDIS_SESSION_STORE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "bytes.h"
#include "server/session_store.h"

namespace mutual {

struct RedisStoreOptions {
    std::string host = "127.0.0.1";    // port 0: the path of a Unix socket
    unsigned port = 6379;
    unsigned db = 0;                   // SELECT (0 in a cluster)
    std::string user;                  // Redis 6 ACL user; empty: the default user
    SecretString password;             // empty: no AUTH
    unsigned timeout_ms = 500;         // connect and every command
    std::uint32_t max_key_exchanges = 2048;   // pending key exchanges, all shards together
    std::uint32_t shards = 64;         // pending-index shards (hash tags)
    // Per-process cache of the immutable part of authenticated sessions
    // (session_cache.h): a session-reusing req-VFY-C then takes one round
    // trip (the finish script, which re-checks everything) instead of two.
    // 0: off.
    std::size_t cache_entries = 1024;
};

// Parses redis://[[user]:password@]host[:port][/db] (host may be [v6]), or
// redis+unix://[[user]:password@]/path/to/socket[?db=N] (port 0).
// Percent-escapes in user and password are decoded. false with `error`.
bool parse_redis_url(std::string_view url, RedisStoreOptions& out, std::string& error);
// The URL without its password, for log lines.
std::string redis_url_for_log(const RedisStoreOptions& options);

// Reads the shared store key (AuthMutualSessionStoreKey): at least 32
// octets of key material (for example `openssl rand -out FILE 32`, or 64 hex
// digits); a trailing newline is ignored. false with `error`.
bool read_store_key(const std::string& path, Secret& material, std::string& error);

// Test hooks: counters of this process's store.
struct RedisStoreCounters {
    std::uint64_t moved = 0, ask = 0, noscript = 0, connects = 0, failures = 0;
    std::uint64_t cache_hits = 0, cache_misses = 0, cache_entries = 0, cache_evictions = 0;
};

class RedisSessionStore final : public SessionStore {
public:
    // key_material: the contents of AuthMutualSessionStoreKey. No connection
    // is made here (connections are made on first use, per process).
    RedisSessionStore(const RedisStoreOptions& options, ByteView key_material);
    ~RedisSessionStore() override;
    RedisSessionStore(const RedisSessionStore&) = delete;
    RedisSessionStore& operator=(const RedisSessionStore&) = delete;
    bool valid() const noexcept;

    std::uint64_t realm_id(std::string_view algorithm, std::string_view auth_scope,
                           std::string_view realm, std::string_view partition,
                           std::string_view origin = std::string_view()) const override;
    InsertResult insert(const NewSession& session) noexcept override;
    VerifyCheck begin_verify(ByteView sid, std::uint64_t realm_id, std::uint64_t nc,
                             std::int64_t now, SessionSnapshot& out,
                             const SessionLimits& limits = SessionLimits()) noexcept override;
    VerifyCommit finish_verify(const SessionSnapshot& found, std::uint64_t nc, bool verified,
                               std::int64_t now,
                               const SessionLimits& limits = SessionLimits()) noexcept override;
    bool end_session(ByteView sid, std::uint64_t realm_id) noexcept override;
    EndResult end(ByteView sid, std::uint64_t realm_id) noexcept override;
    std::uint64_t verifier_tag(const Bytes& j) const noexcept override;
    bool mark_verifier_checked(ByteView sid, std::uint64_t realm_id,
                               std::int64_t now) noexcept override;
    TableStatistics statistics() const noexcept override;

    // Closes every connection and forgets the outage state: a child process
    // after fork never shares its parent's sockets.
    void reset_connections() noexcept;
    // One PING to the configured node (startup diagnostics). true: it answered.
    bool ping() noexcept;
    // The Redis key of a session (tests).
    std::string session_key(ByteView sid) const;
    RedisStoreCounters counters() const noexcept;
    // Tests: the octets of slot i of the session cache's arena.
    ByteView cache_slot(std::size_t i) const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mutual

#endif

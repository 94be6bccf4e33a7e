// The server core of mod_auth_mutual: one object owning what every request
// of every location shares — the session table (in memory the caller
// provides), its hash key, the fake verifiers and the table sizing — and
// the one call the glue makes per request. The module, the unit tests, the
// fuzz targets and the benchmarks all build it through the same
// constructor. No httpd types.
//
//   Server::bytes_needed(options)            memory to provide (table only)
//   Server::format(memory, size, options)    first start: an empty table
//   Server(memory, size, locks, key)         attach (every start)
//   Server(store)                            over another SessionStore (Redis)
//   Server::plan(options)                    the same for shared memory with its locks:
//   Server::format_shared(memory, size, options, tag, problem), Server(memory, size, options)
//   server.handle(policy, verifiers, authorization, now, log_level)
//   server.handle(policy, settings, query, server, authorization, now, log_level)
//
// The seams the decision procedure uses: SessionStore (session_store.h:
// SessionTable in shared memory, or RedisSessionStore) and VerifierSource
// (verifier_source.h).
#ifndef MUTUAL_SERVER_H
#define MUTUAL_SERVER_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "log.h"
#include "server/server_exchange.h"
#include "server/session_table.h"

namespace mutual {

class Algorithm;
class LocationSettings;
class RedisSessionStore;

struct ServerOptions {
    std::uint32_t table_slots = 4096;        // AuthMutualSessionTableSize
    std::uint32_t max_key_exchanges = 0;     // AuthMutualMaxKeyExchanges; 0: half the slots
    std::uint32_t stripes = 16;              // lock stripes
    // Every algorithm a location may use (AuthMutualAlgorithms of the server
    // configuration, plus the default): sizes the slots' key area.
    std::vector<const Algorithm*> algorithms;
    // Adds the algorithm of this name (as a configuration names it) to
    // `algorithms`; unknown names and repeats are ignored.
    void use_algorithm(std::string_view name);
    // Adds the algorithm a location offers when it names none.
    void use_default_algorithm();

    // The session store (AuthMutualSessionStore: empty for shm, the
    // default, else a redis:// URL), AuthMutualSessionStoreKey (a path)
    // and AuthMutualSessionStoreTimeout (0: the default).
    std::string store_url;
    std::string store_key_file;
    std::uint32_t store_timeout_ms = 0;

    // One server-wide directive's value (AuthMutualSessionTableSize,
    // AuthMutualMaxKeyExchanges, AuthMutualSessionStore*; the key file's
    // path already resolved against ServerRoot), checked
    // (server_options.c++). Empty when accepted, else the refusal naming
    // the directive.
    std::string set(std::string_view directive, std::string_view value);
};

// What a start with some options takes (Server::plan): the normalised
// geometry and layout of the table, and the octets of one block of memory
// holding the table's hash key, the process-shared stripe locks and the
// table (format_shared).
struct ServerPlan {
    TableGeometry geometry;
    TableLayout layout;
    std::size_t shared_bytes = 0;   // [hash key][stripe locks][table], 64 octets of alignment slack
    bool usable() const noexcept { return layout.slots != 0; }
    // Whether a table made for `other` serves these options as it is.
    bool same_table(const ServerPlan& other) const noexcept;
};

// The Authorization header of one request, parsed once: what the glue
// needs before the decision (a req-KEX-C1 is kept out of subrequests and
// throttled by its user name) and what Server::handle decides from.
class ParsedAuthorization {
public:
    // `authorization` must outlive the object (a req-VFY-C is kept as views
    // into it).
    explicit ParsedAuthorization(std::string_view authorization);
    // A well-formed req-KEX-C1; user() is its user name.
    bool is_key_exchange() const noexcept {
        return !viewed_ && error_ == HeaderError::none && credentials_.kind == RequestKind::kex_c1;
    }
    const std::string& user() const noexcept { return credentials_.user; }
    // Whether a header value is Mutual credentials at all (RFC 8053
    // optional authentication serves a request without them anonymously).
    static bool is_mutual(std::string_view authorization) noexcept;

private:
    friend class Server;
    HeaderError error_ = HeaderError::none;
    // The usual req-VFY-C (parse_mutual_verification): verification_ holds
    // it and credentials_ stays empty.
    bool viewed_ = false;
    VerificationView verification_;
    MutualCredentials credentials_;
};

class Server {
public:
    // The table geometry for these options (slots == 0: unusable).
    static TableGeometry geometry(const ServerOptions& options) noexcept;
    static TableLayout layout(const ServerOptions& options) noexcept;
    // Octets of memory (64-byte aligned) the table needs; 0 when unusable.
    static std::size_t bytes_needed(const ServerOptions& options) noexcept;
    // Writes an empty table into memory. false when unusable.
    static bool format(void* memory, std::size_t size, const ServerOptions& options) noexcept;
    // Everything above in one answer, for memory shared between processes.
    static ServerPlan plan(const ServerOptions& options) noexcept;
    // Writes process-shared stripe locks, an empty table and a new random
    // hash key for it into plan(options).shared_bytes of memory (any
    // alignment): the key lives and goes with the memory (a graceful
    // restart that keeps the memory keeps the key). false on failure, with
    // its startup log line (tag, problem: the table or its locks, or the
    // random number generator).
    static bool format_shared(void* memory, std::size_t size, const ServerOptions& options, const char*& tag,
                              const char*& problem) noexcept;

    // Attaches to a formatted table and draws the fake verifiers; valid()
    // is false when either failed.
    Server(void* memory, std::size_t size, StripeLocks& locks, const HashKey& key);
    // Over a store the caller owns (it outlives the server); valid() is
    // false when the fake verifiers could not be drawn.
    explicit Server(SessionStore& store);
    // Over the store options.store_url names (AuthMutualSessionStore
    // redis://…, with AuthMutualSessionStoreKey and ...Timeout), which the
    // server owns (store_setup.c++). valid() is false when the store cannot
    // be made (startup_tag() and startup_problem() say why, one log line)
    // or the fake verifiers cannot be drawn.
    explicit Server(const ServerOptions& options);
    // Attaches to memory format_shared made for these options, with its
    // process-shared locks and its key (the module: shared memory of every
    // child).
    Server(void* memory, std::size_t size, const ServerOptions& options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    bool valid() const noexcept { return valid_; }
    // Server(options): why it is not valid, and what the store is
    // ("at <url without password> (timeout ..., at most ... pending key
    // exchanges)").
    const char* startup_tag() const noexcept { return startup_tag_; }
    const std::string& startup_problem() const noexcept { return startup_problem_; }
    const std::string& store_summary() const noexcept { return store_summary_; }
    // A first contact with a store the server owns, so that a wrong address
    // shows at startup: true when it answered. The connection is dropped
    // (each child process makes its own).
    bool first_contact() noexcept;
    // In a new child process: drops connections inherited from the parent.
    void child_init() noexcept;

    // The RFC 8120 §11 decision for one request (exactly one log line in
    // the result). verifiers: nullptr when the location has no verifier
    // source. Never throws.
    ExchangeResult handle(const LocationPolicy& policy, const VerifierSource* verifiers,
                          std::optional<std::string_view> authorization, std::int64_t now,
                          LogLevel log_level = LogLevel::debug) noexcept;
    // The same from a parsed header.
    ExchangeResult handle(const LocationPolicy& policy, const VerifierSource* verifiers,
                          const ParsedAuthorization& authorization, std::int64_t now,
                          LogLevel log_level = LogLevel::debug) noexcept;

    // The same for a location: its verifier sources composed by the core
    // from its settings (AuthMutualUserFile, AuthMutualDBDUserQuery run by
    // `query`, AuthMutualProvider's order: location_verifiers.h), read
    // through verifier_records(). `server` identifies the virtual host whose
    // prepared statement `query` runs (each server's answers are cached
    // apart: its own DBDParams). authorization: nullptr when the request
    // has none. Throws only std::bad_alloc (composing the sources).
    ExchangeResult handle(const LocationPolicy& policy, const LocationSettings& settings,
                          const DatabaseQuery& query, const void* server,
                          const ParsedAuthorization* authorization, std::int64_t now, LogLevel log_level);

    // SetHandler mutual-logout: ends for good the session of a kept
    // verification (ExchangeResult::keep), in the protection space it was
    // verified in. Exactly one log line in the result; unavailable() (503
    // with retry_after) when the session store did not answer (the session
    // may live on), else status 200 (ended, or already gone). Never throws.
    ExchangeResult logout(const ExchangeResult& kept) noexcept;

    // The verifier records read by this process (a cache per child: made
    // before the fork, filled after).
    VerifierRecordCache& verifier_records() noexcept { return verifier_records_; }
    SessionStore& store() noexcept { return *store_; }
    const SessionStore& store() const noexcept { return *store_; }
    // The shared-memory table (only for a server built over memory).
    SessionTable& table() noexcept { return *table_; }
    const SessionTable& table() const noexcept { return *table_; }
    // Whether there is a table and its header matches this version's format.
    bool table_valid() const noexcept { return table_ != nullptr && table_->valid(); }

private:
    std::unique_ptr<ProcessSharedLocks> own_locks_;   // format_shared memory
    std::unique_ptr<SessionTable> table_;
    SessionStore* store_ = nullptr;
    std::unique_ptr<RedisSessionStore> own_store_;     // Server(options)
    const char* startup_tag_ = "";
    std::string startup_problem_, store_summary_;
    FakeVerifiers fakes_;
    VerifierRecordCache verifier_records_;
    bool valid_ = false;
};

}  // namespace mutual

#endif

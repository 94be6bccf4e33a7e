#include "server/server.h"

#include <algorithm>
#include <cstdint>

#include "algorithm.h"
#include "authentication_control.h"
#include "encoding.h"
#include "server/redis_session_store.h"

namespace mutual {

TableGeometry Server::geometry(const ServerOptions& o) noexcept {
    TableGeometry g;
    g.slots = o.table_slots;
    g.stripes = o.stripes;
    g.max_key_exchanges = o.max_key_exchanges != 0 ? o.max_key_exchanges : o.table_slots / 2;
    if (g.max_key_exchanges == 0) g.max_key_exchanges = 1;
    if (g.max_key_exchanges > g.slots) g.max_key_exchanges = g.slots;
    std::size_t capacity = 0;
    for (const Algorithm* a : o.algorithms)
        if (a != nullptr) capacity = std::max(capacity, session_key_capacity(*a));
    g.key_capacity = static_cast<std::uint32_t>(capacity);   // 0 (no algorithm): unusable
    return g;
}

TableLayout Server::layout(const ServerOptions& options) noexcept {
    return plan_table(geometry(options));
}

std::size_t Server::bytes_needed(const ServerOptions& options) noexcept {
    return static_cast<std::size_t>(layout(options).total_bytes);
}

bool Server::format(void* memory, std::size_t size, const ServerOptions& options) noexcept {
    return SessionTable::format(memory, size, geometry(options));
}

Server::Server(void* memory, std::size_t size, StripeLocks& locks, const HashKey& key)
    : table_(std::make_unique<SessionTable>(memory, size, locks, key)), store_(table_.get()) {
    valid_ = table_->valid() && fakes_.generate();
}

Server::Server(SessionStore& store) : store_(&store) { valid_ = fakes_.generate(); }

Server::~Server() = default;

ParsedAuthorization::ParsedAuthorization(std::string_view authorization) {
    viewed_ = parse_mutual_verification(authorization, verification_);
    if (!viewed_) error_ = parse_mutual_credentials(authorization, credentials_);   // credentials_ exists by now
}

bool ParsedAuthorization::is_mutual(std::string_view authorization) noexcept {
    return is_mutual_authorization(authorization);
}

void ServerOptions::use_algorithm(std::string_view name) {
    const Algorithm* a = find_algorithm(name);
    if (a != nullptr && std::find(algorithms.begin(), algorithms.end(), a) == algorithms.end())
        algorithms.push_back(a);
}

bool ServerPlan::same_table(const ServerPlan& o) const noexcept {
    return geometry.slots == o.geometry.slots && geometry.stripes == o.geometry.stripes &&
           geometry.max_key_exchanges == o.geometry.max_key_exchanges &&
           geometry.key_capacity == o.geometry.key_capacity;
}

namespace {

constexpr std::uintptr_t align64(std::uintptr_t n) noexcept { return (n + 63) & ~std::uintptr_t(63); }

// format_shared memory: [hash key][stripe locks][table] from the first
// 64-octet boundary (the key in a 64-octet block of its own).
constexpr std::size_t key_block = 64;
static_assert(sizeof(HashKey) <= key_block, "the hash key fits its block");

struct SharedParts {
    HashKey* key = nullptr;
    void* locks = nullptr;
    void* table = nullptr;
    std::size_t table_bytes = 0;
    unsigned stripes = 0;
};

bool split_shared(void* memory, std::size_t size, const ServerPlan& plan, SharedParts& parts) noexcept {
    if (memory == nullptr || !plan.usable() || size < plan.shared_bytes) return false;
    const auto base = reinterpret_cast<std::uintptr_t>(memory);
    const std::size_t lock_bytes = ProcessSharedLocks::bytes_needed(plan.layout.stripes);
    parts.stripes = plan.layout.stripes;
    parts.key = reinterpret_cast<HashKey*>(align64(base));
    parts.locks = reinterpret_cast<char*>(parts.key) + key_block;
    parts.table = static_cast<char*>(parts.locks) + lock_bytes;
    parts.table_bytes = size - key_block - lock_bytes - (align64(base) - base);
    return true;
}

}  // namespace

ServerPlan Server::plan(const ServerOptions& options) noexcept {
    ServerPlan p;
    p.geometry = geometry(options);
    p.layout = plan_table(p.geometry);
    if (p.usable())
        p.shared_bytes = key_block + ProcessSharedLocks::bytes_needed(p.layout.stripes) +
                         static_cast<std::size_t>(p.layout.total_bytes) + 64;
    return p;
}

bool Server::format_shared(void* memory, std::size_t size, const ServerOptions& options, const char*& tag,
                           const char*& problem) noexcept {
    SharedParts parts;
    if (!split_shared(memory, size, plan(options), parts) || !format(parts.table, parts.table_bytes, options) ||
        !ProcessSharedLocks::format(parts.locks, parts.stripes)) {
        tag = "MUT01500";
        problem = "cannot format the session table or create its mutexes";
        return false;
    }
    if (!draw_hash_key(*parts.key)) {
        tag = "MUT01007";
        problem = "the random number generator failed (server secret)";
        return false;
    }
    return true;
}

Server::Server(void* memory, std::size_t size, const ServerOptions& options) {
    SharedParts parts;
    if (!split_shared(memory, size, plan(options), parts)) return;
    own_locks_ = std::make_unique<ProcessSharedLocks>(parts.locks, parts.stripes);
    table_ = std::make_unique<SessionTable>(parts.table, parts.table_bytes, *own_locks_, *parts.key);
    store_ = table_.get();
    valid_ = table_->valid() && fakes_.generate();
}

ExchangeResult Server::handle(const LocationPolicy& policy, const VerifierSource* verifiers,
                              std::optional<std::string_view> authorization, std::int64_t now,
                              LogLevel log_level) noexcept {
    ExchangeContext context{*store_, verifiers, fakes_, now, log_level};
    ExchangeResult result = process_request(policy, authorization, context);
    add_authentication_control(policy, result);
    return result;
}

ExchangeResult Server::handle(const LocationPolicy& policy, const VerifierSource* verifiers,
                              const ParsedAuthorization& authorization, std::int64_t now,
                              LogLevel log_level) noexcept {
    ExchangeContext context{*store_, verifiers, fakes_, now, log_level};
    ExchangeResult result =
        authorization.viewed_ ? process_verification(policy, authorization.verification_, context)
                              : process_credentials(policy, authorization.error_, authorization.credentials_, context);
    add_authentication_control(policy, result);
    return result;
}

}  // namespace mutual

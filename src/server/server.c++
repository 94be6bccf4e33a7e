#include "server/server.h"

#include <algorithm>

#include "algorithm.h"

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

ExchangeResult Server::handle(const LocationPolicy& policy, const VerifierSource* verifiers,
                              std::optional<std::string_view> authorization, std::int64_t now,
                              LogLevel log_level) noexcept {
    ExchangeContext context{*store_, verifiers, fakes_, now, log_level};
    return process_request(policy, authorization, context);
}

ExchangeResult Server::handle(const LocationPolicy& policy, const VerifierSource* verifiers,
                              HeaderError error, const MutualCredentials& credentials,
                              std::int64_t now, LogLevel log_level) noexcept {
    ExchangeContext context{*store_, verifiers, fakes_, now, log_level};
    return process_credentials(policy, error, credentials, context);
}

}  // namespace mutual

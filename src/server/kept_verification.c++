// A verified ExchangeResult kept for the rest of its request chain
// (server_exchange.h: keep, reuse) and mutual-logout from it
// (Server::logout). The module keeps the result in the pool of the request
// the client sent: subrequests and internal redirects reuse it instead of
// verifying the same nc twice (a replay), and a mutual-logout handler ends
// its session.
#include <array>
#include <cstdint>
#include <cstring>

#include "algorithm.h"
#include "encoding.h"
#include "server/server.h"
#include "server/server_exchange.h"

namespace mutual {

namespace {

// What a kept verification is bound to, in the order keep() writes it.
using Identity = std::array<std::string_view, 6>;

Identity identity_of(const LocationPolicy& p, std::string_view authorization) noexcept {
    return {authorization, p.auth_scope, p.realm, p.partition, p.validation, p.origin};
}

// Reads keep()'s string back; false when it holds no identity (not kept).
bool read_identity(std::string_view kept, Identity& fields) noexcept {
    for (std::string_view& field : fields) {
        std::uint32_t length = 0;
        if (kept.size() < sizeof length) return false;
        std::memcpy(&length, kept.data(), sizeof length);
        kept.remove_prefix(sizeof length);
        if (kept.size() < length) return false;
        field = kept.substr(0, length);
        kept.remove_prefix(length);
    }
    return kept.empty();
}

}  // namespace

std::size_t ExchangeResult::keep_bytes(const LocationPolicy& policy, std::string_view authorization) noexcept {
    std::size_t bytes = 0;
    for (std::string_view field : identity_of(policy, authorization)) bytes += sizeof(std::uint32_t) + field.size();
    return bytes;
}

void ExchangeResult::keep(const LocationPolicy& policy, std::string_view authorization, void* memory) noexcept {
    if (memory == nullptr) return;   // not kept: nothing is reused
    char* out = static_cast<char*>(memory);
    for (std::string_view field : identity_of(policy, authorization)) {
        const auto length = static_cast<std::uint32_t>(field.size());
        std::memcpy(out, &length, sizeof length);
        out += sizeof length;
        if (length != 0) std::memcpy(out, field.data(), length);
        out += length;
    }
    kept_identity = std::string_view(static_cast<const char*>(memory), out - static_cast<char*>(memory));
}

std::optional<ExchangeResult> ExchangeResult::reuse(const LocationPolicy& policy, std::string_view authorization,
                                                    std::string_view uri, std::int64_t now,
                                                    LogLevel log_level) const {
    Identity kept;
    if (!verified() || !read_identity(kept_identity, kept) || kept != identity_of(policy, authorization))
        return std::nullopt;
    const Algorithm* offered = nullptr;
    for (const Algorithm* a : policy.algorithms)
        if (a->name() == algorithm) offered = a;
    if (offered == nullptr) return std::nullopt;
    // This location's limits hold for the reused verification too (a
    // subrequest into a stricter location of the realm).
    if (nc > policy.nc_max || now - session_created >= policy.session_time) {
        std::string message = "401-STALE: the verification of the parent request (nc ";
        message.append(std::to_string(nc)).append(") is beyond the nc-max or lifetime of ").append(uri);
        return stale_response(policy, *offered, "MUT01412", std::move(message));
    }
    ExchangeResult reused;
    reused.outcome = ExchangeOutcome::verified;
    reused.status = 200;
    reused.log_level = LogLevel::debug;
    reused.log_tag = "MUT01017";
    if (log_level >= LogLevel::debug)
        reused.log_message.append("reusing the verification of the parent request for ").append(uri);
    return reused;
}

ExchangeResult Server::logout(const ExchangeResult& kept) noexcept {
    ExchangeResult result;
    result.log_level = LogLevel::info;
    try {
        // The session's protection space (session_space), from what the
        // verification kept.
        Identity fields;
        const Algorithm* a = find_algorithm(kept.algorithm);
        std::uint64_t space = 0;
        if (a != nullptr && read_identity(kept.kept_identity, fields)) {
            LocationPolicy p;
            p.auth_scope.assign(fields[1]);
            p.realm.assign(fields[2]);
            p.partition.assign(fields[3]);
            p.validation.assign(fields[4]);
            p.origin.assign(fields[5]);
            space = session_space(*store_, p, *a);
        }
        const SessionStore::EndResult end = store_->end(kept.sid, space);
        if (end == SessionStore::EndResult::unavailable) {
            result.outcome = ExchangeOutcome::unavailable;
            result.status = 503;
            result.retry_after = 2;
            result.log_tag = "MUT02106";
            result.log_message = "logout of user \"" + kept.user + "\": 503, the session store is unavailable";
            return result;
        }
        result.status = 200;
        result.log_tag = "MUT01605";
        result.log_message = "user \"" + kept.user + "\" logged out: session " + encode_hex_fixed(kept.sid) +
                             (end == SessionStore::EndResult::ended ? " ended" : " was already gone");
    } catch (...) {
        result.outcome = ExchangeOutcome::unavailable;
        result.status = 503;
        result.retry_after = 2;
        result.log_level = LogLevel::error;
        result.log_tag = "MUT02700";
        result.log_message = "logout: out of memory";
    }
    return result;
}

}  // namespace mutual

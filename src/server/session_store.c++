#include "server/session_store.h"

#include "encoding.h"

namespace mutual {

SessionStore::~SessionStore() = default;

const char* eviction_name(Eviction e) noexcept {
    switch (e) {
        case Eviction::none: return "none";
        case Eviction::expired: return "expired";
        case Eviction::rejected: return "rejected";
        case Eviction::key_exchange_quota: return "key-exchange-quota";
        case Eviction::authenticated: return "authenticated";
        case Eviction::key_exchanging: return "key-exchanging";
    }
    return "?";
}

std::uint64_t keyed_realm_id(const HashKey& key, std::string_view algorithm,
                             std::string_view auth_scope, std::string_view realm,
                             std::string_view partition, std::string_view origin) {
    Bytes input;
    input.reserve(algorithm.size() + auth_scope.size() + realm.size() + partition.size() +
                  origin.size() + 20);
    append_vs(input, algorithm);
    append_vs(input, auth_scope);
    append_vs(input, realm);
    append_vs(input, partition);
    append_vs(input, origin);
    // A different key than the sid hash: realm ids never collide with sid hashes by design.
    HashKey k = key;
    for (auto& b : k.bytes) b ^= 0x5c;
    return siphash24(k, input.data(), input.size());
}

std::uint64_t keyed_verifier_tag(const HashKey& key, const Bytes& j) noexcept {
    // Another key than the sid hash's: derived, so the two never coincide.
    HashKey k = key;
    k.bytes[0] ^= 0x5a;
    return siphash24(k, j.data(), j.size());
}

}  // namespace mutual

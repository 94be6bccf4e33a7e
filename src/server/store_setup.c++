// A session store from the module's directive values (store_setup.h).
#include "server/store_setup.h"

namespace mutual {

std::string check_redis_store_url(std::string_view url) {
    RedisStoreOptions options;
    std::string error;
    if (parse_redis_url(url, options, error)) error.clear();
    return error;
}

RedisStoreSetup make_redis_store(std::string_view url, const char* key_file, unsigned timeout_ms,
                                 const ServerOptions& table) {
    RedisStoreSetup setup;
    RedisStoreOptions options;
    std::string error;
    if (!parse_redis_url(url, options, error)) {
        setup.tag = "MUT02101";
        setup.problem = "AuthMutualSessionStore: " + error;
        return setup;
    }
    if (timeout_ms != 0) options.timeout_ms = timeout_ms;
    options.max_key_exchanges = Server::plan(table).geometry.max_key_exchanges;
    Secret key;
    if (key_file == nullptr || !read_store_key(key_file, key, error)) {
        setup.tag = "MUT02102";
        setup.problem = "AuthMutualSessionStoreKey: ";
        setup.problem.append(key_file != nullptr ? error : std::string("missing"));
        return setup;
    }
    auto store = std::make_unique<RedisSessionStore>(options, ByteView(key));
    if (!store->valid()) {
        setup.tag = "MUT02103";
        setup.problem = "cannot derive the session store keys (OpenSSL HKDF, AES-256-GCM)";
        return setup;
    }
    setup.summary = "at " + redis_url_for_log(options) + " (timeout " + std::to_string(options.timeout_ms) +
                    " ms, at most " + std::to_string(options.max_key_exchanges) + " pending key exchanges)";
    setup.store = std::move(store);
    return setup;
}

}  // namespace mutual

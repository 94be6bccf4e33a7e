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

// ---- the Server over the store of its options (server.h) ----------------------

Server::Server(const ServerOptions& options) {
    const char* key_file = options.store_key_file.empty() ? nullptr : options.store_key_file.c_str();
    RedisStoreSetup setup = make_redis_store(options.store_url, key_file, options.store_timeout_ms, options);
    if (setup.store == nullptr) {
        startup_tag_ = setup.tag;
        startup_problem_ = std::move(setup.problem);
        return;
    }
    own_store_ = std::move(setup.store);
    store_ = own_store_.get();
    store_summary_ = std::move(setup.summary);
    valid_ = fakes_.generate();
    if (!valid_) {
        startup_tag_ = "MUT02104";
        startup_problem_ = "cannot draw the fake-session verifiers";
    }
}

bool Server::first_contact() noexcept {
    if (own_store_ == nullptr) return true;
    const bool reachable = own_store_->ping();
    own_store_->reset_connections();
    return reachable;
}

void Server::child_init() noexcept {
    if (own_store_ != nullptr) own_store_->reset_connections();
}

}  // namespace mutual

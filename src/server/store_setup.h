// A session store as the module's directives describe it
// (AuthMutualSessionStore, AuthMutualSessionStoreKey,
// AuthMutualSessionStoreTimeout), checked and built by the core: the glue
// passes the directive values and logs what it is told. No httpd types.
#ifndef MUTUAL_STORE_SETUP_H
#define MUTUAL_STORE_SETUP_H

#include <memory>
#include <string>
#include <string_view>

#include "server/redis_session_store.h"
#include "server/server.h"

namespace mutual {

// AuthMutualSessionStore redis://…: "" when the URL parses, else the problem.
std::string check_redis_store_url(std::string_view url);

struct RedisStoreSetup {
    std::unique_ptr<RedisSessionStore> store;  // nullptr when the setup failed
    const char* tag = "";                      // failed: the log tag of `problem`
    std::string problem;                       // failed: one log line
    // made: "at <url without password> (timeout N ms, at most N pending key exchanges)"
    std::string summary;
};

// The store for `url`, its key read from key_file (nullptr: not given),
// timeout_ms 0 for the default, and the pending key-exchange quota the
// shared-memory table would have with `table` (AuthMutualSessionTableSize,
// AuthMutualMaxKeyExchanges).
RedisStoreSetup make_redis_store(std::string_view url, const char* key_file, unsigned timeout_ms,
                                 const ServerOptions& table);

}  // namespace mutual

#endif

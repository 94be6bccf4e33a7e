// ServerOptions from the server-wide directives (server.h).
#include <algorithm>

#include "algorithm.h"
#include "ascii.h"
#include "protocol_defaults.h"
#include "server/directive_number.h"
#include "server/server.h"
#include "server/store_setup.h"

namespace mutual {

namespace {

constexpr std::uint64_t max_table_size = 4u * 1024 * 1024;
constexpr std::uint64_t min_table_size = 16;

}  // namespace

void ServerOptions::use_default_algorithm() { use_algorithm(default_algorithm_name); }

std::string ServerOptions::set(std::string_view directive, std::string_view value) {
    std::uint64_t number = 0;
    std::string problem;
    if (directive == "AuthMutualSessionTableSize") {
        problem = parse_directive_number(directive, value, min_table_size, max_table_size, number);
        if (problem.empty()) table_slots = static_cast<std::uint32_t>(number);
    } else if (directive == "AuthMutualMaxKeyExchanges") {
        problem = parse_directive_number(directive, value, 1, max_table_size, number);
        if (problem.empty()) max_key_exchanges = static_cast<std::uint32_t>(number);
    } else if (directive == "AuthMutualSessionStoreTimeout") {
        problem = parse_directive_number(directive, value, 1, 60000, number);
        if (problem.empty()) store_timeout_ms = static_cast<std::uint32_t>(number);
    } else if (directive == "AuthMutualSessionStoreKey") {
        store_key_file.assign(value);
    } else if (directive == "AuthMutualSessionStore") {
        if (equal_ignoring_ascii_case(value, "shm")) {
            store_url.clear();
            return problem;
        }
        const std::string error = check_redis_store_url(value);
        if (!error.empty())
            return "AuthMutualSessionStore: " + error + " (expected shm or "
                   "redis://[[user]:password@]host[:port][/db] or "
                   "redis+unix://[[user]:password@]/path[?db=N])";
        store_url.assign(value);
    } else {
        problem.assign(directive).append(": not a server-wide directive");
    }
    return problem;
}

}  // namespace mutual

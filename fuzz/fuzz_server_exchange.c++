// libFuzzer target: the server's handling of one request's Authorization
// value (process_request of src/server/server_exchange.h) against a prepared
// session table.
//
// Set-up (once): for each KAT vector of kam3-vectors.json a location policy
// offering every algorithm with the vector's auth-scope, realm and vh; a
// verifier source knowing the vector's user with its J; a session table
// holding the vector's session (sid 00112233..., K_c1, K_s1, z), so the
// vector's own req-VFY-C verifies. The table is copied aside and restored
// before every input, so each input sees the same state.
//
// Input: one selector octet (vector = selector % vectors; selector bit 7 set
// and nothing else: no Authorization header at all), then the value.
// Properties:
//  * status 200 exactly for `verified`, 401 otherwise; a log tag "MUTnnnnn";
//    the log line is one line (no CR/LF) and never holds the whole
//    Authorization value (of a parsable header with two or more parameters).
//  * 401-INIT: one challenge per offered algorithm, each parsing as a Mutual
//    401-INIT with the result's reason and the location's realm.
//  * 401-STALE: reason stale-session; the challenges parse as such.
//  * 401-KEX-S1: one challenge that parses as 401-KEX-S1 with a 16-octet sid,
//    a ks1 the client accepts, and the location's nc-max, nc-window, time.
//  * verified: an Authentication-Info that parses with the result's sid, a
//    user, and the same Authorization again is refused (replay).
//  * the session table validates after every request.
#include "fuzz_common.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "algorithm.h"
#include "encoding.h"
#include "header.h"
#include "server/server.h"
#include "server/server_exchange.h"
#include "server/session_table.h"

namespace mutual {
namespace fuzz {
namespace server_exchange_target {

class NoLocks final : public StripeLocks {
public:
    LockResult lock(unsigned) noexcept override { return LockResult::held; }
    void unlock(unsigned) noexcept override {}
};

class OneUserSource final : public VerifierSource {
public:
    VerifierAnswer lookup(std::string_view user, const Algorithm& a) const override {
        VerifierAnswer answer;
        if (user != user_) {
            answer.status = VerifierStatus::unknown_user;
            return answer;
        }
        auto it = j_.find(&a);
        if (it == j_.end()) {
            answer.status = VerifierStatus::no_verifier;
            return answer;
        }
        answer.status = VerifierStatus::found;
        answer.j = it->second;
        return answer;
    }
    std::string user_;
    std::map<const Algorithm*, Bytes> j_;
};

struct FreeDeleter {
    void operator()(void* p) const noexcept { std::free(p); }
};

constexpr std::int64_t fuzz_now = 1000000;

struct Scenario {
    LocationPolicy policy;
    OneUserSource source;
    std::size_t bytes = 0;
    std::unique_ptr<void, FreeDeleter> pristine;  // the table as prepared
};

struct World {
    NoLocks locks;
    HashKey key{};
    std::vector<std::unique_ptr<Scenario>> scenarios;
    std::unique_ptr<void, FreeDeleter> memory;  // the working table
    std::size_t memory_bytes = 0;
    // The server core as the module builds it, over the working table (each
    // input copies a scenario's pristine table into that memory first).
    std::unique_ptr<Server> server;
};

Bytes hex_bytes(const std::string& hex) {
    std::optional<Bytes> b = decode_hex_fixed(hex, 0);
    if (!b) {
        std::fprintf(stderr, "fuzz_server_exchange: bad hex in KAT\n");
        std::abort();
    }
    return *b;
}

std::string kat_path() {
    const char* env = std::getenv("MUTUAL_KAT");
    return env != nullptr && *env != '\0' ? env : "t/data/kam3-vectors.json";
}

void* aligned_block(std::size_t bytes) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == nullptr) std::abort();
    std::memset(p, 0, (bytes + 63) / 64 * 64);
    return p;
}

World& world() {
    static World* w = [] {
        auto* world = new World();
        world->key.bytes[0] = 7;
        std::ifstream in(kat_path());
        if (!in) {
            std::fprintf(stderr, "fuzz_server_exchange: cannot read %s (set MUTUAL_KAT)\n",
                         kat_path().c_str());
            std::abort();
        }
        nlohmann::json kat = nlohmann::json::parse(in);
        ServerOptions options;
        options.table_slots = 32;
        options.stripes = 2;
        options.max_key_exchanges = 16;
        options.algorithms = all_algorithms();
        world->memory_bytes = Server::bytes_needed(options);
        if (world->memory_bytes == 0) std::abort();
        world->memory.reset(aligned_block(world->memory_bytes));
        if (!Server::format(world->memory.get(), world->memory_bytes, options)) std::abort();
        world->server = std::make_unique<Server>(world->memory.get(), world->memory_bytes,
                                                 world->locks, world->key);
        if (!world->server->valid()) std::abort();

        for (const auto& v : kat["vectors"]) {
            const Algorithm* a = find_algorithm(v["algorithm"].get<std::string>());
            if (a == nullptr) continue;
            auto s = std::make_unique<Scenario>();
            const auto& in_ = v["inputs"];
            for (const Algorithm* offered : all_algorithms()) s->policy.algorithms.push_back(offered);
            s->policy.auth_scope = in_["auth_scope"].get<std::string>();
            s->policy.realm = in_["realm"].get<std::string>();
            s->policy.vh = in_["vh"].get<std::string>();
            s->policy.validation = "host";
            s->policy.partition = "/fuzz/users";
            s->source.user_ = in_["user"].get<std::string>();
            s->source.j_[a] = hex_bytes(v["derived"]["J"].get<std::string>());

            s->bytes = world->memory_bytes;
            s->pristine.reset(aligned_block(s->bytes));
            if (!Server::format(s->pristine.get(), s->bytes, options)) std::abort();
            SessionTable table(s->pristine.get(), s->bytes, world->locks, world->key);
            if (!table.valid()) std::abort();
            const Bytes k_c1 = hex_bytes(v["hex"]["K_c1"].get<std::string>());
            const Bytes k_s1 = hex_bytes(v["hex"]["K_s1"].get<std::string>());
            // The table holds z (computed at the key exchange), never S_s1.
            const Bytes z_bytes = hex_bytes(v["derived"]["z"].get<std::string>());
            const Secret z(z_bytes.begin(), z_bytes.end());
            NewSession n;
            const Bytes sid = hex_bytes("00112233445566778899aabbccddeeff");
            std::copy(sid.begin(), sid.end(), n.sid.begin());
            n.realm_id = session_space(table, s->policy, *a);
            n.algorithm = *algorithm_index(*a);
            n.user = s->source.user_;
            n.k_c1 = &k_c1;
            n.k_s1 = &k_s1;
            n.z = &z;
            n.nc_max = s->policy.nc_max;
            n.nc_window = s->policy.nc_window;
            n.now = fuzz_now - 1;
            n.expires = fuzz_now - 1 + s->policy.session_time;
            if (table.insert(n).status != InsertStatus::ok) std::abort();
            world->scenarios.push_back(std::move(s));
        }
        if (world->scenarios.empty()) std::abort();
        return world;
    }();
    return *w;
}

bool is_log_tag(const char* tag) {
    if (tag == nullptr || std::strlen(tag) != 8 || std::strncmp(tag, "MUT", 3) != 0) return false;
    for (int i = 3; i < 8; ++i)
        if (tag[i] < '0' || tag[i] > '9') return false;
    return true;
}

void check_result(const Scenario& s, std::optional<std::string_view> authorization,
                  const ExchangeResult& r) {
    FUZZ_CHECK(r.status == (r.outcome == ExchangeOutcome::verified ? 200 : 401));
    FUZZ_CHECK(is_log_tag(r.log_tag));
    FUZZ_CHECK(r.log_message.find('\n') == std::string::npos);
    FUZZ_CHECK(r.log_message.find('\r') == std::string::npos);
    // The whole value of a real credentials header (scheme and at least two
    // parameters) is never logged. (Shorter or unparsable values may well be
    // substrings of the fixed message text: the fuzzer found
    // "Mutual Authorization header (missing_e".)
    AuthItem item;
    if (authorization && authorization->size() >= 32 &&
        parse_credentials(*authorization, item) == HeaderError::none && item.params.size() >= 2)
        FUZZ_CHECK(r.log_message.find(*authorization) == std::string::npos);

    switch (r.outcome) {
    case ExchangeOutcome::init:
    case ExchangeOutcome::stale: {
        FUZZ_CHECK(!r.reason.empty());
        FUZZ_CHECK((r.outcome == ExchangeOutcome::stale) == (r.reason == "stale-session"));
        // 401-INIT offers every algorithm; 401-STALE names the session's one.
        if (r.outcome == ExchangeOutcome::init)
            FUZZ_CHECK(r.www_authenticate.size() == s.policy.algorithms.size());
        else
            FUZZ_CHECK(r.www_authenticate.size() == 1);
        for (const std::string& value : r.www_authenticate) {
            std::vector<MutualChallenge> challenges;
            FUZZ_CHECK(parse_mutual_challenges(value, challenges) == HeaderError::none);
            FUZZ_CHECK(challenges.size() == 1);
            FUZZ_CHECK(challenges[0].reason == r.reason);
            FUZZ_CHECK(challenges[0].id.realm == s.policy.realm);
        }
        break;
    }
    case ExchangeOutcome::kex_s1: {
        FUZZ_CHECK(r.www_authenticate.size() == 1);
        std::vector<MutualChallenge> challenges;
        FUZZ_CHECK(parse_mutual_challenges(r.www_authenticate[0], challenges) == HeaderError::none);
        FUZZ_CHECK(challenges.size() == 1);
        const MutualChallenge& c = challenges[0];
        FUZZ_CHECK(c.kind == ResponseKind::kex_s1);
        FUZZ_CHECK(c.sid.size() == session_id_length && c.sid == r.sid);
        const Algorithm* a = find_algorithm(c.id.algorithm);
        FUZZ_CHECK(a != nullptr);
        std::optional<Bytes> k_s1 = a->decode_key(c.ks1);
        FUZZ_CHECK(k_s1.has_value());
        FUZZ_CHECK(a->check_server_key(*k_s1) == KexError::none);
        FUZZ_CHECK(c.nc_max == s.policy.nc_max && c.nc_window == s.policy.nc_window &&
                   c.time == s.policy.session_time);
        FUZZ_CHECK(c.id.realm == s.policy.realm);
        break;
    }
    case ExchangeOutcome::verified: {
        MutualAuthInfo info;
        FUZZ_CHECK(parse_mutual_auth_info(r.authentication_info, info) == HeaderError::none);
        FUZZ_CHECK(info.sid == r.sid);
        FUZZ_CHECK(!r.user.empty());
        break;
    }
    case ExchangeOutcome::unavailable:
        // The shared-memory table always answers: a 503 here is a bug.
        FUZZ_CHECK(false);
        break;
    }
}

int server_exchange_one_input(const std::uint8_t* data, std::size_t size) {
    World& w = world();
    const std::uint8_t selector = take_selector(data, size);
    const Scenario& s = *w.scenarios[(selector & 0x7f) % w.scenarios.size()];
    std::memcpy(w.memory.get(), s.pristine.get(), s.bytes);
    SessionTable& table = w.server->table();

    std::optional<std::string_view> authorization;
    if (!((selector & 0x80) != 0 && size == 0)) authorization = as_text(data, size);
    ExchangeResult r = w.server->handle(s.policy, &s.source, authorization, fuzz_now);
    if (std::getenv("MUTUAL_FUZZ_VERBOSE") != nullptr)
        std::fprintf(stderr, "scenario %u: %s %s %s %s\n", (selector & 0x7f) % static_cast<unsigned>(w.scenarios.size()),
                     exchange_outcome_name(r.outcome), r.reason.c_str(), r.log_tag,
                     r.log_message.c_str());
    check_result(s, authorization, r);
    std::string problem;
    FUZZ_CHECK(table.validate(problem));

    if (r.outcome == ExchangeOutcome::verified) {
        // The same request again is a replay: never accepted twice.
        ExchangeResult again = w.server->handle(s.policy, &s.source, authorization, fuzz_now);
        check_result(s, authorization, again);
        FUZZ_CHECK(again.outcome != ExchangeOutcome::verified);
        FUZZ_CHECK(table.validate(problem));
    }
    return 0;
}

}  // namespace server_exchange_target

using server_exchange_target::server_exchange_one_input;

}  // namespace fuzz
}  // namespace mutual

MUTUAL_FUZZ_ENTRY(server_exchange_one_input)

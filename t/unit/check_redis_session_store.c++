// Check suite: the Redis session store (src/server/redis_session_store.h)
// against real redis-server processes on free loopback ports in temporary
// directories: create / verify / replay / nonce window / nc-max / rejected /
// logout / TTL expiry, NOSCRIPT reload, timeouts (a stopped server), a
// server killed and restarted, the encryption of the records (a dump holds
// no K_c1, z or user name), a tampered record, two "nodes" racing on one
// (sid, nc), the pending key-exchange quota, and a 3-master Redis Cluster
// (MOVED and ASK) made with redis-cli --cluster create; and the decision
// procedure over the store (mutual::Server) answering 503 while Redis is gone.
#include "test_support.h"

#include <check.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "algorithm.h"
#include "encoding.h"
#include "header.h"
#include "log.h"
#include "server/redis_session_store.h"
#include "server/session_cache.h"
#include "server/server.h"

using namespace mutual;

namespace {

// ---- redis-server on loopback --------------------------------------------------------

std::string redis_server_binary() {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
        const std::string path = std::string(dir) + "/redis-server";
        if (access(path.c_str(), X_OK) == 0) return path;
    }
    return std::string();
}

int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

std::string temp_dir() {
    char name[] = "/tmp/mutual-redis-XXXXXX";
    ck_assert(mkdtemp(name) != nullptr);
    return name;
}

struct ReplyFree {
    void operator()(redisReply* r) const { if (r) freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// A direct client for the test's own inspection of the server.
Reply raw(int port, const std::vector<std::string>& argv) {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == nullptr || c->err) {
        if (c) redisFree(c);
        return nullptr;
    }
    std::vector<const char*> p;
    std::vector<size_t> l;
    for (const auto& a : argv) {
        p.push_back(a.data());
        l.push_back(a.size());
    }
    Reply r(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(p.size()), p.data(), l.data())));
    redisFree(c);
    return r;
}

class RedisServer {
public:
    explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
        dir_ = temp_dir();
        port_ = free_port();
        // A cluster node's bus port (default: port + 10000) must be free too.
        if (!extra_.empty() && extra_[0] == "--cluster-enabled") {
            extra_.push_back("--cluster-port");
            extra_.push_back(std::to_string(free_port()));
        }
        start();
    }
    ~RedisServer() {
        stop();
        std::string cmd = "rm -rf '" + dir_ + "'";
        if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "cannot remove %s\n", dir_.c_str());
    }
    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_; }

    void start() {
        const std::string binary = redis_server_binary();
        pid_ = fork();
        if (pid_ == 0) {
            // Dies with the test process, even when a failed assertion
            // ends it without running destructors.
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            const std::string log = dir_ + "/redis-" + std::to_string(port_) + ".log";
            if (!std::freopen(log.c_str(), "a", stdout) || !std::freopen(log.c_str(), "a", stderr)) _exit(126);
            std::vector<std::string> args{binary, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                          "--dir", dir_, "--save", "", "--appendonly", "no",
                                          "--daemonize", "no", "--protected-mode", "no"};
            for (const auto& e : extra_) args.push_back(e);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(binary.c_str(), argv.data());
            _exit(127);
        }
        for (int i = 0; i < 200; ++i) {
            Reply r = raw(port_, {"PING"});
            if (r && (r->type == REDIS_REPLY_STATUS ||
                      (r->type == REDIS_REPLY_ERROR && std::strncmp(r->str, "NOAUTH", 6) == 0)))
                return;
            usleep(25000);
        }
        ck_abort_msg("redis-server on port %d did not start", port_);
    }
    void stop(int signal = SIGTERM) {
        if (pid_ <= 0) return;
        kill(pid_, SIGCONT);
        kill(pid_, signal);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
    }
    void pause() { kill(pid_, SIGSTOP); }
    void resume() { kill(pid_, SIGCONT); }

private:
    std::vector<std::string> extra_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

// ---- log capture ----------------------------------------------------------------------

std::mutex log_mutex;
std::vector<std::pair<std::string, std::string>> log_lines;   // tag, message

void capture(void*, LogLevel, const char* tag, const std::string& message) {
    std::lock_guard<std::mutex> lock(log_mutex);
    log_lines.emplace_back(tag, message);
}

int count_tag(const char* tag) {
    std::lock_guard<std::mutex> lock(log_mutex);
    int n = 0;
    for (const auto& l : log_lines) n += l.first == tag;
    return n;
}

// ---- sessions -----------------------------------------------------------------------

Secret key_material(std::uint8_t seed = 7) {
    Secret k(32);
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed + i * 13);
    return k;
}

// Generous by default: a loaded machine makes Redis answer late.
RedisStoreOptions options_for(int port, unsigned timeout_ms = 3000) {
    RedisStoreOptions o;
    o.host = "127.0.0.1";
    o.port = static_cast<unsigned>(port);
    o.timeout_ms = timeout_ms;
    return o;
}

// Recognisable octets, to look for in a dump.
const Bytes k_c1_octets(65, 0xc1);
const Bytes k_s1_octets(65, 0x51);
const Secret z_octets(32, 0x2a);
const char* const user_name = "alice-the-recognisable-user";

SessionId make_sid(std::uint32_t n, std::uint8_t shard_low = 0xff, std::uint8_t shard_high = 0xff) {
    SessionId sid{};
    for (int i = 0; i < 16; ++i) sid[i] = static_cast<std::uint8_t>((n >> (8 * (i % 4))) + i * 31);
    if (shard_low != 0xff) sid[0] = shard_low;
    if (shard_high != 0xff) sid[1] = shard_high;
    return sid;
}

Bytes sid_bytes(const SessionId& s) { return Bytes(s.begin(), s.end()); }

InsertResult add(RedisSessionStore& store, const SessionId& sid, std::int64_t now, std::uint64_t nc_max = 10000,
                 std::uint32_t window = 128, std::int64_t lifetime = 300, std::uint64_t realm = 7) {
    NewSession n;
    n.sid = sid;
    n.realm_id = realm;
    n.algorithm = 0;
    n.user = user_name;
    n.k_c1 = &k_c1_octets;
    n.k_s1 = &k_s1_octets;
    n.z = &z_octets;
    n.nc_max = nc_max;
    n.nc_window = window;
    n.now = now;
    n.expires = now + lifetime;
    n.verifier_tag = 0x1122334455667788ull;
    return store.insert(n);
}

// One whole req-VFY-C: begin, finish(verified). What begin said, or ok/the commit.
std::string use(RedisSessionStore& store, const SessionId& sid, std::uint64_t nc, std::int64_t now,
                bool verified = true, std::uint64_t realm = 7) {
    SessionSnapshot snap;
    const VerifyCheck c = store.begin_verify(sid_bytes(sid), realm, nc, now, snap);
    switch (c) {
        case VerifyCheck::ok: break;
        case VerifyCheck::unknown: return "unknown";
        case VerifyCheck::expired: return "expired";
        case VerifyCheck::rejected: return "rejected";
        case VerifyCheck::above_nc_max: return "above";
        case VerifyCheck::below_window: return "below";
        case VerifyCheck::duplicate: return "duplicate";
        case VerifyCheck::lock_failed: return "lock_failed";
        case VerifyCheck::unavailable: return "unavailable";
    }
    switch (store.finish_verify(snap, nc, verified, now)) {
        case VerifyCommit::ok: return "ok";
        case VerifyCommit::rejected: return "commit-rejected";
        case VerifyCommit::kept: return "commit-kept";
        case VerifyCommit::vanished: return "commit-vanished";
        case VerifyCommit::duplicate: return "commit-duplicate";
        case VerifyCommit::below_window: return "commit-below";
        case VerifyCommit::lock_failed: return "commit-lock_failed";
        case VerifyCommit::unavailable: return "commit-unavailable";
    }
    return "?";
}

#define USE_IS(expr, expected)                                                            \
    do {                                                                                  \
        const std::string got_ = (expr);                                                  \
        ck_assert_msg(got_ == (expected), "%s: got %s, expected %s", #expr, got_.c_str(), \
                      expected);                                                          \
    } while (0)

std::int64_t now_s() { return static_cast<std::int64_t>(time(nullptr)); }

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// ---- tests ------------------------------------------------------------------------

START_TEST(url_parsing) {
    RedisStoreOptions o;
    std::string error;
    ck_assert(parse_redis_url("redis://127.0.0.1", o, error));
    ck_assert(o.host == "127.0.0.1" && o.port == 6379 && o.db == 0 && o.password.empty());
    ck_assert(parse_redis_url("redis://:s%40cret@cache.example:6380/3", o, error));
    ck_assert(o.host == "cache.example" && o.port == 6380 && o.db == 3 && o.user.empty());
    ck_assert(std::string(o.password.begin(), o.password.end()) == "s@cret");
    ck_assert(redis_url_for_log(o).find("s@cret") == std::string::npos);
    ck_assert(parse_redis_url("redis://app:pw@[::1]:7000", o, error));
    ck_assert(o.host == "::1" && o.port == 7000 && o.user == "app");
    ck_assert(!parse_redis_url("http://x", o, error));
    ck_assert(!parse_redis_url("redis://host:0", o, error));
    ck_assert(!parse_redis_url("redis://host:99999", o, error));
    ck_assert(!parse_redis_url("redis://host/x", o, error));
    ck_assert(!parse_redis_url("redis://", o, error));
    ck_assert(!parse_redis_url("redis://:%zz@host", o, error));
}
END_TEST

START_TEST(key_file) {
    const std::string dir = temp_dir();
    Secret k;
    std::string error;
    ck_assert(!read_store_key(dir + "/absent", k, error));
    {
        std::ofstream(dir + "/short") << "0123456789\n";
    }
    ck_assert(!read_store_key(dir + "/short", k, error));
    ck_assert(error.find("32 octets") != std::string::npos);
    {
        std::ofstream(dir + "/good") << std::string(64, 'a') << "\n";
    }
    ck_assert(read_store_key(dir + "/good", k, error));
    ck_assert_uint_eq(k.size(), 64);
    {
        // A binary key (openssl rand -out FILE 32) whose last octets are a
        // line end is taken whole.
        std::string binary(30, '\x9c');
        binary += "\r\n";
        std::ofstream(dir + "/binary", std::ios::binary) << binary;
    }
    ck_assert(read_store_key(dir + "/binary", k, error));
    ck_assert_uint_eq(k.size(), 32);
    ck_assert_int_eq(k[31], '\n');
    const std::string cmd = "rm -rf '" + dir + "'";
    ck_assert_int_eq(std::system(cmd.c_str()), 0);
}
END_TEST

START_TEST(password_and_database) {
    RedisServer server({"--requirepass", "pässword with spaces"});
    set_log_sink(capture, nullptr);
    RedisStoreOptions o = options_for(server.port());
    std::string error;
    ck_assert(parse_redis_url("redis://:p%C3%A4ssword%20with%20spaces@127.0.0.1:" + std::to_string(server.port()) + "/5",
                              o, error));
    o.timeout_ms = 3000;
    RedisSessionStore store(o, key_material());
    const std::int64_t now = now_s();
    ck_assert(add(store, make_sid(80), now).status == InsertStatus::ok);
    USE_IS(use(store, make_sid(80), 1, now), "ok");
    // In database 5, not 0.
    {
        timeval tv{2, 0};
        redisContext* c = redisConnectWithTimeout("127.0.0.1", server.port(), tv);
        ck_assert(c != nullptr && c->err == 0);
        Reply auth(static_cast<redisReply*>(redisCommand(c, "AUTH %s", "pässword with spaces")));
        ck_assert(auth && auth->type == REDIS_REPLY_STATUS);
        Reply in0(static_cast<redisReply*>(redisCommand(c, "DBSIZE")));
        Reply select(static_cast<redisReply*>(redisCommand(c, "SELECT 5")));
        Reply in5(static_cast<redisReply*>(redisCommand(c, "DBSIZE")));
        redisFree(c);
        ck_assert(in0 && in0->integer == 0 && in5 && in5->integer >= 1);
    }
    // A wrong password: unavailable, said once, the password not in the line.
    RedisStoreOptions wrong = o;
    wrong.password = SecretString("not the password");
    RedisSessionStore refused(wrong, key_material());
    ck_assert(add(refused, make_sid(81), now).status == InsertStatus::unavailable);
    ck_assert_int_eq(count_tag("MUT02010"), 1);
    for (const auto& l : log_lines) {
        ck_assert(l.second.find("not the password") == std::string::npos);
        ck_assert(l.second.find("spaces") == std::string::npos);
    }
    ck_assert(log_lines.back().second.find("AUTH refused") != std::string::npos);
    set_log_sink(nullptr, nullptr);
}
END_TEST

// A replay or an nc below the window: with the node's session cache (the
// default) begin_verify answers from the cache and the finish script finds
// the nonce used; without it, the begin script does. The same 401-STALE.
std::string stale_as(bool cached, const char* what) { return (cached ? "commit-" : "") + std::string(what); }

START_TEST(create_verify_replay) {
    RedisServer server;
    for (const std::size_t entries : {std::size_t(0), RedisStoreOptions().cache_entries}) {
    const bool cached = entries != 0;
    RedisStoreOptions o = options_for(server.port());
    o.cache_entries = entries;
    RedisSessionStore store(o, key_material());
    ck_assert(store.valid());
    const std::int64_t now = now_s();
    const SessionId sid = make_sid(cached ? 101 : 1);
    ck_assert(add(store, sid, now).status == InsertStatus::ok);
    // The same sid again: refused (creation fails if the sid exists).
    ck_assert(add(store, sid, now).status == InsertStatus::bad_argument);

    SessionSnapshot snap;
    ck_assert(store.begin_verify(sid_bytes(sid), 7, 1, now, snap) == VerifyCheck::ok);
    ck_assert(snap.state == SessionState::key_exchanging);
    ck_assert(snap.user == user_name);
    ck_assert(Bytes(snap.k_c1.begin(), snap.k_c1.end()) == k_c1_octets);
    ck_assert(Bytes(snap.k_s1.begin(), snap.k_s1.end()) == k_s1_octets);
    ck_assert(Secret(snap.z.begin(), snap.z.end()) == z_octets);
    ck_assert(snap.verifier_tag == 0x1122334455667788ull);
    ck_assert_int_eq(snap.created, now);
    ck_assert(!snap.fake);
    // Another realm does not see it.
    SessionSnapshot other;
    ck_assert(store.begin_verify(sid_bytes(sid), 8, 1, now, other) == VerifyCheck::unknown);
    ck_assert(store.finish_verify(snap, 1, true, now) == VerifyCommit::ok);

    USE_IS(use(store, sid, 2, now), "ok");
    // A replay of nc 2: the session becomes inactive, gone for good.
    USE_IS(use(store, sid, 2, now), stale_as(cached, "duplicate").c_str());
    USE_IS(use(store, sid, 3, now), "unknown");
    ck_assert_uint_eq(store.statistics().verified, 2);
    ck_assert_uint_eq(store.counters().cache_hits, cached ? 2 : 0);
    ck_assert_uint_eq(store.counters().cache_entries, 0);   // gone from Redis: from the cache too
    }
}
END_TEST

START_TEST(window_and_nc_max) {
    RedisServer server;
    for (const std::size_t entries : {std::size_t(0), RedisStoreOptions().cache_entries}) {
    const bool cached = entries != 0;
    server.stop(SIGKILL);   // an empty Redis for each pass
    server.start();
    RedisStoreOptions o = options_for(server.port());
    o.cache_entries = entries;
    RedisSessionStore store(o, key_material());
    const std::int64_t now = now_s();
    // nc-max
    const SessionId a = make_sid(2);
    ck_assert(add(store, a, now, 10).status == InsertStatus::ok);
    USE_IS(use(store, a, 10, now), "ok");
    USE_IS(use(store, a, 11, now), "above");
    USE_IS(use(store, a, 9, now), "unknown");
    // The window: out of order inside it is fine, once.
    const SessionId b = make_sid(3);
    ck_assert(add(store, b, now, 100000, 128).status == InsertStatus::ok);
    USE_IS(use(store, b, 5, now), "ok");
    USE_IS(use(store, b, 3, now), "ok");
    USE_IS(use(store, b, 200, now), "ok");
    USE_IS(use(store, b, 73, now), "ok");      // 200 - 73 = 127 < 128
    USE_IS(use(store, b, 1300, now), "ok");    // a jump beyond the ring clears it
    USE_IS(use(store, b, 1299, now), "ok");
    USE_IS(use(store, b, 1200, now), "ok");
    USE_IS(use(store, b, 1172, now), stale_as(cached, "below").c_str()); // 1300 - 1172 = 128
    // The location's limits tighten the session's.
    const SessionId c = make_sid(4);
    ck_assert(add(store, c, now, 100000, 1024).status == InsertStatus::ok);
    USE_IS(use(store, c, 1000, now), "ok");
    SessionSnapshot snap;
    SessionLimits limits;
    limits.nc_window = 128;
    if (cached) {   // the window is Redis's to check: the finish script
        ck_assert(store.begin_verify(sid_bytes(c), 7, 800, now, snap, limits) == VerifyCheck::ok);
        ck_assert(store.finish_verify(snap, 800, true, now, limits) == VerifyCommit::below_window);
    } else {
        ck_assert(store.begin_verify(sid_bytes(c), 7, 800, now, snap, limits) == VerifyCheck::below_window);
    }
    // nc values beyond 2^53 and up to 2^64-1 are exact in the scripts.
    const SessionId d = make_sid(5);
    const std::uint64_t big = (std::uint64_t(1) << 62) + 1000;
    ck_assert(add(store, d, now, UINT64_MAX, 1024).status == InsertStatus::ok);
    USE_IS(use(store, d, big, now), "ok");
    USE_IS(use(store, d, big - 1, now), "ok");
    USE_IS(use(store, d, big + 1, now), "ok");
    USE_IS(use(store, d, UINT64_MAX, now), "ok");
    USE_IS(use(store, d, UINT64_MAX - 1023, now), "ok");
    USE_IS(use(store, d, UINT64_MAX - 1024, now), stale_as(cached, "below").c_str());
    const SessionId e = make_sid(6);
    ck_assert(add(store, e, now, (std::uint64_t(1) << 62)).status == InsertStatus::ok);
    USE_IS(use(store, e, (std::uint64_t(1) << 62) + 1, now), "above");
    // nc-max and the location's limits are the session's fixed part: a
    // cached session above them goes the begin script's way (which ends it).
    const SessionId f = make_sid(7);
    ck_assert(add(store, f, now, 10).status == InsertStatus::ok);
    USE_IS(use(store, f, 1, now), "ok");
    USE_IS(use(store, f, 11, now), "above");
    USE_IS(use(store, f, 2, now), "unknown");
    }
}
END_TEST

START_TEST(rejected_and_logout) {
    RedisServer server;
    RedisSessionStore store(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    const SessionId a = make_sid(10);
    ck_assert(add(store, a, now).status == InsertStatus::ok);
    USE_IS(use(store, a, 1, now, false), "commit-rejected");
    USE_IS(use(store, a, 2, now), "rejected");
    // A rejected session's blob (z) is dropped.
    Reply r = raw(server.port(), {"HEXISTS", store.session_key(sid_bytes(a)), "b"});
    ck_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    // A wrong vkc on an authenticated session leaves it as it was.
    const SessionId b = make_sid(11);
    ck_assert(add(store, b, now).status == InsertStatus::ok);
    USE_IS(use(store, b, 1, now), "ok");
    USE_IS(use(store, b, 2, now, false), "commit-kept");
    USE_IS(use(store, b, 3, now), "ok");
    // Logout: only in its own space, for good.
    ck_assert(!store.end_session(sid_bytes(b), 8));
    ck_assert(store.end_session(sid_bytes(b), 7));
    ck_assert(!store.end_session(sid_bytes(b), 7));
    USE_IS(use(store, b, 4, now), "unknown");
    // mark_verifier_checked
    const SessionId c = make_sid(12);
    ck_assert(add(store, c, now).status == InsertStatus::ok);
    ck_assert(!store.mark_verifier_checked(sid_bytes(c), 8, now + 5));
    ck_assert(store.mark_verifier_checked(sid_bytes(c), 7, now + 5));
    SessionSnapshot snap;
    ck_assert(store.begin_verify(sid_bytes(c), 7, 1, now + 6, snap) == VerifyCheck::ok);
    ck_assert_int_eq(snap.verifier_checked, now + 5);
    // A session released between the two steps: vanished, nothing accepted.
    ck_assert(store.end_session(sid_bytes(c), 7));
    ck_assert(store.finish_verify(snap, 1, true, now + 6) == VerifyCommit::vanished);
}
END_TEST

START_TEST(expiry) {
    RedisServer server;
    RedisSessionStore store(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    const SessionId a = make_sid(20), b = make_sid(21), c = make_sid(22);
    ck_assert(add(store, a, now, 10000, 128, 1).status == InsertStatus::ok);
    ck_assert(add(store, b, now, 10000, 128, 300).status == InsertStatus::ok);
    ck_assert(add(store, c, now, 10000, 128, 300).status == InsertStatus::ok);
    // Redis TTL = the lifetime.
    Reply ttl = raw(server.port(), {"TTL", store.session_key(sid_bytes(b))});
    ck_assert(ttl && ttl->type == REDIS_REPLY_INTEGER && ttl->integer > 290 && ttl->integer <= 300);
    // The session's own expiry, seen by the script before Redis drops it.
    USE_IS(use(store, b, 1, now + 300), "expired");
    USE_IS(use(store, b, 1, now), "unknown");
    // The location's lifetime (stricter) from the key exchange.
    SessionSnapshot snap;
    SessionLimits limits;
    limits.lifetime = 10;
    ck_assert(store.begin_verify(sid_bytes(c), 7, 1, now + 10, snap, limits) == VerifyCheck::expired);
    // Redis removes the key itself.
    usleep(2200000);
    Reply exists = raw(server.port(), {"EXISTS", store.session_key(sid_bytes(a))});
    ck_assert(exists && exists->integer == 0);
    USE_IS(use(store, a, 1, now), "unknown");
}
END_TEST

START_TEST(noscript_reload) {
    RedisServer server;
    RedisSessionStore store(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    const SessionId a = make_sid(30);
    ck_assert(add(store, a, now).status == InsertStatus::ok);
    const std::uint64_t before = store.counters().noscript;
    Reply flushed = raw(server.port(), {"SCRIPT", "FLUSH"});
    ck_assert(flushed && flushed->type == REDIS_REPLY_STATUS);
    USE_IS(use(store, a, 1, now), "ok");
    ck_assert_uint_gt(store.counters().noscript, before);
    USE_IS(use(store, a, 2, now), "ok");
}
END_TEST

START_TEST(timeouts_fail_fast_and_recover) {
    RedisServer server;
    set_log_sink(capture, nullptr);
    // The session is made through a patient store; the one under test
    // (200 ms) meets Redis only once it is stopped.
    RedisSessionStore patient(options_for(server.port()), key_material());
    RedisSessionStore store(options_for(server.port(), 200), key_material());
    const std::int64_t now = now_s();
    const SessionId a = make_sid(40);
    ck_assert(add(patient, a, now).status == InsertStatus::ok);
    USE_IS(use(patient, a, 1, now), "ok");
    server.pause();   // slow: accepts nothing, answers nothing
    auto t = std::chrono::steady_clock::now();
    SessionSnapshot snap;
    ck_assert(store.begin_verify(sid_bytes(a), 7, 2, now, snap) == VerifyCheck::unavailable);
    ck_assert_msg(seconds_since(t) < 0.2 + 1.0, "waited %.3f s", seconds_since(t));
    // Known down: the next requests fail at once, with no new log line.
    t = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) ck_assert(add(store, make_sid(100 + i), now).status == InsertStatus::unavailable);
    ck_assert_msg(seconds_since(t) < 2.5, "20 requests took %.3f s", seconds_since(t));
    ck_assert_int_eq(count_tag("MUT02010"), 1);
    ck_assert_int_eq(count_tag("MUT02011"), 0);
    server.resume();
    // Back: within the capped back-off (2 s) plus a timeout.
    t = std::chrono::steady_clock::now();
    std::string result;
    while (seconds_since(t) < 5 && (result = use(store, a, 2, now)) == "unavailable") usleep(50000);
    ck_assert_msg(result == "ok", "after resume: %s", result.c_str());
    ck_assert_int_eq(count_tag("MUT02010"), 1);
    ck_assert_int_eq(count_tag("MUT02011"), 1);
    // No secret in any line.
    for (const auto& l : log_lines) ck_assert(l.second.find(user_name) == std::string::npos);
    set_log_sink(nullptr, nullptr);
}
END_TEST

START_TEST(killed_and_restarted) {
    RedisServer server;
    set_log_sink(capture, nullptr);
    RedisSessionStore store(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    ck_assert(add(store, make_sid(50), now).status == InsertStatus::ok);
    server.stop(SIGKILL);
    ck_assert(add(store, make_sid(51), now).status == InsertStatus::unavailable);
    ck_assert(add(store, make_sid(52), now).status == InsertStatus::unavailable);
    server.start();   // same port, empty (no persistence)
    const auto t = std::chrono::steady_clock::now();
    InsertStatus status = InsertStatus::unavailable;
    while (seconds_since(t) < 15 && (status = add(store, make_sid(53), now).status) == InsertStatus::unavailable)
        usleep(50000);
    ck_assert(status == InsertStatus::ok);
    ck_assert_msg(seconds_since(t) < 6, "recovery took %.3f s", seconds_since(t));
    USE_IS(use(store, make_sid(53), 1, now), "ok");
    ck_assert_int_eq(count_tag("MUT02010"), 1);
    ck_assert_int_eq(count_tag("MUT02011"), 1);
    // A restart while connections sit idle in the pool: no outage logged.
    server.stop(SIGTERM);
    server.start();
    // The data went with it (this node's cache still holds the session's
    // fixed part: the finish script finds nothing, 401-STALE all the same).
    USE_IS(use(store, make_sid(53), 2, now), "commit-vanished");
    USE_IS(use(store, make_sid(53), 3, now), "unknown");
    ck_assert(add(store, make_sid(54), now).status == InsertStatus::ok);
    ck_assert_int_eq(count_tag("MUT02010"), 1);
    set_log_sink(nullptr, nullptr);
}
END_TEST

START_TEST(records_are_encrypted) {
    RedisServer server;
    RedisSessionStore store(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    const SessionId a = make_sid(60);
    ck_assert(add(store, a, now).status == InsertStatus::ok);
    Reply all = raw(server.port(), {"HGETALL", store.session_key(sid_bytes(a))});
    ck_assert(all && all->type == REDIS_REPLY_ARRAY && all->elements >= 20);
    std::string dump;
    for (std::size_t i = 0; i < all->elements; ++i) dump.append(all->element[i]->str, all->element[i]->len);
    // Also the on-disk form.
    Reply saved = raw(server.port(), {"SAVE"});
    ck_assert(saved && saved->type == REDIS_REPLY_STATUS);
    std::ifstream rdb(server.dir() + "/dump.rdb", std::ios::binary);
    dump.append(std::istreambuf_iterator<char>(rdb), std::istreambuf_iterator<char>());
    auto absent = [&dump](const std::uint8_t* p, std::size_t n) {
        return dump.find(std::string(reinterpret_cast<const char*>(p), n)) == std::string::npos;
    };
    ck_assert(absent(k_c1_octets.data(), 16));
    ck_assert(absent(k_s1_octets.data(), 16));
    ck_assert(absent(z_octets.data(), 16));
    ck_assert(dump.find(user_name) == std::string::npos);
    ck_assert(dump.find("alice") == std::string::npos);
}
END_TEST

START_TEST(tampered_or_foreign_records) {
    RedisServer server;
    set_log_sink(capture, nullptr);
    RedisSessionStore store(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    const SessionId a = make_sid(70), b = make_sid(71);
    ck_assert(add(store, a, now).status == InsertStatus::ok);
    ck_assert(add(store, b, now).status == InsertStatus::ok);
    const std::string key = store.session_key(sid_bytes(a));
    Reply blob = raw(server.port(), {"HGET", key, "b"});
    ck_assert(blob && blob->type == REDIS_REPLY_STRING);
    std::string changed(blob->str, blob->len);
    changed[changed.size() / 2] ^= 0x01;
    ck_assert(raw(server.port(), {"HSET", key, "b", changed}));
    USE_IS(use(store, a, 1, now), "unknown");
    ck_assert_int_eq(count_tag("MUT02013"), 1);
    // The record of one sid moved under another: its sid is associated data.
    Reply good = raw(server.port(), {"HGET", store.session_key(sid_bytes(b)), "b"});
    ck_assert(raw(server.port(), {"HSET", key, "b", std::string(good->str, good->len)}));
    USE_IS(use(store, a, 1, now), "unknown");
    ck_assert_int_eq(count_tag("MUT02013"), 2);
    // A node with another key: refused, named in the log.
    RedisSessionStore other(options_for(server.port()), key_material(99));
    USE_IS(use(other, b, 1, now), "unknown");
    ck_assert_int_eq(count_tag("MUT02012"), 1);
    USE_IS(use(store, b, 1, now), "ok");
    set_log_sink(nullptr, nullptr);
}
END_TEST

// Nodes one and two verify the same (sid, nc) at the same instant, 100
// times (each time a new session; warm: both have verified it once before,
// so both answer step 1 from their caches). Exactly one acceptance each time.
void race_same_nc(RedisSessionStore& one, RedisSessionStore& two, std::uint32_t first_sid, bool warm) {
    const std::int64_t now = now_s();
    const std::uint64_t nc = warm ? 3 : 1;
    int doubles = 0, singles = 0;
    for (std::uint32_t round = 0; round < 100; ++round) {
        const SessionId sid = make_sid(first_sid + round);
        ck_assert(add(one, sid, now).status == InsertStatus::ok);
        if (warm) {
            USE_IS(use(one, sid, 1, now), "ok");
            USE_IS(use(two, sid, 2, now), "ok");
        }
        std::atomic<int> go{0};
        std::string r1, r2;
        std::thread t1([&] { while (!go) {} r1 = use(one, sid, nc, now); });
        std::thread t2([&] { while (!go) {} r2 = use(two, sid, nc, now); });
        go = 1;
        t1.join();
        t2.join();
        const int accepted = (r1 == "ok") + (r2 == "ok");
        doubles += accepted > 1;
        singles += accepted == 1;
    }
    ck_assert_int_eq(doubles, 0);
    ck_assert_int_eq(singles, 100);
}

START_TEST(nodes_agree_and_race) {
    RedisServer server;
    RedisSessionStore one(options_for(server.port()), key_material());
    RedisSessionStore two(options_for(server.port()), key_material());
    RedisSessionStore foreign(options_for(server.port()), key_material(3));
    // realm ids and verifier tags agree across nodes of one key.
    ck_assert(one.realm_id("a", "s", "r", "p", "o") == two.realm_id("a", "s", "r", "p", "o"));
    ck_assert(one.realm_id("a", "s", "r", "p", "o") != foreign.realm_id("a", "s", "r", "p", "o"));
    ck_assert(one.realm_id("a", "s", "r", "p", "o") != one.realm_id("a", "s", "r2", "p", "o"));
    const Bytes j(65, 9);
    ck_assert(one.verifier_tag(j) == two.verifier_tag(j));
    ck_assert(one.verifier_tag(j) != foreign.verifier_tag(j));
    // Two nodes verifying the same (sid, nc) at the same instant: never two acceptances.
    race_same_nc(one, two, 1000, false);
}
END_TEST

// ---- the node's session cache (two stores = two nodes) ---------------------------------

bool contains(ByteView hay, ByteView needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

bool all_zero(ByteView v) {
    for (std::uint8_t b : v)
        if (b != 0) return false;
    return true;
}

START_TEST(cache_session_ended_on_another_node) {
    RedisServer server;
    RedisSessionStore a(options_for(server.port()), key_material());
    RedisSessionStore b(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    const SessionId sid = make_sid(300);
    ck_assert(add(a, sid, now).status == InsertStatus::ok);
    USE_IS(use(a, sid, 1, now), "ok");           // the begin script; cached after finish
    ck_assert_uint_eq(a.counters().cache_entries, 1);
    SessionSnapshot snap;
    ck_assert(a.begin_verify(sid_bytes(sid), 7, 2, now, snap) == VerifyCheck::ok);
    ck_assert(snap.from_cache);
    ck_assert(snap.state == SessionState::authenticated);
    ck_assert(snap.user == user_name);
    ck_assert(Secret(snap.z.begin(), snap.z.end()) == z_octets);
    ck_assert(Bytes(snap.k_c1.begin(), snap.k_c1.end()) == k_c1_octets);
    ck_assert_int_eq(snap.created, now);
    ck_assert(a.finish_verify(snap, 2, true, now) == VerifyCommit::ok);
    // Node B ends it (logout): A still holds its fixed part, but the finish
    // script finds nothing; never a 200.
    ck_assert(b.end_session(sid_bytes(sid), 7));
    USE_IS(use(a, sid, 3, now), "commit-vanished");
    ck_assert_uint_eq(a.counters().cache_entries, 0);
    USE_IS(use(a, sid, 4, now), "unknown");
    // A logout on A itself drops A's entry at once.
    const SessionId other = make_sid(301);
    ck_assert(add(b, other, now).status == InsertStatus::ok);
    USE_IS(use(a, other, 1, now), "ok");
    ck_assert_uint_eq(a.counters().cache_entries, 1);
    ck_assert(a.end_session(sid_bytes(other), 7));
    ck_assert_uint_eq(a.counters().cache_entries, 0);
    // A cached session past its lifetime goes the begin script's way: expired.
    const SessionId old = make_sid(302);
    ck_assert(add(a, old, now).status == InsertStatus::ok);
    USE_IS(use(a, old, 1, now), "ok");
    USE_IS(use(a, old, 2, now + 300), "expired");
    // Another realm never sees a cached session.
    const SessionId mine = make_sid(303);
    ck_assert(add(a, mine, now).status == InsertStatus::ok);
    USE_IS(use(a, mine, 1, now), "ok");
    USE_IS(use(a, mine, 2, now, true, 8), "unknown");
    // The verdict of a wrong vkc on a cached session is Redis's: kept.
    USE_IS(use(a, mine, 3, now, false), "commit-kept");
    USE_IS(use(a, mine, 4, now), "ok");
    ck_assert_uint_ge(a.counters().cache_hits, 4);
}
END_TEST

START_TEST(cache_replay_across_nodes) {
    RedisServer server;
    RedisSessionStore a(options_for(server.port()), key_material());
    RedisSessionStore b(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    const SessionId sid = make_sid(310);
    ck_assert(add(a, sid, now).status == InsertStatus::ok);
    USE_IS(use(a, sid, 1, now), "ok");
    USE_IS(use(b, sid, 2, now), "ok");          // B's first: the begin script, then cached on B
    USE_IS(use(b, sid, 3, now), "ok");          // from B's cache
    // nc 3 replayed on A (which cached the session at nc 1): refused by the
    // finish script, whatever vkc; the session is inactive everywhere.
    USE_IS(use(a, sid, 3, now), "commit-duplicate");
    USE_IS(use(b, sid, 4, now), "commit-vanished");
    USE_IS(use(a, sid, 4, now), "unknown");
    // A replay with a wrong vkc is a replay too (RFC 8120 §11: the nonce first).
    const SessionId s2 = make_sid(311);
    ck_assert(add(a, s2, now).status == InsertStatus::ok);
    USE_IS(use(a, s2, 1, now), "ok");
    USE_IS(use(b, s2, 2, now), "ok");
    USE_IS(use(a, s2, 2, now, false), "commit-duplicate");
    // Warm caches on both nodes, the same (sid, nc) at the same instant,
    // many times: never two acceptances.
    race_same_nc(a, b, 2000, true);
    ck_assert_uint_ge(a.counters().cache_hits, 100);
}
END_TEST

START_TEST(cache_rejected_stays_rejected) {
    RedisServer server;
    RedisSessionStore a(options_for(server.port()), key_material());
    RedisSessionStore b(options_for(server.port()), key_material());
    const std::int64_t now = now_s();
    // Rejected on B at its first verification: never cached anywhere.
    const SessionId sid = make_sid(320);
    ck_assert(add(a, sid, now).status == InsertStatus::ok);
    USE_IS(use(b, sid, 1, now, false), "commit-rejected");
    USE_IS(use(a, sid, 2, now), "rejected");
    USE_IS(use(b, sid, 3, now), "rejected");
    ck_assert_uint_eq(a.counters().cache_entries + b.counters().cache_entries, 0);
    // A cached session that Redis holds as rejected (the state written by
    // hand: no script makes an authenticated session rejected): refused,
    // and it stays rejected.
    const SessionId s2 = make_sid(321);
    ck_assert(add(a, s2, now).status == InsertStatus::ok);
    USE_IS(use(a, s2, 1, now), "ok");
    Reply r = raw(server.port(), {"HSET", a.session_key(sid_bytes(s2)), "s", "3"});
    ck_assert(r && r->type == REDIS_REPLY_INTEGER);
    USE_IS(use(a, s2, 2, now), "commit-kept");
    USE_IS(use(a, s2, 3, now, false), "commit-kept");
    Reply state = raw(server.port(), {"HGET", a.session_key(sid_bytes(s2)), "s"});
    ck_assert(state && state->type == REDIS_REPLY_STRING && std::string(state->str, state->len) == "3");
    ck_assert_uint_eq(a.statistics().verified, 1);
}
END_TEST

START_TEST(cache_is_bounded_and_cleansed) {
    // The cache alone: distinct records, two slots.
    SessionCache cache(2, 64);
    SessionCache::Fields f;
    f.created = 1;
    f.expires = 100;
    f.nc_max = 10;
    const Secret r1(40, 0xa1), r2(40, 0xa2), r3(40, 0xa3);
    cache.put(make_sid(1), 7, f, r1);
    cache.put(make_sid(2), 7, f, r2);
    Secret out;
    ck_assert(cache.find(make_sid(1), 7, f, out) && out == r1);   // 1 is now the most recent
    cache.put(make_sid(3), 7, f, r3);                              // evicts 2
    ck_assert_uint_eq(cache.size(), 2);
    ck_assert_uint_eq(cache.evictions(), 1);
    ck_assert(!cache.find(make_sid(2), 7, f, out));
    ck_assert(cache.find(make_sid(3), 7, f, out) && out == r3);
    bool seen2 = false, seen1 = false;
    for (std::size_t i = 0; i < cache.capacity(); ++i) {
        seen2 = seen2 || contains(cache.slot_octets(i), ByteView(r2.data(), 4));
        seen1 = seen1 || contains(cache.slot_octets(i), ByteView(r1.data(), 4));
    }
    ck_assert(!seen2);   // the evicted record is wiped, not just unlinked
    ck_assert(seen1);
    cache.erase(make_sid(1), 7);
    cache.put(make_sid(4), 7, f, Secret(500, 0xff));   // larger than a slot: not cached
    ck_assert(!cache.find(make_sid(4), 7, f, out));
    cache.clear();
    for (std::size_t i = 0; i < cache.capacity(); ++i) ck_assert(all_zero(cache.slot_octets(i)));
    ck_assert(!SessionCache(0).find(make_sid(1), 7, f, out));   // off

    // Through the store: never more entries than configured, evicted and
    // ended sessions leave no secret behind.
    RedisServer server;
    RedisStoreOptions o = options_for(server.port());
    o.cache_entries = 2;
    RedisSessionStore store(o, key_material());
    const std::int64_t now = now_s();
    for (std::uint32_t n = 0; n < 5; ++n) {
        ck_assert(add(store, make_sid(400 + n), now).status == InsertStatus::ok);
        USE_IS(use(store, make_sid(400 + n), 1, now), "ok");
    }
    ck_assert_uint_eq(store.counters().cache_entries, 2);
    ck_assert_uint_eq(store.counters().cache_evictions, 3);
    USE_IS(use(store, make_sid(400), 2, now), "ok");   // evicted: the begin script, still fine
    ck_assert(store.end_session(sid_bytes(make_sid(400)), 7));
    ck_assert(store.end_session(sid_bytes(make_sid(404)), 7));
    ck_assert_uint_eq(store.counters().cache_entries, 0);
    for (std::size_t i = 0; i < 2; ++i) {
        ck_assert(!contains(store.cache_slot(i), ByteView(z_octets.data(), z_octets.size())));
        ck_assert(all_zero(store.cache_slot(i)));
    }
}
END_TEST

START_TEST(unix_socket) {
    RedisStoreOptions o;
    std::string error;
    ck_assert(parse_redis_url("redis+unix:///run/redis/redis.sock", o, error));
    ck_assert(o.host == "/run/redis/redis.sock" && o.port == 0 && o.db == 0 && o.password.empty());
    ck_assert(parse_redis_url("redis+unix://:p%40ss@/tmp/r.sock?db=3", o, error));
    ck_assert(o.host == "/tmp/r.sock" && o.port == 0 && o.db == 3);
    ck_assert(std::string(o.password.begin(), o.password.end()) == "p@ss");
    ck_assert(redis_url_for_log(o) == "redis+unix://:***@/tmp/r.sock?db=3");
    ck_assert(!parse_redis_url("redis+unix://", o, error));
    ck_assert(!parse_redis_url("redis+unix://host/tmp/r.sock", o, error));
    ck_assert(!parse_redis_url("redis+unix:///tmp/r.sock?db=x", o, error));
    // A real Redis through its socket: the same sessions as over TCP.
    const std::string path = "/tmp/check-redis-" + std::to_string(getpid()) + ".sock";
    RedisServer server({"--unixsocket", path, "--unixsocketperm", "700"});
    ck_assert(parse_redis_url("redis+unix://" + path, o, error));
    o.timeout_ms = 3000;
    RedisSessionStore over_unix(o, key_material());
    RedisSessionStore over_tcp(options_for(server.port()), key_material());
    ck_assert(over_unix.ping());
    const std::int64_t now = now_s();
    const SessionId sid = make_sid(500);
    ck_assert(add(over_unix, sid, now).status == InsertStatus::ok);
    USE_IS(use(over_unix, sid, 1, now), "ok");
    USE_IS(use(over_tcp, sid, 2, now), "ok");
    USE_IS(use(over_unix, sid, 2, now), "commit-duplicate");
    ck_assert_uint_eq(over_unix.counters().failures, 0);
}
END_TEST

START_TEST(pending_quota) {
    RedisServer server;
    RedisStoreOptions o = options_for(server.port());
    o.max_key_exchanges = 128;   // 64 shards: 2 pending per shard
    RedisSessionStore store(o, key_material());
    const std::int64_t now = now_s();
    // Four sessions of one shard (sid[0] = 5, sid[1] = 0: shard 5).
    const SessionId a = make_sid(1, 5, 0), b = make_sid(2, 5, 0), c = make_sid(3, 5, 0), d = make_sid(4, 5, 0);
    ck_assert(add(store, a, now).status == InsertStatus::ok);
    ck_assert(add(store, b, now + 1).status == InsertStatus::ok);
    USE_IS(use(store, b, 1, now + 1), "ok");    // authenticated: no longer pending
    ck_assert(add(store, c, now + 2).eviction == Eviction::none);
    const InsertResult full = add(store, d, now + 3);
    ck_assert(full.status == InsertStatus::ok && full.eviction == Eviction::key_exchange_quota);
    USE_IS(use(store, a, 1, now + 3), "unknown");   // the oldest pending one went
    USE_IS(use(store, b, 2, now + 3), "ok");        // the authenticated one stays
    USE_IS(use(store, c, 1, now + 3), "ok");
    USE_IS(use(store, d, 1, now + 3), "ok");
    // Other shards are not affected.
    const SessionId e = make_sid(5, 6, 0);
    ck_assert(add(store, e, now).eviction == Eviction::none);
    Reply card = raw(server.port(), {"ZCARD", "mutual:{m005}:pending"});
    ck_assert(card && card->type == REDIS_REPLY_INTEGER && card->integer == 0);
}
END_TEST

// Every user is unknown: the key exchange makes a fake session.
class NoUsers final : public VerifierSource {
public:
    VerifierAnswer lookup(std::string_view, const Algorithm&) const override {
        VerifierAnswer a;
        a.status = VerifierStatus::unknown_user;
        return a;
    }
};

START_TEST(decision_answers_503_when_redis_is_gone) {
    RedisServer server;
    RedisSessionStore store(options_for(server.port()), key_material());
    mutual::Server core(store);
    ck_assert(core.valid());
    const Algorithm& a = *find_algorithm("iso-kam3-ec-p256-sha256");
    LocationPolicy policy;
    policy.algorithms = {&a};
    policy.auth_scope = "example.com";
    policy.realm = "redis realm";
    policy.vh = "http://example.com:80";
    policy.origin = "http://example.com:80";
    policy.partition = "none";
    const NoUsers users;
    MutualCredentials kex;
    kex.kind = RequestKind::kex_c1;
    kex.id.algorithm = std::string(a.name());
    kex.id.validation = "host";
    kex.id.auth_scope = policy.auth_scope;
    kex.id.realm = policy.realm;
    kex.user = "nobody";
    Bytes k_c1;
    ck_assert(a.client_key(a.random_client_scalar(), k_c1) == KexError::none);
    kex.kc1 = a.encode_key(k_c1);
    const std::string kex_header = serialize_credentials(kex, a.quoted_on_wire());
    const std::int64_t now = now_s();
    ExchangeResult r = core.handle(policy, &users, kex_header, now);
    ck_assert_msg(r.outcome == ExchangeOutcome::kex_s1, "%s %s", r.log_tag, r.log_message.c_str());
    // A req-VFY-C for that (fake) session, with a well-formed vkc.
    MutualCredentials vfy;
    vfy.kind = RequestKind::vfy_c;
    vfy.id = kex.id;
    vfy.sid = r.sid;
    vfy.nc = 1;
    vfy.vkc = a.encode_vk(Bytes(a.hash_length(), 0x42));
    const std::string vfy_header = serialize_credentials(vfy, a.quoted_on_wire());

    server.stop(SIGKILL);
    for (const std::string* header : {&kex_header, &vfy_header}) {
        r = core.handle(policy, &users, *header, now);
        ck_assert_msg(r.outcome == ExchangeOutcome::unavailable, "%s: %s %s", header->c_str(), r.log_tag,
                      r.log_message.c_str());
        ck_assert_int_eq(r.status, 503);
        ck_assert_uint_gt(r.retry_after, 0);
        ck_assert(r.www_authenticate.empty() && r.authentication_info.empty() && r.user.empty());
        ck_assert_str_eq(r.log_tag, header == &kex_header ? "MUT02000" : "MUT02001");
    }
    // mutual-logout of a kept verification: 503, the session may live on.
    ExchangeResult kept;
    kept.outcome = ExchangeOutcome::verified;
    kept.algorithm = a.name();
    kept.sid = vfy.sid;
    kept.user = "nobody";
    std::vector<char> memory(ExchangeResult::keep_bytes(policy, vfy_header));
    kept.keep(policy, vfy_header, memory.data());
    const ExchangeResult logout = core.logout(kept);
    ck_assert(logout.unavailable());
    ck_assert_int_eq(logout.status, 503);
    ck_assert_uint_eq(logout.retry_after, 2);
    ck_assert_str_eq(logout.log_tag, "MUT02106");
    ck_assert_str_eq(logout.log_message.c_str(), "logout of user \"nobody\": 503, the session store is unavailable");
    // No Authorization needs no store: 401-INIT as always.
    r = core.handle(policy, &users, std::nullopt, now);
    ck_assert(r.outcome == ExchangeOutcome::init && r.status == 401);
    // Back: the fake session went with the data; a new one works.
    server.start();
    const auto t = std::chrono::steady_clock::now();
    do {
        r = core.handle(policy, &users, kex_header, now);
    } while (r.outcome == ExchangeOutcome::unavailable && seconds_since(t) < 10 && usleep(50000) == 0);
    ck_assert_msg(r.outcome == ExchangeOutcome::kex_s1, "%s %s", r.log_tag, r.log_message.c_str());
    r = core.handle(policy, &users, vfy_header, now);
    ck_assert_msg(r.outcome == ExchangeOutcome::stale, "%s %s", r.log_tag, r.log_message.c_str());
}
END_TEST

// ---- Redis Cluster ---------------------------------------------------------------------

struct Cluster {
    std::vector<std::unique_ptr<RedisServer>> nodes;
    Cluster() {
        for (int i = 0; i < 3; ++i)
            nodes.push_back(std::make_unique<RedisServer>(std::vector<std::string>{
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}));
        std::string cmd = "redis-cli --cluster create";
        for (auto& n : nodes) cmd += " 127.0.0.1:" + std::to_string(n->port());
        cmd += " --cluster-replicas 0 --cluster-yes >/dev/null 2>&1";
        ck_assert_int_eq(std::system(cmd.c_str()), 0);
        for (int i = 0; i < 200; ++i) {
            bool ok = true;
            for (auto& n : nodes) {
                Reply r = raw(n->port(), {"CLUSTER", "INFO"});
                ok = ok && r && r->type == REDIS_REPLY_STRING &&
                     std::string(r->str, r->len).find("cluster_state:ok") != std::string::npos;
            }
            if (ok) return;
            usleep(50000);
        }
        ck_abort_msg("the cluster did not become ready");
    }
    std::string id(int i) {
        Reply r = raw(nodes[i]->port(), {"CLUSTER", "MYID"});
        return std::string(r->str, r->len);
    }
    // The index of the node serving a slot.
    int owner(unsigned slot) {
        Reply r = raw(nodes[0]->port(), {"CLUSTER", "SLOTS"});
        for (std::size_t i = 0; i < r->elements; ++i) {
            const redisReply* range = r->element[i];
            if (slot >= static_cast<unsigned>(range->element[0]->integer) &&
                slot <= static_cast<unsigned>(range->element[1]->integer)) {
                const int port = static_cast<int>(range->element[2]->element[1]->integer);
                for (int n = 0; n < 3; ++n)
                    if (nodes[n]->port() == port) return n;
            }
        }
        return -1;
    }
};

unsigned slot_of(int port, const std::string& key) {
    Reply r = raw(port, {"CLUSTER", "KEYSLOT", key});
    return static_cast<unsigned>(r->integer);
}

START_TEST(cluster_moved_and_ask) {
    if (access("/usr/bin/redis-cli", X_OK) != 0 && std::system("command -v redis-cli >/dev/null") != 0) {
        std::printf("SKIP cluster_moved_and_ask: redis-cli (redis-tools) is not installed\n");
        return;
    }
    Cluster cluster;
    set_log_sink(capture, nullptr);
    RedisSessionStore store(options_for(cluster.nodes[0]->port()), key_material());
    const std::int64_t now = now_s();
    // Sessions of every shard: most live on the other two masters (MOVED).
    for (unsigned shard = 0; shard < 64; ++shard) {
        const SessionId sid = make_sid(shard, static_cast<std::uint8_t>(shard), 0);
        ck_assert(add(store, sid, now).status == InsertStatus::ok);
        USE_IS(use(store, sid, 1, now), "ok");
        USE_IS(use(store, sid, 1, now), "commit-duplicate");   // from the cache: finish decides
    }
    ck_assert_uint_gt(store.counters().moved, 0);
    // Remembered: a second pass needs no redirection.
    const std::uint64_t moved = store.counters().moved;
    for (unsigned shard = 0; shard < 64; ++shard) {
        const SessionId sid = make_sid(100 + shard, static_cast<std::uint8_t>(shard), 0);
        ck_assert(add(store, sid, now).status == InsertStatus::ok);
    }
    ck_assert_uint_eq(store.counters().moved, moved);

    // ASK: a slot in the middle of a migration whose keys have moved to
    // the importing node already (MIGRATE): the old owner answers ASK, the
    // store asks the new one with ASKING. A store with 128 shards: its
    // shard 100 ({m100}) is used by nothing else.
    RedisStoreOptions o = options_for(cluster.nodes[0]->port());
    o.shards = 128;
    RedisSessionStore wide(o, key_material());
    const SessionId fresh = make_sid(7, 100, 0), second = make_sid(8, 100, 0);
    ck_assert(add(wide, fresh, now).status == InsertStatus::ok);
    ck_assert(add(wide, second, now).status == InsertStatus::ok);
    USE_IS(use(wide, fresh, 1, now), "ok");
    const std::string key = wide.session_key(sid_bytes(fresh));
    const std::string pending = "mutual:{m100}:pending";
    const unsigned slot = slot_of(cluster.nodes[0]->port(), key);
    const int from = cluster.owner(slot);
    ck_assert_int_ge(from, 0);
    const int to = (from + 1) % 3;
    Reply importing = raw(cluster.nodes[to]->port(),
                          {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", cluster.id(from)});
    ck_assert(importing && importing->type == REDIS_REPLY_STATUS);
    Reply migrating = raw(cluster.nodes[from]->port(),
                          {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", cluster.id(to)});
    ck_assert(migrating && migrating->type == REDIS_REPLY_STATUS);
    Reply moved_keys = raw(cluster.nodes[from]->port(),
                           {"MIGRATE", "127.0.0.1", std::to_string(cluster.nodes[to]->port()), "", "0", "5000",
                            "KEYS", key, pending, wide.session_key(sid_bytes(second))});
    ck_assert_msg(moved_keys && moved_keys->type == REDIS_REPLY_STATUS, "MIGRATE: %s",
                  moved_keys && moved_keys->str ? moved_keys->str : "no reply");
    USE_IS(use(wide, fresh, 2, now), "ok");
    ck_assert_uint_gt(wide.counters().ask, 0);
    USE_IS(use(wide, second, 1, now), "ok");
    // A new session of the slot while only some of its keys moved: Redis
    // answers TRYAGAIN; the store waits within its timeout, then gives up
    // (503) without calling it an outage.
    ck_assert(add(wide, make_sid(9, 100, 0), now).status == InsertStatus::unavailable);
    // The migration completes: MOVED to the new owner from now on.
    for (int n = 0; n < 3; ++n)
        raw(cluster.nodes[n]->port(), {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", cluster.id(to)});
    USE_IS(use(wide, fresh, 3, now), "ok");
    USE_IS(use(wide, fresh, 3, now), "commit-duplicate");
    ck_assert(add(wide, make_sid(9, 100, 0), now).status == InsertStatus::ok);
    ck_assert_int_eq(count_tag("MUT02010"), 0);
    set_log_sink(nullptr, nullptr);
}
END_TEST

Suite* redis_suite() {
    Suite* s = suite_create("redis_session_store");
    TCase* tc = tcase_create("redis");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, url_parsing);
    tcase_add_test(tc, key_file);
    tcase_add_test(tc, password_and_database);
    tcase_add_test(tc, create_verify_replay);
    tcase_add_test(tc, window_and_nc_max);
    tcase_add_test(tc, rejected_and_logout);
    tcase_add_test(tc, expiry);
    tcase_add_test(tc, noscript_reload);
    tcase_add_test(tc, timeouts_fail_fast_and_recover);
    tcase_add_test(tc, killed_and_restarted);
    tcase_add_test(tc, records_are_encrypted);
    tcase_add_test(tc, tampered_or_foreign_records);
    tcase_add_test(tc, nodes_agree_and_race);
    tcase_add_test(tc, cache_session_ended_on_another_node);
    tcase_add_test(tc, cache_replay_across_nodes);
    tcase_add_test(tc, cache_rejected_stays_rejected);
    tcase_add_test(tc, cache_is_bounded_and_cleansed);
    tcase_add_test(tc, unix_socket);
    tcase_add_test(tc, pending_quota);
    tcase_add_test(tc, decision_answers_503_when_redis_is_gone);
    tcase_add_test(tc, cluster_moved_and_ask);
    suite_add_tcase(s, tc);
    return s;
}

}  // namespace

int main() {
    if (redis_server_binary().empty()) {
        std::printf("SKIP check_redis_session_store: redis-server is not installed "
                    "(sh scripts/install-deps.sh installs it)\n");
        return EXIT_SUCCESS;
    }
    return test::run_suite(redis_suite());
}

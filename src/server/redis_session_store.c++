#include "server/redis_session_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <hiredis/hiredis.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ascii.h"
#include "encoding.h"
#include "log.h"
#include "openssl_ptr.h"
#include "server/session_cache.h"

namespace mutual {

namespace {

// ---- the Lua scripts ---------------------------------------------------------
// One hash per session, key "mutual:{mNN}:s:<sid hex>"; the pending key
// exchanges of shard NN in the sorted set "mutual:{mNN}:pending" (score: the
// time of the key exchange). The hash tag {mNN} puts both in one cluster
// slot, so every script touches one slot. Fields, in clear (what the scripts
// need; nothing secret):
//   s  state: 1 key-exchanging, 2 authenticated, 3 rejected
//   r  realm id (decimal)            c  created (s)      x  expires (s)
//   m  nc-max (20 digits)            w  nc-window        l  largest nc (20 digits)
//   n  the nonce ring: 1024 bits, bit (nc mod 1024) = nc was verified
//   v  verifier last found unchanged (s)
//   k  id of the store key (hex)     b  the AES-256-GCM blob (secrets, user)
// nc values are 20-digit decimal strings compared in two 10-digit halves:
// Lua numbers are doubles, exact only below 2^53.
constexpr const char* lua_prelude = R"lua(
local function split(s) return tonumber(string.sub(s, 1, 10)), tonumber(string.sub(s, 11, 20)) end
local function less(a, b)
  local ah, al = split(a)
  local bh, bl = split(b)
  return ah < bh or (ah == bh and al < bl)
end
local function diff(a, b)
  local ah, al = split(a)
  local bh, bl = split(b)
  return (ah - bh) * 10000000000 + (al - bl)
end
local function ringpos(s)
  local _, l = split(s)
  return l % 1024
end
local function check(nc, m, lm, l, w, lw, ring)
  if less(m, nc) or less(lm, nc) then return 'above' end
  if less(l, nc) then return 'fresh' end
  local d = diff(l, nc)
  if d >= tonumber(w) or d >= tonumber(lw) then return 'below' end
  local p = ringpos(nc)
  if bit.band(string.byte(ring, math.floor(p / 8) + 1), bit.lshift(1, p % 8)) ~= 0 then return 'duplicate' end
  return 'fresh'
end
local function record(nc, l, ring)
  -- The octets that change (usually one: nc = largest + 1), spliced into
  -- the ring; a table of all 128 only when many change.
  local changed, count = {}, 0
  local function put(j, v)
    if not changed[j] then count = count + 1 end
    changed[j] = v
  end
  local function get(j) return changed[j] or string.byte(ring, j) end
  if less(l, nc) then
    local k = diff(nc, l)
    if k >= 1024 then
      ring = string.rep('\0', 128)
    else
      local p = ringpos(l)
      for i = 1, k do
        local q = (p + i) % 1024
        local j = math.floor(q / 8) + 1
        put(j, bit.band(get(j), bit.bnot(bit.lshift(1, q % 8))))
      end
    end
    l = nc
  end
  local p = ringpos(nc)
  local j = math.floor(p / 8) + 1
  put(j, bit.bor(get(j), bit.lshift(1, p % 8)))
  if count > 8 then
    local t = {string.byte(ring, 1, 128)}
    for at, v in pairs(changed) do t[at] = v end
    return l, string.char(unpack(t))
  end
  for at, v in pairs(changed) do
    ring = string.sub(ring, 1, at - 1) .. string.char(v) .. string.sub(ring, at + 1)
  end
  return l, ring
end
local function gone(member)
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], member)
end
)lua";

// KEYS: session, pending. ARGV: member, now, ttl, realm, nc-max, window,
// blob, quota, key prefix of the shard, expires, key id.
// Fails if the sid exists; evicts the oldest pending key exchange of the
// shard when its quota is reached (RFC 8120 §17.3).
constexpr const char* lua_create = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local evicted = 0
local quota = tonumber(ARGV[8])
while redis.call('ZCARD', KEYS[2]) >= quota do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if #oldest == 0 then break end
  local victim = ARGV[9] .. oldest[1]
  if redis.call('HGET', victim, 's') == '1' then
    redis.call('DEL', victim)
    evicted = 1
    break
  end
end
redis.call('HSET', KEYS[1], 's', '1', 'r', ARGV[4], 'c', ARGV[2], 'x', ARGV[10], 'm', ARGV[5],
           'w', ARGV[6], 'l', '00000000000000000000', 'n', string.rep('\0', 128), 'v', ARGV[2],
           'k', ARGV[11], 'b', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return {1, evicted}
)lua";

// KEYS: session, pending. ARGV: realm, nc, now, limit nc-max, limit window,
// limit lifetime ('' for none), member. The checks of req-VFY-C step 1;
// a check that makes the session inactive removes it.
constexpr const char* lua_begin = R"lua(
local h = redis.call('HMGET', KEYS[1], 's', 'r', 'c', 'x', 'm', 'w', 'l', 'n', 'v', 'b', 'k')
if not h[1] or h[2] ~= ARGV[1] then return {'unknown'} end
local now = tonumber(ARGV[3])
if tonumber(h[4]) <= now or (ARGV[6] ~= '' and now - tonumber(h[3]) >= tonumber(ARGV[6])) then
  gone(ARGV[7])
  return {'expired'}
end
if h[1] == '3' then return {'rejected'} end
local v = check(ARGV[2], h[5], ARGV[4], h[7], h[6], ARGV[5], h[8])
if v ~= 'fresh' then
  gone(ARGV[7])
  return {v}
end
return {'ok', h[1], h[3], h[9], h[10], h[11], h[4], h[5]}
)lua";

// KEYS: session, pending. ARGV: realm, nc, verified (1/0), now, limit
// nc-max, limit window, member, created, cached (1/0), limit lifetime ('' for
// none). req-VFY-C step 2: re-checks and records nc, or records the
// failure; one atomic step on every node. cached = 1: the node answered
// step 1 from its cache (the session's immutable part) without asking
// Redis, so this step also makes every check of step 1 (expiry, rejected,
// the nonce rules whatever the verdict) — the decision is Redis's alone.
// Replies {status, the verifier's last check}.
constexpr const char* lua_finish = R"lua(
local h = redis.call('HMGET', KEYS[1], 's', 'r', 'c', 'm', 'w', 'l', 'n', 'x', 'v')
if not h[1] or h[2] ~= ARGV[1] or h[3] ~= ARGV[8] then return {'vanished'} end
local checked = nil
if ARGV[9] == '1' then
  local now = tonumber(ARGV[4])
  if tonumber(h[8]) <= now or (ARGV[10] ~= '' and now - tonumber(h[3]) >= tonumber(ARGV[10])) then
    gone(ARGV[7])
    return {'expired'}
  end
  if h[1] == '3' then return {'kept'} end
  checked = check(ARGV[2], h[4], ARGV[5], h[6], h[5], ARGV[6], h[7])
  if checked ~= 'fresh' then
    gone(ARGV[7])
    return {checked}
  end
end
if ARGV[3] ~= '1' then
  if h[1] == '1' then
    redis.call('HSET', KEYS[1], 's', '3')
    redis.call('HDEL', KEYS[1], 'b')
    redis.call('ZREM', KEYS[2], ARGV[7])
    return {'rejected'}
  end
  return {'kept'}
end
if h[1] == '3' then return {'kept'} end
local v = checked or check(ARGV[2], h[4], ARGV[5], h[6], h[5], ARGV[6], h[7])
if v == 'duplicate' or v == 'below' then
  gone(ARGV[7])
  return {v}
end
if v == 'above' then
  gone(ARGV[7])
  return {'vanished'}
end
local l, ring = record(ARGV[2], h[6], h[7])
redis.call('HSET', KEYS[1], 's', '2', 'l', l, 'n', ring)
if h[1] == '1' then redis.call('ZREM', KEYS[2], ARGV[7]) end
return {'ok', h[9]}
)lua";

// KEYS: session, pending. ARGV: realm, member. Logout, revocation.
constexpr const char* lua_end = R"lua(
if redis.call('HGET', KEYS[1], 'r') ~= ARGV[1] then return 0 end
gone(ARGV[2])
return 1
)lua";

// KEYS: session, pending. ARGV: realm, now. A successful revocation check.
constexpr const char* lua_mark = R"lua(
if redis.call('HGET', KEYS[1], 'r') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2])
return 1
)lua";

struct Script {
    std::string text;
    std::string sha;  // hex SHA-1 of text (EVALSHA)

    explicit Script(const char* body) : text(std::string(lua_prelude) + body) {
        unsigned char digest[SHA_DIGEST_LENGTH];
        SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
        sha = encode_hex_fixed(digest, sizeof digest);
    }
};

struct ReplyDeleter {
    void operator()(redisReply* r) const noexcept {
        if (r != nullptr) freeReplyObject(r);
    }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

std::int64_t monotonic_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string digits20(std::uint64_t v) {
    char buffer[24];
    std::snprintf(buffer, sizeof buffer, "%020llu", static_cast<unsigned long long>(v));
    return buffer;
}

// The inverse of digits20 (decode_integer refuses leading zeros, as RFC 8120
// numbers on the wire must).
std::optional<std::uint64_t> parse_digits20(std::string_view text) {
    while (text.size() > 1 && text.front() == '0') text.remove_prefix(1);
    return decode_integer(text);
}

// Redis Cluster key slot: CRC16 (XMODEM) of the hash tag, mod 16384.
unsigned key_slot(std::string_view key) noexcept {
    const std::size_t open = key.find('{');
    if (open != std::string_view::npos) {
        const std::size_t close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
    }
    std::uint16_t crc = 0;
    for (const char ch : key) {
        crc ^= static_cast<std::uint16_t>(static_cast<unsigned char>(ch)) << 8;
        for (int i = 0; i < 8; ++i)
            crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                 : static_cast<std::uint16_t>(crc << 1);
    }
    return crc % 16384u;
}

bool split_host_port(std::string_view node, std::string& host, int& port) {
    const std::size_t colon = node.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(node.substr(0, colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::optional<std::uint64_t> p = decode_integer(node.substr(colon + 1));
    if (!p || *p == 0 || *p > 65535 || host.empty()) return false;
    port = static_cast<int>(*p);
    return true;
}

bool hkdf(ByteView material, const char* label, std::uint8_t* out, std::size_t length) noexcept {
    UniquePtr<EVP_KDF> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    if (!kdf) return false;
    UniquePtr<EVP_KDF_CTX> ctx(EVP_KDF_CTX_new(kdf.get()));
    if (!ctx) return false;
    static const char salt[] = "mod_auth_mutual session store";
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(material.data()),
                                          material.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt), sizeof salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(label), std::strlen(label)),
        OSSL_PARAM_construct_end(),
    };
    return EVP_KDF_derive(ctx.get(), out, length, params) == 1;
}

int percent_value(char c) noexcept { return hex_digit_value(c); }

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) return false;
        const int hi = percent_value(in[i + 1]), lo = percent_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

constexpr std::uint8_t blob_version = 1;
constexpr std::size_t gcm_nonce = 12, gcm_tag = 16;
constexpr std::size_t blob_header = 1 + 1 + 1 + 8 + 4 * 2;

void put_u16(Secret& out, std::size_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}

}  // namespace

// ---- configuration ------------------------------------------------------------------

namespace {

bool parse_userinfo(std::string_view userinfo, RedisStoreOptions& out, std::string& error) {
    const std::size_t colon = userinfo.find(':');
    std::string user, password;
    if (!percent_decode(userinfo.substr(0, colon), user) ||
        (colon != std::string_view::npos && !percent_decode(userinfo.substr(colon + 1), password))) {
        error = "bad percent-escape in the user or password";
        return false;
    }
    if (colon == std::string_view::npos) {
        // redis://password@host (the older form without a user)
        password.swap(user);
    }
    out.user = user;
    out.password.assign(password.begin(), password.end());
    OPENSSL_cleanse(password.data(), password.size());
    return true;
}

// redis+unix://[[user]:password@]/path/to/redis.sock[?db=N]: a Redis on
// this machine through its Unix socket (port 0 marks it).
bool parse_unix_url(std::string_view rest, RedisStoreOptions& out, std::string& error) {
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
        error = "no socket path";
        return false;
    }
    if (slash != 0) {
        if (rest[slash - 1] != '@') {
            error = "junk before the socket path";
            return false;
        }
        if (!parse_userinfo(rest.substr(0, slash - 1), out, error)) return false;
    }
    std::string_view path = rest.substr(slash);
    std::string_view query;
    const std::size_t question = path.find('?');
    if (question != std::string_view::npos) {
        query = path.substr(question + 1);
        path = path.substr(0, question);
    }
    out.host = std::string(path);
    out.port = 0;
    out.db = 0;
    if (!query.empty()) {
        const std::optional<std::uint64_t> db =
            query.substr(0, 3) == "db=" ? decode_integer(query.substr(3)) : std::nullopt;
        if (!db || *db > 1000000) {
            error = "bad query \"" + loggable(query) + "\" (expected db=N)";
            return false;
        }
        out.db = static_cast<unsigned>(*db);
    }
    return true;
}

}  // namespace

bool parse_redis_url(std::string_view url, RedisStoreOptions& out, std::string& error) {
    out.user.clear();
    out.password.clear();
    constexpr std::string_view unix_scheme = "redis+unix://";
    if (url.size() >= unix_scheme.size() &&
        equal_ignoring_ascii_case(url.substr(0, unix_scheme.size()), unix_scheme))
        return parse_unix_url(url.substr(unix_scheme.size()), out, error);
    constexpr std::string_view scheme = "redis://";
    if (url.size() < scheme.size() || !equal_ignoring_ascii_case(url.substr(0, scheme.size()), scheme)) {
        error = "not a redis:// or redis+unix:// URL";
        return false;
    }
    std::string_view rest = url.substr(scheme.size());
    const std::size_t slash = rest.find('/');
    std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    const std::size_t at = rest.rfind('@');
    if (at != std::string_view::npos) {
        const std::string_view userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        if (!parse_userinfo(userinfo, out, error)) return false;
    }
    std::string_view host = rest;
    std::string_view port;
    if (!host.empty() && host.front() == '[') {
        const std::size_t close = host.find(']');
        if (close == std::string_view::npos) {
            error = "unterminated [IPv6 address]";
            return false;
        }
        port = host.substr(close + 1);
        host = host.substr(1, close - 1);
        if (!port.empty() && port.front() != ':') {
            error = "junk after the [IPv6 address]";
            return false;
        }
        if (!port.empty()) port.remove_prefix(1);
    } else {
        const std::size_t colon = host.find(':');
        if (colon != std::string_view::npos) {
            port = host.substr(colon + 1);
            host = host.substr(0, colon);
        }
    }
    if (host.empty()) {
        error = "no host";
        return false;
    }
    out.host = std::string(host);
    out.port = 6379;
    if (!port.empty()) {
        const std::optional<std::uint64_t> p = decode_integer(port);
        if (!p || *p == 0 || *p > 65535) {
            error = "bad port \"" + loggable(port) + "\"";
            return false;
        }
        out.port = static_cast<unsigned>(*p);
    }
    out.db = 0;
    if (!path.empty()) {
        const std::optional<std::uint64_t> db = decode_integer(path);
        if (!db || *db > 1000000) {
            error = "bad database number \"" + loggable(path) + "\"";
            return false;
        }
        out.db = static_cast<unsigned>(*db);
    }
    return true;
}

std::string redis_url_for_log(const RedisStoreOptions& o) {
    std::string s = o.port == 0 ? "redis+unix://" : "redis://";
    if (!o.user.empty() || !o.password.empty()) s += loggable(o.user) + (o.password.empty() ? "@" : ":***@");
    if (o.port == 0) return s + loggable(o.host) + (o.db != 0 ? "?db=" + std::to_string(o.db) : std::string());
    s += o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    s += ":" + std::to_string(o.port);
    if (o.db != 0) s += "/" + std::to_string(o.db);
    return s;
}

bool read_store_key(const std::string& path, Secret& material, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot open \"" + loggable(path) + "\": " + std::strerror(errno);
        return false;
    }
    material.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    // A key written as text (openssl rand -hex 32, an editor) may end with a
    // line end one node's copy has and another's lacks: text keys lose their
    // trailing line ends. A binary key (openssl rand -out FILE 32) is taken
    // whole: its last octet may be 0x0a or 0x0d.
    const bool text = std::all_of(material.begin(), material.end(), [](unsigned char c) {
        return c == '\n' || c == '\r' || (c >= 0x20 && c < 0x7f);
    });
    while (text && !material.empty() && (material.back() == '\n' || material.back() == '\r'))
        material.pop_back();
    if (material.size() < 32) {
        error = "\"" + loggable(path) + "\" holds fewer than 32 octets of key material "
                "(make one with: openssl rand -out FILE 32)";
        material.clear();
        return false;
    }
    return true;
}

// ---- the store -------------------------------------------------------------------------

struct RedisSessionStore::Impl {
    // One Redis node (the configured one, or a cluster node named by MOVED/ASK).
    struct Node {
        std::string host;
        int port = 0;
        std::vector<redisContext*> idle;
        bool down = false;
        std::int64_t retry_at = 0;     // ms (monotonic): no attempt before
        std::int64_t up_since = 0;     // ms: failures of older attempts are not a new outage
        std::int64_t backoff = 0;      // ms
    };
    struct Connection {
        redisContext* context = nullptr;
        std::string node;
        bool reused = false;
    };

    RedisStoreOptions options;
    std::string seed;                  // "host:port" of the configured node
    bool valid = false;
    Secret aes_key = Secret(32);
    HashKey hash_key{};
    std::uint8_t key_id[8] = {};
    std::string key_id_hex;
    UniquePtr<EVP_CIPHER> cipher;
    Script create{lua_create}, begin{lua_begin}, finish{lua_finish}, end{lua_end}, mark{lua_mark};
    std::uint32_t quota = 1;           // pending key exchanges per shard
    std::unique_ptr<SessionCache> cache;
    std::atomic<std::uint64_t> cache_hits{0}, cache_misses{0};

    mutable std::mutex mutex;
    std::map<std::string, Node> nodes;
    std::unordered_map<unsigned, std::string> slot_nodes;   // learnt from MOVED

    std::atomic<std::uint64_t> created{0}, verified{0}, failed{0}, stale{0};
    std::atomic<std::uint64_t> moved{0}, ask{0}, noscript{0}, connects{0}, failures{0};

    ~Impl() { drop_all(); }

    void drop_all() noexcept {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& entry : nodes) {
            for (redisContext* c : entry.second.idle) redisFree(c);
            entry.second.idle.clear();
            entry.second.down = false;
            entry.second.backoff = 0;
            entry.second.retry_at = 0;
        }
        slot_nodes.clear();
    }

    std::string node_name(const std::string& host, int port) const {
        return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }

    Node& node_locked(const std::string& name) {
        auto it = nodes.find(name);
        if (it != nodes.end()) return it->second;
        Node n;
        if (!split_host_port(name, n.host, n.port)) {
            n.host = options.host;
            n.port = static_cast<int>(options.port);
        }
        return nodes.emplace(name, std::move(n)).first->second;
    }

    timeval timeout() const noexcept {
        timeval tv;
        tv.tv_sec = static_cast<time_t>(options.timeout_ms / 1000);
        tv.tv_usec = static_cast<suseconds_t>((options.timeout_ms % 1000) * 1000);
        return tv;
    }

    // A new connection (outside the lock); nullptr with `why`.
    redisContext* connect(const std::string& host, int port, std::string& why) {
        ++connects;
        // port 0: host is the path of a Unix socket (redis+unix://).
        redisContext* c = port == 0 ? redisConnectUnixWithTimeout(host.c_str(), timeout())
                                    : redisConnectWithTimeout(host.c_str(), port, timeout());
        if (c == nullptr) {
            why = "out of memory";
            return nullptr;
        }
        if (c->err != 0) {
            why = c->errstr;
            redisFree(c);
            return nullptr;
        }
        redisSetTimeout(c, timeout());
        if (port != 0) redisEnableKeepAlive(c);
        if (!options.password.empty()) {
            std::vector<const char*> argv{"AUTH"};
            std::vector<std::size_t> lengths{4};
            if (!options.user.empty()) {
                argv.push_back(options.user.data());
                lengths.push_back(options.user.size());
            }
            argv.push_back(options.password.data());
            lengths.push_back(options.password.size());
            Reply r(static_cast<redisReply*>(
                redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
            if (!r || r->type == REDIS_REPLY_ERROR) {
                // The reply names no password; hiredis's errstr neither.
                why = r ? "AUTH refused: " + loggable(std::string_view(r->str, r->len))
                        : std::string("AUTH: ") + c->errstr;
                redisFree(c);
                return nullptr;
            }
        }
        if (options.db != 0) {
            const std::string db = std::to_string(options.db);
            const char* argv[] = {"SELECT", db.c_str()};
            const std::size_t lengths[] = {6, db.size()};
            Reply r(static_cast<redisReply*>(redisCommandArgv(c, 2, argv, lengths)));
            if (!r || r->type == REDIS_REPLY_ERROR) {
                why = r ? "SELECT refused: " + loggable(std::string_view(r->str, r->len))
                        : std::string("SELECT: ") + c->errstr;
                redisFree(c);
                return nullptr;
            }
        }
        return c;
    }

    // An idle or new connection to `name`, or nothing while the node is in
    // its back-off after a failure (fail fast: no request waits for a node
    // known to be down).
    bool acquire(const std::string& name, Connection& out, std::int64_t started) {
        std::string host;
        int port = 0;
        {
            std::lock_guard<std::mutex> lock(mutex);
            Node& n = node_locked(name);
            if (n.down) {
                const std::int64_t now = monotonic_ms();
                if (now < n.retry_at) return false;
                // This request probes the node; the others keep failing
                // fast until it has its answer (a slow node would make
                // every one of them wait the timeout).
                n.retry_at = now + static_cast<std::int64_t>(options.timeout_ms) + n.backoff;
            }
            if (!n.idle.empty()) {
                out.context = n.idle.back();
                n.idle.pop_back();
                out.node = name;
                out.reused = true;
                return true;
            }
            host = n.host;
            port = n.port;
        }
        std::string why;
        redisContext* c = connect(host, port, why);
        if (c == nullptr) {
            failure(name, "cannot connect: " + why, started);
            return false;
        }
        out.context = c;
        out.node = name;
        out.reused = false;
        return true;
    }

    void release(Connection& c, bool good) noexcept {
        if (c.context == nullptr) return;
        if (good && c.context->err == 0) {
            std::lock_guard<std::mutex> lock(mutex);
            Node& n = node_locked(c.node);
            if (n.idle.size() < 64) {
                n.idle.push_back(c.context);
                c.context = nullptr;
                return;
            }
        }
        redisFree(c.context);
        c.context = nullptr;
    }

    void drop_idle(const std::string& name) noexcept {
        std::lock_guard<std::mutex> lock(mutex);
        Node& n = node_locked(name);
        for (redisContext* c : n.idle) redisFree(c);
        n.idle.clear();
    }

    // A failed attempt that started at `started`: the node is down (one
    // error line per outage, then back-off), unless the node came back
    // after the attempt began (a straggler, not a new outage).
    void failure(const std::string& name, const std::string& why, std::int64_t started) {
        ++failures;
        bool announce = false;
        {
            std::lock_guard<std::mutex> lock(mutex);
            Node& n = node_locked(name);
            for (redisContext* c : n.idle) redisFree(c);
            n.idle.clear();
            if (!n.down && started < n.up_since) return;
            // Slots learnt for it are asked of the configured node again
            // (after a failover they live elsewhere).
            for (auto it = slot_nodes.begin(); it != slot_nodes.end();)
                it = it->second == name ? slot_nodes.erase(it) : std::next(it);
            const std::int64_t now = monotonic_ms();
            if (!n.down) {
                n.down = true;
                n.backoff = 100;
                announce = true;
            } else {
                n.backoff = std::min<std::int64_t>(n.backoff * 2, 2000);
            }
            n.retry_at = now + n.backoff;
        }
        if (announce)
            log(LogLevel::error, "MUT02010",
                "session store " + redis_url_for_log(options) + (name == seed ? "" : " (node " + name + ")") +
                    " unavailable: " + why +
                    "; requests needing it get 503 until it answers (retrying with back-off, "
                    "one line per outage)");
    }

    void success(const std::string& name) {
        bool back = false;
        {
            std::lock_guard<std::mutex> lock(mutex);
            Node& n = node_locked(name);
            if (n.down) {
                n.down = false;
                n.backoff = 0;
                n.up_since = monotonic_ms();
                back = true;
            }
        }
        if (back)
            log(LogLevel::notice, "MUT02011",
                "session store " + redis_url_for_log(options) + (name == seed ? "" : " (node " + name + ")") +
                    " answers again");
    }

    // A known node other than `name` that is not in its back-off, if any.
    std::string another_node(const std::string& name) {
        std::lock_guard<std::mutex> lock(mutex);
        const std::int64_t now = monotonic_ms();
        for (const auto& entry : nodes)
            if (entry.first != name && (!entry.second.down || now >= entry.second.retry_at)) return entry.first;
        return std::string();
    }

    std::string node_for_slot(unsigned slot) {
        std::lock_guard<std::mutex> lock(mutex);
        auto it = slot_nodes.find(slot);
        return it != slot_nodes.end() ? it->second : seed;
    }

    void learn_slot(unsigned slot, const std::string& name) {
        std::lock_guard<std::mutex> lock(mutex);
        slot_nodes[slot] = name;
    }

    static Reply command(redisContext* c, const std::vector<std::string_view>& argv) {
        std::vector<const char*> pointers;
        std::vector<std::size_t> lengths;
        pointers.reserve(argv.size());
        lengths.reserve(argv.size());
        for (std::string_view a : argv) {
            pointers.push_back(a.data());
            lengths.push_back(a.size());
        }
        return Reply(static_cast<redisReply*>(
            redisCommandArgv(c, static_cast<int>(argv.size()), pointers.data(), lengths.data())));
    }

    static bool error_is(const redisReply* r, std::string_view prefix) noexcept {
        return r->type == REDIS_REPLY_ERROR && r->len >= prefix.size() &&
               std::string_view(r->str, prefix.size()) == prefix;
    }

    // Runs a script on the node serving the keys' slot: EVALSHA, EVAL on
    // NOSCRIPT, following MOVED (remembered) and ASK (ASKING, once). A null
    // reply: the store is unavailable (logged once per outage).
    Reply run(const Script& script, const std::string& session_key, const std::string& pending_key,
              const std::vector<std::string>& args) {
        const unsigned slot = key_slot(session_key);
        std::string name = node_for_slot(slot);
        bool asking = false;
        bool retried = false;
        const std::int64_t started = monotonic_ms();
        std::vector<std::string_view> argv{"EVALSHA", script.sha, "2", session_key, pending_key};
        for (const std::string& a : args) argv.push_back(a);
        for (int hop = 0; hop < 6; ++hop) {
            Connection c;
            if (!acquire(name, c, started)) {
                // A cluster node down (its master failed over to a replica
                // elsewhere): ask another known node, which redirects.
                std::string other;
                if (hop != 0 || asking || (other = another_node(name)).empty()) return nullptr;
                name = other;
                continue;
            }
            if (asking) {
                Reply ok = command(c.context, {"ASKING"});
                if (!ok || ok->type == REDIS_REPLY_ERROR) {
                    release(c, false);
                    failure(name, "ASKING refused", started);
                    return nullptr;
                }
            }
            argv[0] = "EVALSHA";
            argv[1] = script.sha;
            Reply r = command(c.context, argv);
            if (r && error_is(r.get(), "NOSCRIPT")) {
                ++noscript;
                if (asking) {
                    Reply ok = command(c.context, {"ASKING"});
                    if (!ok) r.reset();
                }
                argv[0] = "EVAL";
                argv[1] = script.text;
                if (r) r = command(c.context, argv);
            }
            if (!r) {
                const std::string why = c.context->errstr[0] != '\0' ? c.context->errstr : "no reply";
                // A pooled connection the server closed (Redis restarted):
                // end of file or a reset at once, not a timeout. Once more
                // on a new connection before calling it an outage (the
                // other pooled ones are as old: dropped). Re-running a
                // script is safe: a repeated check-and-record finds its nc
                // used (401-STALE), never a second acceptance.
                const bool closed = c.context->err == REDIS_ERR_EOF || why.find("reset") != std::string::npos ||
                                    why.find("Broken pipe") != std::string::npos;
                const bool was_reused = c.reused;
                release(c, false);
                if (was_reused && closed && !retried) {
                    retried = true;
                    drop_idle(name);
                    --hop;
                    continue;
                }
                failure(name, why, started);
                return nullptr;
            }
            if (error_is(r.get(), "MOVED ") || error_is(r.get(), "ASK ")) {
                const bool is_ask = r->str[1] == 'S';
                const std::string_view text(r->str, r->len);
                const std::size_t space = text.rfind(' ');
                std::string host;
                int port = 0;
                if (space == std::string_view::npos || !split_host_port(text.substr(space + 1), host, port)) {
                    release(c, true);
                    failure(name, "unreadable redirection \"" + loggable(text) + "\"", started);
                    return nullptr;
                }
                release(c, true);
                name = node_name(host, port);
                if (is_ask) {
                    ++ask;
                    asking = true;
                } else {
                    ++moved;
                    asking = false;
                    learn_slot(slot, name);
                }
                continue;
            }
            if (error_is(r.get(), "TRYAGAIN")) {
                // A slot in the middle of a migration with only some of
                // the keys moved: wait a little, within the timeout; no
                // outage (the node answers), but no decision either.
                release(c, true);
                if (monotonic_ms() - started + 20 > static_cast<std::int64_t>(options.timeout_ms)) return nullptr;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                --hop;   // bounded by the timeout, not by the redirections
                continue;
            }
            if (r->type == REDIS_REPLY_ERROR) {
                // CLUSTERDOWN, TRYAGAIN, LOADING, BUSY, NOAUTH, a script
                // error: no decision; the node counts as unavailable.
                release(c, true);
                failure(name, "error reply \"" + loggable(std::string_view(r->str, r->len)) + "\"", started);
                return nullptr;
            }
            release(c, true);
            success(name);
            return r;
        }
        failure(name, "too many cluster redirections", started);
        return nullptr;
    }

    // ---- keys ---------------------------------------------------------------

    unsigned shard_of(const std::uint8_t* sid) const noexcept {
        return static_cast<unsigned>(sid[0] | (sid[1] << 8)) % options.shards;
    }
    std::string shard_prefix(unsigned shard) const {
        char tag[32];
        std::snprintf(tag, sizeof tag, "mutual:{m%03u}:", shard);
        return tag;
    }

    // ---- the sealed record ------------------------------------------------------

    void aad(const std::uint8_t* sid, std::uint64_t realm, std::uint8_t (&out)[8 + 8 + session_id_length]) const {
        std::memcpy(out, key_id, 8);
        for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<std::uint8_t>(realm >> (56 - 8 * i));
        std::memcpy(out + 16, sid, session_id_length);
    }

    bool seal(const std::uint8_t* sid, std::uint64_t realm, const Secret& plain, std::string& blob) const {
        static const char label[] = "mod_auth_mutual session v1";
        std::uint8_t data[8 + 8 + session_id_length];
        aad(sid, realm, data);
        blob.assign(gcm_nonce + plain.size() + gcm_tag, '\0');
        auto* out = reinterpret_cast<unsigned char*>(&blob[0]);
        if (RAND_bytes(out, gcm_nonce) != 1) return false;
        UniquePtr<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
        int n = 0, f = 0;
        return ctx && EVP_EncryptInit_ex2(ctx.get(), cipher.get(), aes_key.data(), out, nullptr) == 1 &&
               EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(label),
                                 sizeof label - 1) == 1 &&
               EVP_EncryptUpdate(ctx.get(), nullptr, &n, data, sizeof data) == 1 &&
               EVP_EncryptUpdate(ctx.get(), out + gcm_nonce, &n, plain.data(), static_cast<int>(plain.size())) == 1 &&
               EVP_EncryptFinal_ex(ctx.get(), out + gcm_nonce + n, &f) == 1 &&
               static_cast<std::size_t>(n + f) == plain.size() &&
               EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, gcm_tag, out + gcm_nonce + plain.size()) == 1;
    }

    bool open(const std::uint8_t* sid, std::uint64_t realm, std::string_view blob, Secret& plain) const {
        static const char label[] = "mod_auth_mutual session v1";
        if (blob.size() < gcm_nonce + gcm_tag + blob_header) return false;
        std::uint8_t data[8 + 8 + session_id_length];
        aad(sid, realm, data);
        const auto* in = reinterpret_cast<const unsigned char*>(blob.data());
        const std::size_t length = blob.size() - gcm_nonce - gcm_tag;
        plain.assign(length, 0);
        unsigned char tag[gcm_tag];
        std::memcpy(tag, in + gcm_nonce + length, gcm_tag);
        UniquePtr<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
        int n = 0, f = 0;
        const bool ok =
            ctx && EVP_DecryptInit_ex2(ctx.get(), cipher.get(), aes_key.data(), in, nullptr) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(label),
                              sizeof label - 1) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &n, data, sizeof data) == 1 &&
            EVP_DecryptUpdate(ctx.get(), plain.data(), &n, in + gcm_nonce, static_cast<int>(length)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, gcm_tag, tag) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), plain.data() + n, &f) == 1;
        if (!ok) plain.clear();
        return ok;
    }
};

RedisSessionStore::RedisSessionStore(const RedisStoreOptions& options, ByteView key_material)
    : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.options = options;
    if (m.options.shards == 0) m.options.shards = 1;
    if (m.options.timeout_ms == 0) m.options.timeout_ms = 1;
    m.seed = m.node_name(options.host, static_cast<int>(options.port));
    m.quota = (options.max_key_exchanges + m.options.shards - 1) / m.options.shards;
    m.cache = std::make_unique<SessionCache>(options.cache_entries);
    if (m.quota == 0) m.quota = 1;
    std::uint8_t id[8];
    m.cipher.reset(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
    m.valid = key_material.size() >= 32 && m.cipher &&
              hkdf(key_material, "aes-256-gcm session records", m.aes_key.data(), m.aes_key.size()) &&
              hkdf(key_material, "siphash realm id and verifier tag", m.hash_key.bytes, sizeof m.hash_key.bytes) &&
              hkdf(key_material, "key id", id, sizeof id);
    std::memcpy(m.key_id, id, sizeof id);
    m.key_id_hex = encode_hex_fixed(id, sizeof id);
}

RedisSessionStore::~RedisSessionStore() {
    OPENSSL_cleanse(impl_->hash_key.bytes, sizeof impl_->hash_key.bytes);
}

bool RedisSessionStore::valid() const noexcept { return impl_->valid; }

std::uint64_t RedisSessionStore::realm_id(std::string_view algorithm, std::string_view auth_scope,
                                          std::string_view realm, std::string_view partition,
                                          std::string_view origin) const {
    return keyed_realm_id(impl_->hash_key, algorithm, auth_scope, realm, partition, origin);
}

std::uint64_t RedisSessionStore::verifier_tag(const Bytes& j) const noexcept {
    return keyed_verifier_tag(impl_->hash_key, j);
}

std::string RedisSessionStore::session_key(ByteView sid) const {
    if (sid.size() != session_id_length) return std::string();
    return impl_->shard_prefix(impl_->shard_of(sid.data())) + "s:" + encode_hex_fixed(sid);
}

InsertResult RedisSessionStore::insert(const NewSession& n) noexcept {
    InsertResult result;
    Impl& m = *impl_;
    try {
        if (!m.valid || n.k_c1 == nullptr || n.k_s1 == nullptr || n.z == nullptr || n.expires <= n.now) {
            result.status = InsertStatus::bad_argument;
            return result;
        }
        if (n.user.size() > max_user_length || n.k_c1->size() > 0xffff || n.k_s1->size() > 0xffff ||
            n.z->size() > 0xffff) {
            result.status = InsertStatus::too_large;
            return result;
        }
        Secret plain;
        plain.reserve(blob_header + n.user.size() + n.k_c1->size() + n.k_s1->size() + n.z->size());
        plain.push_back(blob_version);
        plain.push_back(n.algorithm);
        plain.push_back(n.fake ? 1 : 0);
        for (int i = 0; i < 8; ++i) plain.push_back(static_cast<std::uint8_t>(n.verifier_tag >> (56 - 8 * i)));
        put_u16(plain, n.user.size());
        put_u16(plain, n.k_c1->size());
        put_u16(plain, n.k_s1->size());
        put_u16(plain, n.z->size());
        plain.insert(plain.end(), n.user.begin(), n.user.end());
        plain.insert(plain.end(), n.k_c1->begin(), n.k_c1->end());
        plain.insert(plain.end(), n.k_s1->begin(), n.k_s1->end());
        plain.insert(plain.end(), n.z->begin(), n.z->end());
        std::string blob;
        if (!m.seal(n.sid.data(), n.realm_id, plain, blob)) {
            result.status = InsertStatus::bad_argument;
            return result;
        }
        const std::string prefix = m.shard_prefix(m.shard_of(n.sid.data()));
        const std::string member = encode_hex_fixed(n.sid.data(), n.sid.size());
        const std::int64_t ttl = n.expires - n.now;
        const Reply r = m.run(m.create, prefix + "s:" + member, prefix + "pending",
                              {member, std::to_string(n.now), std::to_string(ttl), std::to_string(n.realm_id),
                               digits20(n.nc_max), std::to_string(n.nc_window), blob,
                               std::to_string(m.quota), prefix + "s:", std::to_string(n.expires),
                               m.key_id_hex});
        if (!r) {
            result.status = InsertStatus::unavailable;
            return result;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[0]->integer != 1) {
            result.status = InsertStatus::bad_argument;   // the sid exists (or a garbled reply)
            return result;
        }
        if (r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == 1)
            result.eviction = Eviction::key_exchange_quota;
        ++m.created;
        return result;
    } catch (...) {
        result.status = InsertStatus::bad_argument;
        return result;
    }
}

namespace {

// Points the views of `out` into the decrypted record in out.owned
// (version, algorithm, fake, verifier tag, four lengths, then user, K_c1,
// K_s1, z). false: not a record of this version.
bool unpack_record(SessionSnapshot& out) noexcept {
    const Secret& p = out.owned;
    if (p.size() < blob_header || p[0] != blob_version) return false;
    auto u16 = [&p](std::size_t at) { return static_cast<std::size_t>(p[at] << 8 | p[at + 1]); };
    const std::size_t user = u16(11), k_c1 = u16(13), k_s1 = u16(15), z = u16(17);
    if (blob_header + user + k_c1 + k_s1 + z != p.size()) return false;
    out.algorithm = p[1];
    out.fake = p[2] != 0;
    out.verifier_tag = 0;
    for (int i = 0; i < 8; ++i) out.verifier_tag = out.verifier_tag << 8 | p[3 + i];
    const std::uint8_t* at = p.data() + blob_header;
    out.user = std::string_view(reinterpret_cast<const char*>(at), user);
    at += user;
    out.k_c1 = ByteView(at, k_c1);
    at += k_c1;
    out.k_s1 = ByteView(at, k_s1);
    at += k_s1;
    out.z = ByteView(at, z);
    return true;
}

}  // namespace

VerifyCheck RedisSessionStore::begin_verify(ByteView sid, std::uint64_t realm, std::uint64_t nc,
                                            std::int64_t now, SessionSnapshot& out,
                                            const SessionLimits& limits) noexcept {
    Impl& m = *impl_;
    try {
        if (!m.valid) return VerifyCheck::unavailable;
        if (sid.size() != session_id_length) return VerifyCheck::unknown;
        SessionId id;
        std::memcpy(id.data(), sid.data(), session_id_length);
        if (m.cache->capacity() != 0) {
            // A session this process saw verified: its immutable part is
            // here, so no round trip now. Only what the cache can tell for
            // sure is decided locally, and only in one direction: anything
            // the location or the session's fixed limits refuse (expiry,
            // nc-max) goes the usual way (the begin script decides and
            // cleans up). Everything Redis knows (ended, rejected, the nonce
            // ring) is checked by the finish script, which gives the verdict.
            SessionCache::Fields f;
            if (m.cache->find(id, realm, f, out.owned)) {
                const bool fits = now < f.expires &&
                                  (limits.lifetime == INT64_MAX || now - f.created < limits.lifetime) &&
                                  nc <= f.nc_max && nc <= limits.nc_max;
                if (fits && unpack_record(out)) {
                    out.state = SessionState::authenticated;
                    out.created = f.created;
                    out.expires = f.expires;
                    out.nc_max = f.nc_max;
                    out.verifier_checked = f.verifier_checked;
                    out.sid = id;
                    out.realm_id = realm;
                    out.from_cache = true;
                    ++m.cache_hits;
                    return VerifyCheck::ok;
                }
                m.cache->erase(id, realm);
                OPENSSL_cleanse(out.owned.data(), out.owned.size());
                out.owned.clear();
            }
            ++m.cache_misses;
        }
        const std::string prefix = m.shard_prefix(m.shard_of(sid.data()));
        const std::string member = encode_hex_fixed(sid);
        const Reply r = m.run(m.begin, prefix + "s:" + member, prefix + "pending",
                              {std::to_string(realm), digits20(nc), std::to_string(now),
                               digits20(limits.nc_max), std::to_string(limits.nc_window),
                               limits.lifetime < INT64_MAX ? std::to_string(limits.lifetime) : std::string(),
                               member});
        if (!r) return VerifyCheck::unavailable;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
            return VerifyCheck::unavailable;
        const std::string_view status(r->element[0]->str, r->element[0]->len);
        if (status != "ok") {
            ++m.stale;
            if (status == "unknown") return VerifyCheck::unknown;
            if (status == "expired") return VerifyCheck::expired;
            if (status == "above") return VerifyCheck::above_nc_max;
            if (status == "below") return VerifyCheck::below_window;
            if (status == "duplicate") return VerifyCheck::duplicate;
            --m.stale;
            if (status == "rejected") return VerifyCheck::rejected;
            return VerifyCheck::unavailable;
        }
        if (r->elements != 8) return VerifyCheck::unavailable;
        auto text = [&r](std::size_t i) {
            const redisReply* e = r->element[i];
            return e->type == REDIS_REPLY_STRING ? std::string_view(e->str, e->len) : std::string_view();
        };
        const std::string_view kid = text(5);
        if (kid != m.key_id_hex) {
            log(LogLevel::error, "MUT02012",
                "session " + member + " was sealed under another AuthMutualSessionStoreKey (key id " +
                    loggable(kid) + ", this node's " + m.key_id_hex +
                    "): every node sharing the store needs the same key; answered as unknown");
            ++m.stale;
            return VerifyCheck::unknown;
        }
        if (!m.open(sid.data(), realm, text(4), out.owned)) {
            log(LogLevel::error, "MUT02013",
                "session " + member + ": the sealed record in Redis fails authentication (tampered or "
                "damaged); answered as unknown");
            ++m.stale;
            return VerifyCheck::unknown;
        }
        if (!unpack_record(out)) return VerifyCheck::unknown;
        out.state = text(1) == "2" ? SessionState::authenticated : SessionState::key_exchanging;
        out.created = static_cast<std::int64_t>(decode_integer(text(2)).value_or(0));
        out.verifier_checked = static_cast<std::int64_t>(decode_integer(text(3)).value_or(0));
        out.expires = static_cast<std::int64_t>(decode_integer(text(6)).value_or(0));
        out.nc_max = parse_digits20(text(7)).value_or(0);
        out.sid = id;
        out.realm_id = realm;
        out.from_cache = false;
        return VerifyCheck::ok;
    } catch (...) {
        return VerifyCheck::unavailable;
    }
}

VerifyCommit RedisSessionStore::finish_verify(const SessionSnapshot& found, std::uint64_t nc, bool verified,
                                              std::int64_t now, const SessionLimits& limits) noexcept {
    Impl& m = *impl_;
    try {
        if (!m.valid) return VerifyCommit::unavailable;
        const std::string prefix = m.shard_prefix(m.shard_of(found.sid.data()));
        const std::string member = encode_hex_fixed(found.sid.data(), found.sid.size());
        const Reply r = m.run(m.finish, prefix + "s:" + member, prefix + "pending",
                              {std::to_string(found.realm_id), digits20(nc),
                               verified ? "1" : "0", std::to_string(now),
                               digits20(limits.nc_max), std::to_string(limits.nc_window),
                               member, std::to_string(found.created), found.from_cache ? "1" : "0",
                               limits.lifetime < INT64_MAX ? std::to_string(limits.lifetime) : std::string()});
        if (!r) return VerifyCommit::unavailable;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
            return VerifyCommit::unavailable;
        const std::string_view status(r->element[0]->str, r->element[0]->len);
        if (status == "ok") {
            ++m.verified;
            // The session is authenticated now (for good, while it exists):
            // its immutable part may answer this process's next begin_verify.
            std::int64_t checked = found.verifier_checked;
            if (r->elements >= 2 && r->element[1]->type == REDIS_REPLY_STRING)
                checked = std::max(checked, static_cast<std::int64_t>(
                                                decode_integer(std::string_view(r->element[1]->str,
                                                                                r->element[1]->len))
                                                    .value_or(0)));
            if (found.from_cache) {
                m.cache->checked(found.sid, found.realm_id, checked);
            } else if (!found.fake && found.expires > now) {
                SessionCache::Fields f;
                f.created = found.created;
                f.expires = found.expires;
                f.nc_max = found.nc_max;
                f.verifier_checked = checked;
                m.cache->put(found.sid, found.realm_id, f, found.owned);
            }
            return VerifyCommit::ok;
        }
        if (status == "rejected" || status == "kept") {
            ++m.failed;
            return status == "rejected" ? VerifyCommit::rejected : VerifyCommit::kept;
        }
        // Gone from Redis (inactive, ended, expired, above nc-max): from the cache too.
        m.cache->erase(found.sid, found.realm_id);
        ++m.stale;
        if (status == "duplicate") return VerifyCommit::duplicate;
        if (status == "below") return VerifyCommit::below_window;
        return VerifyCommit::vanished;
    } catch (...) {
        return VerifyCommit::unavailable;
    }
}

bool RedisSessionStore::end_session(ByteView sid, std::uint64_t realm) noexcept {
    return end(sid, realm) == EndResult::ended;
}

SessionStore::EndResult RedisSessionStore::end(ByteView sid, std::uint64_t realm) noexcept {
    Impl& m = *impl_;
    try {
        if (!m.valid || sid.size() != session_id_length) return EndResult::absent;
        const std::string prefix = m.shard_prefix(m.shard_of(sid.data()));
        const std::string member = encode_hex_fixed(sid);
        SessionId id;
        std::memcpy(id.data(), sid.data(), session_id_length);
        m.cache->erase(id, realm);
        const Reply r = m.run(m.end, prefix + "s:" + member, prefix + "pending", {std::to_string(realm), member});
        if (!r || r->type != REDIS_REPLY_INTEGER) return EndResult::unavailable;
        return r->integer == 1 ? EndResult::ended : EndResult::absent;
    } catch (...) {
        return EndResult::unavailable;
    }
}

bool RedisSessionStore::mark_verifier_checked(ByteView sid, std::uint64_t realm, std::int64_t now) noexcept {
    Impl& m = *impl_;
    try {
        if (!m.valid || sid.size() != session_id_length) return false;
        const std::string prefix = m.shard_prefix(m.shard_of(sid.data()));
        const std::string member = encode_hex_fixed(sid);
        const Reply r = m.run(m.mark, prefix + "s:" + member, prefix + "pending",
                              {std::to_string(realm), std::to_string(now)});
        const bool marked = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        SessionId id;
        std::memcpy(id.data(), sid.data(), session_id_length);
        if (marked) m.cache->checked(id, realm, now);
        return marked;
    } catch (...) {
        return false;
    }
}

TableStatistics RedisSessionStore::statistics() const noexcept {
    // Counters of this process only: the sessions themselves are in Redis
    // (counting them would take a SCAN of every node).
    TableStatistics t;
    t.created = impl_->created.load(std::memory_order_relaxed);
    t.verified = impl_->verified.load(std::memory_order_relaxed);
    t.failed = impl_->failed.load(std::memory_order_relaxed);
    t.stale = impl_->stale.load(std::memory_order_relaxed);
    return t;
}

void RedisSessionStore::reset_connections() noexcept {
    impl_->drop_all();
    impl_->cache->clear();
}

ByteView RedisSessionStore::cache_slot(std::size_t i) const noexcept { return impl_->cache->slot_octets(i); }

bool RedisSessionStore::ping() noexcept {
    Impl& m = *impl_;
    try {
        Impl::Connection c;
        if (!m.acquire(m.seed, c, monotonic_ms())) return false;
        const std::int64_t started = monotonic_ms();
        Reply r = Impl::command(c.context, {"PING"});
        const bool ok = r && r->type != REDIS_REPLY_ERROR;
        const std::string why = r ? std::string("PING refused") : std::string(c.context->errstr);
        m.release(c, ok);
        if (ok) m.success(m.seed);
        else m.failure(m.seed, why, started);
        return ok;
    } catch (...) {
        return false;
    }
}

RedisStoreCounters RedisSessionStore::counters() const noexcept {
    RedisStoreCounters c;
    c.moved = impl_->moved.load();
    c.ask = impl_->ask.load();
    c.noscript = impl_->noscript.load();
    c.connects = impl_->connects.load();
    c.failures = impl_->failures.load();
    c.cache_hits = impl_->cache_hits.load();
    c.cache_misses = impl_->cache_misses.load();
    c.cache_entries = impl_->cache->size();
    c.cache_evictions = impl_->cache->evictions();
    return c;
}

}  // namespace mutual

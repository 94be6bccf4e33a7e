// mutual_load: a closed-loop HTTP load generator for comparing Mutual
// authentication with no authentication, Basic and Digest through the same
// code path (docs/performance.md).
//
// C threads, each with its own client and keep-alive connection, send
// requests back to back for a fixed time and record each request's latency.
// Modes:
//   plain         GET without credentials (libcurl)
//   basic         GET with a fixed "Authorization: Basic ..." header (libcurl)
//   digest        libcurl's CURLAUTH_DIGEST (401 once, then preemptive with nc+1)
//   mutual-full   a new Mutual session per request through the client library:
//                 normal request -> 401-INIT -> req-KEX-C1 -> 401-KEX-S1 ->
//                 req-VFY-C -> 200-VFY-S (3 HTTP requests; -k: start with
//                 req-KEX-C1, 2 HTTP requests)
//   mutual-reuse  one req-VFY-C -> 200-VFY-S per request on an established session
//   fill          -n full handshakes (req-KEX-C1 first) as fast as possible, to
//                 populate the server's session table; no latency report
// -N (a new connection per measured unit, what a real client's first visit
// costs): mutual-full on a new client, so normal request -> 401-INIT ->
// req-KEX-C1 -> 401-KEX-S1 -> req-VFY-C -> 200-VFY-S on one new connection;
// plain/basic/digest send three requests on one new connection, the same
// pattern without authentication.
// -p (with mutual modes): pi is derived once per (algorithm, password, scope,
// realm, user) for the whole process and handed to every new client, which
// otherwise knows nothing (no realm, no session, no connection). A new client
// really derives pi with PBKDF2 (~6.7 ms of CPU for P-256 on this machine),
// which would make the generator, not httpd, the bottleneck of -N; the
// server's work is the same either way.
//
// -A VALUE (with -m plain -R): every request carries "Authorization: VALUE".
// The benchmark's floor row sends a req-VFY-C of a real one's length to a
// location of bench/mod_auth_floor.c++, a module that accepts it without
// looking at it: what httpd's own authentication phases cost.
//
// -R: plain sockets instead of libcurl (SocketTransport: HTTP/1.1, one
// kept-alive connection per thread) for plain, basic and the Mutual modes,
// which then run the client library over it. -K RATE (with -R -m
// mutual-full): the handshake built from the library's pieces with K_c1
// from a pool made before the measured interval, sized for RATE handshakes
// per second over the whole run (PooledHandshakeWorker). Both exist for the
// scaling phase, whose generator shares httpd's CPUs and must cost as
// little as a client can. -R -K RATE with -m mutual-reuse: a precomputed
// req-VFY-C per request, as the issue measured session reuse with wrk
// (PrecomputedReuseWorker).
//
// With -P PID (the httpd parent) the server's CPU time (utime+stime of the
// parent, of its reaped children and of every live child, from /proc) is read
// when the measured interval starts and when it ends, and reported per request;
// -P PID,PID,... adds up several parents (the nodes and the balancer of a
// cluster, a redis-server).
//
// Usage: mutual_load -m MODE [-c CONCURRENCY] [-d SECONDS] [-w WARMUP_SECONDS]
//                    [-a ALGORITHM] [-u USER] [-n HANDSHAKES] [-P PID[,PID]...] [-k] [-N] [-p] [-M]
//                    [-R [-K RATE]] [-A AUTHORIZATION] URL
// The password comes from the environment variable MUTUAL_PASSWORD.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "algorithm.h"
#include "ascii.h"
#include "bytes.h"
#include "client/http_transport.h"
#include "client/mutual_client.h"
#include "client/target.h"
#include "encoding.h"
#include "log.h"
#include "mutual_messages.h"
#include "string_prep.h"

namespace mutual {
namespace {

enum class Mode { plain, basic, digest, mutual_full, mutual_reuse, fill };

struct Config {
    Mode mode = Mode::plain;
    std::string mode_name;
    std::string url;
    std::string algorithm;
    std::string user = "bench";
    std::string password;
    unsigned concurrency = 4;
    double duration = 5.0;
    double warmup = 1.0;
    unsigned long handshakes = 0;  // fill
    std::vector<long> server_pids;  // -P: httpd parents (and other server processes)
    bool kex_first = false;
    bool new_connection = false;
    bool cache_pi = false;
    bool machine = false;
    bool raw = false;  // -R: SocketTransport instead of libcurl
    double pool_rate = 0;  // -K: PooledHandshakeWorker, its pool sized for this rate
    std::string authorization;  // -A: a fixed Authorization value (plain, -R)
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// ---- server CPU from /proc ------------------------------------------------

struct ProcStat {
    long ppid = 0;
    unsigned long long utime = 0, stime = 0, cutime = 0, cstime = 0;
};

bool read_proc_stat(long pid, ProcStat& out) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!in || !std::getline(in, line)) return false;
    // comm may contain spaces and parentheses: fields resume after the last ')'.
    std::size_t close = line.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream fields(line.substr(close + 2));
    std::string state;
    unsigned long long v[15] = {};
    fields >> state;
    // fields 4..17: ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime cutime cstime
    for (unsigned long long& x : v) fields >> x;
    if (!fields) return false;
    out.ppid = static_cast<long>(v[0]);
    out.utime = v[10];
    out.stime = v[11];
    out.cutime = v[12];
    out.cstime = v[13];
    return true;
}

struct ServerCpu {
    double seconds = 0;
    unsigned processes = 0;
};

// The parent's own and reaped-children time plus every live child's, so a
// child that exits during the interval is not lost (its time moves into the
// parent's cutime/cstime when the parent reaps it).
// Several parents (-P PID,PID...: the httpd nodes of a cluster, redis-server)
// add up.
ServerCpu server_cpu(const std::vector<long>& parents) {
    ServerCpu cpu;
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    unsigned long long ticks = 0;
    for (long parent : parents) {
        ProcStat p;
        if (!read_proc_stat(parent, p)) continue;
        ticks += p.utime + p.stime + p.cutime + p.cstime;
        ++cpu.processes;
    }
    if (DIR* d = opendir("/proc")) {
        while (dirent* e = readdir(d)) {
            char* end = nullptr;
            long pid = std::strtol(e->d_name, &end, 10);
            if (pid <= 0 || *end != '\0') continue;
            ProcStat c;
            if (std::find(parents.begin(), parents.end(), pid) == parents.end() &&
                read_proc_stat(pid, c) &&
                std::find(parents.begin(), parents.end(), c.ppid) != parents.end()) {
                ticks += c.utime + c.stime + c.cutime + c.cstime;
                ++cpu.processes;
            }
        }
        closedir(d);
    }
    cpu.seconds = ticks / tick;
    return cpu;
}

// CPU seconds of the whole machine (all CPUs, /proc/stat): busy (user +
// nice + system), to show how much other processes took during a run, and
// idle (idle + iowait), to show whether anything waited with CPUs to spare
// (the two-CPU phase). Interrupt and softirq time (on loopback, most of the
// TCP receive path of both sides) is left out of both: it belongs to no
// process; it is reported apart (irq), as is the time the hypervisor gave
// to other guests (steal).
struct MachineTimes {
    double busy = 0, idle = 0, irq = 0, steal = 0;
};

// [0]: the whole machine ("cpu"), then each CPU ("cpu0", "cpu1", ...): the
// scaling phase needs CPU 0's share when httpd and the generator share it.
std::vector<MachineTimes> machine_times() {
    std::vector<MachineTimes> out;
    std::ifstream in("/proc/stat");
    std::string line;
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    while (std::getline(in, line) && line.compare(0, 3, "cpu") == 0) {
        std::istringstream fields(line);
        std::string cpu;
        unsigned long long v[8] = {};
        fields >> cpu;
        for (unsigned long long& x : v) fields >> x;
        if (!fields) break;
        // user nice system idle iowait irq softirq steal (guest time is in user)
        MachineTimes t;
        t.busy = (v[0] + v[1] + v[2]) / tick;
        t.idle = (v[3] + v[4]) / tick;
        t.irq = (v[5] + v[6]) / tick;
        t.steal = v[7] / tick;
        out.push_back(t);
    }
    if (out.empty()) out.emplace_back();
    return out;
}

double own_cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

// ---- workers ----------------------------------------------------------------

class Worker {
public:
    virtual ~Worker() = default;
    // One user-level request; adds the HTTP requests it took. false on failure
    // (error() says why).
    virtual bool request(unsigned& http_requests) = 0;
    const std::string& error() const { return error_; }

protected:
    std::string error_;
};

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

std::size_t discard_body(char*, std::size_t size, std::size_t n, void*) { return size * n; }

// Counts status lines: each HTTP response (a Digest 401 included) starts one.
std::size_t count_responses(char* data, std::size_t size, std::size_t n, void* counter) {
    std::size_t length = size * n;
    if (length >= 5 && std::memcmp(data, "HTTP/", 5) == 0) ++*static_cast<unsigned*>(counter);
    return length;
}

// plain, basic and digest through one libcurl easy handle.
class CurlWorker : public Worker {
public:
    CurlWorker(const Config& config) : curl_(curl_easy_init()), new_connection_(config.new_connection) {
        CURL* c = curl_.get();
        curl_easy_setopt(c, CURLOPT_URL, config.url.c_str());
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
        curl_easy_setopt(c, CURLOPT_USERAGENT, "mutual_load/1.0");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, count_responses);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &responses_);
        if (config.mode == Mode::basic) {
            std::string credentials = config.user + ":" + config.password;
            std::string line = "Authorization: Basic " + encode_base64_fixed(to_bytes(credentials));
            headers_.reset(curl_slist_append(nullptr, line.c_str()));
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get());
        } else if (config.mode == Mode::digest) {
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_DIGEST));
            curl_easy_setopt(c, CURLOPT_USERNAME, config.user.c_str());
            curl_easy_setopt(c, CURLOPT_PASSWORD, config.password.c_str());
        }
    }

    bool request(unsigned& http_requests) override {
        if (!new_connection_) return perform(http_requests);
        // Three requests on one new connection.
        curl_easy_setopt(curl_.get(), CURLOPT_FRESH_CONNECT, 1L);
        bool ok = perform(http_requests);
        curl_easy_setopt(curl_.get(), CURLOPT_FRESH_CONNECT, 0L);
        ok = ok && perform(http_requests);
        curl_easy_setopt(curl_.get(), CURLOPT_FORBID_REUSE, 1L);
        ok = ok && perform(http_requests);
        curl_easy_setopt(curl_.get(), CURLOPT_FORBID_REUSE, 0L);
        return ok;
    }

private:
    bool perform(unsigned& http_requests) {
        responses_ = 0;
        CURLcode rc = curl_easy_perform(curl_.get());
        http_requests += responses_;
        if (rc != CURLE_OK) {
            error_ = curl_easy_strerror(rc);
            return false;
        }
        long status = 0;
        curl_easy_getinfo(curl_.get(), CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            error_ = "HTTP status " + std::to_string(status);
            return false;
        }
        return true;
    }

private:
    std::unique_ptr<CURL, CurlDeleter> curl_;
    std::unique_ptr<curl_slist, SlistDeleter> headers_;
    unsigned responses_ = 0;
    bool new_connection_ = false;
};

// -R: HTTP/1.1 over one kept-alive TCP connection with blocking sockets and
// no libcurl, the cheapest transport the client library runs over, so that
// a generator sharing httpd's CPUs (the scaling phase) takes as little of
// them as a client can: what remains is the client's own work (for Mutual
// the whole client library: the exchange's state machine, its KAM3 math,
// the check of vks). Plain http only. A response ends by Content-Length,
// chunked coding or the connection's end; 1xx responses go to
// interim_headers. A request that finds the kept-alive connection closed
// before any octet of the answer is sent again once on a new connection.
class SocketTransport : public client::Transport {
public:
    explicit SocketTransport(const client::Target& target)
        : host_(target.host), port_(target.port),
          host_header_(target.host + ":" + std::to_string(target.port)) {}
    ~SocketTransport() override { close(); }
    SocketTransport(const SocketTransport&) = delete;
    SocketTransport& operator=(const SocketTransport&) = delete;

    bool perform(const client::HttpRequest& request, const client::RequestCredentials& credentials,
                 client::HttpResult& out, std::string* error) override {
        std::string value = credentials.value;
        if (credentials.bind) {
            // plain http: no certificate, the binding is the empty value
            std::optional<std::string> bound = credentials.bind(Bytes());
            if (!bound) {
                out.not_sent = true;
                if (error != nullptr) *error = "the credentials refused the connection";
                return false;
            }
            value = std::move(*bound);
        }
        message_.clear();
        message_.append(request.method).append(" ").append(path_of(request.url));
        message_.append(" HTTP/1.1\r\nHost: ").append(host_header_);
        message_.append("\r\nUser-Agent: mutual_load/1.0\r\n");
        if (!value.empty()) message_.append(credentials.header).append(": ").append(value).append("\r\n");
        for (const std::string& h : request.headers) message_.append(h).append("\r\n");
        if (request.has_body)
            message_.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
        message_.append("\r\n");
        if (request.has_body) message_.append(request.body);
        const bool head = request.method == "HEAD";
        for (int attempt = 0; attempt < 2; ++attempt) {
            const bool fresh = fd_ < 0;
            if (fresh && !open(error)) return false;
            bool nothing = true;  // no octet of an answer came back
            if (send_all(message_) && read_response(out, head, nothing)) return true;
            close();
            if (!(nothing && !fresh)) break;  // only a stale kept-alive connection is retried
        }
        if (error != nullptr) *error = failure_.empty() ? "connection failed" : failure_;
        return false;
    }

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buffer_.clear();
    }

private:
    static std::string_view path_of(std::string_view url) {
        std::size_t scheme = url.find("://");
        std::size_t slash = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
        if (slash == std::string_view::npos) return "/";
        std::string_view path = url.substr(slash);
        return path.substr(0, path.find('#'));
    }

    bool open(std::string* error) {
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &found) != 0 ||
            found == nullptr) {
            if (error != nullptr) *error = "cannot resolve " + host_;
            return false;
        }
        fd_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool ok = fd_ >= 0 && ::connect(fd_, found->ai_addr, found->ai_addrlen) == 0;
        freeaddrinfo(found);
        if (!ok) {
            if (error != nullptr) *error = std::string("connect: ") + std::strerror(errno);
            close();
            return false;
        }
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        // a server that stops answering fails the request instead of hanging the run
        timeval limit{60, 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        return true;
    }

    bool send_all(const std::string& data) {
        std::size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                failure_ = std::string("send: ") + std::strerror(errno);
                return false;
            }
            done += static_cast<std::size_t>(n);
        }
        return true;
    }

    // Reads more into buffer_; false at the end of the connection or on an error.
    bool fill() {
        char chunk[16384];
        for (;;) {
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                failure_ = n == 0 ? "the server closed the connection"
                                  : std::string("recv: ") + std::strerror(errno);
                return false;
            }
            buffer_.append(chunk, static_cast<std::size_t>(n));
            return true;
        }
    }

    // One line ending in CRLF at `from` (without it); npos when incomplete.
    std::size_t line_end(std::size_t from) const { return buffer_.find("\r\n", from); }

    bool read_response(client::HttpResult& out, bool head, bool& nothing) {
        out.response = client::Response();
        out.body.clear();
        out.reason_phrase.clear();
        nothing = buffer_.empty();
        for (;;) {
            std::size_t end;
            while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
                if (!fill()) return false;
                nothing = false;
            }
            // status line: HTTP/1.1 SP 3DIGIT SP reason
            std::size_t eol = line_end(0);
            if (buffer_.compare(0, 5, "HTTP/") != 0 || eol < 12) {
                failure_ = "malformed status line";
                return false;
            }
            const long status = std::strtol(buffer_.c_str() + 9, nullptr, 10);
            client::HeaderList headers;
            bool chunked = false, close_after = false;
            long long length = -1;
            for (std::size_t at = eol + 2; at < end + 2;) {
                std::size_t next = line_end(at);
                std::string_view line(buffer_.data() + at, next - at);
                at = next + 2;
                std::size_t colon = line.find(':');
                if (colon == std::string_view::npos) continue;
                std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
                while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                    value.remove_prefix(1);
                while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                    value.remove_suffix(1);
                if (equal_ignoring_ascii_case(name, "content-length"))
                    length = std::strtoll(std::string(value).c_str(), nullptr, 10);
                else if (equal_ignoring_ascii_case(name, "transfer-encoding"))
                    chunked = ascii_lowercase(value).find("chunked") != std::string::npos;
                else if (equal_ignoring_ascii_case(name, "connection"))
                    close_after = ascii_lowercase(value).find("close") != std::string::npos;
                headers.emplace_back(std::string(name), std::string(value));
            }
            const std::size_t reason = buffer_.find(' ', 9);
            out.reason_phrase = reason < eol ? buffer_.substr(reason + 1, eol - reason - 1) : "";
            buffer_.erase(0, end + 4);
            if (status >= 100 && status < 200) {  // interim: the final response follows
                for (auto& h : headers) out.response.interim_headers.push_back(std::move(h));
                continue;
            }
            out.response.status = status;
            out.response.headers = std::move(headers);
            if (head || status == 204 || status == 304) {
                length = 0;
                chunked = false;
            }
            if (chunked) {
                if (!read_chunked(out.body)) return false;
            } else if (length >= 0) {
                while (buffer_.size() < static_cast<std::size_t>(length))
                    if (!fill()) return false;
                out.body.assign(buffer_, 0, static_cast<std::size_t>(length));
                buffer_.erase(0, static_cast<std::size_t>(length));
            } else {  // until the connection ends
                while (fill()) {
                }
                out.body = std::move(buffer_);
                close_after = true;
            }
            if (close_after) close();
            return true;
        }
    }

    bool read_chunked(std::string& body) {
        for (;;) {
            std::size_t eol;
            while ((eol = line_end(0)) == std::string::npos)
                if (!fill()) return false;
            const unsigned long size = std::strtoul(buffer_.c_str(), nullptr, 16);
            buffer_.erase(0, eol + 2);
            if (size == 0) {
                // trailers, then an empty line
                for (;;) {
                    while ((eol = line_end(0)) == std::string::npos)
                        if (!fill()) return false;
                    buffer_.erase(0, eol + 2);
                    if (eol == 0) return true;
                }
            }
            while (buffer_.size() < size + 2)
                if (!fill()) return false;
            body.append(buffer_, 0, size);
            buffer_.erase(0, size + 2);
        }
    }

    std::string host_;
    unsigned port_;
    std::string host_header_;
    int fd_ = -1;
    std::string buffer_;
    std::string message_;
    std::string failure_;
};

// plain and basic over SocketTransport (-R).
class SocketWorker : public Worker {
public:
    SocketWorker(const Config& config, const client::Target& target)
        : transport_(target), new_connection_(config.new_connection) {
        request_.url = config.url;
        if (config.mode == Mode::basic)
            credentials_.value =
                "Basic " + encode_base64_fixed(to_bytes(config.user + ":" + config.password));
        else
            credentials_.value = config.authorization;
    }

    bool request(unsigned& http_requests) override {
        if (!new_connection_) return perform(http_requests);
        // Three requests on one new connection.
        transport_.close();
        bool ok = perform(http_requests) && perform(http_requests) && perform(http_requests);
        transport_.close();
        return ok;
    }

private:
    bool perform(unsigned& http_requests) {
        std::string error;
        if (!transport_.perform(request_, credentials_, result_, &error)) {
            error_ = "transport: " + error;
            return false;
        }
        ++http_requests;
        if (result_.response.status != 200) {
            error_ = "HTTP status " + std::to_string(result_.response.status);
            return false;
        }
        return true;
    }

    SocketTransport transport_;
    client::HttpRequest request_;
    client::RequestCredentials credentials_;
    client::HttpResult result_;
    bool new_connection_ = false;
};

// -p: one PBKDF2 per distinct input for the whole process.
Secret cached_pi(const Algorithm& a, std::string_view password, std::string_view scope,
                 std::string_view realm, std::string_view user) {
    static std::mutex mutex;
    static std::vector<std::pair<std::string, Secret>> cache;
    std::string key(a.name());
    for (std::string_view part : {password, scope, realm, user}) {
        key.push_back('\0');
        key.append(part);
    }
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& entry : cache)
        if (entry.first == key) return entry.second;
    Secret pi = compute_pi(a, password, scope, realm, user);
    if (!pi.empty()) cache.emplace_back(std::move(key), pi);
    return pi;
}

class MutualWorker : public Worker {
public:
    // target: with -R, where SocketTransport connects.
    MutualWorker(const Config& config, const client::Target& target)
        : config_(config),
          transport_(config.raw ? std::make_unique<SocketTransport>(target) : nullptr),
          client_(make_client()), url_(config.url) {}

    bool request(unsigned& http_requests) override {
        // -N: a new client knows no realm and has no connection: the whole
        // first visit of a real client.
        if (config_.new_connection) {
            if (transport_) transport_->close();
            client_ = make_client();
        }
        client::HttpRequest r;
        r.url = url_;
        client::FetchResult result = client_->fetch(r);
        http_requests += result.summary.requests;
        if (result.transport_failed) {
            error_ = "transport: " + result.detail;
            return false;
        }
        if (result.outcome != client::Outcome::success || result.status != 200) {
            error_ = std::string(client::outcome_name(result.outcome)) + " (HTTP " +
                     std::to_string(result.status) + "): " + result.detail;
            return false;
        }
        return true;
    }

private:
    std::unique_ptr<client::MutualClient> make_client() {
        auto c = transport_ ? std::make_unique<client::MutualClient>(options(config_), *transport_)
                            : std::make_unique<client::MutualClient>(options(config_));
        set_credentials(*c);
        return c;
    }

    void set_credentials(client::MutualClient& client) {
        std::string user = config_.user, password = config_.password;
        client.set_credential_provider(
            [user, password](const client::RealmInfo&, std::string& u, SecretString& p) {
                u = user;
                p.assign(password.begin(), password.end());
                return true;
            });
    }

    static client::ClientOptions options(const Config& config) {
        client::ClientOptions o;
        if (config.cache_pi) o.derive_pi = cached_pi;
        if (!config.algorithm.empty()) o.algorithms.push_back(config.algorithm);
        o.reuse_sessions = config.mode == Mode::mutual_reuse;
        o.kex_first = config.mode == Mode::mutual_reuse || config.mode == Mode::fill ||
                      config.kex_first;
        return o;
    }

    const Config& config_;
    std::unique_ptr<SocketTransport> transport_;  // -R; outlives client_
    std::unique_ptr<client::MutualClient> client_;
    std::string url_;
};

// -R -K (mutual-full): the scaling phase's handshake generator, cheaper
// still than the client library over SocketTransport. The same three
// requests (normal request -> 401-INIT, req-KEX-C1 -> 401-KEX-S1, req-VFY-C
// -> 200-VFY-S) built from the library's pieces (the algorithm's K_c1, z,
// VK_c and VK_s, the message parsers and serializers) without the client's
// state machine; S_c1/K_c1 pairs and their req-KEX-C1 header come from a
// pool made before the measured interval, each used once (the server sees a
// fresh K_c1 in every handshake). Per handshake the generator still checks
// the 401-INIT, computes z from the server's K_s1 (checking it), VK_c, and
// verifies the 200's vks. A pool that runs dry falls back to computing K_c1
// in the loop (counted, and reported on stderr).
struct KexPool {
    struct Kex {
        Secret s_c1;
        Bytes k_c1;
        std::string header;  // the req-KEX-C1's Authorization value
    };
    // One pool for all connections, which run at uneven rates; filled by the
    // first worker, before any thread starts.
    std::vector<Kex> entries;
    std::atomic<std::size_t> next{0};
    std::size_t wanted = 0;
};

class PooledHandshakeWorker : public Worker {
public:
    PooledHandshakeWorker(const Config& config, const client::Target& target, KexPool& pool)
        : transport_(target), vh_(target.origin()), pool_(pool) {
        algorithm_ = find_algorithm(config.algorithm);
        request_.url = config.url;
        if (algorithm_ == nullptr) {
            error_ = "-K needs -a ALGORITHM";
            return;
        }
        SecretString password;
        if (prepare_username(config.user, user_) != PrepError::none ||
            prepare_password(config.password, password) != PrepError::none) {
            error_ = "the user name or password fails string preparation";
            return;
        }
        // The realm, from a 401-INIT.
        unsigned ignored = 0;
        MutualChallenge init;
        if (!send(ignored, credentials_, 401) || !challenge(ResponseKind::init, init)) return;
        id_ = init.id;
        const std::string scope = id_.auth_scope ? *id_.auth_scope : client::default_auth_scope(target);
        if (!client::scope_covers(scope, target)) {
            error_ = "auth-scope " + scope + " does not cover " + vh_;
            return;
        }
        pi_ = cached_pi(*algorithm_, std::string_view(password.data(), password.size()), scope,
                        id_.realm, user_);
        if (pi_.empty()) {
            error_ = "deriving pi failed";
            return;
        }
        if (pool_.entries.empty()) {
            pool_.entries.reserve(pool_.wanted);
            for (std::size_t i = 0; i < pool_.wanted; ++i) pool_.entries.push_back(make_kex());
        }
        ready_ = !pool_.entries.empty() && !pool_.entries.back().header.empty();
        if (!ready_) error_ = "computing K_c1 failed";
    }

    bool request(unsigned& http_requests) override { return ready_ && handshake(http_requests, nullptr); }

    std::size_t misses() const noexcept { return misses_; }

protected:
    using Kex = KexPool::Kex;

    // What a handshake leaves for session reuse.
    struct Session {
        Bytes sid, k_c1, k_s1;
        Secret z;
    };

    // One handshake; its session into `kept` when given.
    bool handshake(unsigned& http_requests, Session* kept) {
        const Algorithm& a = *algorithm_;
        // normal request -> 401-INIT
        MutualChallenge c;
        credentials_.value.clear();
        if (!send(http_requests, credentials_, 401) || !challenge(ResponseKind::init, c)) return false;
        if (c.id.realm != id_.realm) return fail("401-INIT for another realm");
        // req-KEX-C1 -> 401-KEX-S1
        const std::size_t next = pool_.next.fetch_add(1, std::memory_order_relaxed);
        Kex kex = next < pool_.entries.size() ? std::move(pool_.entries[next])
                                              : (++misses_, make_kex());
        credentials_.value = std::move(kex.header);
        if (!send(http_requests, credentials_, 401) || !challenge(ResponseKind::kex_s1, c)) return false;
        if (c.sid.empty() || c.nc_max < 1) return fail("401-KEX-S1 without a sid or a nonce number");
        const std::optional<Bytes> k_s1 = a.decode_key(c.ks1);
        if (!k_s1) return fail("ks1 does not decode");
        Secret z;
        const KexError e = a.client_secret(pi_, kex.s_c1, kex.k_c1, *k_s1, z);
        if (e != KexError::none) return fail(std::string("invalid ks1: ") + kex_error_name(e));
        // req-VFY-C -> 200-VFY-S
        MutualCredentials vfy;
        vfy.kind = RequestKind::vfy_c;
        vfy.id = id_;
        vfy.sid = c.sid;
        vfy.sid_text = encode_hex_fixed(c.sid);
        vfy.nc = 1;
        vfy.vkc = a.encode_vk(compute_vk_c(a, kex.k_c1, *k_s1, z, vfy.nc, vh_));
        credentials_.value = serialize_credentials(vfy, a.quoted_on_wire());
        if (!send(http_requests, credentials_, 200)) return false;
        const std::string* info = header("Authentication-Info");
        MutualAuthInfo auth;
        if (info == nullptr || parse_mutual_auth_info(*info, auth) != HeaderError::none)
            return fail("200 without a valid Authentication-Info");
        const std::optional<Bytes> vks = a.decode_vk(auth.vks);
        if (auth.sid != c.sid || !vks ||
            !equal_constant_time(compute_vk_s(a, kex.k_c1, *k_s1, z, vfy.nc, vh_), *vks))
            return fail("wrong vks or sid in the 200-VFY-S");
        if (kept != nullptr) *kept = Session{c.sid, std::move(kex.k_c1), *k_s1, std::move(z)};
        return true;
    }

    Kex make_kex() const {
        Kex k;
        const Algorithm& a = *algorithm_;
        k.s_c1 = a.random_client_scalar();
        if (k.s_c1.empty() || a.client_key(k.s_c1, k.k_c1) != KexError::none) return k;
        MutualCredentials c;
        c.kind = RequestKind::kex_c1;
        c.id = id_;
        c.user = user_;
        c.kc1 = a.encode_key(k.k_c1);
        k.header = serialize_credentials(c, a.quoted_on_wire());
        return k;
    }

    bool fail(std::string why) {
        error_ = std::move(why);
        return false;
    }

    bool send(unsigned& http_requests, const client::RequestCredentials& credentials, long status) {
        std::string error;
        if (!transport_.perform(request_, credentials, result_, &error))
            return fail("transport: " + error);
        ++http_requests;
        if (result_.response.status != status)
            return fail("HTTP status " + std::to_string(result_.response.status) + " instead of " +
                        std::to_string(status));
        return true;
    }

    const std::string* header(std::string_view name) const {
        for (const auto& h : result_.response.headers)
            if (equal_ignoring_ascii_case(h.first, name)) return &h.second;
        return nullptr;
    }

    // The last response's Mutual challenge of `kind` for the algorithm.
    bool challenge(ResponseKind kind, MutualChallenge& out) {
        const std::string* value = header("WWW-Authenticate");
        std::vector<MutualChallenge> found;
        if (value != nullptr) parse_mutual_challenges(*value, found);
        for (MutualChallenge& c : found)
            if (c.kind == kind && c.id.algorithm == algorithm_->name()) {
                out = std::move(c);
                return true;
            }
        return fail(std::string("no Mutual ") + (kind == ResponseKind::init ? "401-INIT" : "401-KEX-S1") +
                    " challenge for " + std::string(algorithm_->name()));
    }

    SocketTransport transport_;
    std::string vh_;
    const Algorithm* algorithm_ = nullptr;
    std::string user_;
    RealmId id_;
    Secret pi_;
    KexPool& pool_;
    std::size_t misses_ = 0;
    bool ready_ = false;
    client::HttpRequest request_;
    client::RequestCredentials credentials_;
    client::HttpResult result_;
};

// -R -K (mutual-reuse): session reuse as the issue measured it with wrk, a
// precomputed req-VFY-C per request. One handshake (PooledHandshakeWorker's)
// when the worker is made, then the vkc of nc 2, 3, ... made before the
// measured interval, enough for RATE requests per second over all
// connections for the whole run; one that runs out computes the next in the
// loop (counted, and reported on stderr). Per request the generator builds
// the header around its vkc, checks that the 200 names the session, and
// checks VK_s in one answer of 64. The vkc are kept as one array of
// fixed-length texts (~45 octets each): the generator streams through them
// and should take as little of the cache it shares with httpd as it can.
// A client that computes VK_c and checks VK_s per request (the library, -m
// mutual-reuse without -K) costs ~30 µs of CPU more per request.
class PrecomputedReuseWorker : public PooledHandshakeWorker {
public:
    PrecomputedReuseWorker(const Config& config, const client::Target& target, KexPool& pool,
                           std::size_t count)
        : PooledHandshakeWorker(config, target, pool) {
        unsigned ignored = 0;
        if (!ready_ || !handshake(ignored, &session_)) {
            ready_ = false;
            return;
        }
        vfy_.kind = RequestKind::vfy_c;
        vfy_.id = id_;
        vfy_.sid = session_.sid;
        sid_text_ = encode_hex_fixed(session_.sid);
        vkcs_ = vk_c(first_nc);  // fixed-length texts: the first gives the width
        width_ = vkcs_.size();
        vkcs_.reserve(count * width_);
        for (std::size_t i = 1; i < count; ++i) vkcs_ += vk_c(first_nc + i);
    }

    bool request(unsigned& http_requests) override {
        if (!ready_) return false;
        const Algorithm& a = *algorithm_;
        const std::uint64_t nc = first_nc + used_++;
        const std::size_t at = (nc - first_nc) * width_;
        if (at < vkcs_.size()) {
            vfy_.vkc.assign(vkcs_, at, width_);
        } else {
            ++misses_;
            vfy_.vkc = vk_c(nc);
        }
        vfy_.nc = nc;
        credentials_.value = serialize_credentials(vfy_, a.quoted_on_wire());
        if (!send(http_requests, credentials_, 200)) return false;
        const std::string* info = header("Authentication-Info");
        if (info == nullptr || info->find(sid_text_) == std::string::npos)
            return fail("the 200-VFY-S does not name the session");
        if (nc % 64 == 0 &&
            info->find(a.encode_vk(compute_vk_s(a, session_.k_c1, session_.k_s1, session_.z, nc, vh_))) ==
                std::string::npos)
            return fail("wrong vks in the 200-VFY-S");
        return true;
    }

private:
    static constexpr std::uint64_t first_nc = 2;  // the handshake's req-VFY-C used 1

    std::string vk_c(std::uint64_t nc) const {
        const Algorithm& a = *algorithm_;
        return a.encode_vk(compute_vk_c(a, session_.k_c1, session_.k_s1, session_.z, nc, vh_));
    }

    Session session_;
    MutualCredentials vfy_;
    std::string sid_text_;
    std::string vkcs_;  // the vkc of nc first_nc, first_nc + 1, ..., width_ octets each
    std::size_t width_ = 0;
    std::uint64_t used_ = 0;
};

std::unique_ptr<Worker> make_worker(const Config& config, const client::Target& target,
                                    KexPool& pool) {
    switch (config.mode) {
    case Mode::plain:
    case Mode::basic:
        if (config.raw) return std::make_unique<SocketWorker>(config, target);
        return std::make_unique<CurlWorker>(config);
    case Mode::digest: return std::make_unique<CurlWorker>(config);
    case Mode::mutual_full:
        if (config.pool_rate > 0) {
            // enough for the whole run at pool_rate handshakes/s over all connections
            pool.wanted = static_cast<std::size_t>(
                (config.warmup + config.duration + 2) * config.pool_rate) + 1;
            return std::make_unique<PooledHandshakeWorker>(config, target, pool);
        }
        return std::make_unique<MutualWorker>(config, target);
    case Mode::mutual_reuse:
        if (config.pool_rate > 0) {
            pool.wanted = config.concurrency;  // one handshake per connection
            const auto count = static_cast<std::size_t>(
                (config.warmup + config.duration + 2) * config.pool_rate / config.concurrency) + 1;
            return std::make_unique<PrecomputedReuseWorker>(config, target, pool, count);
        }
        return std::make_unique<MutualWorker>(config, target);
    default: return std::make_unique<MutualWorker>(config, target);
    }
}

// ---- the run ---------------------------------------------------------------

struct ThreadResult {
    std::vector<double> latencies_us;  // measured requests
    unsigned long http_requests = 0;   // measured requests
    unsigned long errors = 0;
    std::string first_error;
    bool ready_failed = false;
};

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    std::size_t i = static_cast<std::size_t>(p / 100.0 * (sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

int run_load(const Config& config, const client::Target& target) {
    KexPool pool;  // -K; outlives the workers
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned i = 0; i < config.concurrency; ++i)
        workers.push_back(make_worker(config, target, pool));
    std::vector<ThreadResult> results(config.concurrency);

    // 0: warming up, 1: measuring, 2: stop
    std::atomic<int> phase{0};
    std::atomic<unsigned> ready{0};
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < config.concurrency; ++i) {
        threads.emplace_back([&, i] {
            Worker& w = *workers[i];
            ThreadResult& out = results[i];
            unsigned ignored = 0;
            // The first request sets up the connection (and, for Mutual, the
            // realm, credentials and for reuse the session) outside the measurement.
            if (!w.request(ignored)) {
                out.ready_failed = true;
                out.first_error = w.error();
            }
            ready.fetch_add(1);
            while (phase.load() == 0) {
                unsigned n = 0;
                if (!out.ready_failed) w.request(n);
                else std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            if (out.ready_failed) return;
            out.latencies_us.reserve(1 << 16);
            while (phase.load() == 1) {
                unsigned n = 0;
                auto t0 = Clock::now();
                bool ok = w.request(n);
                double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
                out.http_requests += n;
                if (ok) {
                    out.latencies_us.push_back(us);
                } else {
                    if (out.errors++ == 0) out.first_error = w.error();
                }
            }
        });
    }
    auto warm_start = Clock::now();
    while (ready.load() < config.concurrency || seconds_since(warm_start) < config.warmup)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));

    ServerCpu cpu_before;
    if (!config.server_pids.empty()) cpu_before = server_cpu(config.server_pids);
    double own_before = own_cpu_seconds();
    const std::vector<MachineTimes> machine_before = machine_times();
    auto start = Clock::now();
    phase.store(1);
    std::this_thread::sleep_for(std::chrono::duration<double>(config.duration));
    phase.store(2);
    for (std::thread& t : threads) t.join();
    double elapsed = seconds_since(start);
    double own_cpu = own_cpu_seconds() - own_before;
    ServerCpu cpu_after;
    if (!config.server_pids.empty()) cpu_after = server_cpu(config.server_pids);
    const std::vector<MachineTimes> machine_after = machine_times();
    const double machine_cpu = machine_after[0].busy - machine_before[0].busy;
    const double idle_cpus = (machine_after[0].idle - machine_before[0].idle) / elapsed;
    const double irq_cpus = (machine_after[0].irq - machine_before[0].irq) / elapsed;
    const double steal_cpus = (machine_after[0].steal - machine_before[0].steal) / elapsed;
    // per CPU, CPUs' worth: "busy,idle,irq,steal" of cpu0, then of cpu1, ... joined by "/"
    std::string per_cpu;
    for (std::size_t i = 1; i < machine_after.size() && i < machine_before.size(); ++i) {
        char part[96];
        std::snprintf(part, sizeof part, "%s%.3f,%.3f,%.3f,%.3f", i > 1 ? "/" : "",
                      (machine_after[i].busy - machine_before[i].busy) / elapsed,
                      (machine_after[i].idle - machine_before[i].idle) / elapsed,
                      (machine_after[i].irq - machine_before[i].irq) / elapsed,
                      (machine_after[i].steal - machine_before[i].steal) / elapsed);
        per_cpu += part;
    }

    std::vector<double> all;
    unsigned long http_requests = 0, errors = 0;
    unsigned failed_threads = 0;
    std::string first_error;
    for (ThreadResult& r : results) {
        all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
        http_requests += r.http_requests;
        errors += r.errors;
        if (r.ready_failed) ++failed_threads;
        if (first_error.empty() && !r.first_error.empty()) first_error = r.first_error;
    }
    std::size_t pool_misses = 0;
    for (const auto& w : workers)
        if (const auto* p = dynamic_cast<const PooledHandshakeWorker*>(w.get()))
            pool_misses += p->misses();
    workers.clear();
    std::sort(all.begin(), all.end());
    const double requests = static_cast<double>(all.size());
    const double rps = requests / elapsed;
    const double server_us =
        !config.server_pids.empty() && requests > 0 ? (cpu_after.seconds - cpu_before.seconds) * 1e6 / requests : 0;
    const double client_us = requests > 0 ? own_cpu * 1e6 / requests : 0;
    // CPUs' worth of time taken by processes other than httpd and this generator.
    const double other_cpus =
        !config.server_pids.empty()
            ? std::max(0.0, machine_cpu - own_cpu - (cpu_after.seconds - cpu_before.seconds)) / elapsed
            : 0.0;
    const double p50 = percentile(all, 50), p90 = percentile(all, 90), p99 = percentile(all, 99);

    std::printf("mode %s%s%s, %u connections, %.2f s\n", config.mode_name.c_str(),
                config.algorithm.empty() ? "" : " ", config.algorithm.c_str(), config.concurrency,
                elapsed);
    std::printf("  requests %.0f (%lu HTTP, %.2f per request), errors %lu: %.1f requests/s\n",
                requests, http_requests, requests > 0 ? http_requests / requests : 0.0, errors, rps);
    std::printf("  latency p50 %.0f us, p90 %.0f us, p99 %.0f us\n", p50, p90, p99);
    if (!config.server_pids.empty())
        std::printf("  server CPU %.1f us/request (%.2f s in %u httpd processes), "
                    "generator CPU %.1f us/request\n",
                    server_us, cpu_after.seconds - cpu_before.seconds, cpu_after.processes,
                    client_us);
    if (!config.server_pids.empty())
        std::printf("  other processes used %.2f CPUs during the run\n", other_cpus);
    if (!first_error.empty())
        std::printf("  first error: %s%s\n", first_error.c_str(),
                    failed_threads ? " (during warm-up)" : "");
    if (pool_misses > 0)
        std::printf("  the pool ran dry: %zu %s computed in the loop (raise -K)\n", pool_misses,
                    config.mode == Mode::mutual_reuse ? "req-VFY-C were" : "handshakes' K_c1 were");
    if (config.machine)
        std::printf("RESULT mode=%s algorithm=%s concurrency=%u seconds=%.3f requests=%.0f "
                    "http_requests=%lu errors=%lu rps=%.2f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
                    "server_cpu_us=%.2f client_cpu_us=%.2f other_cpus=%.3f idle_cpus=%.3f irq_cpus=%.3f "
                    "steal_cpus=%.3f pool_misses=%zu per_cpu=%s\n",
                    config.mode_name.c_str(), config.algorithm.empty() ? "-" : config.algorithm.c_str(),
                    config.concurrency, elapsed, requests, http_requests, errors + failed_threads,
                    rps, p50, p90, p99, server_us, client_us, other_cpus, idle_cpus, irq_cpus,
                    steal_cpus, pool_misses, per_cpu.empty() ? "-" : per_cpu.c_str());
    std::fflush(stdout);
    return (requests == 0 || failed_threads) ? 1 : 0;
}

// Populate the server's session table with `handshakes` authenticated
// sessions (each thread's client forgets the previous one).
int run_fill(const Config& config, const client::Target& target) {
    KexPool pool;  // -K; outlives the workers
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned i = 0; i < config.concurrency; ++i)
        workers.push_back(make_worker(config, target, pool));
    std::atomic<unsigned long> next{0}, done{0}, errors{0};
    std::mutex error_mutex;
    std::string first_error;
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < config.concurrency; ++i) {
        threads.emplace_back([&, i] {
            Worker& w = *workers[i];
            while (next.fetch_add(1) < config.handshakes) {
                unsigned n = 0;
                if (w.request(n)) {
                    done.fetch_add(1);
                } else if (errors.fetch_add(1) == 0) {
                    std::lock_guard<std::mutex> lock(error_mutex);
                    first_error = w.error();
                }
            }
        });
    }
    std::atomic<bool> finished{false};
    std::thread progress([&] {
        double last = 0;
        while (!finished.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            double t = seconds_since(start);
            if (t - last >= 15) {
                last = t;
                std::fprintf(stderr, "mutual_load: fill %lu/%lu sessions, %.0f/s\n", done.load(),
                             config.handshakes, done.load() / t);
            }
        }
    });
    for (std::thread& t : threads) t.join();
    finished.store(true);
    progress.join();
    double elapsed = seconds_since(start);
    std::printf("fill %s: %lu sessions in %.1f s (%.0f handshakes/s), errors %lu\n",
                config.algorithm.c_str(), done.load(), elapsed, done.load() / elapsed,
                errors.load());
    if (!first_error.empty()) std::printf("  first error: %s\n", first_error.c_str());
    if (config.machine)
        std::printf("RESULT mode=fill algorithm=%s sessions=%lu seconds=%.3f errors=%lu\n",
                    config.algorithm.c_str(), done.load(), elapsed, errors.load());
    std::fflush(stdout);
    return errors.load() == 0 ? 0 : 1;
}

void quiet_log_sink(void*, LogLevel level, const char* tag, const std::string& message) {
    if (level == LogLevel::error || level == LogLevel::warn)
        std::fprintf(stderr, "mutual_load: %s [%s]\n", message.c_str(), tag);
}

int usage() {
    std::fprintf(stderr,
                 "usage: mutual_load -m plain|basic|digest|mutual-full|mutual-reuse|fill\n"
                 "                   [-c CONCURRENCY] [-d SECONDS] [-w WARMUP_SECONDS]\n"
                 "                   [-a ALGORITHM] [-u USER] [-n HANDSHAKES] [-P PID[,PID]...]\n"
                 "                   [-k] [-N] [-p] [-M] [-R [-K RATE]] [-A AUTHORIZATION] URL\n"
                 "  password: environment variable MUTUAL_PASSWORD\n");
    return 2;
}

bool parse_mode(const std::string& name, Mode& mode) {
    static const std::pair<const char*, Mode> modes[] = {
        {"plain", Mode::plain},         {"basic", Mode::basic},
        {"digest", Mode::digest},       {"mutual-full", Mode::mutual_full},
        {"mutual-reuse", Mode::mutual_reuse}, {"fill", Mode::fill},
    };
    for (const auto& m : modes)
        if (name == m.first) {
            mode = m.second;
            return true;
        }
    return false;
}

}  // namespace
}  // namespace mutual

int main(int argc, char** argv) {
    using namespace mutual;
    Config config;
    int c;
    while ((c = getopt(argc, argv, "m:c:d:w:a:u:n:P:kNpMRK:A:h")) != -1) {
        switch (c) {
        case 'm':
            config.mode_name = optarg;
            if (!parse_mode(config.mode_name, config.mode)) return usage();
            break;
        case 'c': config.concurrency = static_cast<unsigned>(std::strtoul(optarg, nullptr, 10)); break;
        case 'd': config.duration = std::strtod(optarg, nullptr); break;
        case 'w': config.warmup = std::strtod(optarg, nullptr); break;
        case 'a': config.algorithm = optarg; break;
        case 'u': config.user = optarg; break;
        case 'n': config.handshakes = std::strtoul(optarg, nullptr, 10); break;
        case 'P':
            for (char* p = optarg; *p;) {
                char* end = nullptr;
                long pid = std::strtol(p, &end, 10);
                if (end == p || pid <= 0 || (*end != ',' && *end != '\0')) return usage();
                config.server_pids.push_back(pid);
                p = *end == ',' ? end + 1 : end;
            }
            break;
        case 'k': config.kex_first = true; break;
        case 'N': config.new_connection = true; break;
        case 'p': config.cache_pi = true; break;
        case 'M': config.machine = true; break;
        case 'R': config.raw = true; break;
        case 'K': config.pool_rate = std::strtod(optarg, nullptr); break;
        case 'A': config.authorization = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || config.mode_name.empty() || config.concurrency == 0 ||
        config.concurrency > 1024 || config.duration <= 0)
        return usage();
    if (config.mode == Mode::fill && config.handshakes == 0) return usage();
    config.url = argv[optind];
    if (const char* p = std::getenv("MUTUAL_PASSWORD")) config.password = p;
    if (config.mode != Mode::plain && config.password.empty()) {
        std::fprintf(stderr, "mutual_load: set MUTUAL_PASSWORD [MUT06101]\n");
        return 2;
    }
    if (config.pool_rate > 0 &&
        (!config.raw || (config.mode != Mode::mutual_full && config.mode != Mode::mutual_reuse) ||
         config.kex_first || config.new_connection || config.algorithm.empty())) {
        std::fprintf(stderr, "mutual_load: -K is for -m mutual-full|mutual-reuse -R -a ALGORITHM, "
                             "without -k and -N [MUT06104]\n");
        return 2;
    }
    if (!config.authorization.empty() && (!config.raw || config.mode != Mode::plain)) {
        std::fprintf(stderr, "mutual_load: -A is for -m plain -R [MUT06105]\n");
        return 2;
    }
    if (config.raw && config.mode == Mode::digest) {
        std::fprintf(stderr, "mutual_load: -R does not do Digest [MUT06102]\n");
        return 2;
    }
    set_log_sink(quiet_log_sink, nullptr);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    std::string problem;
    const std::optional<client::Target> target = client::parse_target(config.url, &problem);
    if (!target || (config.raw && target->https())) {
        std::fprintf(stderr, "mutual_load: %s: %s [MUT06103]\n", config.url.c_str(),
                     target ? "-R speaks plain http only" : problem.c_str());
        curl_global_cleanup();
        return 2;
    }
    int status = config.mode == Mode::fill ? run_fill(config, *target) : run_load(config, *target);
    curl_global_cleanup();
    return status;
}

// mutual-client: a curl-like command-line client for HTTP Mutual
// authentication (RFC 8120). It prints the response body only after the
// server has proved knowledge of the user's verifier (vks, §10/§17.5) and
// says so in a result line on stderr. See docs/mutual-client.1.
#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "algorithm.h"
#include "ascii.h"
#include "bytes.h"
#include "client/mutual_client.h"
#include "log.h"
#include "tools/password_prompt.h"

using namespace mutual;
using namespace mutual::client;

namespace {

#ifndef MUTUAL_VERSION  // from configure.ac's AC_INIT, through Makefile.in
#define MUTUAL_VERSION "unknown"
#endif

const char* const program = "mutual-client";
const char* const version = MUTUAL_VERSION;

// Exit statuses (documented in docs/mutual-client.1).
enum Exit {
    exit_success = 0,
    exit_local_error = 1,
    exit_usage = 2,
    exit_credentials = 3,
    exit_server_not_authenticated = 4,
    exit_protocol = 5,
    exit_transport = 6,
    exit_authorization = 7,
    exit_not_protected = 8,
    exit_http_error = 9,
    exit_redirects = 10,
};

struct Options {
    std::optional<std::string> user;
    bool password_stdin = false;
    std::string method;
    std::optional<std::string> data;
    std::vector<std::string> headers;
    std::optional<std::string> output;
    int verbose = 0;
    bool silent = false;
    bool include = false;
    bool allow_unauthenticated = false;
    bool fail = false;               // -f: no body for HTTP errors (status >= 400)
    bool follow = false;             // -L
    long max_redirects = 50;
    bool any_realm = false;          // offer the password to every realm that asks
    std::optional<std::string> proxy_user;  // -U: the proxy's realm (RFC 8120 §14)
    bool reuse = true;
    bool kex_first = true;
    std::vector<std::string> algorithms;
    TransportOptions transport;
    std::vector<std::string> urls;
};

void short_usage(std::FILE* out) {
    std::fprintf(out,
                 "Usage: %s [options] URL...\n"
                 "Try '%s --help' for more information.\n",
                 program, program);
}

void usage(std::FILE* out) {
    std::fprintf(out,
        "Usage: %s [options] URL...\n"
        "Fetch URLs with HTTP Mutual authentication (RFC 8120); the body is printed only\n"
        "after the server has proved that it knows the user's password verifier.\n"
        "\n"
        "  -u, --user USER          user name\n"
        "      --password-stdin     read the password from the first line of stdin\n"
        "                           (default: $MUTUAL_PASSWORD, else a prompt on /dev/tty)\n"
        "  -X, --request METHOD     request method (default GET, or POST with -d)\n"
        "  -d, --data DATA          request body; @FILE reads FILE, @- reads stdin\n"
        "      --data-binary DATA   the same (bodies are always sent verbatim)\n"
        "  -H, --header 'N: V'      extra request header (repeatable)\n"
        "  -o, --output FILE        write bodies to FILE instead of stdout\n"
        "  -i, --include            print the verified response headers before the body\n"
        "  -f, --fail               write no body for HTTP errors (status 400 or more)\n"
        "  -L, --location           follow redirects (credentials only where a realm's\n"
        "                           auth-scope and path cover the new URL)\n"
        "      --max-redirs N       at most N redirects (default 50)\n"
        "      --any-realm          offer the password to every realm that asks (default:\n"
        "                           only to the first; others prompt or are refused)\n"
        "  -a, --algorithm LIST     algorithms to accept, most preferred first\n"
        "                           (comma-separated or repeated; default: all)\n"
        "  -k, --insecure           do not verify the TLS certificate chain and host name\n"
        "      --cacert FILE        trust the CA certificates in FILE (PEM)\n"
        "      --capath DIR         trust the CA certificates in DIR (hashed names)\n"
        "  -E, --cert FILE          TLS client certificate (PEM)\n"
        "      --key FILE           its private key (default: in the --cert file)\n"
        "      --resolve H:P:ADDR   connect to ADDR for host H and port P\n"
        "  -x, --proxy URL          use the HTTP proxy URL (http://host:port)\n"
        "  -U, --proxy-user USER    user name for Mutual authentication with the proxy\n"
        "                           (password: $MUTUAL_PROXY_PASSWORD, else a prompt)\n"
        "      --max-filesize N     largest response body buffered (default 64 MiB)\n"
        "      --max-time SECONDS   limit for each HTTP request\n"
        "      --connect-timeout S  limit for connecting (default 30)\n"
        "      --no-reuse           do not reuse sessions between URLs\n"
        "      --no-kex-first       always start with an unauthenticated request\n"
        "      --allow-unauthenticated  also print bodies of responses that are not\n"
        "                           protected by Mutual (exit status stays 8)\n"
        "  -v, --verbose            print each message of the exchange (-vv: and debug log)\n"
        "  -s, --silent             no result line on success\n"
        "  -h, --help               this help\n"
        "  -V, --version            version information\n"
        "\n"
        "Exit status: 0 mutual authentication succeeded and the request completed;\n"
        "1 local error; 2 usage; 3 credentials missing or rejected; 4 the server failed to\n"
        "authenticate itself (missing or wrong vks); 5 protocol error or nothing supported;\n"
        "6 transport error; 7 authorization failed; 8 not protected by Mutual authentication;\n"
        "9 HTTP error status (400 or more) or server error; 10 too many redirects.\n",
        program);
}

// Server-supplied text shown on the terminal: control characters (escape
// sequences a hostile server could send) become '?'.
std::string terminal_text(std::string_view text) {
    return mutual::printable(text, mutual::printable_replacing_controls);
}

// ---- passwords ------------------------------------------------------------

// A termination signal at the prompt restores the terminal and exits with
// 128 + the signal number (password_prompt.h).
constexpr OnInterrupt on_interrupt{};

// The password source, consulted only when a server asks for credentials.
class Credentials {
public:
    explicit Credentials(const Options& options) : options_(options) {}

    // Reads the non-interactive sources up front.
    bool load(std::string& error) {
        if (options_.password_stdin) {
            if (read_password_line(STDIN_FILENO, password_) != ReadResult::ok) {
                error = "no password on standard input";
                return false;
            }
            have_password_ = true;
        } else if (const char* env = std::getenv("MUTUAL_PASSWORD")) {
            password_.assign(env);
            have_password_ = true;
        }
        return true;
    }

    // The password of -u / --password-stdin / MUTUAL_PASSWORD is bound to
    // the first realm (algorithm, auth-scope, realm, §5) it is used for.
    // Another realm gets it only with --any-realm; otherwise it is asked
    // for at the terminal, or refused without one.
    bool provide(const RealmInfo& realm, std::string& user, SecretString& password) {
        if (!options_.user) return false;
        const std::string key = realm_key(realm.id.algorithm, realm.scope, realm.id.realm);
        for (const auto& r : rejected_)
            if (r == key) return false;
        for (const auto& entry : prompted_) {
            if (entry.first != key) continue;
            user = *options_.user;
            password = entry.second;
            return true;
        }
        const std::string where = "realm \"" + terminal_text(realm.id.realm) + "\" at " +
                                  terminal_text(realm.origin);
        if (have_password_ && (bound_.empty() || bound_ == key || options_.any_realm)) {
            if (bound_.empty()) {
                bound_ = key;
                bound_name_ = where;
            }
            user = *options_.user;
            password = password_;
            return true;
        }
        if (have_password_)
            std::fprintf(stderr, "%s: %s asks for credentials; the password given is for %s\n",
                         program, where.c_str(), bound_name_.c_str());
        SecretString typed;
        const std::string prompt = "Password for " + *options_.user + " (" + where + "): ";
        if (prompt_password(prompt, typed, on_interrupt) != ReadResult::ok) {
            std::fprintf(stderr,
                         have_password_
                             ? "%s: no terminal to ask for it: refused (--any-realm offers the "
                               "password to every realm)\n"
                             : "%s: no terminal to ask for the password; use --password-stdin or "
                               "MUTUAL_PASSWORD\n",
                         program);
            rejected_.push_back(key);
            return false;
        }
        if (!have_password_) {
            password_ = typed;
            have_password_ = true;
            bound_ = key;
            bound_name_ = where;
        } else {
            prompted_.emplace_back(key, typed);
        }
        user = *options_.user;
        password = typed;
        return true;
    }

    // After a rejection the same password is not offered to that realm again.
    void rejected(const SessionSummary& s) {
        rejected_.push_back(realm_key(s.algorithm, s.scope, s.realm));
    }

    static std::string realm_key(const std::string& algorithm, const std::string& scope,
                                 const std::string& realm) {
        // Lengths first: no two different triples give the same key.
        return std::to_string(algorithm.size()) + ":" + algorithm + std::to_string(scope.size()) +
               ":" + scope + realm;
    }

private:
    const Options& options_;
    SecretString password_;
    bool have_password_ = false;
    std::string bound_, bound_name_;
    std::vector<std::pair<std::string, SecretString>> prompted_;
    std::vector<std::string> rejected_;
};

// ---- output ---------------------------------------------------------------

// RFC 8053 Authentication-Control of the realm in use, in -v.
void print_control(const AuthenticationControl& c) {
    if (c.logout_timeout && *c.logout_timeout == 0)
        std::fprintf(stderr,
                     "* Authentication-Control: logout-timeout=0: session and credentials "
                     "forgotten\n");
    else if (c.logout_timeout)
        std::fprintf(stderr,
                     "* Authentication-Control: logout-timeout=%llu: session and credentials "
                     "forgotten after that many seconds\n",
                     static_cast<unsigned long long>(*c.logout_timeout));
    if (!c.location_when_unauthenticated.empty())
        std::fprintf(stderr, "* Authentication-Control: location-when-unauthenticated: %s\n",
                     terminal_text(c.location_when_unauthenticated).c_str());
    if (!c.location_when_logout.empty())
        std::fprintf(stderr, "* Authentication-Control: location-when-logout: %s\n",
                     terminal_text(c.location_when_logout).c_str());
    if (!c.username.empty())
        std::fprintf(stderr, "* Authentication-Control: the server accepts only user name %s\n",
                     terminal_text(c.username).c_str());
}

void print_event(const ExchangeEvent& e) {
    if (e.kind == ExchangeEvent::Kind::note) {
        std::fprintf(stderr, "* %s\n", terminal_text(e.message).c_str());
        return;
    }
    if (e.kind == ExchangeEvent::Kind::request && e.proxy) {
        std::fprintf(stderr, "> (to the proxy %s)  [proxy %s]\n", terminal_text(e.url).c_str(),
                     e.message.c_str());
        std::fprintf(stderr, "> Proxy-Authorization: %s\n", e.authorization.c_str());
        return;
    }
    if (e.kind == ExchangeEvent::Kind::request) {
        std::fprintf(stderr, "> %s %s  [%s]\n", terminal_text(e.method).c_str(),
                     terminal_text(e.url).c_str(), e.message.c_str());
        if (!e.authorization.empty())
            std::fprintf(stderr, "> Authorization: %s\n", e.authorization.c_str());
        return;
    }
    std::fprintf(stderr, "< %ld %s  [%s%s]\n", e.status, terminal_text(e.reason_phrase).c_str(),
                 e.proxy ? "proxy " : "", e.message.c_str());
    for (const auto& h : e.auth_headers)
        std::fprintf(stderr, "< %s: %s\n", terminal_text(h.first).c_str(),
                     terminal_text(h.second).c_str());
    print_control(e.control);
}

class Output {
public:
    explicit Output(const std::optional<std::string>& path) : path_(path) {}
    ~Output() {
        if (file_ != nullptr && file_ != stdout) std::fclose(file_);
    }
    // Opens lazily, so a refused response never creates or truncates FILE.
    bool write(const std::string& data) {
        if (file_ == nullptr) {
            file_ = path_ ? std::fopen(path_->c_str(), "wb") : stdout;
            if (file_ == nullptr) {
                std::fprintf(stderr, "%s: cannot open %s: %s\n", program, path_->c_str(),
                             std::strerror(errno));
                return false;
            }
        }
        if (!data.empty() && std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
            std::fprintf(stderr, "%s: write error: %s\n", program, std::strerror(errno));
            return false;
        }
        return std::fflush(file_) == 0;
    }
    bool finish() {
        if (file_ != nullptr && file_ != stdout) {
            const bool ok = std::fclose(file_) == 0;
            file_ = nullptr;
            return ok;
        }
        return true;
    }

private:
    std::optional<std::string> path_;
    std::FILE* file_ = nullptr;
};

int exit_code_for(const FetchResult& r) {
    if (r.transport_failed) return exit_transport;
    switch (r.outcome) {
        case Outcome::success:
            if (r.status == 403) return exit_authorization;
            if (r.status >= 400) return exit_http_error;
            return exit_success;
        case Outcome::not_protected: return exit_not_protected;
        case Outcome::credentials_required:
        case Outcome::credentials_rejected:
        case Outcome::invalid_credentials: return exit_credentials;
        case Outcome::authorization_failed: return exit_authorization;
        case Outcome::server_not_authenticated: return exit_server_not_authenticated;
        case Outcome::protocol_error:
        case Outcome::unsupported: return exit_protocol;
        case Outcome::server_error:
        case Outcome::http_error: return exit_http_error;
    }
    return exit_protocol;
}

void print_result(const HttpRequest& request, const FetchResult& result, bool silent) {
    const std::string where = terminal_text(request.method + " " + request.url);
    FetchResult r;  // the printed fields, made printable
    r.transport_failed = result.transport_failed;
    r.outcome = result.outcome;
    r.state = result.state;
    r.status = result.status;
    r.detail = terminal_text(result.detail);
    r.reason_phrase = terminal_text(result.reason_phrase);
    r.summary = result.summary;
    r.summary.user = terminal_text(result.summary.user);
    r.summary.realm = terminal_text(result.summary.realm);
    if (r.transport_failed) {
        std::fprintf(stderr, "%s: transport error: %s (%s)\n", program, r.detail.c_str(),
                     where.c_str());
        return;
    }
    const SessionSummary& s = r.summary;
    if (r.outcome == Outcome::success) {
        if (silent && r.status < 400) return;
        std::fprintf(stderr,
                     "%s: AUTH-SUCCEED: server proved knowledge of the verifier (user %s, "
                     "realm \"%s\", algorithm %s, sid %s, nc %llu%s): %s -> %ld %s\n",
                     program, s.user.c_str(), s.realm.c_str(), s.algorithm.c_str(),
                     s.sid.c_str(), static_cast<unsigned long long>(s.nc),
                     s.reused ? ", session reused" : "", where.c_str(), r.status,
                     r.reason_phrase.c_str());
        return;
    }
    const char* state = auth_state_name(r.state);
    if (r.outcome == Outcome::server_not_authenticated) {
        std::fprintf(stderr,
                     "%s: %s: server FAILED to prove knowledge of the verifier: %s; response "
                     "withheld (user %s, realm \"%s\", algorithm %s): %s\n",
                     program, state, r.detail.c_str(), s.user.c_str(), s.realm.c_str(),
                     s.algorithm.c_str(), where.c_str());
        return;
    }
    std::fprintf(stderr, "%s: %s: %s: %s -> %ld %s\n", program, state, r.detail.c_str(),
                 where.c_str(), r.status, r.reason_phrase.c_str());
}

std::string headers_text(const FetchResult& r) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + r.reason_phrase + "\r\n";
    for (const auto& h : r.headers) out += h.first + ": " + h.second + "\r\n";
    return out + "\r\n";
}

// ---- command line -----------------------------------------------------------

bool read_file(const std::string& path, std::string& out) {
    if (path == "-") {
        out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        return !std::cin.bad();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

bool parse_size(const char* text, unsigned long long& out) {
    char* end = nullptr;
    errno = 0;
    out = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text) return false;
    switch (*end) {
        case '\0': return true;
        case 'k': case 'K': out <<= 10; break;
        case 'm': case 'M': out <<= 20; break;
        case 'g': case 'G': out <<= 30; break;
        default: return false;
    }
    return end[1] == '\0';
}

int parse_options(int argc, char** argv, Options& o) {
    enum {
        opt_password_stdin = 256, opt_data_binary, opt_cacert, opt_max_filesize, opt_max_time,
        opt_connect_timeout, opt_no_reuse, opt_no_kex_first, opt_allow_unauthenticated,
        opt_capath, opt_key, opt_resolve, opt_max_redirs, opt_any_realm,
    };
    static const struct option long_options[] = {
        {"user", required_argument, nullptr, 'u'},
        {"password-stdin", no_argument, nullptr, opt_password_stdin},
        {"request", required_argument, nullptr, 'X'},
        {"data", required_argument, nullptr, 'd'},
        {"data-binary", required_argument, nullptr, opt_data_binary},
        {"header", required_argument, nullptr, 'H'},
        {"output", required_argument, nullptr, 'o'},
        {"include", no_argument, nullptr, 'i'},
        {"algorithm", required_argument, nullptr, 'a'},
        {"insecure", no_argument, nullptr, 'k'},
        {"cacert", required_argument, nullptr, opt_cacert},
        {"capath", required_argument, nullptr, opt_capath},
        {"cert", required_argument, nullptr, 'E'},
        {"key", required_argument, nullptr, opt_key},
        {"resolve", required_argument, nullptr, opt_resolve},
        {"fail", no_argument, nullptr, 'f'},
        {"location", no_argument, nullptr, 'L'},
        {"max-redirs", required_argument, nullptr, opt_max_redirs},
        {"any-realm", no_argument, nullptr, opt_any_realm},
        {"proxy", required_argument, nullptr, 'x'},
        {"proxy-user", required_argument, nullptr, 'U'},
        {"max-filesize", required_argument, nullptr, opt_max_filesize},
        {"max-time", required_argument, nullptr, opt_max_time},
        {"connect-timeout", required_argument, nullptr, opt_connect_timeout},
        {"no-reuse", no_argument, nullptr, opt_no_reuse},
        {"no-kex-first", no_argument, nullptr, opt_no_kex_first},
        {"allow-unauthenticated", no_argument, nullptr, opt_allow_unauthenticated},
        {"verbose", no_argument, nullptr, 'v'},
        {"silent", no_argument, nullptr, 's'},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    bool data_from_stdin = false;
    int c = 0;
    while ((c = getopt_long(argc, argv, "u:X:d:H:o:ia:kvshVfLE:x:U:", long_options, nullptr)) != -1) {
        switch (c) {
            case 'u': o.user = optarg; break;
            case opt_password_stdin: o.password_stdin = true; break;
            case 'X': o.method = optarg; break;
            case 'd':
            case opt_data_binary: {
                const std::string value = optarg;
                std::string body;
                if (!value.empty() && value[0] == '@') {
                    if (value == "@-") data_from_stdin = true;
                    if (!read_file(value.substr(1), body)) {
                        std::fprintf(stderr, "%s: cannot read %s\n", program, value.c_str() + 1);
                        return exit_usage;
                    }
                } else {
                    body = value;
                }
                // Several -d options are joined with '&', as curl does.
                o.data = o.data ? *o.data + "&" + body : body;
                break;
            }
            case 'H': {
                const std::string header = optarg;
                const std::size_t colon = header.find(':');
                if (colon == std::string::npos || colon == 0) {
                    std::fprintf(stderr, "%s: bad header (want 'Name: value'): %s\n", program,
                                 optarg);
                    return exit_usage;
                }
                if (mutual::equal_ignoring_ascii_case(header.substr(0, colon), "authorization")) {
                    std::fprintf(stderr, "%s: the Authorization header is the protocol's; use -u\n",
                                 program);
                    return exit_usage;
                }
                o.headers.push_back(header);
                break;
            }
            case 'o': o.output = optarg; break;
            case 'i': o.include = true; break;
            case 'a': {
                std::stringstream list(optarg);
                std::string name;
                while (std::getline(list, name, ',')) {
                    if (name.empty()) continue;
                    if (find_algorithm(name) == nullptr) {
                        std::fprintf(stderr, "%s: unknown algorithm %s; known:", program,
                                     name.c_str());
                        for (const Algorithm* a : all_algorithms())
                            std::fprintf(stderr, " %.*s", static_cast<int>(a->name().size()),
                                         a->name().data());
                        std::fprintf(stderr, "\n");
                        return exit_usage;
                    }
                    o.algorithms.push_back(name);
                }
                break;
            }
            case 'k': o.transport.insecure = true; break;
            case opt_cacert: o.transport.ca_file = optarg; break;
            case opt_capath: o.transport.ca_path = optarg; break;
            case 'E': o.transport.client_certificate = optarg; break;
            case opt_key: o.transport.client_key = optarg; break;
            case opt_resolve: {
                // HOST:PORT:ADDRESS[,ADDRESS]... as curl takes it.
                const std::string entry = optarg;
                const std::size_t first = entry.find(':');
                const std::size_t second =
                    first == std::string::npos ? first : entry.find(':', first + 1);
                if (first == 0 || second == std::string::npos || second == first + 1 ||
                    second + 1 >= entry.size()) {
                    std::fprintf(stderr, "%s: bad --resolve (want HOST:PORT:ADDRESS): %s\n",
                                 program, optarg);
                    return exit_usage;
                }
                o.transport.resolve.push_back(entry);
                break;
            }
            case 'f': o.fail = true; break;
            case 'L': o.follow = true; break;
            case opt_max_redirs: {
                unsigned long long n = 0;
                if (!parse_size(optarg, n) || n > 1000) {
                    std::fprintf(stderr, "%s: bad --max-redirs: %s\n", program, optarg);
                    return exit_usage;
                }
                o.max_redirects = static_cast<long>(n);
                break;
            }
            case opt_any_realm: o.any_realm = true; break;
            case 'x': {
                std::string error;
                std::optional<Target> proxy = parse_target(optarg, &error);
                if (!proxy || proxy->https()) {
                    std::fprintf(stderr, "%s: bad --proxy (want http://host:port): %s\n", program,
                                 optarg);
                    return exit_usage;
                }
                o.transport.proxy = optarg;
                break;
            }
            case 'U': o.proxy_user = optarg; break;
            case opt_max_filesize: {
                unsigned long long n = 0;
                if (!parse_size(optarg, n) || n == 0) {
                    std::fprintf(stderr, "%s: bad --max-filesize: %s\n", program, optarg);
                    return exit_usage;
                }
                o.transport.max_body = static_cast<std::size_t>(n);
                break;
            }
            case opt_max_time:
            case opt_connect_timeout: {
                unsigned long long n = 0;
                if (!parse_size(optarg, n) || n > 86400) {
                    std::fprintf(stderr, "%s: bad time: %s\n", program, optarg);
                    return exit_usage;
                }
                (c == opt_max_time ? o.transport.max_time : o.transport.connect_timeout) =
                    static_cast<long>(n);
                break;
            }
            case opt_no_reuse: o.reuse = false; break;
            case opt_no_kex_first: o.kex_first = false; break;
            case opt_allow_unauthenticated: o.allow_unauthenticated = true; break;
            case 'v': ++o.verbose; break;
            case 's': o.silent = true; break;
            case 'h': usage(stdout); return -1;
            case 'V':
                std::printf("%s %s (%s, %s)\n", program, version, curl_version(),
                            OpenSSL_version(OPENSSL_VERSION));
                return -1;
            default: short_usage(stderr); return exit_usage;
        }
    }
    for (int i = optind; i < argc; ++i) o.urls.push_back(argv[i]);
    if (o.urls.empty()) {
        if (argc > 1) std::fprintf(stderr, "%s: no URL given\n", program);
        short_usage(stderr);
        return exit_usage;
    }
    if (o.password_stdin && data_from_stdin) {
        std::fprintf(stderr, "%s: --password-stdin and -d @- both want standard input\n", program);
        return exit_usage;
    }
    if (o.password_stdin && !o.user) {
        std::fprintf(stderr, "%s: --password-stdin needs -u USER\n", program);
        return exit_usage;
    }
    if (o.proxy_user && o.transport.proxy.empty()) {
        std::fprintf(stderr, "%s: --proxy-user needs --proxy\n", program);
        return exit_usage;
    }
    if (o.method.empty()) o.method = o.data ? "POST" : "GET";
    return exit_success;
}

void verbose_log_sink(void*, LogLevel level, const char* tag, const std::string& message) {
    static const char* const names[] = {"error", "warning", "info", "debug"};
    std::fprintf(stderr, "* %s: %s [%s]\n", names[static_cast<int>(level)], message.c_str(), tag);
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    const int parsed = parse_options(argc, argv, options);
    if (parsed < 0) return exit_success;  // --help, --version
    if (parsed != exit_success) return parsed;
    if (options.verbose >= 2) set_log_sink(verbose_log_sink, nullptr);

    Credentials credentials(options);
    std::string error;
    if (!credentials.load(error)) {
        std::fprintf(stderr, "%s: %s\n", program, error.c_str());
        return exit_usage;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int status = exit_success;
    options.transport.user_agent = std::string(program) + "/" + version;
    {
        ClientOptions client_options;
        client_options.algorithms = options.algorithms;
        client_options.reuse_sessions = options.reuse;
        client_options.kex_first = options.kex_first;
        MutualClient client(client_options, options.transport);
        client.set_credential_provider(
            [&credentials](const RealmInfo& realm, std::string& user, SecretString& password) {
                return credentials.provide(realm, user, password);
            });
        client.set_release_unauthenticated(options.allow_unauthenticated);
        // The proxy's realm has its own user and password (RFC 8120 §14).
        client.set_proxy_credential_provider(
            [&options](const RealmInfo& realm, std::string& user, SecretString& password) {
                if (!options.proxy_user) return false;
                if (const char* env = std::getenv("MUTUAL_PROXY_PASSWORD")) {
                    password.assign(env);
                } else if (prompt_password("Proxy password for " + *options.proxy_user +
                                               " (realm \"" + terminal_text(realm.id.realm) +
                                               "\" at the proxy " + terminal_text(realm.origin) +
                                               "): ",
                                           password, on_interrupt) != ReadResult::ok) {
                    std::fprintf(stderr,
                                 "%s: no terminal to ask for the proxy password; use "
                                 "MUTUAL_PROXY_PASSWORD\n",
                                 program);
                    return false;
                }
                user = *options.proxy_user;
                return true;
            });
        if (options.verbose >= 1) client.set_observer(print_event);

        Output output(options.output);
        for (const std::string& url : options.urls) {
            HttpRequest request;
            request.method = options.method;
            request.url = url;
            request.headers = options.headers;
            if (options.data) {
                request.body = *options.data;
                request.has_body = true;
            }
            int code = exit_success;
            for (long redirects = 0;; ++redirects) {
                FetchResult result = client.fetch(request);
                if (result.outcome == Outcome::credentials_rejected)
                    credentials.rejected(result.summary);
                const bool redirect = options.follow && !result.transport_failed &&
                                      !result.location.empty();
                code = exit_code_for(result);
                std::optional<std::string> next;
                if (redirect) next = resolve_reference(request.url, result.location);
                const bool follow = redirect && next && parse_target(*next);
                // A hop's result line only with -v; the last one always
                // (unless -s and it succeeded).
                if (!follow || options.verbose >= 1) print_result(request, result, options.silent);
                if (follow) {
                    if (redirects >= options.max_redirects) {
                        std::fprintf(stderr, "%s: maximum (%ld) redirects followed\n", program,
                                     options.max_redirects);
                        code = exit_redirects;
                        break;
                    }
                    if (options.verbose >= 1)
                        std::fprintf(stderr, "* following the redirect to %s\n",
                                     terminal_text(*next).c_str());
                    // As curl: 303 turns anything but HEAD into GET; 301 and
                    // 302 turn a POST into GET.
                    if ((result.status == 303 && request.method != "HEAD") ||
                        ((result.status == 301 || result.status == 302) &&
                         request.method == "POST")) {
                        request.method = "GET";
                        request.body.clear();
                        request.has_body = false;
                    }
                    request.url = *next;
                    continue;
                }
                if (redirect && !next)
                    std::fprintf(stderr, "%s: cannot follow the redirect to %s\n", program,
                                 terminal_text(result.location).c_str());
                const bool http_error = result.status >= 400 && !result.transport_failed;
                if (result.released && !(options.fail && http_error)) {
                    if ((options.include && !output.write(headers_text(result))) ||
                        !output.write(result.body))
                        code = exit_local_error;
                }
                break;
            }
            if (status == exit_success) status = code;
        }
        if (!output.finish() && status == exit_success) status = exit_local_error;
    }
    curl_global_cleanup();
    return status;
}

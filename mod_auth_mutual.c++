// mod_auth_mutual: HTTP Mutual authentication (RFC 8120 / RFC 8121) for
// Apache httpd 2.4 — the httpd glue only: module record, configuration
// directives, hooks. The protocol lives in src/; the server core is
// mutual::Server (src/server/server.h), see docs/architecture.md.
//
// Hooks (see docs/directives.md and docs/session-table.md):
//   pre_config         registers the "auth-mutual-table" mutex type (kept
//                      so that configurations naming it still parse; the
//                      table locks itself, see docs/session-table.md)
//   check_config       AuthType Mutual without AuthMutualScope or AuthName
//                      (after httpd's merge) fails startup;
//                      collects the algorithms in use (they size the table)
//   post_config        creates the session table in shared memory with its
//                      robust process-shared stripe mutexes, the server
//                      secret and the fake verifiers (skipped during the
//                      dry run)
//   check_authn        the RFC 8120 §11 decision for AuthType Mutual
//   note_auth_failure  authorization denials -> 401-INIT reason=authz-failed
//   fixups             Authentication-Info kept on internal redirects;
//                      Optional-WWW-Authenticate on anonymous responses, whose
//                      user is cleared first (AuthMutualOptional, RFC 8053)
//   child_init         a Redis session store drops connections inherited
//                      from the parent (each process makes its own)
//   handler            SetHandler mutual-logout (ends the session)
//   MUTUAL_CONNECT_INFO connection filter: Proxy-Authentication-Info on
//                      mod_proxy_connect's 200 (RFC 8120 §14)
//   handler            SetHandler mutual-status: Prometheus text (metrics.h)
//   status_hook        the same figures in mod_status (HTML and ?auto)
//
// Every function httpd calls is noexcept and catches everything.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>


#include "ap_config.h"
#include "apr_dbd.h"
#include "apr_hash.h"
#include "apr_optional.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_time.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"
#include "http_ssl.h"
#include "mod_dbd.h"
#include "util_cfgtree.h"
#include "util_filter.h"
#include "util_mutex.h"

#include "algorithm.h"
#include "log.h"
#include "server/connection_policy.h"
#include "server/location_settings.h"
#include "server/location_verifiers.h"
#include "server/request_guard.h"
#include "server/server.h"

extern "C" {
extern module AP_MODULE_DECLARE_DATA auth_mutual_module __attribute__((visibility("default")));
}
APLOG_USE_MODULE(auth_mutual);

namespace {

constexpr const char* mutex_type = "auth-mutual-table";
constexpr unsigned max_stripes = 16;

// ---- configuration records ------------------------------------------------------
// A section's per-directory configuration is a mutual::LocationSettings and
// the server configuration a mutual::ServerOptions, both in the
// configuration's pool (destroyed by a pool cleanup): the core checks,
// defaults and merges the directive values.

// A successful verification is the core's verified mutual::ExchangeResult
// itself (ExchangeResult::keep, into pool memory), so that subrequests and internal redirects
// of the same request reuse it instead of verifying the same nc twice
// (which would be a replay), and mutual-logout ends its session. Kept in the
// pool of the top-level request of its chain (pool_new), on the request
// that verified and on that top-level request, so that sibling subrequests
// and the main request find it.

// ---- process state (lives in pconf; reset by a pconf cleanup) ------------

struct ModuleState {
    mutual::Server* server = nullptr;
    mutual::RequestGuard* guard = nullptr;  // throttle and mutual-status counters
};

ModuleState* module_state = nullptr;
server_rec* main_server = nullptr;
// Algorithms named by AuthMutualAlgorithms in the server configuration and
// the default one, collected by check_config (in pconf, made by pre_config);
// they size the session-table slots.
mutual::ServerOptions* used_algorithms = nullptr;
// The request being processed by this thread, for the core's log sink.
thread_local request_rec* current_request = nullptr;

class CurrentRequest {
public:
    explicit CurrentRequest(request_rec* r) noexcept : saved_(current_request) { current_request = r; }
    ~CurrentRequest() { current_request = saved_; }
    CurrentRequest(const CurrentRequest&) = delete;
    CurrentRequest& operator=(const CurrentRequest&) = delete;

private:
    request_rec* saved_;
};

template <typename T>
apr_status_t destroy_in_pool(void* data) noexcept {
    static_cast<T*>(data)->~T();
    return APR_SUCCESS;
}

// Constructs a T in pool memory and destroys it when the pool is cleared.
template <typename T, typename... Args>
T* pool_new(apr_pool_t* pool, Args&&... args) {
    void* memory = apr_palloc(pool, sizeof(T));
    if (memory == nullptr) throw std::bad_alloc();
    T* object = new (memory) T(std::forward<Args>(args)...);
    apr_pool_cleanup_register(pool, object, destroy_in_pool<T>, apr_pool_cleanup_null);
    return object;
}

apr_status_t forget_module_state(void*) noexcept {
    module_state = nullptr;
    mutual::set_log_sink(nullptr, nullptr);
    return APR_SUCCESS;
}

// ---- strings ----------------------------------------------------------------
// Built with assign()/append() only: std::string's converting constructors
// are member templates that g++ would emit as default-visibility weak
// symbols of the module (only auth_mutual_module may be exported).

std::string text(const char* p) {
    std::string s;
    if (p != nullptr) s.assign(p);
    return s;
}

// ---- logging ---------------------------------------------------------------

int apache_level(mutual::LogLevel level) noexcept {
    switch (level) {
        case mutual::LogLevel::error: return APLOG_ERR;
        case mutual::LogLevel::warn: return APLOG_WARNING;
        case mutual::LogLevel::notice: return APLOG_NOTICE;
        case mutual::LogLevel::info: return APLOG_INFO;
        case mutual::LogLevel::debug: return APLOG_DEBUG;
    }
    return APLOG_ERR;
}

void log_request(request_rec* r, mutual::LogLevel level, const char* tag,
                 const std::string& message) noexcept {
    ap_log_rerror(APLOG_MARK, apache_level(level), 0, r, "%s: %s", tag, message.c_str());
}

void log_server(server_rec* s, int level, apr_status_t status, const char* tag,
                const char* message) noexcept {
    ap_log_error(APLOG_MARK, level, status, s, "%s: %s", tag, message);
}

void core_log_sink(void*, mutual::LogLevel level, const char* tag, const std::string& message) {
    if (current_request != nullptr) {
        log_request(current_request, level, tag, message);
    } else if (main_server != nullptr) {
        log_server(main_server, apache_level(level), 0, tag, message.c_str());
    }
}

// ---- directive handlers ------------------------------------------------------

mutual::LocationSettings& settings_of(void* config) noexcept {
    return *static_cast<mutual::LocationSettings*>(config);
}

const mutual::LocationSettings& settings_of(const request_rec* r) noexcept {
    return *static_cast<const mutual::LocationSettings*>(ap_get_module_config(r->per_dir_config, &auth_mutual_module));
}

void* create_dir_config(apr_pool_t* pool, char*) noexcept {
    try {
        return pool_new<mutual::LocationSettings>(pool);
    } catch (...) {
        return nullptr;
    }
}

// httpd merges a section into the sections around it: the core's rule,
// field by field (a directive set in `add` wins). httpd merges for every
// request; when one side sets nothing (a <Directory> without our
// directives, the usual case) the merge is the other side as it is, so no
// object is built (configurations are never changed after their merge).
void* merge_dir_config(apr_pool_t* pool, void* base, void* add) noexcept {
    if (settings_of(base).sets_nothing()) return add;
    if (settings_of(add).sets_nothing()) return base;
    try {
        return pool_new<mutual::LocationSettings>(pool, settings_of(base), settings_of(add));
    } catch (...) {
        return nullptr;
    }
}

void* create_server_config(apr_pool_t* pool, server_rec*) noexcept {
    try {
        return pool_new<mutual::ServerOptions>(pool);
    } catch (...) {
        return nullptr;
    }
}

mutual::ServerOptions& server_options_of(const server_rec* s) noexcept {
    return *static_cast<mutual::ServerOptions*>(ap_get_module_config(s->module_config, &auth_mutual_module));
}

// A refusal from the core as a configuration error in cmd's pool.
const char* refused(cmd_parms* cmd, const std::string& problem) noexcept {
    return problem.empty() ? nullptr : apr_pstrmemdup(cmd->pool, problem.data(), problem.size());
}

// One value of a per-directory directive line (TAKE1, or ITERATE: a
// further value of the same line continues its list), checked and kept by
// the core.
const char* set_value(cmd_parms* cmd, void* conf, const char* arg) noexcept {
    try {
        const bool continued = cmd->info == cmd->directive;
        cmd->info = cmd->directive;
        return refused(cmd, settings_of(conf).set(cmd->cmd->name, arg, continued));
    } catch (...) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": out of memory", nullptr);
    }
}

// On or Off.
const char* set_flag(cmd_parms* cmd, void* conf, int on) noexcept {
    return set_value(cmd, conf, on ? "on" : "off");
}

// AuthMutualMaxFailures / ...PerClient / AuthMutualMaxPendingPerClient:
// <count> <seconds>, or "off".
const char* set_throttle_limit(cmd_parms* cmd, void* conf, const char* count, const char* seconds) noexcept {
    try {
        std::optional<std::string_view> second;
        if (seconds != nullptr) second = seconds;
        return refused(cmd, settings_of(conf).set(cmd->cmd->name, count, false, second));
    } catch (...) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": out of memory", nullptr);
    }
}

const char* set_user_file(cmd_parms* cmd, void* conf, const char* arg) noexcept {
    const char* path = ap_server_root_relative(cmd->pool, arg);
    if (path == nullptr) return apr_pstrcat(cmd->pool, "AuthMutualUserFile: invalid path ", arg, nullptr);
    return set_value(cmd, conf, path);
}

// ---- verifiers from SQL: AuthMutualProvider, AuthMutualDBDUserQuery ----
// mod_dbd's optional functions, taken when a directive needs them (as
// mod_authn_dbd does); reset by pre_config, mod_dbd may be reloaded.
APR_OPTIONAL_FN_TYPE(ap_dbd_acquire)* dbd_acquire_fn = nullptr;
APR_OPTIONAL_FN_TYPE(ap_dbd_prepare)* dbd_prepare_fn = nullptr;

bool retrieve_dbd_functions() noexcept {
    if (dbd_acquire_fn == nullptr) dbd_acquire_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    if (dbd_prepare_fn == nullptr) dbd_prepare_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    return dbd_acquire_fn != nullptr && dbd_prepare_fn != nullptr;
}

constexpr const char* no_mod_dbd =
    "needs mod_dbd: load it (LoadModule dbd_module) before this directive and configure "
    "DBDriver and DBDParams";

// ITERATE: dbm | dbd, in order; dbd needs mod_dbd.
const char* add_provider(cmd_parms* cmd, void* conf, const char* arg) noexcept {
    if (std::strcmp(arg, "dbd") == 0 && !retrieve_dbd_functions())
        return apr_psprintf(cmd->pool, "AuthMutualProvider dbd %s", no_mod_dbd);
    return set_value(cmd, conf, arg);
}

// The query is prepared by mod_dbd for this server under the label the
// core gave it (mod_authn_dbd's way); %s is the prepared user name.
const char* set_dbd_query(cmd_parms* cmd, void* conf, const char* arg) noexcept {
    if (const char* e = ap_check_cmd_context(cmd, NOT_IN_HTACCESS)) return e;
    if (!retrieve_dbd_functions()) return apr_psprintf(cmd->pool, "AuthMutualDBDUserQuery %s", no_mod_dbd);
    if (const char* e = set_value(cmd, conf, arg)) return e;
    const std::string_view label = settings_of(conf).query_label();
    dbd_prepare_fn(cmd->server, arg, apr_pstrmemdup(cmd->pool, label.data(), label.size()));
    return nullptr;
}

// A server-wide directive (outside sections only), checked and kept by the core.
const char* set_server_value(cmd_parms* cmd, void*, const char* arg) noexcept {
    if (const char* e = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return e;
    try {
        return refused(cmd, server_options_of(cmd->server).set(cmd->cmd->name, arg));
    } catch (...) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": out of memory", nullptr);
    }
}

const char* set_session_store_key(cmd_parms* cmd, void* conf, const char* arg) noexcept {
    if (const char* e = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return e;
    const char* path = ap_server_root_relative(cmd->pool, arg);
    if (path == nullptr) return apr_psprintf(cmd->pool, "AuthMutualSessionStoreKey: bad path \"%s\"", arg);
    return set_server_value(cmd, conf, path);
}

// g++ does not use httpd's designated-initializer command macros.
template <typename F>
cmd_func as_cmd_func(F f) noexcept {
    // via void(*)(): the generic function pointer type -Wcast-function-type accepts.
    return reinterpret_cast<cmd_func>(reinterpret_cast<void (*)()>(f));
}

// The per-directory directives are also allowed in the server config and in
// <VirtualHost>: there they set the server's per-directory defaults
// (lookup_defaults), which httpd merges under every section of that server,
// the main server's under every virtual host's (merge_dir_config).
constexpr int per_dir_context = RSRC_CONF | OR_AUTHCFG;

const command_rec directives[] = {
    {"AuthMutualUserFile", as_cmd_func(set_user_file), nullptr, per_dir_context, TAKE1,
     "DBM file of Mutual verifiers (written by htmutual)"},
    {"AuthMutualDBMType", as_cmd_func(set_value), nullptr, per_dir_context, TAKE1,
     "APR DBM type of AuthMutualUserFile (default: default)"},
    {"AuthMutualProvider", as_cmd_func(add_provider), nullptr, per_dir_context, ITERATE,
     "verifier providers asked in order, first hit wins: dbm | dbd (default: dbm)"},
    {"AuthMutualDBDUserQuery", as_cmd_func(set_dbd_query), nullptr, RSRC_CONF | ACCESS_CONF, TAKE1,
     "SQL query (mod_dbd) returning the user's verifier records; %s is the user name"},
    {"AuthMutualAlgorithms", as_cmd_func(set_value), nullptr, per_dir_context, ITERATE,
     "RFC 8121 algorithms offered, in order (default: iso-kam3-ec-p256-sha256)"},
    {"AuthMutualScope", as_cmd_func(set_value), nullptr, per_dir_context,
     TAKE1, "auth-scope sent in every challenge (required with AuthType Mutual)"},
    {"AuthMutualHost", as_cmd_func(set_value), nullptr, per_dir_context,
     TAKE1, "vh for validation=host as <scheme>://<host>:<port> (reverse proxies)"},
    {"AuthMutualValidation", as_cmd_func(set_value), nullptr, per_dir_context, TAKE1,
     "auto | host | tls-server-end-point (default: auto)"},
    {"AuthMutualPath", as_cmd_func(set_value), nullptr, per_dir_context, ITERATE,
     "URIs sent as the path parameter of 401-KEX-S1"},
    {"AuthMutualSessionTime", as_cmd_func(set_value), nullptr, per_dir_context,
     TAKE1, "session lifetime in seconds, sent as time (default: 300)"},
    {"AuthMutualNcMax", as_cmd_func(set_value), nullptr, per_dir_context,
     TAKE1, "largest nonce number accepted in a session (default: 10000)"},
    {"AuthMutualNcWindow", as_cmd_func(set_value), nullptr, per_dir_context,
     TAKE1, "nonce window, 128..1024 (default: 128)"},
    {"AuthMutualOptional", as_cmd_func(set_flag), nullptr, per_dir_context, FLAG,
     "On: serve unauthenticated requests with Optional-WWW-Authenticate (RFC 8053 section 3)"},
    {"AuthMutualRecheckInterval", as_cmd_func(set_value), nullptr, per_dir_context,
     TAKE1, "seconds between re-reads of a session's verifier (revocation; default: 60)"},
    {"AuthMutualLogoutTimeout", as_cmd_func(set_value), nullptr, per_dir_context,
     TAKE1, "Authentication-Control logout-timeout on 200-VFY-S, in seconds"},
    {"AuthMutualLocationWhenUnauthenticated", as_cmd_func(set_value), nullptr, per_dir_context, TAKE1,
     "Authentication-Control location-when-unauthenticated on 401-INIT"},
    {"AuthMutualLocationWhenLogout", as_cmd_func(set_value), nullptr,
     per_dir_context, TAKE1, "Authentication-Control location-when-logout on 200-VFY-S; mutual-logout redirects there"},
    {"AuthMutualAuthStyle", as_cmd_func(set_value), nullptr, per_dir_context, TAKE1,
     "Authentication-Control auth-style on 401 responses: modal | non-modal"},
    {"AuthMutualNoAuth", as_cmd_func(set_flag), nullptr, per_dir_context, FLAG,
     "On: Authentication-Control no-auth=true on 401-INIT"},
    {"AuthMutualUsername", as_cmd_func(set_value), nullptr, per_dir_context, TAKE1,
     "Authentication-Control username on 401 responses (RFC 8053 section 8.1!)"},
    {"AuthMutualSessionTableSize", as_cmd_func(set_server_value), nullptr, RSRC_CONF,
     TAKE1, "number of sessions in the shared session table (default: 4096)"},
    {"AuthMutualMaxKeyExchanges", as_cmd_func(set_server_value), nullptr, RSRC_CONF,
     TAKE1, "bound on pending key exchanges in the session table (default: half the table)"},
    {"AuthMutualSessionStore", as_cmd_func(set_server_value), nullptr, RSRC_CONF, TAKE1,
     "where sessions live: shm (this server's shared memory, the default) or "
     "redis://[[user]:password@]host[:port][/db] or redis+unix://[[user]:password@]/path[?db=N] "
     "(shared by several nodes)"},
    {"AuthMutualSessionStoreTimeout", as_cmd_func(set_server_value), nullptr, RSRC_CONF, TAKE1,
     "milliseconds for connecting to and every command of a Redis session store (default: 500)"},
    {"AuthMutualSessionStoreKey", as_cmd_func(set_session_store_key), nullptr, RSRC_CONF, TAKE1,
     "file with the key (>= 32 octets) every node uses to encrypt session records (required for redis://)"},
    {"AuthMutualMaxFailures", as_cmd_func(set_throttle_limit), nullptr, OR_AUTHCFG, TAKE12,
     "<count> <seconds>: 429 for a user name after count failed verifications in seconds (default: off)"},
    {"AuthMutualMaxFailuresPerClient", as_cmd_func(set_throttle_limit), nullptr, OR_AUTHCFG,
     TAKE12, "<count> <seconds>: 429 for a client address (IPv6 /64) after count failures in seconds (default: off)"},
    {"AuthMutualMaxPendingPerClient", as_cmd_func(set_throttle_limit), nullptr, OR_AUTHCFG,
     TAKE12, "<count> <seconds>: key exchanges per client address, a token bucket (default: off)"},
    {nullptr, cmd_func{}, nullptr, 0, NO_ARGS, nullptr},
};

// ---- startup -------------------------------------------------------------------

int pre_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*) noexcept {
    dbd_acquire_fn = nullptr;
    dbd_prepare_fn = nullptr;
    try {
        used_algorithms = pool_new<mutual::ServerOptions>(pconf);
        used_algorithms->use_default_algorithm();
    } catch (...) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    const apr_status_t rv = ap_mutex_register(pconf, mutex_type, nullptr, APR_LOCK_DEFAULT, 0);
    return rv == APR_SUCCESS ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

bool directive_is(const ap_directive_t* d, const char* name) noexcept {
    return d->directive != nullptr && strcasecmp(d->directive, name) == 0;
}

// ---- the startup check of AuthType Mutual, following httpd's merge ----------
// A section with AuthType Mutual takes AuthMutualScope and AuthName from
// itself, from its server's defaults (server config or <VirtualHost>; the
// main server's apply to every virtual host), or from another section httpd
// merges into the same requests: a <Location> whose path covers this one's,
// a <Directory> of a parent directory; and, since which <Directory> a URL
// maps to (or which <Files>, <If>) is only known per request, any section
// of another kind. Only what no merge can supply fails startup; .htaccess
// is checked per request (MUT01012, MUT01015).

enum class SectionKind { server, location, directory, other };

struct Placement {
    const ap_directive_t* node;
    const ap_directive_t* server;   // its <VirtualHost>, nullptr for the main server
    const ap_directive_t* section;  // innermost section, nullptr at server level
    SectionKind kind;
    std::string path;               // of a (non-regex) <Location> or <Directory>
};

bool is_section(const ap_directive_t* d) noexcept {
    static const char* const sections[] = {"<Location", "<LocationMatch", "<Directory", "<DirectoryMatch",
                                           "<Files", "<FilesMatch", "<If", "<ElseIf", "<Else",
                                           "<Proxy", "<ProxyMatch"};
    for (const char* name : sections)
        if (directive_is(d, name)) return true;
    return false;  // <Limit>, <LimitExcept>: their directives belong to the enclosing section
}

Placement place(const ap_directive_t* d, apr_pool_t* ptemp) {
    Placement p{d, nullptr, nullptr, SectionKind::server, {}};
    for (const ap_directive_t* up = d->parent; up != nullptr; up = up->parent) {
        if (directive_is(up, "<VirtualHost")) {
            p.server = up;
            break;
        }
        if (p.section == nullptr && is_section(up)) p.section = up;
    }
    if (p.section == nullptr) return p;
    p.kind = SectionKind::other;
    const bool location = directive_is(p.section, "<Location");
    const bool directory = directive_is(p.section, "<Directory");
    if (!location && !directory) return p;
    std::string args = text(p.section->args);
    if (!args.empty() && args.back() == '>') args.pop_back();
    const char* rest = args.c_str();
    const char* word = ap_getword_conf(ptemp, &rest);
    if (word == nullptr || *word == '\0' || std::strcmp(word, "~") == 0 ||
        std::strpbrk(word, directory ? "*?[" : "") != nullptr)
        return p;  // regex or wildcard: may apply anywhere
    p.path.assign(word);
    if (directory && p.path.back() != '/') p.path.push_back('/');
    p.kind = location ? SectionKind::location : SectionKind::directory;
    return p;
}

// <Location outer> applies to every URL of <Location inner> (httpd 2.4
// matches "/a" against "/a", "/a/..." but not "/ab").
bool location_covers(const std::string& outer, const std::string& inner) noexcept {
    if (inner.compare(0, outer.size(), outer) != 0) return false;
    return inner.size() == outer.size() || outer.back() == '/' || inner[outer.size()] == '/';
}

// Whether a directive placed at `source` is merged into requests of `target`.
bool merges_into(const Placement& source, const Placement& target) noexcept {
    if (source.server != nullptr && source.server != target.server) return false;
    if (source.section == nullptr || source.section == target.section) return true;
    if (target.kind == SectionKind::location && source.kind == SectionKind::location)
        return location_covers(source.path, target.path);
    if (target.kind == SectionKind::directory && source.kind == SectionKind::directory)
        return target.path.compare(0, source.path.size(), source.path) == 0;
    return true;  // another kind of section: decided per request
}

void collect(const ap_directive_t* node, apr_pool_t* ptemp, std::vector<Placement>& mutual_types,
             std::vector<Placement>& scopes, std::vector<Placement>& names) {
    for (const ap_directive_t* d = node; d != nullptr; d = d->next) {
        if (directive_is(d, "AuthType") && d->args != nullptr) {
            const char* args = d->args;
            const char* type = ap_getword_conf(ptemp, &args);
            if (type != nullptr && strcasecmp(type, "Mutual") == 0) mutual_types.push_back(place(d, ptemp));
        } else if (directive_is(d, "AuthMutualScope")) {
            scopes.push_back(place(d, ptemp));
        } else if (directive_is(d, "AuthName")) {
            names.push_back(place(d, ptemp));
        }
        if (d->first_child != nullptr) collect(d->first_child, ptemp, mutual_types, scopes, names);
    }
}

bool check_mutual_sections(apr_pool_t* ptemp, server_rec* s) {
    std::vector<Placement> mutual_types, scopes, names;
    collect(ap_conftree, ptemp, mutual_types, scopes, names);
    auto supplied = [](const std::vector<Placement>& sources, const Placement& target) {
        return std::any_of(sources.begin(), sources.end(),
                           [&](const Placement& source) { return merges_into(source, target); });
    };
    bool ok = true;
    for (const Placement& t : mutual_types) {
        const char* file = t.node->filename ? t.node->filename : "?";
        if (!supplied(scopes, t)) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                         "MUT01001: AuthType Mutual at %s:%d has no AuthMutualScope: set it in this "
                         "section, in its <VirtualHost> or the server config, or in a section httpd "
                         "merges into it (such as <Location /> for <Location /private>); the "
                         "auth-scope is an input of every verifier, so it is never guessed",
                         file, t.node->line_num);
            ok = false;
        }
        if (!supplied(names, t)) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                         "MUT01702: AuthType Mutual at %s:%d has no AuthName: set the realm (the "
                         "REALM given to htmutual) in this section or in one httpd merges into it",
                         file, t.node->line_num);
            ok = false;
        }
    }
    return ok;
}

// AuthMutualProvider naming dbd needs an AuthMutualDBDUserQuery that httpd
// merges into the same requests (the mod_dbd module itself is checked when
// the directives are read).
void collect_named(const ap_directive_t* node, const char* name, const char* word, apr_pool_t* ptemp,
                   std::vector<Placement>& out) {
    for (const ap_directive_t* d = node; d != nullptr; d = d->next) {
        if (directive_is(d, name)) {
            bool has = word == nullptr;
            for (const char* args = d->args ? d->args : ""; !has && *args;)
                has = std::strcmp(ap_getword_conf(ptemp, &args), word) == 0;
            if (has) out.push_back(place(d, ptemp));
        }
        if (d->first_child != nullptr) collect_named(d->first_child, name, word, ptemp, out);
    }
}

bool check_dbd_providers(apr_pool_t* ptemp, server_rec* s) {
    std::vector<Placement> providers, queries;
    collect_named(ap_conftree, "AuthMutualProvider", "dbd", ptemp, providers);
    collect_named(ap_conftree, "AuthMutualDBDUserQuery", nullptr, ptemp, queries);
    bool ok = true;
    for (const Placement& t : providers) {
        if (std::any_of(queries.begin(), queries.end(),
                        [&](const Placement& q) { return merges_into(q, t); }))
            continue;
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                     "MUT02200: AuthMutualProvider dbd at %s:%d has no AuthMutualDBDUserQuery: "
                     "set the query (SELECT ... WHERE user = %%s) in this section or in one httpd "
                     "merges into it", t.node->filename ? t.node->filename : "?", t.node->line_num);
        ok = false;
    }
    return ok;
}

// The directive `name` nearest to d: the last one in d's own section, else
// in the enclosing sections, outwards (how the per-directory merge sees it).
const ap_directive_t* nearest(const ap_directive_t* d, const char* name) noexcept {
    for (const ap_directive_t* level = d; level != nullptr; level = level->parent) {
        const ap_directive_t* first = level->parent ? level->parent->first_child : ap_conftree;
        const ap_directive_t* found = nullptr;
        for (const ap_directive_t* sibling = first; sibling != nullptr; sibling = sibling->next)
            if (directive_is(sibling, name)) found = sibling;
        if (found != nullptr) return found;
    }
    return nullptr;
}

const char* first_word(apr_pool_t* ptemp, const ap_directive_t* d) noexcept {
    const char* args = d->args ? d->args : "";
    return ap_getword_conf(ptemp, &args);
}

bool mutual_section(apr_pool_t* ptemp, const ap_directive_t* d) noexcept {
    const ap_directive_t* type = nearest(d, "AuthType");
    return type != nullptr && strcasecmp(first_word(ptemp, type), "Mutual") == 0;
}

// Startup checks of the RFC 8120 audit (docs/directives.md): each names the
// file and line.
bool check_directives(const ap_directive_t* node, apr_pool_t* ptemp, server_rec* s) noexcept {
    bool ok = true;
    for (const ap_directive_t* d = node; d != nullptr; d = d->next) {
        const char* file = d->filename ? d->filename : "?";
        if (directive_is(d, "AuthMutualSessionTime")) {
            const char* word = first_word(ptemp, d);
            char* end = nullptr;
            const unsigned long v = std::strtoul(word, &end, 10);
            if (end != word && v < 60)
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, s,
                             "MUT01406: AuthMutualSessionTime %lu at %s:%d is below 60 seconds "
                             "(RFC 8120 section 4.3 recommends at least 60)", v, file, d->line_num);
        } else if (directive_is(d, "AuthMutualPath")) {
            const ap_directive_t* scope = nearest(d, "AuthMutualScope");
            const char* args = d->args ? d->args : "";
            while (*args) {
                const char* uri = ap_getword_conf(ptemp, &args);
                if (*uri == '\0' || std::strstr(uri, "://") == nullptr || scope == nullptr) continue;
                const char* scope_value = first_word(ptemp, scope);
                if (!mutual::LocationSettings::path_in_scope(scope_value, uri)) {
                    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                                 "MUT01407: AuthMutualPath \"%s\" at %s:%d is outside the "
                                 "auth-scope \"%s\" (RFC 8120 section 4.3: every path element "
                                 "MUST be inside it)", uri, file, d->line_num, scope_value);
                    ok = false;
                }
            }
        } else if (directive_is(d, "AuthMutualValidation")) {
            const ap_directive_t* engine = nearest(d, "SSLEngine");
            if (strcasecmp(first_word(ptemp, d), "host") == 0 && engine != nullptr &&
                strcasecmp(first_word(ptemp, engine), "on") == 0 &&
                nearest(d, "AuthMutualHost") == nullptr) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                             "MUT01408: AuthMutualValidation host at %s:%d on a TLS virtual host "
                             "(RFC 8120 section 7: HTTPS with a certificate uses "
                             "tls-server-end-point); behind a TLS-terminating proxy, name its "
                             "origin with AuthMutualHost", file, d->line_num);
                ok = false;
            }
        } else if (directive_is(d, "AuthName") && mutual_section(ptemp, d)) {
            const char* realm = first_word(ptemp, d);
            if (const char* problem = mutual::LocationSettings::realm_problem(realm)) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                             "MUT01409: AuthName at %s:%d %s: a Mutual realm is sent exactly as "
                             "configured and is an input of every verifier", file, d->line_num,
                             problem);
                ok = false;
            }
        }
        if (d->first_child != nullptr && !check_directives(d->first_child, ptemp, s)) ok = false;
    }
    return ok;
}

// Every algorithm AuthMutualAlgorithms names in the server configuration
// (.htaccess files are parsed by the children, after the table exists: an
// algorithm only they name must fit the slots, else MUT01111).
void collect_algorithms(const ap_directive_t* node, apr_pool_t* ptemp) {
    for (const ap_directive_t* d = node; d != nullptr; d = d->next) {
        if (directive_is(d, "AuthMutualAlgorithms")) {
            const char* args = d->args ? d->args : "";
            while (*args) {
                const char* name = ap_getword_conf(ptemp, &args);
                used_algorithms->use_algorithm(name);
            }
        }
        if (d->first_child != nullptr) collect_algorithms(d->first_child, ptemp);
    }
}

// A non-shm session store needs the shared key (also at apache2 -t).
bool check_session_store(server_rec* s) noexcept {
    const mutual::ServerOptions& options = server_options_of(s);
    if (options.store_url.empty() || !options.store_key_file.empty()) return true;
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                 "MUT02100: AuthMutualSessionStore %s needs AuthMutualSessionStoreKey <file>: the key "
                 "(at least 32 octets, the same file on every node) that encrypts the session records "
                 "in Redis; make one with \"openssl rand -out FILE 32\"",
                 "redis://...");
    return false;
}

int check_config(apr_pool_t*, apr_pool_t*, apr_pool_t* ptemp, server_rec* s) noexcept {
    try {
        collect_algorithms(ap_conftree, ptemp);
        const bool sections = check_mutual_sections(ptemp, s);
        const bool directives = check_directives(ap_conftree, ptemp, s);
        const bool providers = check_dbd_providers(ptemp, s);
        const bool store = check_session_store(s);
        return sections && directives && providers && store ? OK : HTTP_INTERNAL_SERVER_ERROR;
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                     "MUT01703: out of memory while checking the AuthType Mutual sections");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

int fail_startup(server_rec* s, apr_status_t status, const char* tag, const char* message) noexcept {
    log_server(s, APLOG_EMERG, status, tag, message);
    return HTTP_INTERNAL_SERVER_ERROR;
}

// ---- the session table across restarts ------------------------------------
// The shared memory (its stripe mutexes and hash key inside it) lives in
// the process pool through ap_retained_data, so a graceful restart with an unchanged
// table geometry keeps every session: a key exchange answered by the old
// generation is verified by the new one. There is one retained table: a
// changed geometry (table size, algorithms) discards the old table for good
// (a session that was gone, or answered 401-STALE, never comes back when the
// geometry changes back) and the parent destroys its segment at once; the
// memory itself is released by the kernel when the last child of an older
// generation, which still has it mapped, exits; its mutexes go with it.
// Nothing registered in the process
// pool points into this module's code, which is unloaded at every restart.
struct RetainedTable {
    apr_shm_t* shm;
    void* memory;       // Server::format_shared: [hash key][stripe mutexes][table]
    apr_size_t size;
    mutual::ServerPlan plan;
};

// Anonymous shared memory, or a named segment in the runtime directory where
// the platform has no anonymous one.
apr_status_t create_shared_memory(apr_shm_t** shm, apr_size_t bytes, const char* name, apr_pool_t* pool) {
    apr_status_t rv = apr_shm_create(shm, bytes, nullptr, pool);
    if (rv == APR_ENOTIMPL) {
        const char* file = ap_runtime_dir_relative(
            pool, apr_psprintf(pool, "auth_mutual_shm.%" APR_PID_T_FMT ".%s", getpid(), name));
        apr_shm_remove(file, pool);
        rv = apr_shm_create(shm, bytes, file, pool);
    }
    return rv;
}

// The record `name` kept across restarts in the process pool (zeroed when
// it is new).
template <typename T>
T* retained_record(const char* name) noexcept {
    auto* retained = static_cast<T*>(ap_retained_data_get(name));
    if (retained == nullptr) {
        retained = static_cast<T*>(ap_retained_data_create(name, sizeof(T)));
        std::memset(static_cast<void*>(retained), 0, sizeof(T));
    }
    return retained;
}

// `discard`: never keep the previous table (it was made by another version
// of the module, whose table format differs).
RetainedTable* retained_table(const mutual::ServerOptions& options, server_rec* s,
                              bool discard = false) {
    const mutual::ServerPlan plan = mutual::Server::plan(options);
    const char* name = "mod_auth_mutual.table";
    auto* retained = retained_record<RetainedTable>(name);
    if (!discard && retained->shm != nullptr && plan.same_table(retained->plan)) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "MUT01022: keeping the session table of the previous generation");
        return retained;
    }
    apr_pool_t* pool = s->process->pool;
    if (retained->shm != nullptr) {
        apr_shm_t* old = retained->shm;
        retained->shm = nullptr;  // incomplete until the new table is ready
        retained->memory = nullptr;
        const apr_status_t rv = apr_shm_destroy(old);
        ap_log_error(APLOG_MARK, APLOG_INFO, rv, s,
                     "MUT01404: the session table geometry changed: the previous table and its "
                     "sessions are discarded (its memory is freed when its last child exits)");
    }
    const apr_size_t bytes = plan.shared_bytes;
    apr_shm_t* shm = nullptr;
    const apr_status_t rv = create_shared_memory(&shm, bytes, name, pool);
    if (rv != APR_SUCCESS) {
        log_server(s, APLOG_CRIT, rv, "MUT01004",
                   apr_psprintf(pool, "cannot create the session table in shared memory (%" APR_SIZE_T_FMT
                                " bytes)", bytes));
        return nullptr;
    }
    void* memory = apr_shm_baseaddr_get(shm);
    const char* tag = nullptr;
    const char* problem = nullptr;
    if (!mutual::Server::format_shared(memory, bytes, options, tag, problem)) {
        log_server(s, APLOG_CRIT, 0, tag, problem);
        return nullptr;
    }
    retained->memory = memory;
    retained->size = bytes;
    retained->plan = plan;
    retained->shm = shm;  // last: marks the record complete
    return retained;
}

// ---- throttle counters and metrics across restarts --------------------------
// One small segment, created once for the life of the parent and kept in
// the process pool through ap_retained_data (its geometry never changes), so
// lock-outs, buckets and the monotonic counters of mutual-status survive
// every graceful restart; its layout (the hash key of the throttle table
// inside it) is the core's (RequestGuard).
struct RetainedThrottle {
    apr_shm_t* shm;
    void* memory;
    apr_size_t size;
};

RetainedThrottle* retained_throttle(server_rec* s) {
    const char* name = "mod_auth_mutual.throttle";
    auto* retained = retained_record<RetainedThrottle>(name);
    const apr_size_t bytes = mutual::RequestGuard::bytes_needed();
    if (retained->shm != nullptr && retained->size == bytes) return retained;
    apr_pool_t* pool = s->process->pool;
    if (retained->shm != nullptr) {
        // A graceful restart into a module version whose layout differs.
        apr_shm_t* old = retained->shm;
        retained->shm = nullptr;  // incomplete until the new counters are ready
        const apr_status_t rv = apr_shm_destroy(old);
        ap_log_error(APLOG_MARK, APLOG_INFO, rv, s,
                     "MUT03100: the kept throttle counters have another layout (module upgraded): "
                     "starting new ones");
    }
    apr_shm_t* shm = nullptr;
    const apr_status_t rv = create_shared_memory(&shm, bytes, name, pool);
    if (rv != APR_SUCCESS) {
        log_server(s, APLOG_CRIT, rv, "MUT01810", "cannot create the throttle counters in shared memory");
        return nullptr;
    }
    void* memory = apr_shm_baseaddr_get(shm);
    const char* tag = nullptr;
    const char* problem = nullptr;
    if (!mutual::RequestGuard::format(memory, bytes, tag, problem)) {
        log_server(s, APLOG_CRIT, 0, tag, problem);
        return nullptr;
    }
    retained->memory = memory;
    retained->size = bytes;
    retained->shm = shm;  // last: marks the record complete
    return retained;
}

// Says how much shared memory the session table takes, before creating it
// (a large table takes a while to format), and warns when that is more than
// an eighth of the machine's memory.
void announce_table_size(server_rec* s, const mutual::ServerPlan& plan) noexcept {
    const auto& layout = plan.layout;
    constexpr double mib = 1024.0 * 1024.0;
    const double bytes = static_cast<double>(layout.total_bytes);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "MUT01700: session table: %" APR_UINT64_T_FMT " slots of %u bytes, %.1f MiB of "
                 "shared memory (AuthMutualSessionTableSize)",
                 static_cast<apr_uint64_t>(layout.slots), layout.slot_stride, bytes / mib);
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return;
    const double memory = static_cast<double>(pages) * static_cast<double>(page_size);
    if (bytes > memory / 8)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "MUT01701: the session table takes %.1f MiB, more than an eighth of this "
                     "machine's %.0f MiB of memory; lower AuthMutualSessionTableSize "
                     "(docs/deploying.md, \"Sizing the session table\")",
                     bytes / mib, memory / mib);
}

// What every store needs: the throttle
// counters and metrics. 0, or the startup failure (logged).
int attach_process_state(apr_pool_t* pconf, server_rec* s, ModuleState& state) {
    RetainedThrottle* throttle = retained_throttle(s);
    if (throttle == nullptr) return HTTP_INTERNAL_SERVER_ERROR;  // logged
    // The pages show the gauges of the server's store.
    state.guard = pool_new<mutual::RequestGuard>(pconf, throttle->memory, throttle->size, &state.server->store());
    if (!state.guard->valid())
        return fail_startup(s, 0, "MUT01813", "cannot attach to the throttle counters");
    return 0;
}

// AuthMutualSessionStore redis://…: sessions in Redis, shared by every node
// with the same AuthMutualSessionStoreKey (read here, by the parent, so the
// file may be readable by root only). No shared-memory table. Connections
// are made per child process on first use (child_init drops any the parent
// made); an unreachable Redis does not stop httpd from starting: requests
// needing it get 503 until it answers.
int start_with_redis(apr_pool_t* pconf, server_rec* s, const mutual::ServerOptions& options) {
    auto* state = pool_new<ModuleState>(pconf);
    state->server = pool_new<mutual::Server>(pconf, options);
    if (!state->server->valid())
        return fail_startup(s, 0, state->server->startup_tag(), state->server->startup_problem().c_str());
    if (const int failed = attach_process_state(pconf, s, *state)) return failed;
    // A first contact, so that a wrong address or password shows at
    // startup (MUT02010); children make their own connections.
    const bool reachable = state->server->first_contact();
    module_state = state;
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "MUT02105: sessions in Redis %s%s", state->server->store_summary().c_str(),
                 reachable ? "" : "; not reachable yet");
    return OK;
}

void child_init(apr_pool_t*, server_rec*) noexcept {
    if (module_state != nullptr && module_state->server != nullptr) module_state->server->child_init();
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
    // The first run of post_config is a dry run of the configuration.
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
    try {
        main_server = s;
        mutual::set_log_sink(core_log_sink, nullptr);
        apr_pool_cleanup_register(pconf, nullptr, forget_module_state, apr_pool_cleanup_null);

        const mutual::ServerOptions& configured = server_options_of(s);
        if (!configured.store_url.empty()) return start_with_redis(pconf, s, configured);
        mutual::ServerOptions options = configured;
        options.algorithms = used_algorithms->algorithms;
        options.stripes = max_stripes;
        if (options.max_key_exchanges > options.table_slots) {
            log_server(s, APLOG_WARNING, 0, "MUT01002",
                       "AuthMutualMaxKeyExchanges is larger than AuthMutualSessionTableSize; "
                       "using the table size");
            options.max_key_exchanges = options.table_slots;
        }
        const mutual::ServerPlan plan = mutual::Server::plan(options);
        if (!plan.usable())
            return fail_startup(s, 0, "MUT01003", "session table geometry is unusable");
        announce_table_size(s, plan);
        const auto& layout = plan.layout;

        auto* state = pool_new<ModuleState>(pconf);
        RetainedTable* retained = retained_table(options, s);
        if (retained == nullptr) return HTTP_INTERNAL_SERVER_ERROR;  // logged by retained_table
        state->server = pool_new<mutual::Server>(pconf, retained->memory, retained->size, options);
        if (!state->server->table_valid()) {
            // A graceful restart into a new module version whose table
            // format changed (the kept table's header does not match).
            log_server(s, APLOG_INFO, 0, "MUT01607",
                       "the kept session table has another format (module upgraded): "
                       "starting a new one");
            retained = retained_table(options, s, true);
            if (retained == nullptr) return HTTP_INTERNAL_SERVER_ERROR;  // logged by retained_table
            state->server = pool_new<mutual::Server>(pconf, retained->memory, retained->size, options);
        }
        if (!state->server->valid())
            return fail_startup(s, 0, "MUT01005",
                                "cannot attach to the session table or draw the fake-session verifiers");
        if (const int failed = attach_process_state(pconf, s, *state)) return failed;
        module_state = state;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "MUT01009: session table ready: %" APR_UINT64_T_FMT " slots of %u bytes in %u stripes, "
                     "at most %u pending key exchanges per stripe, %" APR_UINT64_T_FMT " bytes of shared memory",
                     static_cast<apr_uint64_t>(layout.slots), layout.slot_stride, layout.stripes,
                     layout.max_kex_per_stripe, static_cast<apr_uint64_t>(layout.total_bytes));
        return OK;
    } catch (const std::exception& e) {
        return fail_startup(s, 0, "MUT01010", apr_pstrcat(pconf, "startup failed: ", e.what(), nullptr));
    } catch (...) {
        return fail_startup(s, 0, "MUT01502", "startup failed: unknown exception");
    }
}

// ---- per request ------------------------------------------------------------------

const mutual::ExchangeResult* verification_of(const request_rec* r) noexcept {
    return static_cast<const mutual::ExchangeResult*>(ap_get_module_config(r->request_config, &auth_mutual_module));
}

// The first request of r's chain: internal redirects (prev) and
// subrequests (main) followed to the request the client sent.
request_rec* top_request(request_rec* r) noexcept {
    while (r->prev != nullptr || r->main != nullptr) r = r->prev ? r->prev : r->main;
    return r;
}

// The verification done by an earlier request of the same chain (internal
// redirect: r->prev, subrequest: r->main), or by a sibling subrequest (kept
// on the top-level request).
const mutual::ExchangeResult* earlier_verification(const request_rec* r) noexcept {
    for (const request_rec* q = r; q != nullptr; q = q->prev ? q->prev : q->main)
        if (const mutual::ExchangeResult* v = verification_of(q)) return v;
    return nullptr;
}

bool is_tls(request_rec* r) noexcept { return ap_ssl_conn_is_ssl(r->connection) != 0; }

// The policies check_authn builds on this connection (conn_config, in the
// connection's pool, created on first use): its last policy and its
// tls-server-end-point binding.
mutual::ConnectionPolicy& connection_policy(conn_rec* c) {
    auto* policies = static_cast<mutual::ConnectionPolicy*>(ap_get_module_config(c->conn_config, &auth_mutual_module));
    if (policies == nullptr) {
        policies = pool_new<mutual::ConnectionPolicy>(c->pool);
        ap_set_module_config(c->conn_config, &auth_mutual_module, policies);
    }
    return *policies;
}

// The server certificate of r's connection (PEM), for tls-server-end-point.
std::string server_certificate(void* context) {
    auto* r = static_cast<request_rec*>(context);
    return text(ap_ssl_var_lookup(r->pool, r->server, r->connection, r, "SSL_SERVER_CERT"));
}

// The request names this virtual host: its ServerName, one of its
// ServerAlias names (wildcards as httpd matches them) or the literal address
// the connection came in on. Case-insensitive.
bool names_this_server(const request_rec* r, const char* host) noexcept {
    const server_rec* s = r->server;
    if (host == nullptr || *host == '\0') return false;
    if (s->server_hostname != nullptr && strcasecmp(host, s->server_hostname) == 0) return true;
    if (s->names != nullptr) {
        const auto* names = reinterpret_cast<const char* const*>(s->names->elts);
        for (int i = 0; i < s->names->nelts; ++i)
            if (names[i] != nullptr && strcasecmp(host, names[i]) == 0) return true;
    }
    if (s->wild_names != nullptr) {
        const auto* names = reinterpret_cast<const char* const*>(s->wild_names->elts);
        for (int i = 0; i < s->wild_names->nelts; ++i)
            if (names[i] != nullptr && ap_strcasecmp_match(host, names[i]) == 0) return true;
    }
    const char* ip = r->connection->local_ip;
    if (ip == nullptr) return false;
    if (strcasecmp(host, ip) == 0) return true;
    // IPv6: the request names "[addr]".
    const std::size_t n = std::strlen(host);
    return n > 2 && host[0] == '[' && host[n - 1] == ']' && std::strlen(ip) == n - 2 &&
           strncasecmp(host + 1, ip, n - 2) == 0;
}

bool proxy_request(const request_rec* r) noexcept { return r->proxyreq == PROXYREQ_PROXY; }

// What the core needs of r to build its location's policy (RFC 8120 §7):
// the connection's scheme, this virtual host's name (the one the request
// uses when it is ours, else ServerName) and the connection's local port —
// never the Host header's port, never a host that is not ours.
mutual::ConnectionFacts facts_of(request_rec* r, const char* realm) noexcept {
    mutual::ConnectionFacts facts;
    facts.realm = realm != nullptr ? realm : "";
    facts.uri = r->uri != nullptr ? r->uri : "?";
    facts.tls = is_tls(r);
    facts.proxy = proxy_request(r);
    const char* host = r->hostname;
    if (!names_this_server(r, host)) host = r->server->server_hostname;
    facts.host = host != nullptr ? host : "";
    const apr_sockaddr_t* local = r->connection->local_addr;
    facts.port = local != nullptr ? local->port : ap_get_server_port(r);
    facts.server_certificate = server_certificate;
    facts.context = r;
    return facts;
}

// Authentication-Control for the 200-VFY-S of the request the client sent
// when one of its subrequests verified (none outside a Mutual location).
std::string success_control(request_rec* top) {
    const char* realm = ap_auth_name(top);
    if (realm == nullptr) return std::string();
    return mutual::ConnectionPolicy::success_control(settings_of(top), facts_of(top, realm));
}

// ---- the verifier sources of a request (AuthMutualProvider) ----------------

// AuthMutualDBDUserQuery through mod_dbd's pool and prepared statement
// (the core's DatabaseQuery): every row's first column into `rows` (the
// core decodes them as one DBM record); false with `error` when the
// database cannot be asked.
bool dbd_query(request_rec* r, const mutual::LocationSettings& settings, std::string_view user,
               std::vector<std::string>& rows, std::string& error) {
    // The label is NUL-terminated (location_settings.h).
    const char* label = settings.query_label().data();
    const std::string_view query_text = settings.query_text();
    ap_dbd_t* dbd = dbd_acquire_fn != nullptr ? dbd_acquire_fn(r) : nullptr;
    if (dbd == nullptr) {
        error.assign("cannot get a database connection from mod_dbd (database down? see "
                     "mod_dbd's lines above, DBDriver, DBDParams)");
        return false;
    }
    auto* statement = static_cast<apr_dbd_prepared_t*>(
        label != nullptr ? apr_hash_get(dbd->prepared, label, APR_HASH_KEY_STRING) : nullptr);
    if (statement == nullptr) {
        error.assign("mod_dbd has no prepared AuthMutualDBDUserQuery for this server (is the "
                     "query valid SQL for the DBDriver? see mod_dbd's startup lines)");
        return false;
    }
    std::string name;
    name.assign(user.data(), user.size());   // NUL-terminated for the driver
    apr_dbd_results_t* results = nullptr;
    // Random access (seek 1), unlike mod_authn_dbd: the whole result at
    // once, so a failed query is an error here. Sequentially, the pgsql
    // driver reports a dropped connection as "no rows" (an unknown
    // user: the next provider would answer) and sleeps 0.1 s on every
    // empty result.
    int rc = apr_dbd_pvselect(dbd->driver, r->pool, dbd->handle, &results, statement, 1,
                              name.c_str(), static_cast<const char*>(nullptr));
    if (rc != 0) {
        error.assign("AuthMutualDBDUserQuery failed: ")
            .append(text(apr_dbd_error(dbd->driver, dbd->handle, rc)));
        // A pooled connection the pgsql driver re-opened behind mod_dbd's
        // back (PQreset once the database is back) has lost its prepared
        // statements for as long as it stays in the pool (PostgreSQL
        // names the missing statement): prepare it again and retry, once.
        std::string missing;
        missing.assign("\"").append(text(label)).append("\"");
        apr_dbd_prepared_t* again = nullptr;
        if (std::strcmp(apr_dbd_name(dbd->driver), "pgsql") != 0 ||
            error.find(missing) == std::string::npos ||
            apr_dbd_prepare(dbd->driver, dbd->pool, dbd->handle,
                            apr_pstrmemdup(r->pool, query_text.data(), query_text.size()), label, &again) != 0 ||
            again == nullptr)
            return false;
        apr_hash_set(dbd->prepared, label, APR_HASH_KEY_STRING, again);
        results = nullptr;
        rc = apr_dbd_pvselect(dbd->driver, r->pool, dbd->handle, &results, again, 1, name.c_str(),
                              static_cast<const char*>(nullptr));
        if (rc != 0) return false;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "MUT02201: AuthMutualDBDUserQuery prepared "
                      "again on a database connection the driver re-opened");
        error.clear();
    }
    bool failed = false;
    apr_dbd_row_t* row = nullptr;
    // Every row is read, even after a failure: the driver cleans up
    // its results at the end (mod_authn_dbd's rule).
    for (int rv = apr_dbd_get_row(dbd->driver, r->pool, results, &row, -1); rv != -1;
         rv = apr_dbd_get_row(dbd->driver, r->pool, results, &row, -1)) {
        if (rv != 0) {
            failed = true;
            continue;
        }
        rows.push_back(text(apr_dbd_get_entry(dbd->driver, row, 0)));
    }
    if (failed) {
        error.assign("AuthMutualDBDUserQuery: reading the result rows failed");
        return false;
    }
    return true;
}

// ---- RFC 8120 §14 proxy authentication (issue #12) -------------------------

// A forward-proxy request (mod_proxy, ProxyRequests On, AuthType Mutual in
// <Proxy>) is authenticated with 407 and the Proxy-* headers; the vh is the
// proxy's own origin (own_origin: the target's host is never ours), the
// path parameter is disregarded and RFC 8053 does not apply.
struct AuthHeaders {
    const char* authorization;
    const char* challenge;
    const char* info;
    int status;
};
constexpr AuthHeaders origin_headers{"Authorization", "WWW-Authenticate", "Authentication-Info",
                                     HTTP_UNAUTHORIZED};
constexpr AuthHeaders proxy_headers{"Proxy-Authorization", "Proxy-Authenticate",
                                    "Proxy-Authentication-Info", HTTP_PROXY_AUTHENTICATION_REQUIRED};

const AuthHeaders& auth_headers(const request_rec* r) noexcept {
    return proxy_request(r) ? proxy_headers : origin_headers;
}
bool is_challenge_status(int status) noexcept {
    return status == HTTP_UNAUTHORIZED || status == HTTP_PROXY_AUTHENTICATION_REQUIRED;
}

// check_authn's policy for r: the connection's last one when neither the
// location's settings nor the request's facts changed, else a new one
// (kept). nullptr (with tag/problem) when it cannot be built.
const mutual::LocationPolicy* request_policy(request_rec* r, const mutual::LocationSettings& settings,
                                             const char* realm, const char*& tag, std::string& problem) {
    return connection_policy(r->connection).policy(settings, facts_of(r, realm), tag, problem);
}

// mod_proxy_connect writes its "HTTP/1.0 200 Connection Established" head
// straight into the connection's filters, without the request's headers: a
// verified CONNECT gets its Proxy-Authentication-Info from this connection
// filter, inserted after that status line (only a 200: an error response
// is built by httpd and carries err_headers_out). It removes itself after
// the first brigade.
constexpr const char* connect_info_filter_name = "MUTUAL_CONNECT_INFO";

apr_status_t connect_info_filter(ap_filter_t* f, apr_bucket_brigade* bb) noexcept {
    const char* line = static_cast<const char*>(f->ctx);
    ap_remove_output_filter(f);
    apr_bucket* b = APR_BRIGADE_FIRST(bb);
    const char* data = nullptr;
    apr_size_t length = 0;
    if (line != nullptr && b != APR_BRIGADE_SENTINEL(bb) && !APR_BUCKET_IS_METADATA(b) &&
        apr_bucket_read(b, &data, &length, APR_BLOCK_READ) == APR_SUCCESS) {
        const std::string_view head(data, length);
        const std::size_t end = head.find("\r\n");
        if (head.rfind("HTTP/1.", 0) == 0 && head.size() > 12 && head.substr(9, 4) == "200 " &&
            end != std::string_view::npos) {
            if (end + 2 < length) apr_bucket_split(b, end + 2);
            apr_bucket* info = apr_bucket_pool_create(line, std::strlen(line), f->c->pool, f->c->bucket_alloc);
            APR_BUCKET_INSERT_AFTER(b, info);
        }
    }
    return ap_pass_brigade(f->next, bb);
}

void add_connect_info(request_rec* r, const char* authentication_info) {
    if (!proxy_request(r) || r->method_number != M_CONNECT) return;
    const char* line = apr_pstrcat(r->connection->pool, proxy_headers.info, ": ", authentication_info,
                                   "\r\n", nullptr);
    ap_add_output_filter(connect_info_filter_name, const_cast<char*>(line), nullptr, r->connection);
}

// ---- RFC 8053 (issue #12) ----------------------------------------------------

// Authentication-Control (RFC 8053 §4) on r's response: the value the core
// computed for it; removed when empty (the location has nothing to say on
// this kind of response).
void set_control(request_rec* r, const std::string& value) {
    apr_table_unset(r->err_headers_out, "Authentication-Control");
    if (!value.empty()) apr_table_set(r->err_headers_out, "Authentication-Control", value.c_str());
}

constexpr const char* anonymous_note = "auth-mutual-anonymous";
constexpr const char* optional_note = "auth-mutual-optional";

// AuthMutualOptional: a request without Mutual credentials passes with an
// empty r->user (so that Require valid-user grants it); clear_anonymous
// removes it before any handler, so the application sees neither
// REMOTE_USER nor AUTH_TYPE, and the response gets Optional-WWW-Authenticate
// with the challenges of a 401-INIT (RFC 8053 §3).
int serve_anonymously(request_rec* r, const mutual::LocationPolicy& policy) {
    const std::string challenges = mutual::ConnectionPolicy::optional_www_authenticate(policy);
    apr_table_setn(r->notes, anonymous_note, "1");
    apr_table_set(r->notes, optional_note, challenges.c_str());
    r->user = apr_pstrdup(r->pool, "");
    log_request(r, mutual::LogLevel::debug, "MUT01602",
                "no Mutual credentials: " + text(r->uri ? r->uri : "?") +
                    " served without authentication (AuthMutualOptional)");
    return OK;
}

bool anonymous(const request_rec* r) noexcept {
    return apr_table_get(r->notes, anonymous_note) != nullptr;
}

// First of the fixups: the anonymous request has no user for the handler.
int clear_anonymous(request_rec* r) noexcept {
    if (anonymous(r)) {
        r->user = nullptr;
        r->ap_auth_type = nullptr;
    }
    return DECLINED;
}

int send_challenges(request_rec* r, const mutual::ExchangeResult& result);

// Lower-case hex of `size` octets in pool memory.
const char* pool_hex(apr_pool_t* pool, const unsigned char* data, apr_size_t size) {
    char* out = static_cast<char*>(apr_palloc(pool, 2 * size + 1));
    ap_bin2hex(data, size, out);
    return out;
}

// RFC 8120 §13 application channel binding: the inner hashes of b_1 and b_2
// (hex, lower case) and what an application needs to finish them,
// b = H(inner | VS(t)) with the algorithm's hash. Documented in
// docs/channel-binding.md; never logged.
void export_binding(request_rec* r, const mutual::ExchangeResult& v) {
    apr_table_t* env = r->subprocess_env;
    apr_table_setn(env, "MUTUAL_B1_INNER", pool_hex(r->pool, v.b1_inner.view().data(), v.b1_inner.size()));
    apr_table_setn(env, "MUTUAL_B2_INNER", pool_hex(r->pool, v.b2_inner.view().data(), v.b2_inner.size()));
    // The algorithm's name() (a NUL-terminated string of the registry,
    // which lives as long as the module).
    apr_table_setn(env, "MUTUAL_ALGORITHM", v.algorithm.data());
    // nc <= nc-max <= 2^62: an apr_off_t (64-bit signed) holds it.
    static_assert(sizeof(apr_off_t) >= 8, "apr_off_t holds a nonce number");
    apr_table_setn(env, "MUTUAL_NC", apr_off_t_toa(r->pool, static_cast<apr_off_t>(v.nc)));
}

// r is authenticated by the kept verification v (its own or an earlier one
// of its chain).
void authenticate(request_rec* r, const mutual::ExchangeResult& v) {
    r->user = apr_pstrmemdup(r->pool, v.user.data(), v.user.size());
    r->ap_auth_type = const_cast<char*>("Mutual");
    ap_set_module_config(r->request_config, &auth_mutual_module, const_cast<mutual::ExchangeResult*>(&v));
    export_binding(r, v);
}

// 503 with Retry-After: the session store did not answer.
int unavailable(request_rec* r, const mutual::ExchangeResult& result) {
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%u", static_cast<unsigned>(result.retry_after)));
    return HTTP_SERVICE_UNAVAILABLE;
}

// SetHandler mutual-logout: a verified request ends its session for good.
int logout_handler(request_rec* r) noexcept {
    if (r->handler == nullptr || std::strcmp(r->handler, "mutual-logout") != 0) return DECLINED;
    CurrentRequest scope(r);
    try {
        const mutual::LocationSettings& settings = settings_of(r);
        const char* type = ap_auth_type(r);
        const char* realm = ap_auth_name(r);
        if (type == nullptr || strcasecmp(type, "Mutual") != 0 || realm == nullptr) {
            log_request(r, mutual::LogLevel::error, "MUT01603",
                        "SetHandler mutual-logout for " + text(r->uri ? r->uri : "?") +
                            " outside an AuthType Mutual location: nothing to log out of");
            return HTTP_NOT_FOUND;
        }
        const mutual::ExchangeResult* v = earlier_verification(r);
        if (v == nullptr || v->sid.empty() || module_state == nullptr || module_state->server == nullptr) {
            // Only an anonymous request (AuthMutualOptional) gets here.
            log_request(r, mutual::LogLevel::info, "MUT01604",
                        "logout without an authenticated session: 401-INIT for " + text(r->uri ? r->uri : "?"));
            const mutual::ExchangeResult refusal =
                mutual::ConnectionPolicy::refusal(settings, facts_of(r, realm), "initial");
            if (refusal.www_authenticate.empty()) return auth_headers(r).status;
            return send_challenges(r, refusal);
        }
        const mutual::ExchangeResult logout = module_state->server->logout(*v);
        log_request(r, logout.log_level, logout.log_tag, logout.log_message);
        if (logout.unavailable()) return unavailable(r, logout);
        set_control(r, mutual::ConnectionPolicy::logout_control(settings, facts_of(r, realm)));
        const std::string_view location = settings.location_when_logout();
        if (!location.empty()) {
            apr_table_setn(r->headers_out, "Location", apr_pstrmemdup(r->pool, location.data(), location.size()));
            return HTTP_SEE_OTHER;
        }
        ap_set_content_type(r, "text/plain; charset=utf-8");
        if (!r->header_only) ap_rputs("logged out\n", r);
        return OK;
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "MUT01606: internal error in mutual-logout");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

// 401 with the given challenges, in one WWW-Authenticate field (RFC 8120
// §4.1: one and only one such header; several algorithms are several
// challenges of its value).
int send_challenges(request_rec* r, const mutual::ExchangeResult& result) {
    set_control(r, result.authentication_control);
    const AuthHeaders& h = auth_headers(r);
    apr_table_unset(r->err_headers_out, h.challenge);
    apr_table_unset(r->err_headers_out, h.info);
    std::string value;
    for (const std::string& c : result.www_authenticate) {
        if (!value.empty()) value.append(", ");
        value.append(c);
    }
    if (!value.empty()) apr_table_set(r->err_headers_out, h.challenge, value.c_str());
    return h.status;
}

// 401-INIT internal-error (or 500 when not even that can be built).
int internal_error(request_rec* r, const char* realm, const char* tag, const std::string& problem) {
    log_request(r, mutual::LogLevel::error, tag, problem);
    const mutual::ExchangeResult refusal =
        mutual::ConnectionPolicy::refusal(settings_of(r), facts_of(r, realm), "internal-error");
    if (refusal.www_authenticate.empty()) return HTTP_INTERNAL_SERVER_ERROR;
    return send_challenges(r, refusal);
}

// One info line when the request's Host names another host or port than the
// origin the server binds the exchange to (a relayed or misdirected
// request, or a proxy in front without AuthMutualHost).
void log_foreign_host(request_rec* r, const mutual::LocationPolicy& policy) {
    const char* host = apr_table_get(r->headers_in, "Host");
    if (host == nullptr) return;
    const std::string foreign = connection_policy(r->connection).foreign_host(policy, host, is_tls(r));
    if (!foreign.empty()) log_request(r, mutual::LogLevel::info, "MUT01401", foreign);
}

// ---- throttle and metrics per request (throttle.h, metrics.h) ---------------

std::string client_address(request_rec* r) {
    return text(r->useragent_ip ? r->useragent_ip : r->connection->client_ip);
}

// Before the KAM3 work of a req-KEX-C1: 0 to go on, or 429 with
// Retry-After. Known and unknown names take the same path (no lookup here).
int throttle_key_exchange(request_rec* r, const mutual::LocationSettings& settings,
                          const mutual::LocationPolicy& policy, std::string_view user, apr_time_t now) {
    if (module_state->guard == nullptr) return 0;
    const std::uint32_t retry_after = module_state->guard->admit_key_exchange(
        settings.throttle(), policy.partition, user, client_address(r), apr_time_as_msec(now),
        APLOG_R_IS_LEVEL(r, APLOG_INFO) ? mutual::LogLevel::info : mutual::LogLevel::notice);
    if (retry_after == 0) return 0;
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, static_cast<apr_int64_t>(retry_after)));
    return HTTP_TOO_MANY_REQUESTS;
}

// What the decision did, for the counters of mutual-status and the
// failure throttle.
void count_outcome(request_rec* r, const mutual::LocationSettings& settings, const mutual::LocationPolicy& policy,
                   const mutual::ExchangeResult& result, apr_time_t now) {
    if (module_state->guard == nullptr) return;
    module_state->guard->count(settings.throttle(), policy.partition, result, client_address(r),
                               apr_time_as_msec(now));
}

int check_authn(request_rec* r) noexcept {
    const char* type = ap_auth_type(r);
    if (type == nullptr || strcasecmp(type, "Mutual") != 0) return DECLINED;
    CurrentRequest scope(r);
    try {
        const mutual::LocationSettings& settings = settings_of(r);
        const char* realm = ap_auth_name(r);
        if (realm == nullptr) {
            log_request(r, mutual::LogLevel::error, "MUT01015",
                        text("AuthType Mutual needs AuthName: ") + (r->uri ? r->uri : "?"));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        const char* tag = nullptr;
        std::string problem;
        const mutual::LocationPolicy* built = request_policy(r, settings, realm, tag, problem);
        if (built == nullptr) return internal_error(r, realm, tag, problem);
        const mutual::LocationPolicy& policy = *built;
        if (module_state == nullptr || module_state->server == nullptr)
            return internal_error(r, realm, "MUT01016", "session table not initialised");

        const AuthHeaders& headers = auth_headers(r);
        const char* authorization = apr_table_get(r->headers_in, headers.authorization);

        // The error document of a 401 (ErrorDocument 401 into a Mutual
        // location): the response is already a 401 with its challenges. No
        // second exchange (a second sid, RFC 8120 §11 runs one per request),
        // no Authentication-Info on a 401 (§4.5), and no protected page as
        // the body of a refusal: httpd answers with its own 401 text.
        if (r->prev != nullptr && is_challenge_status(r->status)) {
            log_request(r, mutual::LogLevel::info, "MUT01402",
                        "ErrorDocument " + text(r->uri ? r->uri : "?") +
                            " for a 401 is in a Mutual location: not served (no second exchange)");
            return headers.status;
        }

        if (settings.optional() && !proxy_request(r) && (authorization == nullptr || !mutual::ParsedAuthorization::is_mutual(authorization)))
            return serve_anonymously(r, policy);

        if (authorization != nullptr && !settings.has_host() && r->main == nullptr && r->prev == nullptr &&
            !proxy_request(r))
            log_foreign_host(r, policy);

        // One clock reading for the whole decision (session lifetime,
        // throttle and counters).
        const apr_time_t clock = apr_time_now();
        const std::int64_t now = apr_time_sec(clock);
        const mutual::LogLevel level =
            APLOG_R_IS_LEVEL(r, APLOG_DEBUG) ? mutual::LogLevel::debug : mutual::LogLevel::info;
        // A subrequest or internal redirect of an already verified request:
        // the same Authorization must not be verified twice (same nc).
        if (const mutual::ExchangeResult* v = authorization ? earlier_verification(r) : nullptr)
            if (const auto reused = v->reuse(policy, authorization, r->uri ? r->uri : "?", now, level)) {
                log_request(r, reused->log_level, reused->log_tag, reused->log_message);
                if (!reused->verified()) return send_challenges(r, *reused);
                authenticate(r, *v);
                if (r->main == nullptr)
                    apr_table_setn(r->err_headers_out, headers.info, v->authentication_info.c_str());
                return OK;
            }

        // AuthMutualDBDUserQuery, run when the core's sources ask it.
        const auto query = [r, &settings](std::string_view user, std::vector<std::string>& rows, std::string& error) {
            return dbd_query(r, settings, user, rows, error);
        };
        std::optional<mutual::ParsedAuthorization> parsed;
        if (authorization != nullptr) {
            parsed.emplace(authorization);
            // A key exchange belongs to the request the client sent: a
            // subrequest (mod_rewrite LA-U, mod_include) that sees a
            // req-KEX-C1 would create a session nobody receives.
            if (r->main != nullptr && parsed->is_key_exchange()) {
                log_request(r, mutual::LogLevel::debug, "MUT01403",
                            "req-KEX-C1 in a subrequest for " + text(r->uri ? r->uri : "?") +
                                ": left to the main request");
                return headers.status;
            }
            if (parsed->is_key_exchange())
                if (const int refused = throttle_key_exchange(r, settings, policy, parsed->user(), clock))
                    return refused;
        }
        mutual::ExchangeResult result = module_state->server->handle(
            policy, settings, query, r->server, parsed ? &*parsed : nullptr, now, level);
        log_request(r, result.log_level, result.log_tag, result.log_message);
        count_outcome(r, settings, policy, result, clock);

        // The session store (Redis) did not answer: 503 with Retry-After,
        // never a 401 the client would answer with a new key exchange, and
        // never an acceptance without the store's atomic check.
        if (result.unavailable()) return unavailable(r, result);
        if (!result.verified()) return send_challenges(r, result);

        // In the top-level request's pool: a subrequest's pool is gone when
        // its siblings and the main request look for the verification.
        request_rec* top = top_request(r);
        const std::string_view verified = authorization != nullptr ? authorization : "";
        result.keep(policy, verified, apr_palloc(top->pool, mutual::ExchangeResult::keep_bytes(policy, verified)));
        const mutual::ExchangeResult* v = pool_new<mutual::ExchangeResult>(top->pool, std::move(result));
        authenticate(r, *v);
        if (top != r && verification_of(top) == nullptr)
            ap_set_module_config(top->request_config, &auth_mutual_module, const_cast<mutual::ExchangeResult*>(v));

        // err_headers_out: kept on error documents and proxied responses.
        // A subrequest's answer goes on the response of the request the
        // client sent (its err_headers_out is shared with its redirects).
        apr_table_setn(top->err_headers_out, headers.info, v->authentication_info.c_str());
        add_connect_info(r, v->authentication_info.c_str());
        // Authentication-Control of the request the client sent.
        set_control(top, top == r ? v->authentication_control : success_control(top));
        return OK;
    } catch (const std::exception& e) {
        try {
            const char* realm = ap_auth_name(r);
            if (realm != nullptr)
                return internal_error(r, realm, "MUT01018", text("internal error: ") + e.what());
        } catch (...) {
        }
    } catch (...) {
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "MUT01019: internal error while authenticating %s",
                  r->uri ? r->uri : "?");
    return HTTP_INTERNAL_SERVER_ERROR;
}

// ---- mutual-status and mod_status ------------------------------------------

// SetHandler mutual-status: Prometheus text format 0.0.4.
int status_handler(request_rec* r) noexcept {
    if (r->handler == nullptr || std::strcmp(r->handler, "mutual-status") != 0) return DECLINED;
    try {
        r->allowed = AP_METHOD_BIT << M_GET;
        if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
        if (module_state == nullptr || module_state->guard == nullptr) return HTTP_SERVICE_UNAVAILABLE;
        const std::string body = module_state->guard->prometheus(apr_time_as_msec(apr_time_now()));
        ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
        if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
        return OK;
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "MUT01805: cannot build the mutual-status page");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

// mod_status: the same figures on /server-status (a table) and ?auto.
int status_hook(request_rec* r, int flags) noexcept {
    try {
        if (module_state == nullptr || module_state->guard == nullptr) return OK;
        const std::int64_t now_ms = apr_time_as_msec(apr_time_now());
        if (flags & AP_STATUS_SHORT) {
            const std::string lines = module_state->guard->status_auto(now_ms);
            ap_rwrite(lines.data(), static_cast<int>(lines.size()), r);
            return OK;
        }
        ap_rputs("<hr /><h2>mod_auth_mutual</h2>\n<table border=\"0\">\n", r);
        for (const auto& row : module_state->guard->status_rows(now_ms))
            ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
                       ap_escape_html(r->pool, row.first.c_str()), static_cast<apr_uint64_t>(row.second));
        ap_rputs("</table>\n", r);
        return OK;
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "MUT01806: cannot add to the mod_status page");
        return OK;
    }
}

// Authorization denied an authenticated user (Require user/group/...):
// 401-INIT with reason authz-failed, without Authentication-Info (a 401 is
// not a 200-VFY-S, RFC 8120 §4.5).
int note_auth_failure(request_rec* r, const char* auth_type) noexcept {
    if (auth_type == nullptr || strcasecmp(auth_type, "Mutual") != 0) return DECLINED;
    CurrentRequest scope(r);
    try {
        const char* realm = ap_auth_name(r);
        if (realm == nullptr) return DECLINED;
        const char* reason = r->user && !anonymous(r) ? "authz-failed" : "initial";
        const mutual::ExchangeResult refusal = mutual::ConnectionPolicy::refusal(settings_of(r), facts_of(r, realm), reason);
        if (refusal.www_authenticate.empty()) return DECLINED;
        // mod_authz_user and mod_authz_core may both call this: log once.
        if (apr_table_get(r->notes, "auth-mutual-authz-noted") == nullptr) {
            apr_table_setn(r->notes, "auth-mutual-authz-noted", "1");
            log_request(r, mutual::LogLevel::info, "MUT01020",
                        text("401-INIT reason=") + reason + " for user \"" +
                            (r->user ? r->user : "") + "\" on " + (r->uri ? r->uri : "?"));
        }
        send_challenges(r, refusal);
        return OK;
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "MUT01021: internal error while noting an authorization failure");
        return DECLINED;
    }
}

// Internal redirects (ErrorDocument, mod_rewrite) share or copy
// err_headers_out; make sure the final main request carries the header.
int fixups(request_rec* r) noexcept {
    if (r->main != nullptr) return DECLINED;
    // Optional-WWW-Authenticate on the response to an anonymous request
    // (its internal redirects too), never on a 401 (RFC 8053 §3).
    for (const request_rec* q = r; q != nullptr; q = q->prev)
        if (const char* optional = apr_table_get(q->notes, optional_note)) {
            if (!is_challenge_status(r->status))
                apr_table_setn(r->headers_out, "Optional-WWW-Authenticate", optional);
            break;
        }
    // A 401 (its error document) never carries Authentication-Info (§4.5).
    if (is_challenge_status(r->status)) return DECLINED;
    const char* info = auth_headers(r).info;
    const mutual::ExchangeResult* v = earlier_verification(r);
    if (v != nullptr && apr_table_get(r->err_headers_out, info) == nullptr)
        apr_table_setn(r->err_headers_out, info, v->authentication_info.c_str());
    return DECLINED;
}

void register_hooks(apr_pool_t*) noexcept {
    ap_hook_pre_config(pre_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_check_config(check_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_check_authn(check_authn, nullptr, nullptr, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(note_auth_failure, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_fixups(fixups, nullptr, nullptr, APR_HOOK_LAST);
    ap_hook_fixups(clear_anonymous, nullptr, nullptr, APR_HOOK_REALLY_FIRST);
    ap_hook_handler(logout_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_register_output_filter(connect_info_filter_name, connect_info_filter, nullptr, AP_FTYPE_CONNECTION);
    ap_hook_handler(status_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace

extern "C" {
// STANDARD20_MODULE_STUFF with the conventional name "mod_auth_mutual.c"
// instead of __FILE__ (".c++"), so <IfModule mod_auth_mutual.c> works.
module AP_MODULE_DECLARE_DATA auth_mutual_module __attribute__((visibility("default"))) = {
    MODULE_MAGIC_NUMBER_MAJOR,
    MODULE_MAGIC_NUMBER_MINOR,
    -1,
    "mod_auth_mutual.c",
    nullptr,
    nullptr,
    MODULE_MAGIC_COOKIE,
    nullptr,
    create_dir_config,
    merge_dir_config,
    create_server_config,
    nullptr,
    directives,
    register_hooks,
    AP_MODULE_FLAG_NONE,
};
}

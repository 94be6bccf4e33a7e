#include "server/location_settings.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "algorithm.h"
#include "ascii.h"
#include "auth_scope.h"
#include "protocol_defaults.h"
#include "server/directive_number.h"
#include "server/nonce_window.h"
#include "string_prep.h"
#include "verifier_file.h"

namespace mutual {

namespace {

constexpr std::uint64_t max_seconds = 86400u * 366;
constexpr std::uint64_t max_nc_max = std::uint64_t(1) << 62;
constexpr std::uint32_t default_recheck_interval = 60;
constexpr const char* dbm_types[] = {"default", "db", "gdbm", "ndbm", "sdbm"};

// `<directive> "<value>": <problem>`, the refusal of a checked string.
std::string refusal(std::string_view directive, std::string_view value, std::string_view problem) {
    std::string out(directive);
    out.append(" \"").append(value).append("\": ").append(problem);
    return out;
}

std::string concat(std::string_view first, std::string_view rest) {
    std::string out(first);
    out.append(rest);
    return out;
}

// Whether this APR-util has the DBM type (ndbm is often missing): asked
// when the directive is read, so configtest and startup report it, not
// every request.
bool dbm_type_available(const char* type) noexcept {
    try {
        std::string first, second;
        return static_cast<bool>(dbm_file_names("probe", type, first, second));
    } catch (...) {
        return false;
    }
}

// Authentication-Control's string parameters: any UTF-8 without control
// characters (sent quoted, or as an ext-value when not ASCII), not empty.
std::string check_control_value(std::string_view value) {
    std::string problem = check_control_string(value);
    if (problem.empty() && value.empty()) problem = "empty value";
    return problem;
}

// apr_dbd's parameters are %-conversions (%s, %d, %pDt, ...), %% a literal %:
// the query takes exactly one, %s (the user name).
std::string check_dbd_query(std::string_view query) {
    unsigned placeholders = 0, strings = 0;
    for (std::size_t p = query.find('%'); p != std::string_view::npos; p = query.find('%', p + 1)) {
        if (p + 1 < query.size() && query[p + 1] == '%') {
            ++p;
            continue;
        }
        ++placeholders;
        if (p + 1 < query.size() && query[p + 1] == 's') ++strings;
    }
    if (placeholders == 1 && strings == 1) return std::string();
    return refusal("AuthMutualDBDUserQuery", query,
                   "needs exactly one %s (the user name) and no other parameter, found " +
                       std::to_string(placeholders));
}

// A new LocationSettings::contents_ number.
std::uint64_t new_contents() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

LocationSettings::LocationSettings()
    : contents_(new_contents()),
      dbm_type_("default"),
      nc_max_(default_nc_max),
      session_time_(default_session_time),
      nc_window_(default_nc_window),
      recheck_interval_(default_recheck_interval) {}

LocationSettings::~LocationSettings() = default;

LocationSettings::LocationSettings(const LocationSettings& base, const LocationSettings& add)
    : LocationSettings(base, add, 0) {}

LocationSettings::LocationSettings(const LocationSettings& other) : LocationSettings(other, other, 0) {
    contents_ = other.contents_;
    keep_all();
}

// Field by field: add's value when add sets it, else base's.
LocationSettings::LocationSettings(const LocationSettings& base, const LocationSettings& add, int)
    : contents_(new_contents()) {
    const auto pick = [&](Field f) -> const LocationSettings& { return add.is_set(f) ? add : base; };
    user_file_ = pick(Field::user_file).user_file_;
    dbm_type_ = pick(Field::dbm_type).dbm_type_;
    const LocationSettings& providers = pick(Field::providers);
    providers_ = providers.providers_;
    provider_count_ = providers.provider_count_;
    query_text_ = pick(Field::dbd_query).query_text_;
    query_label_ = pick(Field::dbd_query).query_label_;
    const LocationSettings& algorithms = pick(Field::algorithms);
    algorithms_ = algorithms.algorithms_;
    algorithm_count_ = algorithms.algorithm_count_;
    auth_scope_ = pick(Field::auth_scope).auth_scope_;
    host_ = pick(Field::host).host_;
    path_ = pick(Field::path).path_;
    nc_max_ = pick(Field::nc_max).nc_max_;
    session_time_ = pick(Field::session_time).session_time_;
    nc_window_ = pick(Field::nc_window).nc_window_;
    validation_ = pick(Field::validation).validation_;
    optional_ = pick(Field::optional).optional_;
    recheck_interval_ = pick(Field::recheck_interval).recheck_interval_;
    logout_timeout_ = pick(Field::logout_timeout).logout_timeout_;
    location_unauthenticated_ = pick(Field::location_unauthenticated).location_unauthenticated_;
    location_logout_ = pick(Field::location_logout).location_logout_;
    modal_ = pick(Field::modal).modal_;
    no_auth_ = pick(Field::no_auth).no_auth_;
    username_ = pick(Field::username).username_;
    max_failures_ = pick(Field::max_failures).max_failures_;
    max_failures_per_client_ = pick(Field::max_failures_per_client).max_failures_per_client_;
    max_pending_per_client_ = pick(Field::max_pending_per_client).max_pending_per_client_;
    set_ = base.set_ | add.set_;
}

std::string_view LocationSettings::keep(std::string_view text) {
    if (text.data() == nullptr) return text;
    storage_.emplace_front(text);
    return storage_.front();
}

void LocationSettings::keep_all() {
    for (std::string_view* view : {&user_file_, &dbm_type_, &query_text_, &query_label_, &auth_scope_, &host_,
                                   &path_, &location_unauthenticated_, &location_logout_, &username_})
        *view = keep(*view);
}

bool LocationSettings::same(const LocationSettings& o) const noexcept {
    if (contents_ == o.contents_) return true;
    const auto same_limit = [](const ThrottleLimit& a, const ThrottleLimit& b) {
        return a.count == b.count && a.seconds == b.seconds;
    };
    return set_ == o.set_ && user_file_ == o.user_file_ && dbm_type_ == o.dbm_type_ &&
           query_text_ == o.query_text_ && query_label_ == o.query_label_ && auth_scope_ == o.auth_scope_ &&
           host_ == o.host_ && path_ == o.path_ && location_unauthenticated_ == o.location_unauthenticated_ &&
           location_logout_ == o.location_logout_ && username_ == o.username_ &&
           algorithm_count_ == o.algorithm_count_ &&
           std::equal(algorithms_.begin(), algorithms_.begin() + algorithm_count_, o.algorithms_.begin()) &&
           provider_count_ == o.provider_count_ &&
           std::equal(providers_.begin(), providers_.begin() + provider_count_, o.providers_.begin()) &&
           nc_max_ == o.nc_max_ && logout_timeout_ == o.logout_timeout_ && session_time_ == o.session_time_ &&
           nc_window_ == o.nc_window_ && recheck_interval_ == o.recheck_interval_ &&
           validation_ == o.validation_ && optional_ == o.optional_ && modal_ == o.modal_ &&
           no_auth_ == o.no_auth_ && same_limit(max_failures_, o.max_failures_) &&
           same_limit(max_failures_per_client_, o.max_failures_per_client_) &&
           same_limit(max_pending_per_client_, o.max_pending_per_client_);
}

// ---- set --------------------------------------------------------------------------

std::string LocationSettings::set(std::string_view directive, std::string_view value, bool continued,
                                  std::optional<std::string_view> second) {
    contents_ = new_contents();   // whatever it changes
    struct Number {
        const char* directive;
        Field field;
        std::uint64_t low, high;
    };
    static constexpr Number numbers[] = {
        {"AuthMutualSessionTime", Field::session_time, 1, max_seconds},
        {"AuthMutualNcMax", Field::nc_max, 1, max_nc_max},
        {"AuthMutualNcWindow", Field::nc_window, min_nc_window, max_nc_window},
        {"AuthMutualRecheckInterval", Field::recheck_interval, 0, max_seconds},
        {"AuthMutualLogoutTimeout", Field::logout_timeout, 0, max_nc_max},
    };
    for (const Number& n : numbers) {
        if (directive != n.directive) continue;
        std::uint64_t number = 0;
        std::string problem = parse_directive_number(directive, value, n.low, n.high, number);
        if (!problem.empty()) return problem;
        switch (n.field) {
            case Field::session_time: session_time_ = static_cast<std::uint32_t>(number); break;
            case Field::nc_max: nc_max_ = number; break;
            case Field::nc_window: nc_window_ = static_cast<std::uint32_t>(number); break;
            case Field::recheck_interval: recheck_interval_ = static_cast<std::uint32_t>(number); break;
            default: logout_timeout_ = number; break;
        }
        mark(n.field);
        return std::string();
    }
    if (directive == "AuthMutualOptional" || directive == "AuthMutualNoAuth") {
        const bool on = equal_ignoring_ascii_case(value, "on");
        if (!on && !equal_ignoring_ascii_case(value, "off")) return concat(directive, " must be On or Off");
        const bool optional = directive == "AuthMutualOptional";
        (optional ? optional_ : no_auth_) = on;
        mark(optional ? Field::optional : Field::no_auth);
        return std::string();
    }
    if (directive == "AuthMutualMaxFailures" || directive == "AuthMutualMaxFailuresPerClient" ||
        directive == "AuthMutualMaxPendingPerClient")
        return set_limit(directive, value, second);
    if (directive == "AuthMutualScope") return set_string(Field::auth_scope, directive, value);
    if (directive == "AuthMutualHost") return set_string(Field::host, directive, value);
    if (directive == "AuthMutualLocationWhenUnauthenticated")
        return set_string(Field::location_unauthenticated, directive, value);
    if (directive == "AuthMutualLocationWhenLogout") return set_string(Field::location_logout, directive, value);
    if (directive == "AuthMutualUsername") return set_string(Field::username, directive, value);
    if (directive == "AuthMutualUserFile") return set_string(Field::user_file, directive, value);
    if (directive == "AuthMutualDBDUserQuery") return set_string(Field::dbd_query, directive, value);
    if (directive == "AuthMutualAlgorithms") return set_list(Field::algorithms, directive, value, continued);
    if (directive == "AuthMutualProvider") return set_list(Field::providers, directive, value, continued);
    if (directive == "AuthMutualPath") return set_list(Field::path, directive, value, continued);
    if (directive == "AuthMutualDBMType") {
        for (const char* type : dbm_types) {
            if (value != type) continue;
            if (!dbm_type_available(type)) {
                std::string available;
                for (const char* other : dbm_types)
                    if (dbm_type_available(other)) available.append(available.empty() ? "" : ", ").append(other);
                return "AuthMutualDBMType: " + std::string(type) + " is not available in this APR-util "
                       "(available: " + available + "); htmutual -T must name the same type";
            }
            dbm_type_ = type;
            mark(Field::dbm_type);
            return std::string();
        }
        return concat("AuthMutualDBMType: unknown DBM type \"", value) + "\" (default, db, gdbm, ndbm, sdbm)";
    }
    if (directive == "AuthMutualValidation") {
        if (equal_ignoring_ascii_case(value, "auto")) validation_ = Validation::automatic;
        else if (equal_ignoring_ascii_case(value, "host")) validation_ = Validation::host;
        else if (equal_ignoring_ascii_case(value, "tls-server-end-point")) validation_ = Validation::tls_server_end_point;
        else if (equal_ignoring_ascii_case(value, "tls-unique"))
            return "AuthMutualValidation: tls-unique is not supported (httpd does not expose the "
                   "TLS Finished messages, and TLS 1.3 has no tls-unique; see docs/directives.md)";
        else
            return concat("AuthMutualValidation: \"", value) + "\" is not one of auto, host, tls-server-end-point";
        mark(Field::validation);
        return std::string();
    }
    if (directive == "AuthMutualAuthStyle") {
        if (value == "modal") modal_ = true;
        else if (value == "non-modal") modal_ = false;
        else return concat("AuthMutualAuthStyle: \"", value) + "\" is not modal or non-modal";
        mark(Field::modal);
        return std::string();
    }
    return concat(directive, ": not a directive of the per-directory settings");
}

// A string kept as it is once the core has checked it.
std::string LocationSettings::set_string(Field field, std::string_view directive, std::string_view value) {
    std::string problem;
    std::string prepared;
    switch (field) {
        case Field::auth_scope: problem = check_auth_scope(value); break;
        case Field::host: problem = check_explicit_vh(value); break;
        case Field::location_unauthenticated:
        case Field::location_logout: problem = check_control_value(value); break;
        // The user name as the client prepares it (RFC 8120 §9), so that a
        // client can use it as it is (RFC 8053 §4.7).
        case Field::username: problem = check_configured_username(value, prepared); break;
        case Field::dbd_query: {
            std::string refused = check_dbd_query(value);
            if (!refused.empty()) return refused;
            break;
        }
        default: break;
    }
    if (!problem.empty()) return refusal(directive, value, problem);
    switch (field) {
        case Field::auth_scope: auth_scope_ = keep(value); break;
        case Field::host: host_ = keep(value); break;
        case Field::location_unauthenticated: location_unauthenticated_ = keep(value); break;
        case Field::location_logout: location_logout_ = keep(value); break;
        case Field::username: username_ = keep(prepared); break;
        case Field::user_file: user_file_ = keep(value); break;
        default: {
            // The query is prepared by mod_dbd under a label of ours
            // (mod_authn_dbd's way), one per directive line read.
            static unsigned label_number = 0;
            query_text_ = keep(value);
            query_label_ = keep("auth_mutual_" + std::to_string(++label_number));
            break;
        }
    }
    mark(field);
    return std::string();
}

// ITERATE directives: the first value of a line replaces an inherited list.
std::string LocationSettings::set_list(Field field, std::string_view directive, std::string_view value,
                                       bool continued) {
    const bool fresh = !continued || !is_set(field);
    if (field == Field::path) {
        if (value.empty()) return "AuthMutualPath: empty URI";
        for (const char ch : value) {
            const auto c = static_cast<unsigned char>(ch);
            if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\')
                return concat("AuthMutualPath: \"", value) +
                       "\" contains a space, quote, backslash or control character";
        }
        path_ = keep(fresh ? std::string(value) : std::string(path_).append(" ").append(value));
        mark(field);
        return std::string();
    }
    if (field == Field::providers) {
        Provider provider;
        if (value == "dbm") provider = Provider::dbm;
        else if (value == "dbd") provider = Provider::dbd;
        else return concat("AuthMutualProvider: unknown provider \"", value) + "\" (dbm, dbd)";
        if (fresh) provider_count_ = 0;
        mark(field);
        if (std::find(providers_.begin(), providers_.begin() + provider_count_, provider) !=
            providers_.begin() + provider_count_)
            return concat("AuthMutualProvider: \"", value) + "\" listed twice";
        providers_[provider_count_++] = provider;
        return std::string();
    }
    std::string problem;
    const Algorithm* a = find_algorithm(value, problem);
    if (a == nullptr) return "AuthMutualAlgorithms: " + problem;
    if (fresh) algorithm_count_ = 0;
    mark(field);
    if (std::find(algorithms_.begin(), algorithms_.begin() + algorithm_count_, a) !=
        algorithms_.begin() + algorithm_count_)
        return concat("AuthMutualAlgorithms: \"", value) + "\" listed twice";
    if (algorithm_count_ == max_algorithms) return concat(directive, ": too many algorithms");
    algorithms_[algorithm_count_++] = a;
    return std::string();
}

// <count> <seconds>, or "off".
std::string LocationSettings::set_limit(std::string_view directive, std::string_view count,
                                        std::optional<std::string_view> seconds) {
    ThrottleLimit limit;
    if (!equal_ignoring_ascii_case(count, "off") || seconds) {
        if (!seconds) return concat(directive, ": <count> <seconds> or off");
        std::uint64_t c = 0, t = 0;
        std::string problem = parse_directive_number(directive, count, 1, 1000000, c);
        if (problem.empty()) problem = parse_directive_number(directive, *seconds, 1, 86400u * 7, t);
        if (!problem.empty()) return problem;
        limit.count = static_cast<std::uint32_t>(c);
        limit.seconds = static_cast<std::uint32_t>(t);
    }
    if (directive == "AuthMutualMaxFailures") {
        max_failures_ = limit;
        mark(Field::max_failures);
    } else if (directive == "AuthMutualMaxFailuresPerClient") {
        max_failures_per_client_ = limit;
        mark(Field::max_failures_per_client);
    } else {
        max_pending_per_client_ = limit;
        mark(Field::max_pending_per_client);
    }
    return std::string();
}

// ---- what the values mean ----------------------------------------------------------

std::size_t LocationSettings::algorithm_count() const noexcept {
    return algorithm_count_ > 0 ? algorithm_count_ : 1;
}

const Algorithm* LocationSettings::algorithm(std::size_t i) const noexcept {
    return algorithm_count_ > 0 ? algorithms_[i] : find_algorithm(default_algorithm_name);
}

std::optional<std::string> LocationSettings::path() const {
    if (!is_set(Field::path)) return std::nullopt;
    return std::string(path_);
}

std::string LocationSettings::partition() const {
    if (provider_count_ == 0 || (provider_count_ == 1 && providers_[0] == Provider::dbm))
        return std::string(user_file_);
    std::string partition;
    for (std::size_t i = 0; i < provider_count_; ++i) {
        if (i > 0) partition.append("\n");
        if (providers_[i] == Provider::dbm) partition.append("dbm:").append(user_file_);
        else partition.append("dbd:").append(query_text_);
    }
    return partition;
}

ThrottlePolicy LocationSettings::throttle() const noexcept {
    ThrottlePolicy p;
    p.user_failures = max_failures_;
    p.client_failures = max_failures_per_client_;
    p.client_pending = max_pending_per_client_;
    return p;
}

AuthenticationControl LocationSettings::control() const {
    AuthenticationControl c;
    if (is_set(Field::logout_timeout)) c.logout_timeout = logout_timeout_;
    if (is_set(Field::location_unauthenticated)) c.location_when_unauthenticated = std::string(location_unauthenticated_);
    if (is_set(Field::location_logout)) c.location_when_logout = std::string(location_logout_);
    if (is_set(Field::modal)) c.modal = modal_;
    c.no_auth = no_auth_;
    if (is_set(Field::username)) c.username = std::string(username_);
    return c;
}

// A realm sent as it is configured: the realm is an input of pi (RFC 8121
// §3), so it must reach the client unchanged. httpd's core escapes quotes in
// AuthName (for Basic); control characters and bytes that are not UTF-8
// cannot be sent in a quoted-string or an ext-value faithfully.
const char* LocationSettings::realm_problem(std::string_view realm) noexcept {
    if (const char* problem = control_string_problem(realm)) return problem;
    if (realm.find_first_of("\"\\") != std::string_view::npos) return "contains a quote or a backslash";
    return nullptr;
}

bool LocationSettings::path_in_scope(std::string_view auth_scope, std::string_view uri) {
    return auth_scope_covers(auth_scope, uri);
}

}  // namespace mutual

// The per-directory settings of the module (AuthMutualScope,
// AuthMutualAlgorithms, AuthMutualNcMax, ... — every directive allowed in a
// <Location>, <Directory> or .htaccess), checked, defaulted and merged by
// the core: the glue hands each directive line's values to set() and keeps
// one LocationSettings per configuration section; httpd's merge of nested
// sections is the merging constructor. Defaults from protocol_defaults.h.
// No httpd types.
#ifndef MUTUAL_LOCATION_SETTINGS_H
#define MUTUAL_LOCATION_SETTINGS_H

#include <array>
#include <cstdint>
#include <forward_list>
#include <optional>
#include <string>
#include <string_view>

#include "authentication_control.h"
#include "server/throttle.h"

namespace mutual {

class Algorithm;

class LocationSettings {
public:
    enum class Validation : unsigned char { automatic, host, tls_server_end_point };
    enum class Provider : unsigned char { dbm, dbd };

    // Nothing set: every directive at its default.
    LocationSettings();
    // The settings of a section merged into `base` (httpd's merge of
    // per-directory configurations): what `add` sets wins, the rest is
    // base's. Refers to the values of both, which must outlive it (as
    // httpd's merged configurations outlive neither of their inputs).
    LocationSettings(const LocationSettings& base, const LocationSettings& add);
    // A copy owning its values (it outlives the original).
    LocationSettings(const LocationSettings& other);
    LocationSettings& operator=(const LocationSettings&) = delete;
    ~LocationSettings();

    // One value of a directive line, by the directive's name: `continued`
    // when it is a further value of the same line (AuthMutualAlgorithms,
    // AuthMutualProvider and AuthMutualPath take several; a new line
    // replaces the list). Flags take "on" or "off"; the throttle limits
    // (TAKE12) their second value in `second`; AuthMutualUserFile takes the
    // path already resolved against ServerRoot. Empty when accepted, else
    // the refusal, a whole configuration error naming the directive.
    std::string set(std::string_view directive, std::string_view value, bool continued = false,
                    std::optional<std::string_view> second = std::nullopt);

    // Whether every value is the same (by content). An object and its
    // copies answer at once (the per-connection policy asks on every
    // request); other pairs are compared field by field.
    bool same(const LocationSettings& other) const noexcept;
    // Whether the section sets nothing (every directive at its default): a
    // merge with it is the other side unchanged, so httpd's per-request
    // merge can return that side instead of building a copy.
    bool sets_nothing() const noexcept { return set_ == 0; }

    // ---- what the values mean ------------------------------------------------
    // (Text values are views of NUL-terminated strings, valid as long as
    // the settings.)
    // The offered algorithms, in order (the default one when not set).
    std::size_t algorithm_count() const noexcept;
    const Algorithm* algorithm(std::size_t i) const noexcept;
    std::string_view auth_scope() const noexcept { return auth_scope_; }
    bool has_auth_scope() const noexcept { return is_set(Field::auth_scope); }
    std::string_view host() const noexcept { return host_; }   // AuthMutualHost ("" unset)
    bool has_host() const noexcept { return is_set(Field::host); }
    std::optional<std::string> path() const;                  // AuthMutualPath, space-separated
    Validation validation() const noexcept { return validation_; }
    std::uint64_t nc_max() const noexcept { return nc_max_; }
    std::uint32_t nc_window() const noexcept { return nc_window_; }
    std::uint32_t session_time() const noexcept { return session_time_; }
    std::uint32_t recheck_interval() const noexcept { return recheck_interval_; }
    bool optional() const noexcept { return optional_; }
    // AuthMutualLocationWhenLogout (mutual-logout redirects there); empty: none.
    std::string_view location_when_logout() const noexcept { return location_logout_; }
    // The verifier sources: AuthMutualUserFile (empty: none),
    // AuthMutualDBMType, AuthMutualProvider's list (empty: the DBM file
    // alone), AuthMutualDBDUserQuery and the label mod_dbd prepared it under.
    std::string_view user_file() const noexcept { return user_file_; }
    std::string_view dbm_type() const noexcept { return dbm_type_; }
    std::size_t provider_count() const noexcept { return provider_count_; }
    Provider provider(std::size_t i) const noexcept { return providers_[i]; }
    std::string_view query_text() const noexcept { return query_text_; }
    std::string_view query_label() const noexcept { return query_label_; }
    // What keeps sessions and throttle counters of different verifier
    // sources apart: the user file alone (without AuthMutualProvider), else
    // the list.
    std::string partition() const;
    // AuthMutualMaxFailures, ...PerClient, AuthMutualMaxPendingPerClient.
    ThrottlePolicy throttle() const noexcept;
    // RFC 8053 Authentication-Control parameters (AuthMutualLogoutTimeout,
    // AuthMutualLocationWhen*, AuthMutualAuthStyle, AuthMutualNoAuth,
    // AuthMutualUsername).
    AuthenticationControl control() const;

    // AuthName as a Mutual realm: nullptr when it can be sent exactly as
    // configured, else the problem (a static string).
    static const char* realm_problem(std::string_view realm) noexcept;
    // Whether an absolute AuthMutualPath URI lies inside an auth-scope
    // (RFC 8120 §4.3), for the startup check of the configuration tree.
    static bool path_in_scope(std::string_view auth_scope, std::string_view uri);

private:
    enum class Field : unsigned {
        user_file, dbm_type, providers, dbd_query, algorithms, auth_scope, host, path, nc_max,
        session_time, nc_window, validation, optional, recheck_interval, logout_timeout,
        location_unauthenticated, location_logout, modal, no_auth, username, max_failures,
        max_failures_per_client, max_pending_per_client, count
    };
    static constexpr std::size_t max_algorithms = 8;
    static constexpr std::size_t max_providers = 2;   // each at most once

    LocationSettings(const LocationSettings& base, const LocationSettings& add, int);   // the merge
    bool is_set(Field f) const noexcept { return (set_ >> static_cast<unsigned>(f)) & 1u; }
    void mark(Field f) noexcept { set_ |= 1u << static_cast<unsigned>(f); }
    // Keeps a copy of text in this object: a view of it stays valid.
    std::string_view keep(std::string_view text);
    void keep_all();   // every view into storage of this object
    std::string set_string(Field field, std::string_view directive, std::string_view value);
    std::string set_list(Field field, std::string_view directive, std::string_view value, bool continued);
    std::string set_limit(std::string_view directive, std::string_view count,
                          std::optional<std::string_view> seconds);

    // Which contents this is: a process-wide number drawn for every object
    // built and every set(), kept by a copy, so equal numbers mean equal
    // contents (an address can be reused by another request's merge).
    std::uint64_t contents_;
    std::forward_list<std::string> storage_;   // the values this object keeps (views point here)
    std::uint32_t set_ = 0;                    // bit per Field: set in this section
    std::string_view user_file_, dbm_type_, query_text_, query_label_, auth_scope_, host_, path_;
    std::string_view location_unauthenticated_, location_logout_, username_;
    std::array<const Algorithm*, max_algorithms> algorithms_{};
    std::array<Provider, max_providers> providers_{};
    unsigned char algorithm_count_ = 0, provider_count_ = 0;
    std::uint64_t nc_max_, logout_timeout_ = 0;
    std::uint32_t session_time_, nc_window_, recheck_interval_;
    Validation validation_ = Validation::automatic;
    bool optional_ = false, modal_ = false, no_auth_ = false;
    ThrottleLimit max_failures_, max_failures_per_client_, max_pending_per_client_;
};

}  // namespace mutual

#endif

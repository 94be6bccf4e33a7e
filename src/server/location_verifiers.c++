// A location's verifier sources from its directives (location_verifiers.h).
#include "server/location_verifiers.h"

#include <cstdio>
#include <optional>

#include "server/location_settings.h"
#include "server/server.h"

namespace mutual {

namespace {

// Never called: stands in for a location without AuthMutualDBDUserQuery
// (its source is then never in the chain, or answers "unconfigured").
class NoQuery final : public RecordQuery {
public:
    LookupStatus fetch(std::string_view, std::string&, std::string& error) const override {
        error = "no AuthMutualDBDUserQuery";
        return LookupStatus::open_failed;
    }
};
const NoQuery no_query;

std::string query_where(const char* text) {
    std::string where;
    where.append("the database (AuthMutualDBDUserQuery \"").append(text ? text : "").append("\")");
    return where;
}

}  // namespace

LocationVerifiers::LocationVerifiers(const Settings& s, std::string_view auth_scope, std::string_view realm,
                                     VerifierRecordCache* cache, std::int64_t now)
    : has_file_(s.user_file != nullptr),
      has_query_(s.query != nullptr),
      dbm_(s.user_file, s.dbm_type, auth_scope, realm, cache),
      sql_(s.query ? *s.query : no_query, s.query ? s.query_cache_name : std::string(),
           s.query ? query_where(s.query_text) : std::string(), auth_scope, realm, cache, now,
           database_record_age(s.recheck_interval)) {}

LocationVerifiers::Settings LocationVerifiers::settings_of(const LocationSettings& l, const RecordQuery* query,
                                                           const void* server) {
    // The settings' values are NUL-terminated (location_settings.h).
    Settings s;
    s.user_file = l.user_file().empty() ? nullptr : l.user_file().data();
    s.dbm_type = l.dbm_type().data();
    if (query != nullptr && !l.query_label().empty()) {
        s.query = query;
        char identity[2 * sizeof(void*) + 4];
        std::snprintf(identity, sizeof identity, "%p", server);
        s.query_cache_name.assign(identity).append(" ").append(l.query_label());
        s.query_text = l.query_text().data();
    }
    s.recheck_interval = l.recheck_interval();
    return s;
}

LocationVerifiers::LocationVerifiers(const LocationSettings& settings, const RecordQuery* query,
                                     const void* server, std::string_view auth_scope, std::string_view realm,
                                     VerifierRecordCache* cache, std::int64_t now)
    : LocationVerifiers(settings_of(settings, query, server), auth_scope, realm, cache, now) {
    for (std::size_t i = 0; i < settings.provider_count(); ++i) {
        if (settings.provider(i) == LocationSettings::Provider::dbm)
            add_dbm();
        else
            add_database();
    }
}

void LocationVerifiers::add_dbm() {
    chain_.add(&dbm_, has_file_ ? nullptr : "AuthMutualProvider dbm without AuthMutualUserFile");
    chained_ = true;
}

void LocationVerifiers::add_database() {
    chain_.add(&sql_, has_query_ ? nullptr : "AuthMutualProvider dbd without AuthMutualDBDUserQuery");
    chained_ = true;
}

const VerifierSource* LocationVerifiers::get() const noexcept {
    if (chained_) return &chain_;
    return has_file_ ? &dbm_ : nullptr;
}

namespace {

// A location's sources, composed by the first lookup that needs them: the
// usual request, a req-VFY-C of a live session, reads no verifier (only a
// due revocation recheck does).
class LazyVerifiers final : public VerifierSource {
public:
    LazyVerifiers(const LocationSettings& settings, const RecordQuery* query, const void* server,
                  std::string_view auth_scope, std::string_view realm, VerifierRecordCache* cache,
                  std::int64_t now) noexcept
        : settings_(settings), query_(query), server_(server), auth_scope_(auth_scope), realm_(realm),
          cache_(cache), now_(now) {}
    // Whether LocationVerifiers::get() would answer a source (AuthMutualProvider
    // or AuthMutualUserFile).
    static bool configured(const LocationSettings& settings) noexcept {
        return settings.provider_count() != 0 || !settings.user_file().empty();
    }
    VerifierAnswer lookup(std::string_view user, const Algorithm& algorithm) const override {
        return sources().lookup(user, algorithm);
    }
    VerifierAnswer lookup_current(std::string_view user, const Algorithm& algorithm) const override {
        return sources().lookup_current(user, algorithm);
    }

private:
    const VerifierSource& sources() const {
        if (!sources_)
            sources_.emplace(settings_, query_, server_, auth_scope_, realm_, cache_, now_);
        return *sources_->get();
    }

    const LocationSettings& settings_;
    const RecordQuery* query_;
    const void* server_;
    std::string_view auth_scope_, realm_;
    VerifierRecordCache* cache_;
    std::int64_t now_;
    mutable std::optional<LocationVerifiers> sources_;
};

}  // namespace

ExchangeResult Server::handle(const LocationPolicy& policy, const LocationSettings& settings,
                              const DatabaseQuery& query, const void* server,
                              const ParsedAuthorization* authorization, std::int64_t now, LogLevel log_level) {
    const RowsRecordQuery rows(query);
    const LazyVerifiers sources(settings, query ? &rows : nullptr, server, policy.auth_scope, policy.realm,
                                &verifier_records_, now);
    const VerifierSource* verifiers = LazyVerifiers::configured(settings) ? &sources : nullptr;
    if (authorization == nullptr) return handle(policy, verifiers, std::nullopt, now, log_level);
    return handle(policy, verifiers, *authorization, now, log_level);
}

}  // namespace mutual

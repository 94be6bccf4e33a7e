// A location's verifier sources from its directives (location_verifiers.h).
#include "server/location_verifiers.h"

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

}  // namespace mutual

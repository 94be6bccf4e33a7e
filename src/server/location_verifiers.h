// The verifier sources of one location for one request, composed by the
// core from the location's directives: AuthMutualUserFile (a DBM file),
// AuthMutualDBDUserQuery (a DatabaseQuery the glue implements over mod_dbd)
// and AuthMutualProvider's order over them (without it, the DBM file
// alone). Server::handle(policy, settings, query, ...) composes them when
// a request needs a verifier (a key exchange, a due revocation recheck; not
// the usual req-VFY-C of a live session). No httpd types.
#ifndef MUTUAL_LOCATION_VERIFIERS_H
#define MUTUAL_LOCATION_VERIFIERS_H

#include <cstdint>
#include <string>
#include <string_view>

#include "server/verifier_source.h"

namespace mutual {

class LocationSettings;

class LocationVerifiers {
public:
    struct Settings {
        const char* user_file = nullptr;      // AuthMutualUserFile (nullptr: none)
        const char* dbm_type = "default";     // AuthMutualDBMType
        // AuthMutualDBDUserQuery: the query (nullptr: none), the name its
        // records are cached under (each server's own statement) and its
        // text as written (log lines).
        const RecordQuery* query = nullptr;
        std::string query_cache_name;
        const char* query_text = nullptr;
        std::uint32_t recheck_interval = 0;   // AuthMutualRecheckInterval
    };
    // auth_scope and realm must outlive this object (the location's policy).
    LocationVerifiers(const Settings& settings, std::string_view auth_scope, std::string_view realm,
                      VerifierRecordCache* cache, std::int64_t now);
    // From a location's settings, AuthMutualProvider's list added in its
    // order: `query` runs AuthMutualDBDUserQuery (the glue's mod_dbd call;
    // nullptr: none) on the statement the server identified by `server`
    // prepared (each server's answers are cached apart: its own DBDParams).
    // Server::handle(policy, settings, ...) composes them so.
    LocationVerifiers(const LocationSettings& settings, const RecordQuery* query, const void* server,
                      std::string_view auth_scope, std::string_view realm, VerifierRecordCache* cache,
                      std::int64_t now);
    LocationVerifiers(const LocationVerifiers&) = delete;
    LocationVerifiers& operator=(const LocationVerifiers&) = delete;

    // AuthMutualProvider, in its order: the DBM file, the database. A
    // source without its directive answers store_failed (logged).
    void add_dbm();
    void add_database();

    // What Server::handle asks: nullptr when there is no source (no
    // AuthMutualProvider and no AuthMutualUserFile).
    const VerifierSource* get() const noexcept;

private:
    static Settings settings_of(const LocationSettings& settings, const RecordQuery* query, const void* server);
    bool has_file_, has_query_, chained_ = false;
    DbmVerifierSource dbm_;
    DatabaseVerifierSource sql_;
    VerifierChain chain_;
};

}  // namespace mutual

#endif

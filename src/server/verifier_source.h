// The verifier-source seam of the server core: where the decision procedure
// (server_exchange.h) gets OCTETS(J) for a user and an algorithm. The DBM
// file of AuthMutualUserFile and an SQL query through mod_dbd
// (AuthMutualDBDUserQuery; the query itself runs in the module's glue,
// behind RecordQuery) are the sources; AuthMutualProvider chains them
// (VerifierChain). No httpd types.
#ifndef MUTUAL_VERIFIER_SOURCE_H
#define MUTUAL_VERIFIER_SOURCE_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <vector>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "bytes.h"
#include "verifier_store.h"

namespace mutual {

class Algorithm;

// Answer of a verifier source for (user, algorithm) in this location's realm.
enum class VerifierStatus {
    found,           // j holds OCTETS(J)
    unknown_user,    // no record: fake session
    no_verifier,     // record without an entry for this algorithm: fake session
    wrong_realm,     // record made for another realm/scope (logged): fake session
    bad_record,      // record does not decode (logged): fake session
    unacceptable_user,  // name over max_user_length, never looked up: fake session
    store_failed,    // the store could not be read: 401-INIT internal-error
};
const char* verifier_status_name(VerifierStatus s) noexcept;

struct VerifierAnswer {
    VerifierStatus status = VerifierStatus::unknown_user;
    Bytes j;
    std::string detail;  // for the log line (no secrets)
};

class VerifierSource {
public:
    virtual ~VerifierSource() = default;
    virtual VerifierAnswer lookup(std::string_view user, const Algorithm& algorithm) const = 0;
    // The revocation recheck (server_exchange.c++): the store's current
    // record, never a cached copy older than the store. The default is
    // lookup(), right for sources whose cache is validated on every lookup
    // (DBM: the file's identity).
    virtual VerifierAnswer lookup_current(std::string_view user, const Algorithm& algorithm) const;
};

// The answer for (user, algorithm) in this realm from what a store returned
// for `user`: the DBM value, or the rows of an SQL query joined with ","
// (each row one record in the DBM value format, so several rows decode as
// one record with several entries: duplicates, bad rows and the realm
// check behave exactly as in a DBM file). `where` names the store in the
// log lines ("/etc/apache2/users", "the database ..."); for a failed
// lookup `error` is the whole reason. Logs as the DBM source always did
// (MUT01200..MUT01204). Shared by every source.
VerifierAnswer record_answer(LookupStatus status, const std::string& value, const std::string& error,
                             std::string_view where, std::string_view user, const Algorithm& algorithm,
                             std::string_view auth_scope, std::string_view realm);

// The fetch of a store without a file identity (the module's mod_dbd
// query): every record of `user` joined with ",", or not_found when there
// is none; open_failed/read_failed with `error` when the store cannot be
// asked.
class RecordQuery {
public:
    virtual ~RecordQuery() = default;
    virtual LookupStatus fetch(std::string_view user, std::string& value, std::string& error) const = 0;
};

// AuthMutualDBDUserQuery as the module's glue runs it (mod_dbd), in
// standard types only: appends the first column of every row for `user` to
// `rows` and answers true, or answers false with `error` when the store
// cannot be asked (no connection, no statement, a failed query or row).
using DatabaseQuery = std::function<bool(std::string_view user, std::vector<std::string>& rows, std::string& error)>;

// A DatabaseQuery as a RecordQuery: the rows joined with "," (one DBM-format
// record each: record_answer decodes them as one record), not_found when
// there is none, read_failed when the query failed. The rows are cleansed.
class RowsRecordQuery final : public RecordQuery {
public:
    explicit RowsRecordQuery(const DatabaseQuery& query) noexcept : query_(query) {}
    LookupStatus fetch(std::string_view user, std::string& value, std::string& error) const override;

private:
    const DatabaseQuery& query_;
};

// How long a key exchange may use a record read from a store without a
// file identity: at most this many seconds, and never longer than the
// location's AuthMutualRecheckInterval (0: not cached at all). The
// revocation recheck always reads the store (lookup_current).
constexpr std::uint32_t database_record_max_age = 10;
std::uint32_t database_record_age(std::uint32_t recheck_interval) noexcept;

// Verifier records read from DBM files, kept per process. Opening a DBM
// file costs about 90 µs, a stat() about 1 µs: every lookup stats the
// file(s) and answers from memory while the identity (device, inode), the
// modification time (ns) and the size are unchanged; any change empties
// that file's records. Both answers are kept, a record and "no record", so
// a known and an unknown user cost the same (no timing oracle for user
// names; a flood of unknown names evicts, it does not slow known users
// more than unknown ones). Read failures are never kept. Thread-safe; each
// child process of httpd has its own (post_config creates it before the fork).
class VerifierRecordCache {
public:
    explicit VerifierRecordCache(std::size_t max_records = 8192);
    ~VerifierRecordCache();
    VerifierRecordCache(const VerifierRecordCache&) = delete;
    VerifierRecordCache& operator=(const VerifierRecordCache&) = delete;

    // lookup_verifier_record (verifier_store.h) through the cache.
    LookupStatus lookup(const std::string& path, const std::string& dbm_type,
                        std::string_view user, std::string& value, std::string& error);

    // A store without a file identity (SQL), named by `source`: an answer
    // (record or "no record") stored at most `max_age` seconds before `now`
    // is reused; otherwise `query` is asked and its answer stored with the
    // time `now` (max_age 0: always asked, the entry refreshed). Failures
    // are never kept.
    LookupStatus lookup_timed(const std::string& source, std::string_view user, std::int64_t now,
                              std::uint32_t max_age, const RecordQuery& query, std::string& value,
                              std::string& error);

    struct Statistics {
        std::uint64_t hits = 0, misses = 0, invalidations = 0;
    };
    Statistics statistics() const;

private:
    struct FileIdentity {
        std::uint64_t device = 0, inode = 0, size = 0;
        std::int64_t mtime_ns = 0;
        bool exists = false;
        bool operator==(const FileIdentity& o) const noexcept;
    };
    struct File;
    File& file_slot(const std::string& key);  // under mutex_
    // A hit (under mutex_): the kept record, or "no record".
    LookupStatus cached(const std::optional<std::string>& record, std::string& value, std::string& error);
    // Stores an answer in `file` (under mutex_), evicting the oldest.
    void keep(File& file, const std::string& user, LookupStatus status, const std::string& value,
              std::int64_t stored);
    static bool identify(const std::string& path, const std::string& dbm_type,
                         FileIdentity (&out)[2]);

    mutable std::mutex mutex_;
    std::unordered_map<std::string, File*> files_;   // key: dbm_type NUL path
    std::size_t max_records_;
    std::size_t records_ = 0;
    Statistics statistics_;
};

// The DBM source the module uses: the record of `user` (through `cache`
// when given, else opened per lookup as mod_authn_dbm does), decode_record,
// find_entry for this realm. Logs misconfigured records (MUT012xx).
// path and dbm_type must outlive the source (the location's configuration):
// the module builds one per request, and a session-reusing request never
// looks anything up, so nothing is copied until a lookup.
class DbmVerifierSource final : public VerifierSource {
public:
    DbmVerifierSource(const char* path, const char* dbm_type, std::string_view auth_scope,
                      std::string_view realm, VerifierRecordCache* cache = nullptr);
    ~DbmVerifierSource() override;
    VerifierAnswer lookup(std::string_view user, const Algorithm& algorithm) const override;

private:
    const char* path_;
    const char* dbm_type_;
    std::string_view auth_scope_, realm_;
    VerifierRecordCache* cache_;
};

// A store without a file identity (an SQL query through mod_dbd: the
// module's glue implements RecordQuery). Records go through `cache` (when
// given) under the name `source`, reused by key exchanges for `max_age`
// seconds (database_record_age); lookup_current asks the store. `where`
// names the store in log lines.
class DatabaseVerifierSource final : public VerifierSource {
public:
    DatabaseVerifierSource(const RecordQuery& query, std::string source, std::string where,
                           std::string_view auth_scope, std::string_view realm,
                           VerifierRecordCache* cache, std::int64_t now, std::uint32_t max_age);
    ~DatabaseVerifierSource() override;
    VerifierAnswer lookup(std::string_view user, const Algorithm& algorithm) const override;
    VerifierAnswer lookup_current(std::string_view user, const Algorithm& algorithm) const override;

private:
    VerifierAnswer ask(std::string_view user, const Algorithm& algorithm, std::uint32_t max_age) const;
    const RecordQuery& query_;
    std::string source_, where_;
    std::string_view auth_scope_, realm_;
    VerifierRecordCache* cache_;
    std::int64_t now_;
    std::uint32_t max_age_;
};

// AuthMutualProvider: sources asked in order, the first that knows the
// user answers. unknown_user passes to the next source; store_failed ends
// the search (fail closed: a user of a later source is not looked up while
// an earlier one cannot be read); found, no_verifier, wrong_realm and
// bad_record end it too (the user exists in that source; another source's
// record for the same name is never consulted). No source: store_failed.
class VerifierChain final : public VerifierSource {
public:
    VerifierChain();
    ~VerifierChain() override;
    // `unconfigured`: the source lacks its configuration (the reason):
    // it answers store_failed with it.
    void add(const VerifierSource* source, const char* unconfigured = nullptr);
    bool empty() const noexcept { return sources_.empty(); }
    VerifierAnswer lookup(std::string_view user, const Algorithm& algorithm) const override;
    VerifierAnswer lookup_current(std::string_view user, const Algorithm& algorithm) const override;

private:
    VerifierAnswer ask(std::string_view user, const Algorithm& algorithm, bool current) const;
    std::vector<std::pair<const VerifierSource*, const char*>> sources_;
};

}  // namespace mutual

#endif

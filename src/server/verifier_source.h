// The verifier-source seam of the server core: where the decision procedure
// (server_exchange.h) gets OCTETS(J) for a user and an algorithm. The DBM
// file of AuthMutualUserFile is the first source; SQL (mod_dbd) comes
// later behind the same interface. No httpd types.
#ifndef MUTUAL_VERIFIER_SOURCE_H
#define MUTUAL_VERIFIER_SOURCE_H

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

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
};

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
class DbmVerifierSource final : public VerifierSource {
public:
    DbmVerifierSource(const char* path, const char* dbm_type, std::string_view auth_scope,
                      std::string_view realm, VerifierRecordCache* cache = nullptr);
    ~DbmVerifierSource() override;
    VerifierAnswer lookup(std::string_view user, const Algorithm& algorithm) const override;

private:
    std::string path_, dbm_type_;
    std::string_view auth_scope_, realm_;
    VerifierRecordCache* cache_;
};

}  // namespace mutual

#endif

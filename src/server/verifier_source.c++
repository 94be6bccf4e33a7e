// The verifier sources of the server core (verifier_source.h): the DBM
// file and stores without a file identity (SQL through the glue), read
// through a per-process record cache, and the AuthMutualProvider chain.
#include "server/verifier_source.h"

#include <sys/stat.h>

#include <utility>

#include <openssl/crypto.h>

#include "algorithm.h"
#include "ascii.h"
#include "encoding.h"
#include "log.h"
#include "verifier_record.h"

namespace mutual {

// ---- names ----------------------------------------------------------------------

const char* verifier_status_name(VerifierStatus s) noexcept {
    switch (s) {
        case VerifierStatus::found: return "found";
        case VerifierStatus::unknown_user: return "unknown-user";
        case VerifierStatus::no_verifier: return "no-verifier";
        case VerifierStatus::wrong_realm: return "wrong-realm";
        case VerifierStatus::bad_record: return "bad-record";
        case VerifierStatus::unacceptable_user: return "user-name-too-long";
        case VerifierStatus::store_failed: return "store-failed";
    }
    return "?";
}


// ---- the per-process record cache ----------------------------------------------

struct VerifierRecordCache::File {
    FileIdentity identity[2];
    // user -> record (nullopt: no record) and when it was stored (timed
    // sources), and the order of insertion for eviction (oldest first).
    struct Record {
        std::optional<std::string> value;
        std::int64_t stored = 0;
    };
    std::unordered_map<std::string, Record> records;
    std::list<std::string> order;
};

namespace {

void wipe(std::optional<std::string>& value) noexcept {
    if (value) OPENSSL_cleanse(value->data(), value->size());
}

}  // namespace

bool VerifierRecordCache::FileIdentity::operator==(const FileIdentity& o) const noexcept {
    return exists == o.exists && device == o.device && inode == o.inode && size == o.size &&
           mtime_ns == o.mtime_ns;
}

VerifierRecordCache::VerifierRecordCache(std::size_t max_records) : max_records_(max_records) {}

VerifierRecordCache::~VerifierRecordCache() {
    for (auto& entry : files_) {
        for (auto& record : entry.second->records) wipe(record.second.value);
        delete entry.second;
    }
}

VerifierRecordCache::File& VerifierRecordCache::file_slot(const std::string& key) {
    File*& slot = files_[key];
    if (slot == nullptr) slot = new File();
    return *slot;
}

void VerifierRecordCache::keep(File& file, const std::string& user, LookupStatus status,
                               const std::string& value, std::int64_t stored) {
    auto known = file.records.find(user);
    if (known != file.records.end()) {  // a timed refresh (a DBM file keeps its first answer)
        wipe(known->second.value);
        if (status == LookupStatus::found) known->second.value = value;
        else known->second.value.reset();
        known->second.stored = stored;
        return;
    }
    // Over the limit: the oldest records of this file go first.
    while (records_ >= max_records_ && !file.order.empty()) {
        auto old = file.records.find(file.order.front());
        if (old != file.records.end()) {
            wipe(old->second.value);
            file.records.erase(old);
            --records_;
        }
        file.order.pop_front();
    }
    if (records_ >= max_records_) return;   // other files hold the space
    File::Record record;
    if (status == LookupStatus::found) record.value = value;
    record.stored = stored;
    file.records.emplace(user, std::move(record));
    file.order.push_back(user);
    ++records_;
}

// The identity of the file(s) behind a DBM name (SDBM uses two).
bool VerifierRecordCache::identify(const std::string& path, const std::string& dbm_type,
                                   FileIdentity (&out)[2]) {
    std::string names[2] = {path, std::string()};
    if (dbm_type == "sdbm") {
        names[0] = path + ".pag";
        names[1] = path + ".dir";
    } else if (dbm_type == "ndbm") {
        names[0] = path + ".db";
    } else if (dbm_type == "default") {
        // Debian's default is Berkeley DB (one file, the name as given);
        // another build's may be SDBM.
        struct stat st;
        if (::stat(path.c_str(), &st) != 0 && ::stat((path + ".pag").c_str(), &st) == 0) {
            names[0] = path + ".pag";
            names[1] = path + ".dir";
        }
    }
    for (int i = 0; i < 2; ++i) {
        out[i] = FileIdentity();
        if (names[i].empty()) continue;
        struct stat st;
        if (::stat(names[i].c_str(), &st) != 0) return false;
        out[i].exists = true;
        out[i].device = static_cast<std::uint64_t>(st.st_dev);
        out[i].inode = static_cast<std::uint64_t>(st.st_ino);
        out[i].size = static_cast<std::uint64_t>(st.st_size);
        out[i].mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    }
    return true;
}

LookupStatus VerifierRecordCache::cached(const std::optional<std::string>& record, std::string& value,
                                         std::string& error) {
    ++statistics_.hits;
    value.clear();
    error.clear();
    if (!record) return LookupStatus::not_found;
    value = *record;
    return LookupStatus::found;
}

LookupStatus VerifierRecordCache::lookup(const std::string& path, const std::string& dbm_type,
                                         std::string_view user, std::string& value,
                                         std::string& error) {
    FileIdentity identity[2];
    // A file that cannot be stat'ed: no caching, the lookup reports why.
    if (!identify(path, dbm_type, identity))
        return lookup_verifier_record(path, dbm_type, user, value, error);
    std::string file_key = dbm_type;
    file_key.push_back('\0');
    file_key += path;
    const std::string user_key(user);
    {
        std::lock_guard<std::mutex> hold(mutex_);
        auto f = files_.find(file_key);
        if (f != files_.end()) {
            File& file = *f->second;
            if (file.identity[0] == identity[0] && file.identity[1] == identity[1]) {
                auto r = file.records.find(user_key);
                if (r != file.records.end()) {
                    return cached(r->second.value, value, error);
                }
            }
        }
        ++statistics_.misses;
    }
    // Outside the lock: the DBM open and fetch.
    const LookupStatus status = lookup_verifier_record(path, dbm_type, user, value, error);
    if (status != LookupStatus::found && status != LookupStatus::not_found) return status;
    // The file may have changed during the lookup: keep the answer only if
    // it is still the file we identified.
    FileIdentity after[2];
    if (!identify(path, dbm_type, after) || !(after[0] == identity[0]) || !(after[1] == identity[1]))
        return status;
    std::lock_guard<std::mutex> hold(mutex_);
    File& file = file_slot(file_key);
    if (!(file.identity[0] == identity[0]) || !(file.identity[1] == identity[1])) {
        if (!file.records.empty()) ++statistics_.invalidations;
        records_ -= file.records.size();
        for (auto& record : file.records) wipe(record.second.value);
        file.records.clear();
        file.order.clear();
        file.identity[0] = identity[0];
        file.identity[1] = identity[1];
    }
    if (file.records.count(user_key) == 0) keep(file, user_key, status, value, 0);
    return status;
}

LookupStatus VerifierRecordCache::lookup_timed(const std::string& source, std::string_view user,
                                               std::int64_t now, std::uint32_t max_age,
                                               const RecordQuery& query, std::string& value,
                                               std::string& error) {
    // Not a DBM key (those start with the type's name).
    std::string file_key("\0timed\0", 7);
    file_key += source;
    const std::string user_key(user);
    {
        std::lock_guard<std::mutex> hold(mutex_);
        auto f = max_age > 0 ? files_.find(file_key) : files_.end();
        if (f != files_.end()) {
            auto r = f->second->records.find(user_key);
            // Stored in [now - max_age + 1, now]: younger than max_age
            // seconds (a clock set back does not make an entry eternal).
            if (r != f->second->records.end() && r->second.stored <= now &&
                now - r->second.stored < static_cast<std::int64_t>(max_age))
                return cached(r->second.value, value, error);
        }
        ++statistics_.misses;
    }
    // Outside the lock: the query.
    value.clear();
    error.clear();
    const LookupStatus status = query.fetch(user, value, error);
    if (status != LookupStatus::found && status != LookupStatus::not_found) {
        OPENSSL_cleanse(value.data(), value.size());
        value.clear();
        return status;
    }
    std::lock_guard<std::mutex> hold(mutex_);
    File& file = file_slot(file_key);
    auto known = file.records.find(user_key);
    if (known == file.records.end() || known->second.stored <= now)
        keep(file, user_key, status, value, now);
    return status;
}

LookupStatus RowsRecordQuery::fetch(std::string_view user, std::string& value, std::string& error) const {
    std::vector<std::string> rows;
    const bool asked = query_(user, rows, error);
    for (std::size_t i = 0; asked && i < rows.size(); ++i) {
        if (i != 0) value.append(",");
        value.append(rows[i]);
    }
    for (std::string& row : rows) OPENSSL_cleanse(row.data(), row.size());
    if (!asked) return LookupStatus::read_failed;
    return rows.empty() ? LookupStatus::not_found : LookupStatus::found;
}

VerifierRecordCache::Statistics VerifierRecordCache::statistics() const {
    std::lock_guard<std::mutex> hold(mutex_);
    return statistics_;
}

// ---- from record text to answer (every source) ---------------------------------

VerifierAnswer VerifierSource::lookup_current(std::string_view user, const Algorithm& algorithm) const {
    return lookup(user, algorithm);
}

VerifierAnswer record_answer(LookupStatus status, const std::string& value, const std::string& error,
                             std::string_view where_view, std::string_view user,
                             const Algorithm& algorithm, std::string_view auth_scope,
                             std::string_view realm) {
    const std::string where(where_view);
    VerifierAnswer answer;
    switch (status) {
        case LookupStatus::found:
            break;
        case LookupStatus::not_found:
            answer.status = VerifierStatus::unknown_user;
            answer.detail = "no record for user \"" + loggable(user) + "\" in " + where;
            log(LogLevel::debug, "MUT01200", answer.detail);
            return answer;
        case LookupStatus::open_failed:
        case LookupStatus::read_failed:
            answer.status = VerifierStatus::store_failed;
            answer.detail = error;
            return answer;
    }
    std::vector<VerifierEntry> entries;
    // J's group-element check is left to Algorithm::server_exchange, for the
    // one entry used (an EC decompression saved per entry and per lookup).
    const RecordError record_error = decode_record(value, entries, /*validate=*/false);
    if (record_error != RecordError::none) {
        answer.status = VerifierStatus::bad_record;
        answer.detail = "verifier record of user \"" + loggable(user) + "\" in " + where +
                        " is malformed (" + record_error_name(record_error) +
                        "); rewrite it with htmutual";
        log(LogLevel::error, "MUT01201", answer.detail);
        return answer;
    }
    if (const VerifierEntry* entry = find_entry(entries, algorithm, auth_scope, realm)) {
        answer.status = VerifierStatus::found;
        answer.j = entry->j;
        log(LogLevel::debug, "MUT01202",
            "verifier of user \"" + loggable(user) + "\" for " + std::string(algorithm.name()) +
                " found in " + where);
        return answer;
    }
    // Is there an entry for this algorithm made for another realm or scope?
    for (const VerifierEntry& e : entries) {
        if (e.algorithm != &algorithm) continue;
        answer.status = VerifierStatus::wrong_realm;
        answer.detail = "verifier record of user \"" + loggable(user) + "\" in " + where +
                        " was made for auth-scope \"" + loggable(e.auth_scope) +
                        "\" realm \"" + loggable(e.realm) + "\" but this location expects" +
                        " auth-scope \"" + loggable(auth_scope) + "\" realm \"" +
                        loggable(realm) + "\" (" + std::string(algorithm.name()) +
                        "): check AuthName/AuthMutualScope or re-create the verifier";
        log(LogLevel::error, "MUT01203", answer.detail);
        return answer;
    }
    answer.status = VerifierStatus::no_verifier;
    answer.detail = "user \"" + loggable(user) + "\" has no " + std::string(algorithm.name()) +
                    " verifier in " + where;
    // warn: a user locked out by the order of AuthMutualAlgorithms (the
    // client took an algorithm this user has no verifier for) must be seen
    // at the default LogLevel.
    log(LogLevel::warn, "MUT01204", answer.detail);
    return answer;
}

// ---- the DBM source ------------------------------------------------------------

DbmVerifierSource::DbmVerifierSource(const char* path, const char* dbm_type,
                                     std::string_view auth_scope, std::string_view realm,
                                     VerifierRecordCache* cache)
    : path_(path ? path : ""), dbm_type_(dbm_type ? dbm_type : "default"),   // views
      auth_scope_(auth_scope), realm_(realm), cache_(cache) {}

DbmVerifierSource::~DbmVerifierSource() = default;

VerifierAnswer DbmVerifierSource::lookup(std::string_view user, const Algorithm& algorithm) const {
    const std::string path(path_), dbm_type(dbm_type_);
    std::string value, error;
    const LookupStatus status = cache_ ? cache_->lookup(path, dbm_type, user, value, error)
                                       : lookup_verifier_record(path, dbm_type, user, value, error);
    if (status == LookupStatus::open_failed || status == LookupStatus::read_failed)
        error = std::string("cannot ") + (status == LookupStatus::open_failed ? "open" : "read") +
                " verifier file " + path + " (type " + dbm_type + "): " + error;
    VerifierAnswer answer =
        record_answer(status, value, error, path, user, algorithm, auth_scope_, realm_);
    OPENSSL_cleanse(value.data(), value.size());
    return answer;
}

// ---- stores without a file identity (SQL) ----------------------------------------

std::uint32_t database_record_age(std::uint32_t recheck_interval) noexcept {
    return recheck_interval < database_record_max_age ? recheck_interval : database_record_max_age;
}

DatabaseVerifierSource::DatabaseVerifierSource(const RecordQuery& query, std::string source,
                                               std::string where, std::string_view auth_scope,
                                               std::string_view realm, VerifierRecordCache* cache,
                                               std::int64_t now, std::uint32_t max_age)
    : query_(query), source_(std::move(source)), where_(std::move(where)),
      auth_scope_(auth_scope), realm_(realm), cache_(cache), now_(now), max_age_(max_age) {}

DatabaseVerifierSource::~DatabaseVerifierSource() = default;

VerifierAnswer DatabaseVerifierSource::ask(std::string_view user, const Algorithm& algorithm,
                                           std::uint32_t max_age) const {
    std::string value, error;
    const LookupStatus status =
        cache_ ? cache_->lookup_timed(source_, user, now_, max_age, query_, value, error)
               : query_.fetch(user, value, error);
    VerifierAnswer answer =
        record_answer(status, value, error, where_, user, algorithm, auth_scope_, realm_);
    OPENSSL_cleanse(value.data(), value.size());
    return answer;
}

VerifierAnswer DatabaseVerifierSource::lookup(std::string_view user, const Algorithm& algorithm) const {
    return ask(user, algorithm, max_age_);
}

VerifierAnswer DatabaseVerifierSource::lookup_current(std::string_view user,
                                                      const Algorithm& algorithm) const {
    return ask(user, algorithm, 0);
}

// ---- AuthMutualProvider: the chain --------------------------------------------------

VerifierChain::VerifierChain() = default;
VerifierChain::~VerifierChain() = default;

void VerifierChain::add(const VerifierSource* source, const char* unconfigured) {
    if (source != nullptr || unconfigured != nullptr) sources_.emplace_back(source, unconfigured);
}

VerifierAnswer VerifierChain::ask(std::string_view user, const Algorithm& algorithm, bool current) const {
    VerifierAnswer answer;
    answer.status = VerifierStatus::store_failed;
    answer.detail = "no verifier source configured (AuthMutualProvider, AuthMutualUserFile)";
    for (const auto& [source, unconfigured] : sources_) {
        if (unconfigured != nullptr || source == nullptr) {
            answer.status = VerifierStatus::store_failed;
            answer.detail = unconfigured != nullptr ? unconfigured : "no verifier source";
            return answer;
        }
        answer = current ? source->lookup_current(user, algorithm) : source->lookup(user, algorithm);
        if (answer.status != VerifierStatus::unknown_user) return answer;
    }
    return answer;
}

VerifierAnswer VerifierChain::lookup(std::string_view user, const Algorithm& algorithm) const {
    return ask(user, algorithm, false);
}

VerifierAnswer VerifierChain::lookup_current(std::string_view user, const Algorithm& algorithm) const {
    return ask(user, algorithm, true);
}

}  // namespace mutual

// The verifier sources of the server core (verifier_source.h): the DBM
// file, read through a per-process record cache.
#include "server/verifier_source.h"

#include <sys/stat.h>

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
    // user -> record (nullopt: no record), and the order of insertion for
    // eviction (oldest first).
    std::unordered_map<std::string, std::optional<std::string>> records;
    std::list<std::string> order;
};

bool VerifierRecordCache::FileIdentity::operator==(const FileIdentity& o) const noexcept {
    return exists == o.exists && device == o.device && inode == o.inode && size == o.size &&
           mtime_ns == o.mtime_ns;
}

VerifierRecordCache::VerifierRecordCache(std::size_t max_records) : max_records_(max_records) {}

VerifierRecordCache::~VerifierRecordCache() {
    for (auto& entry : files_) {
        for (auto& record : entry.second->records)
            if (record.second) OPENSSL_cleanse(record.second->data(), record.second->size());
        delete entry.second;
    }
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
                    ++statistics_.hits;
                    value.clear();
                    error.clear();
                    if (!r->second) return LookupStatus::not_found;
                    value = *r->second;
                    return LookupStatus::found;
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
    File*& slot = files_[file_key];
    if (slot == nullptr) slot = new File();
    File& file = *slot;
    if (!(file.identity[0] == identity[0]) || !(file.identity[1] == identity[1])) {
        if (!file.records.empty()) ++statistics_.invalidations;
        records_ -= file.records.size();
        for (auto& record : file.records)
            if (record.second) OPENSSL_cleanse(record.second->data(), record.second->size());
        file.records.clear();
        file.order.clear();
        file.identity[0] = identity[0];
        file.identity[1] = identity[1];
    }
    if (file.records.count(user_key) != 0) return status;
    // Over the limit: the oldest records of this file go first.
    while (records_ >= max_records_ && !file.order.empty()) {
        auto old = file.records.find(file.order.front());
        if (old != file.records.end()) {
            if (old->second) OPENSSL_cleanse(old->second->data(), old->second->size());
            file.records.erase(old);
            --records_;
        }
        file.order.pop_front();
    }
    if (records_ >= max_records_) return status;   // other files hold the space
    if (status == LookupStatus::found) file.records.emplace(user_key, value);
    else file.records.emplace(user_key, std::nullopt);
    file.order.push_back(user_key);
    ++records_;
    return status;
}

VerifierRecordCache::Statistics VerifierRecordCache::statistics() const {
    std::lock_guard<std::mutex> hold(mutex_);
    return statistics_;
}

// ---- the DBM source ------------------------------------------------------------

namespace {

// The answer for (user, algorithm) from what the DBM lookup returned.
VerifierAnswer dbm_answer(LookupStatus status, const std::string& value, const std::string& error,
                          const std::string& path, const std::string& dbm_type,
                          std::string_view user, const Algorithm& algorithm,
                          std::string_view auth_scope, std::string_view realm) {
    VerifierAnswer answer;
    switch (status) {
        case LookupStatus::found:
            break;
        case LookupStatus::not_found:
            answer.status = VerifierStatus::unknown_user;
            answer.detail = "no record for user \"" + loggable(user) + "\" in " + path;
            log(LogLevel::debug, "MUT01200", answer.detail);
            return answer;
        case LookupStatus::open_failed:
        case LookupStatus::read_failed:
            answer.status = VerifierStatus::store_failed;
            answer.detail = std::string("cannot ") +
                            (status == LookupStatus::open_failed ? "open" : "read") +
                            " verifier file " + path + " (type " + dbm_type + "): " + error;
            return answer;
    }
    std::vector<VerifierEntry> entries;
    // J's group-element check is left to Algorithm::server_exchange, for the
    // one entry used (an EC decompression saved per entry and per lookup).
    const RecordError record_error = decode_record(value, entries, /*validate=*/false);
    if (record_error != RecordError::none) {
        answer.status = VerifierStatus::bad_record;
        answer.detail = "verifier record of user \"" + loggable(user) + "\" in " + path +
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
                " found in " + path);
        return answer;
    }
    // Is there an entry for this algorithm made for another realm or scope?
    for (const VerifierEntry& e : entries) {
        if (e.algorithm != &algorithm) continue;
        answer.status = VerifierStatus::wrong_realm;
        answer.detail = "verifier record of user \"" + loggable(user) + "\" in " + path +
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
                    " verifier in " + path;
    // warn: a user locked out by the order of AuthMutualAlgorithms (the
    // client took an algorithm this user has no verifier for) must be seen
    // at the default LogLevel.
    log(LogLevel::warn, "MUT01204", answer.detail);
    return answer;
}

}  // namespace

DbmVerifierSource::DbmVerifierSource(const char* path, const char* dbm_type,
                                     std::string_view auth_scope, std::string_view realm,
                                     VerifierRecordCache* cache)
    : path_(path ? path : ""), dbm_type_(dbm_type ? dbm_type : "default"),
      auth_scope_(auth_scope), realm_(realm), cache_(cache) {}

DbmVerifierSource::~DbmVerifierSource() = default;

VerifierAnswer DbmVerifierSource::lookup(std::string_view user, const Algorithm& algorithm) const {
    std::string value, error;
    const LookupStatus status = cache_ ? cache_->lookup(path_, dbm_type_, user, value, error)
                                       : lookup_verifier_record(path_, dbm_type_, user, value, error);
    VerifierAnswer answer =
        dbm_answer(status, value, error, path_, dbm_type_, user, algorithm, auth_scope_, realm_);
    OPENSSL_cleanse(value.data(), value.size());
    return answer;
}

}  // namespace mutual

// Read-only DBM lookup of a verifier record through APR-util, as
// mod_authn_dbm does it: a private pool, open read-only, fetch, close.
#include "verifier_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include <apr_dbm.h>
#include <apr_errno.h>
#include <apr_pools.h>

#include "apr_ptr.h"

namespace mutual {
namespace {

using Pool = UniquePtr<apr_pool_t>;
using Dbm = UniquePtr<apr_dbm_t>;

// APR-util's Berkeley DB driver returns errno values offset by
// APR_OS_START_USEERR, which apr_strerror does not know.
std::string apr_message(apr_status_t status) {
    if (status > APR_OS_START_USEERR && status < APR_OS_START_USEERR + 4096)
        return std::string(std::strerror(static_cast<int>(status - APR_OS_START_USEERR))) +
               " (APR status " + std::to_string(status) + ")";
    char buffer[256];
    apr_strerror(status, buffer, sizeof buffer);
    return std::string(buffer) + " (APR status " + std::to_string(status) + ")";
}

// Why the open failed, in words an administrator can act on. Berkeley DB
// reports a missing file with a code apr_strerror does not know, so look at
// the file first.
std::string open_failure_reason(apr_pool_t* pool, const std::string& path,
                                const std::string& dbm_type, apr_status_t status) {
    const char* used1 = nullptr;
    const char* used2 = nullptr;
    if (apr_dbm_get_usednames_ex(pool, dbm_type.c_str(), path.c_str(), &used1, &used2) !=
        APR_SUCCESS) {
        return "DBM type \"" + dbm_type + "\" is not available in this APR-util: " +
               apr_message(status);
    }
    for (const char* used : {used1, used2}) {
        if (used == nullptr) continue;
        struct stat st;
        if (::stat(used, &st) != 0) return std::string(used) + ": " + std::strerror(errno);
    }
    return "cannot open as a \"" + dbm_type + "\" DBM file: " + apr_message(status);
}

// Berkeley DB (APR-util's "default" on Debian, and "db") prints its own
// diagnostics to stderr, which httpd sends to the error log: a file of
// random bytes makes it write hundreds of lines per lookup. Refuse files
// whose metadata page is not a Berkeley DB hash or btree page before libdb
// sees them, so a damaged file costs one clear log line.
// APR-util's "default" is Berkeley DB on Debian; a single-file default may
// also be GDBM (accepted by its magic below), a two-file one is SDBM.
bool default_is_single_file(apr_pool_t* pool, const std::string& path) {
    const char* used1 = nullptr;
    const char* used2 = nullptr;
    return apr_dbm_get_usednames_ex(pool, "default", path.c_str(), &used1, &used2) == APR_SUCCESS &&
           used2 == nullptr;
}

bool berkeley_db_header_plausible(const std::string& path, bool accept_gdbm, std::string& error) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) return true;  // let apr_dbm_open_ex report the OS error
    unsigned char header[32];
    const std::size_t got = std::fread(header, 1, sizeof header, file);
    std::fseek(file, 0, SEEK_END);
    const long size = std::ftell(file);
    std::fclose(file);
    auto word = [&](std::size_t offset, bool little) {
        const unsigned char* b = header + offset;
        return little ? (std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 |
                         std::uint32_t(b[3]) << 24)
                      : (std::uint32_t(b[3]) | std::uint32_t(b[2]) << 8 | std::uint32_t(b[1]) << 16 |
                         std::uint32_t(b[0]) << 24);
    };
    if (got == sizeof header) {
        for (bool little : {true, false}) {
            const std::uint32_t gdbm_magic = word(0, little);
            if (accept_gdbm && (gdbm_magic & 0xfffffff0u) == 0x13579ac0u) return true;
            const std::uint32_t magic = word(12, little);
            const std::uint32_t page = word(20, little);
            if ((magic == 0x061561 || magic == 0x053162) && page >= 512 && page <= 65536 &&
                (page & (page - 1)) == 0 && size > 0 && size % page == 0)
                return true;
        }
    }
    error = "not a Berkeley DB file, or damaged (bad metadata page or truncated)";
    return false;
}

}  // namespace

LookupStatus lookup_verifier_record(const std::string& path, const std::string& dbm_type,
                                    std::string_view user, std::string& value,
                                    std::string& error) {
    value.clear();
    error.clear();
    apr_pool_t* raw_pool = nullptr;
    if (apr_pool_create(&raw_pool, nullptr) != APR_SUCCESS || raw_pool == nullptr) {
        error = "cannot create an APR pool";
        return LookupStatus::open_failed;
    }
    Pool pool(raw_pool);

    if ((dbm_type == "db" || (dbm_type == "default" && default_is_single_file(pool.get(), path))) &&
        !berkeley_db_header_plausible(path, dbm_type == "default", error)) {
        error = "cannot open as a \"" + dbm_type + "\" DBM file: " + error;
        return LookupStatus::open_failed;
    }
    apr_dbm_t* raw_dbm = nullptr;
    apr_status_t status = apr_dbm_open_ex(&raw_dbm, dbm_type.c_str(), path.c_str(),
                                          APR_DBM_READONLY, APR_OS_DEFAULT, pool.get());
    if (status != APR_SUCCESS || raw_dbm == nullptr) {
        error = open_failure_reason(pool.get(), path, dbm_type, status);
        return LookupStatus::open_failed;
    }
    Dbm dbm(raw_dbm);

    apr_datum_t key;
    key.dptr = const_cast<char*>(user.data());
    key.dsize = user.size();
    apr_datum_t datum = {nullptr, 0};
    status = apr_dbm_fetch(dbm.get(), key, &datum);
    if (status != APR_SUCCESS) {
        char buffer[256];
        int code = 0;
        apr_dbm_geterror(dbm.get(), &code, buffer, sizeof buffer);
        error = std::string("cannot read: ") + buffer + " (" + apr_message(status) + ")";
        return LookupStatus::read_failed;
    }
    if (datum.dptr == nullptr) return LookupStatus::not_found;
    value.assign(datum.dptr, datum.dsize);
    apr_dbm_freedatum(dbm.get(), datum);
    return LookupStatus::found;
}

}  // namespace mutual

// Locked, atomic whole-file access to DBM verifier files (see verifier_file.h).
#include "verifier_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <apr_dbm.h>
#include <apr_errno.h>
#include <apr_file_info.h>
#include <apr_pools.h>

#include "apr_ptr.h"

namespace mutual {
namespace {

// sdbm keeps a key and its value in one 1024-byte page (PAIRMAX).
constexpr std::size_t sdbm_pair_max = 1008;

using Pool = UniquePtr<apr_pool_t>;
using Dbm = UniquePtr<apr_dbm_t>;

Pool new_pool() {
    apr_pool_t* pool = nullptr;
    if (apr_pool_create(&pool, nullptr) != APR_SUCCESS) return Pool();
    return Pool(pool);
}

DbmFileResult failure(DbmFileError error, std::string message) {
    return DbmFileResult{error, std::move(message)};
}

std::string errno_text(int error) { return std::strerror(error); }

// APR-util's Berkeley DB driver returns errno values offset by
// APR_OS_START_USEERR, which apr_strerror does not know.
std::string apr_text(apr_status_t status) {
    if (status > APR_OS_START_USEERR && status < APR_OS_START_USEERR + 4096)
        return std::strerror(static_cast<int>(status - APR_OS_START_USEERR));
    char buffer[256];
    apr_strerror(status, buffer, sizeof buffer);
    return buffer;
}

std::string dbm_text(apr_dbm_t* dbm, apr_status_t status) {
    char buffer[256];
    int code = 0;
    apr_dbm_geterror(dbm, &code, buffer, sizeof buffer);
    std::string text = buffer;
    if (text.empty() || code == 0) text = apr_text(status);
    return text;
}

std::string directory_of(const std::string& path) {
    std::string::size_type slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// Restores the process umask when it goes out of scope.
class UmaskGuard {
public:
    explicit UmaskGuard(mode_t mask) noexcept : old_(::umask(mask)) {}
    ~UmaskGuard() { ::umask(old_); }
    UmaskGuard(const UmaskGuard&) = delete;
    UmaskGuard& operator=(const UmaskGuard&) = delete;

private:
    mode_t old_;
};

class Fd {
public:
    explicit Fd(int fd) noexcept : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const noexcept { return fd_; }
    // close(2) can report a deferred write error.
    int close() noexcept {
        int fd = fd_;
        fd_ = -1;
        return fd >= 0 ? ::close(fd) : 0;
    }

private:
    int fd_;
};

void unlink_quietly(const std::string& name) {
    if (!name.empty()) ::unlink(name.c_str());
}

// Gives a freshly written temporary file the old file's attributes, then
// forces it to disk.
DbmFileResult settle_file(const std::string& name, const struct stat* old,
                          const std::string& path) {
    Fd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0)
        return failure(DbmFileError::access,
                       "cannot reopen " + name + ": " + errno_text(errno) +
                           "; check the free space and permissions of " + directory_of(path));
    if (old != nullptr) {
        struct stat now;
        if (::fstat(fd.get(), &now) != 0)
            return failure(DbmFileError::access, name + ": " + errno_text(errno));
        if ((now.st_uid != old->st_uid || now.st_gid != old->st_gid) &&
            ::fchown(fd.get(), old->st_uid, old->st_gid) != 0) {
            return failure(DbmFileError::access,
                           "cannot give the new " + path + " the owner " +
                               std::to_string(old->st_uid) + " and group " +
                               std::to_string(old->st_gid) + " of the old one (" +
                               errno_text(errno) +
                               "); run htmutual as root or as the owner of " + path +
                               ", or change its ownership first");
        }
        if (::fchmod(fd.get(), old->st_mode & 07777) != 0)
            return failure(DbmFileError::access,
                           "cannot copy the permissions of " + path + " to " + name + ": " +
                               errno_text(errno));
    }
    if (::fsync(fd.get()) != 0 || fd.close() != 0)
        return failure(DbmFileError::access,
                       "cannot write " + name + " to disk: " + errno_text(errno) +
                           "; check the free space of " + directory_of(path));
    return {};
}

}  // namespace

FileLock::~FileLock() {
    if (fd_ >= 0) {
        ::flock(fd_, LOCK_UN);
        ::close(fd_);
    }
}

DbmFileResult FileLock::acquire(const std::string& dbm_path, bool exclusive) {
    const std::string lock_path = dbm_path + ".lock";
    int fd;
    if (exclusive) {
        UmaskGuard umask_guard(077);
        fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    } else {
        // Readers create nothing: no lock file means no writer ever ran.
        fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) return {};
    }
    if (fd < 0) {
        return failure(DbmFileError::access,
                       "cannot create the lock file " + lock_path + ": " + errno_text(errno) +
                           "; run htmutual as a user who may write to " +
                           directory_of(dbm_path));
    }
    while (::flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
        if (errno == EINTR) continue;
        int error = errno;
        ::close(fd);
        return failure(DbmFileError::access,
                       "cannot lock " + lock_path + ": " + errno_text(error) +
                           "; check that the file system supports locks");
    }
    fd_ = fd;
    return {};
}

DbmFileResult dbm_file_names(const std::string& path, const std::string& dbm_type,
                             std::string& first, std::string& second) {
    first.clear();
    second.clear();
    Pool pool = new_pool();
    if (!pool) return failure(DbmFileError::access, "cannot create an APR pool (out of memory)");
    const char* used1 = nullptr;
    const char* used2 = nullptr;
    apr_status_t status =
        apr_dbm_get_usednames_ex(pool.get(), dbm_type.c_str(), path.c_str(), &used1, &used2);
    if (status != APR_SUCCESS || used1 == nullptr)
        return failure(DbmFileError::unsupported_type,
                       "DBM type \"" + dbm_type +
                           "\" is not available in this APR-util; use -T with one of "
                           "default, db, gdbm, sdbm");
    first = used1;
    if (used2 != nullptr) second = used2;
    return {};
}

bool dbm_file_exists(const std::string& path, const std::string& dbm_type) {
    std::string first, second;
    if (!dbm_file_names(path, dbm_type, first, second)) return false;
    struct stat st;
    if (::stat(first.c_str(), &st) != 0) return false;
    return second.empty() || ::stat(second.c_str(), &st) == 0;
}

DbmFileResult probe_dbm_file(const std::string& path, const std::string& dbm_type) {
    std::string first, second;
    if (DbmFileResult r = dbm_file_names(path, dbm_type, first, second); !r) return r;
    for (const std::string& name : {first, second}) {
        if (name.empty()) continue;
        Fd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() >= 0) continue;
        if (errno == ENOENT)
            return failure(DbmFileError::missing,
                           name + " does not exist; check the file name and -T, or use -c "
                                  "to create a new file");
        return failure(DbmFileError::access,
                       "cannot read " + name + ": " + errno_text(errno) +
                           "; run htmutual as a user who may read it");
    }
    return {};
}

DbmFileResult read_dbm_file(const std::string& path, const std::string& dbm_type,
                            DbmRecords& records) {
    records.clear();
    if (DbmFileResult r = probe_dbm_file(path, dbm_type); !r) return r;

    Pool pool = new_pool();
    if (!pool) return failure(DbmFileError::access, "cannot create an APR pool (out of memory)");
    apr_dbm_t* raw = nullptr;
    apr_status_t status = apr_dbm_open_ex(&raw, dbm_type.c_str(), path.c_str(),
                                          APR_DBM_READONLY, APR_OS_DEFAULT, pool.get());
    if (status != APR_SUCCESS || raw == nullptr)
        return failure(DbmFileError::not_dbm,
                       path + " is not a DBM file of type \"" + dbm_type + "\" (" +
                           apr_text(status) +
                           "); check the file name and -T, or restore the file from a backup");
    Dbm dbm(raw);

    apr_datum_t key = {nullptr, 0};
    status = apr_dbm_firstkey(dbm.get(), &key);
    while (status == APR_SUCCESS && key.dptr != nullptr) {
        apr_datum_t value = {nullptr, 0};
        apr_status_t fetched = apr_dbm_fetch(dbm.get(), key, &value);
        if (fetched != APR_SUCCESS || value.dptr == nullptr)
            return failure(DbmFileError::not_dbm,
                           "cannot read the record of a key in " + path + " (" +
                               dbm_text(dbm.get(), fetched) +
                               "); the file is damaged: restore it from a backup");
        records[std::string(key.dptr, key.dsize)] = std::string(value.dptr, value.dsize);
        apr_dbm_freedatum(dbm.get(), value);
        status = apr_dbm_nextkey(dbm.get(), &key);
    }
    if (status != APR_SUCCESS)
        return failure(DbmFileError::not_dbm,
                       "cannot read the keys of " + path + " (" + dbm_text(dbm.get(), status) +
                           "); the file is damaged: restore it from a backup");
    return {};
}

DbmFileResult replace_dbm_file(const std::string& path, const std::string& dbm_type,
                               const DbmRecords& records) {
    std::string target1, target2;
    if (DbmFileResult r = dbm_file_names(path, dbm_type, target1, target2); !r) return r;
    const bool two_files = !target2.empty();  // sdbm (and ndbm): one page per pair
    if (two_files) {
        for (const auto& [key, value] : records) {
            if (key.size() + value.size() > sdbm_pair_max)
                return failure(DbmFileError::too_large,
                               "the record of user \"" + key + "\" needs " +
                                   std::to_string(key.size() + value.size()) +
                                   " bytes, but DBM type \"" + dbm_type + "\" holds at most " +
                                   std::to_string(sdbm_pair_max) +
                                   " per user; use fewer algorithms per user or a file of "
                                   "type db or gdbm (-T)");
        }
    }

    const std::string temp_path = path + ".htmutual-new";
    std::string temp1, temp2;
    if (DbmFileResult r = dbm_file_names(temp_path, dbm_type, temp1, temp2); !r) return r;
    // Only one writer holds the lock: leftovers of a killed run may go.
    unlink_quietly(temp1);
    unlink_quietly(temp2);
    auto discard = [&](DbmFileResult r) {
        unlink_quietly(temp1);
        unlink_quietly(temp2);
        return r;
    };

    // rename(2) would replace a symbolic link by a regular file and leave the
    // file it points to unchanged: refuse instead of silently moving it.
    for (const std::string& name : {target1, target2}) {
        struct stat link_stat;
        if (!name.empty() && ::lstat(name.c_str(), &link_stat) == 0 &&
            S_ISLNK(link_stat.st_mode))
            return discard(failure(DbmFileError::access,
                                   name + " is a symbolic link; run htmutual on the file "
                                          "it points to (see: readlink -f " + name + ")"));
    }

    struct stat old_stat;
    const bool have_old = ::stat(target1.c_str(), &old_stat) == 0;

    Pool pool = new_pool();
    if (!pool) return failure(DbmFileError::access, "cannot create an APR pool (out of memory)");
    {
        apr_dbm_t* raw = nullptr;
        apr_status_t status;
        {
            UmaskGuard umask_guard(077);
            status = apr_dbm_open_ex(&raw, dbm_type.c_str(), temp_path.c_str(), APR_DBM_RWCREATE,
                                     APR_FPROT_UREAD | APR_FPROT_UWRITE, pool.get());
        }
        if (status != APR_SUCCESS || raw == nullptr)
            return discard(failure(
                status == APR_ENOTIMPL ? DbmFileError::unsupported_type : DbmFileError::access,
                "cannot create " + temp1 + " (" + apr_text(status) +
                    "); check that you may write to " + directory_of(path) +
                    " and that -T names a DBM type this APR-util supports"));
        Dbm dbm(raw);
        for (const auto& [key_text, value_text] : records) {
            apr_datum_t key = {const_cast<char*>(key_text.data()), key_text.size()};
            apr_datum_t value = {const_cast<char*>(value_text.data()), value_text.size()};
            status = apr_dbm_store(dbm.get(), key, value);
            if (status != APR_SUCCESS) {
                std::string reason = dbm_text(dbm.get(), status);
                return discard(failure(DbmFileError::access,
                                       "cannot write the record of user \"" + key_text +
                                           "\" to " + temp1 + " (" + reason +
                                           "); check the free space of " + directory_of(path) +
                                           ". " + path + " was not changed"));
            }
        }
        // apr_dbm_close (the Dbm destructor) flushes; it reports no status.
    }

    for (const std::string& name : {temp1, temp2}) {
        if (name.empty()) continue;
        if (DbmFileResult r = settle_file(name, have_old ? &old_stat : nullptr, path); !r)
            return discard(r);
    }
    if (::rename(temp1.c_str(), target1.c_str()) != 0) {
        int error = errno;
        return discard(failure(DbmFileError::access,
                               "cannot rename " + temp1 + " to " + target1 + ": " +
                                   errno_text(error) + "; " + path + " was not changed"));
    }
    if (!temp2.empty() && ::rename(temp2.c_str(), target2.c_str()) != 0) {
        int error = errno;
        return discard(failure(DbmFileError::access,
                               "cannot rename " + temp2 + " to " + target2 + ": " +
                                   errno_text(error) + "; " + target1 +
                                   " is new but its companion is old: run the same htmutual "
                                   "command again to rewrite both"));
    }
    Fd dir(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) ::fsync(dir.get());  // best effort: the data itself is synced
    return {};
}

}  // namespace mutual

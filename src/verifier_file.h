// Whole-file access to a DBM verifier file for htmutual: a sidecar lock,
// reading every record, and replacing the file atomically.
//
// Writers hold an exclusive flock(2) on "FILE.lock" around the whole
// read-modify-write, so concurrent htmutual runs never lose an entry.
// replace_dbm_file writes a complete new DBM under a temporary name in the
// same directory, fsyncs it and renames it over the old file(s), so a failed
// write leaves the old file intact and readers (the module opens the file per
// lookup) see the old or the new file, never a half-written one. The DBM
// types that use two files (sdbm: FILE.dir and FILE.pag) are renamed one
// after the other; see docs/htmutual.1.
#ifndef MUTUAL_VERIFIER_FILE_H
#define MUTUAL_VERIFIER_FILE_H

#include <map>
#include <string>

namespace mutual {

enum class DbmFileError {
    none = 0,
    missing,           // the file does not exist
    access,            // the OS refused (permissions, I/O error, disk full)
    unsupported_type,  // this APR-util has no such DBM type
    not_dbm,           // exists and is readable, but is not a DBM of that type
    too_large,         // a record does not fit the DBM type (sdbm: 1008 bytes)
};

struct DbmFileResult {
    DbmFileError error = DbmFileError::none;
    std::string message;  // what went wrong and what to do, for the user
    explicit operator bool() const noexcept { return error == DbmFileError::none; }
};

// key (prepared user name) -> value (verifier record), sorted by key.
using DbmRecords = std::map<std::string, std::string>;

// An flock(2) on "<path>.lock", released by the destructor. The lock file is
// created with mode 0600 when missing and never removed (removing it would
// let two writers lock different inodes).
class FileLock {
public:
    FileLock() = default;
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

    // exclusive: for writers, who create the lock file when missing. Readers
    // take a shared lock on an existing lock file and create nothing; without
    // one (no writer ever ran, or it cannot be opened) they go on unlocked and
    // this returns success with locked() false.
    DbmFileResult acquire(const std::string& dbm_path, bool exclusive);
    bool locked() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// The file names the DBM type uses for `path` (one, or two for sdbm).
DbmFileResult dbm_file_names(const std::string& path, const std::string& dbm_type,
                             std::string& first, std::string& second);

// True when every file of the DBM exists.
bool dbm_file_exists(const std::string& path, const std::string& dbm_type);

// Checks that every file of the DBM exists (else `missing`) and can be opened
// for reading (else `access`), without opening it as a DBM.
DbmFileResult probe_dbm_file(const std::string& path, const std::string& dbm_type);

// Reads every key and value.
DbmFileResult read_dbm_file(const std::string& path, const std::string& dbm_type,
                            DbmRecords& records);

// Replaces the DBM at `path` by one holding exactly `records`. A new file
// gets mode 0600; an existing file's mode, owner and group are kept (failing
// when they cannot be, rather than leaving a file the server cannot read).
// The caller holds the exclusive FileLock and should block termination
// signals around the call.
DbmFileResult replace_dbm_file(const std::string& path, const std::string& dbm_type,
                               const DbmRecords& records);

}  // namespace mutual

#endif

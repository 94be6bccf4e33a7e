// Read access to a DBM verifier file through APR-util's apr_dbm, the way
// mod_authn_dbm does it: open read-only per lookup, close at once; "not
// found" is a normal answer. Writing is htmutual's business (src/tools/).
#ifndef MUTUAL_VERIFIER_STORE_H
#define MUTUAL_VERIFIER_STORE_H

#include <string>
#include <string_view>

namespace mutual {

enum class LookupStatus { found, not_found, open_failed, read_failed };

// Looks up `user` (prepared UTF-8, key without terminating NUL) in the DBM
// file `path` of type `dbm_type` ("default", "db", "gdbm", "ndbm", "sdbm").
// On failure `error` gets a human-readable reason (APR's message) for the log.
LookupStatus lookup_verifier_record(const std::string& path, const std::string& dbm_type,
                                    std::string_view user, std::string& value,
                                    std::string& error);

}  // namespace mutual

#endif

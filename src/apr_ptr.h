// UniquePtr<T> (unique_handle.h) for the APR handles the core uses outside
// httpd (the verifier file and the DBM verifier store).
#ifndef MUTUAL_APR_PTR_H
#define MUTUAL_APR_PTR_H

#include <apr_dbm.h>
#include <apr_pools.h>

#include "unique_handle.h"

MUTUAL_MAKE_DELETER(apr_pool_t, apr_pool_destroy)
MUTUAL_MAKE_DELETER(apr_dbm_t, apr_dbm_close)

#endif

// mod_auth_floor: the benchmark's floor for session reuse (docs/performance.md).
//
// An authentication module that does no work: for `AuthType Floor` it
// accepts any "Authorization: Mutual ..." as user "bench" and answers with an
// Authentication-Info header as long as a real 200-VFY-S. It never checks
// anything, so it is built for bench/run.sh only and never installed.
//
// What it measures: a request through httpd's authentication and
// authorization phases (check_authn, Require valid-user, the extra request
// and response header) costs httpd CPU whatever a module does in them. The
// bench's "floor" row is that cost; session reuse × floor is what
// mod_auth_mutual adds on top of it.
#include <strings.h>

#include "http_core.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "httpd.h"

namespace {

// As long as a 200-VFY-S of a SHA-256 algorithm: the sid's 32 octets in
// hex, VK_s's 32 in base64.
constexpr char authentication_info[] =
    "version=1, sid=0000000000000000000000000000000000000000000000000000000000000000, "
    "vks=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

int check_authn(request_rec* r) {
    const char* type = ap_auth_type(r);
    if (type == nullptr || strcasecmp(type, "Floor") != 0) return DECLINED;
    const char* credentials = apr_table_get(r->headers_in, "Authorization");
    if (credentials == nullptr || strncasecmp(credentials, "Mutual ", 7) != 0) return HTTP_UNAUTHORIZED;
    r->user = const_cast<char*>("bench");
    r->ap_auth_type = const_cast<char*>("Floor");
    apr_table_setn(r->headers_out, "Authentication-Info", authentication_info);
    return OK;
}

void register_hooks(apr_pool_t*) {
    ap_hook_check_authn(check_authn, nullptr, nullptr, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
}

}  // namespace

extern "C" {
module AP_MODULE_DECLARE_DATA auth_floor_module __attribute__((visibility("default"))) = {
    STANDARD20_MODULE_STUFF, nullptr, nullptr, nullptr, nullptr, nullptr, register_hooks,
#if defined(AP_MODULE_FLAG_NONE)
    AP_MODULE_FLAG_NONE,
#endif
};
}

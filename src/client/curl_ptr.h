// UniquePtr<T> (unique_handle.h) for the libcurl and libpsl handles the
// client uses, and CurlString for the strings libcurl hands out.
#ifndef MUTUAL_CLIENT_CURL_PTR_H
#define MUTUAL_CLIENT_CURL_PTR_H

#include <memory>

#include <curl/curl.h>
#include <libpsl.h>

#include "unique_handle.h"

MUTUAL_MAKE_DELETER(CURL, curl_easy_cleanup)
MUTUAL_MAKE_DELETER(CURLU, curl_url_cleanup)
MUTUAL_MAKE_DELETER(curl_slist, curl_slist_free_all)
MUTUAL_MAKE_DELETER(psl_ctx_t, psl_free)

namespace mutual {
namespace client {

// A string allocated by libcurl (curl_url_get, curl_easy_escape, ...): a
// distinct deleter, since UniquePtr<char> would claim every char*.
struct CurlFree {
    void operator()(char* s) const noexcept { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlFree>;

}  // namespace client
}  // namespace mutual

#endif

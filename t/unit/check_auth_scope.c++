// Check suite: origins and authentication scopes (src/auth_scope.h), shared
// by the module's directives, the server and the client: the vh of the host
// validation method, the single-server auth-scope (RFC 6454 §6.2
// serialization), default ports and the label-wise domain match. The
// directive grammar and the server's coverage rule are exercised in
// check_server_exchange, the client's in check_client.
#include <cstdlib>
#include <string>

#include "auth_scope.h"

#include "test_support.h"  // before check.h (its fail() macro)

// After the C++ headers: check.h defines a macro named fail.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

namespace {

START_TEST(host_validation_value_always_has_the_port) {
    assert_text_eq(host_validation_value("http", "example.com", 80), "http://example.com:80");
    assert_text_eq(host_validation_value("HTTPS", "Example.COM", 8443),
                   "https://example.com:8443");
    assert_text_eq(host_validation_value("http", "[::1]", 81), "http://[::1]:81");
}
END_TEST

START_TEST(single_server_scope_omits_the_default_port) {
    ck_assert_uint_eq(default_port("http"), 80);
    ck_assert_uint_eq(default_port("https"), 443);
    ck_assert_uint_eq(default_port("ftp"), 0);
    assert_text_eq(single_server_scope("http", "example.com", 80), "http://example.com");
    assert_text_eq(single_server_scope("https", "example.com", 443), "https://example.com");
    assert_text_eq(single_server_scope("https", "example.com", 80), "https://example.com:80");
    assert_text_eq(single_server_scope("http", "example.com", 443), "http://example.com:443");
    assert_text_eq(single_server_scope("HTTP", "Example.com", 80), "http://example.com");
    assert_text_eq(single_server_scope("http", "[::1]", 8080), "http://[::1]:8080");
    // Every single-server scope it makes passes the directive's grammar.
    ck_assert(check_auth_scope(single_server_scope("https", "www.example.com", 8443)).empty());
    ck_assert(check_auth_scope(single_server_scope("http", "www.example.com", 80)).empty());
}
END_TEST

START_TEST(auth_scope_forms) {
    ck_assert(auth_scope_form("http://example.com") == AuthScopeForm::single_server);
    ck_assert(auth_scope_form("https://[::1]:8443") == AuthScopeForm::single_server);
    ck_assert(auth_scope_form("*.example.com") == AuthScopeForm::wildcard_domain);
    ck_assert(auth_scope_form("*.") == AuthScopeForm::single_host);  // nothing after "*."
    ck_assert(auth_scope_form("example.com") == AuthScopeForm::single_host);
    ck_assert(auth_scope_form("") == AuthScopeForm::single_host);
}
END_TEST

START_TEST(host_in_domain_matches_whole_labels) {
    ck_assert(host_in_domain("example.com", "example.com"));
    ck_assert(host_in_domain("www.example.com", "example.com"));
    ck_assert(host_in_domain("a.b.example.com", "example.com"));
    ck_assert(!host_in_domain("evilexample.com", "example.com"));
    ck_assert(!host_in_domain("example.com", "www.example.com"));
    ck_assert(!host_in_domain("example.com.evil", "example.com"));
}
END_TEST

}  // namespace

int main() {
    Suite* s = suite_create("auth_scope");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, host_validation_value_always_has_the_port);
    tcase_add_test(tc, single_server_scope_omits_the_default_port);
    tcase_add_test(tc, auth_scope_forms);
    tcase_add_test(tc, host_in_domain_matches_whole_labels);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

// Check suite: the RFC 8053 builders of src/authentication_control.h
// (Authentication-Control per response kind, quoting and ext-value forms of
// §4/§4.1, Optional-WWW-Authenticate with path), parsed back with the
// module's own grammar (http_auth_grammar.h).
#include <string>
#include <vector>

#include "authentication_control.h"
#include "http_auth_grammar.h"

#include "test_support.h"  // before check.h (its fail() macro)

// After the C++ headers: check.h defines a macro named fail.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

namespace {

AuthenticationControl everything() {
    AuthenticationControl c;
    c.logout_timeout = 60;
    c.location_when_unauthenticated = "http://www.example.com/login.html";
    c.location_when_logout = "/bye bye.html";
    c.modal = false;
    c.no_auth = true;
    c.username = "admin";
    return c;
}

// The header value parsed back: one entry of scheme Mutual.
AuthItem parse_back(const std::string& value) {
    std::vector<AuthItem> items;
    const HeaderError e = parse_challenges(value, items);
    ck_assert_msg(e == HeaderError::none, "%s: %s", value.c_str(), header_error_name(e));
    ck_assert_uint_eq(items.size(), 1);
    assert_text_eq(items[0].scheme, "Mutual");
    return items[0];
}

}  // namespace

START_TEST(parameters_go_on_the_responses_section_4_names) {
    const AuthenticationControl c = everything();
    assert_text_eq(authentication_control("r", c, ControlResponse::success),
                   "Mutual realm=\"r\", location-when-logout=\"/bye bye.html\", logout-timeout=60");
    assert_text_eq(authentication_control("r", c, ControlResponse::initializing),
                   "Mutual realm=\"r\", auth-style=non-modal, "
                   "location-when-unauthenticated=\"http://www.example.com/login.html\", "
                   "no-auth=true, username=\"admin\"");
    assert_text_eq(authentication_control("r", c, ControlResponse::negative),
                   "Mutual realm=\"r\", auth-style=non-modal, username=\"admin\"");
    assert_text_eq(authentication_control("r", c, ControlResponse::intermediate), "");
    assert_text_eq(authentication_control("r", c, ControlResponse::optional), "");
    assert_text_eq(authentication_control("r", c, ControlResponse::logout),
                   "Mutual realm=\"r\", location-when-logout=\"/bye bye.html\", logout-timeout=0");
}
END_TEST

START_TEST(nothing_configured_nothing_sent_except_logout) {
    const AuthenticationControl none;
    for (ControlResponse k : {ControlResponse::success, ControlResponse::initializing,
                              ControlResponse::negative, ControlResponse::intermediate,
                              ControlResponse::optional})
        assert_text_eq(authentication_control("r", none, k), "");
    assert_text_eq(authentication_control("r", none, ControlResponse::logout),
                   "Mutual realm=\"r\", logout-timeout=0");
    AuthenticationControl modal;
    modal.modal = true;
    assert_text_eq(authentication_control("r", modal, ControlResponse::initializing),
                   "Mutual realm=\"r\", auth-style=modal");
}
END_TEST

START_TEST(quoting_and_ext_values_of_section_4_1) {
    AuthenticationControl c;
    c.username = "Ren\xc3\xa9" "e of France";
    c.location_when_logout = "/a\"b\\c";
    c.logout_timeout = 0;
    // Non-ASCII string: ext-value, UTF-8, empty language; the realm stays a
    // plain quoted-string even when it is not ASCII.
    const std::string init = authentication_control("r\xc3\xa9" "alm \"q\"", c, ControlResponse::initializing);
    assert_text_eq(init, "Mutual realm=\"r\xc3\xa9" "alm \\\"q\\\"\", username*=UTF-8''Ren%C3%A9e%20of%20France");
    AuthItem item = parse_back(init);
    const Param* user = item.find("username");
    ck_assert_ptr_nonnull(user);
    ck_assert(user->extended);
    assert_text_eq(user->value, "Ren\xc3\xa9" "e of France");
    const Param* realm = item.find("realm");
    ck_assert_ptr_nonnull(realm);
    ck_assert(realm->quoted && !realm->extended);
    assert_text_eq(realm->value, "r\xc3\xa9" "alm \"q\"");
    // ASCII strings are quoted (escapes) and never ext-values; integers plain.
    const std::string ok = authentication_control("r", c, ControlResponse::success);
    assert_text_eq(ok, "Mutual realm=\"r\", location-when-logout=\"/a\\\"b\\\\c\", logout-timeout=0");
    item = parse_back(ok);
    assert_text_eq(item.find("location-when-logout")->value, "/a\"b\\c");
    ck_assert(!item.find("logout-timeout")->quoted);
    assert_text_eq(item.find("logout-timeout")->value, "0");
}
END_TEST

START_TEST(control_strings_are_checked) {
    assert_text_eq(check_control_string("http://example.com/x y"), "");
    assert_text_eq(check_control_string("Ren\xc3\xa9" "e"), "");
    ck_assert(!check_control_string("a\tb").empty());
    ck_assert(!check_control_string("a\r\nX-Injected: 1").empty());
    ck_assert(!check_control_string("\x7f").empty());
    ck_assert(!check_control_string("\xc3").empty());
}
END_TEST

START_TEST(optional_www_authenticate_adds_path_to_each_challenge) {
    const std::vector<std::string> init = {
        "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, "
        "auth-scope=\"h\", realm=\"r\", reason=initial",
        "Mutual version=1, algorithm=iso-kam3-dl-2048-sha256, validation=host, "
        "auth-scope=\"h\", realm=\"r\", reason=initial"};
    assert_text_eq(optional_www_authenticate(init, std::nullopt), init[0] + ", " + init[1]);
    const std::string with_path = optional_www_authenticate(init, std::string("/a/ http://h/b/"));
    assert_text_eq(with_path, init[0] + ", path=\"/a/ http://h/b/\", " + init[1] + ", path=\"/a/ http://h/b/\"");
    std::vector<AuthItem> items;
    ck_assert(parse_challenges(with_path, items) == HeaderError::none);
    ck_assert_uint_eq(items.size(), 2);
    for (const AuthItem& item : items) assert_text_eq(item.find("path")->value, "/a/ http://h/b/");
}
END_TEST

START_TEST(mutual_authorization_is_recognised_by_scheme) {
    ck_assert(is_mutual_authorization("Mutual version=1"));
    ck_assert(is_mutual_authorization("  mUTUAL\tversion=1"));
    ck_assert(is_mutual_authorization("Mutual"));
    ck_assert(!is_mutual_authorization("Basic YWxpY2U6eA=="));
    ck_assert(!is_mutual_authorization("Mutually x"));
    ck_assert(!is_mutual_authorization("Mutua"));
    ck_assert(!is_mutual_authorization(""));
}
END_TEST

int main() {
    Suite* s = suite_create("authentication_control");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, parameters_go_on_the_responses_section_4_names);
    tcase_add_test(tc, nothing_configured_nothing_sent_except_logout);
    tcase_add_test(tc, quoting_and_ext_values_of_section_4_1);
    tcase_add_test(tc, control_strings_are_checked);
    tcase_add_test(tc, optional_www_authenticate_adds_path_to_each_challenge);
    tcase_add_test(tc, mutual_authorization_is_recognised_by_scheme);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

// Check suite: the per-directory settings of the module (location_settings.h)
// and a location's policy from them and the connection (connection_policy.h):
// defaults, directive refusals, httpd's merge, owning copies, the policy's
// vh and the refusals answered outside the decision.
#include <string>

#include "algorithm.h"
#include "protocol_defaults.h"
#include "server/connection_policy.h"
#include "server/location_settings.h"
#include "server/server.h"

#include "test_support.h"  // before check.h (its fail() macro)

// check.h defines a fail() macro: include it after the C++ library headers.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

namespace {

const char* const scope = "http://127.0.0.1:8080";

ConnectionFacts facts(bool tls = false) {
    ConnectionFacts f;
    f.realm = "r";
    f.uri = "/x/";
    f.tls = tls;
    f.host = "127.0.0.1";
    f.port = 8080;
    return f;
}

}  // namespace

START_TEST(defaults) {
    const LocationSettings s;
    ck_assert_uint_eq(s.algorithm_count(), 1);
    ck_assert(s.algorithm(0) == find_algorithm(default_algorithm_name));
    ck_assert(s.nc_max() == default_nc_max);
    ck_assert_uint_eq(s.nc_window(), default_nc_window);
    ck_assert_uint_eq(s.session_time(), default_session_time);
    ck_assert_uint_eq(s.recheck_interval(), 60);
    ck_assert(s.dbm_type() == "default");
    ck_assert(!s.has_auth_scope() && !s.has_host() && !s.path() && !s.optional());
    ck_assert(s.validation() == LocationSettings::Validation::automatic);
    ck_assert(!s.throttle().any());
    ck_assert(s.partition().empty());
}
END_TEST

START_TEST(refusals_name_the_directive) {
    LocationSettings s;
    ck_assert(s.set("AuthMutualSessionTime", "0") == "AuthMutualSessionTime: 0 is out of range (1..31622400)");
    ck_assert(s.set("AuthMutualNcWindow", "127") == "AuthMutualNcWindow: 127 is out of range (128..1024)");
    ck_assert(s.set("AuthMutualNcMax", "1e3") == "AuthMutualNcMax: \"1e3\" is not a decimal number");
    ck_assert(s.set("AuthMutualSessionTime", "060") == "AuthMutualSessionTime: \"060\" is not a decimal number");
    ck_assert(s.set("AuthMutualScope", "HTTP://Example.com").rfind("AuthMutualScope \"HTTP://Example.com\": ", 0) == 0);
    ck_assert(s.set("AuthMutualLocationWhenLogout", "") == "AuthMutualLocationWhenLogout \"\": empty value");
    ck_assert(s.set("AuthMutualLocationWhenLogout", "/a\x01") ==
              "AuthMutualLocationWhenLogout \"/a\x01\": contains a control character");
    ck_assert(s.set("AuthMutualValidation", "tls-unique").rfind("AuthMutualValidation: tls-unique is not supported", 0) == 0);
    ck_assert(s.set("AuthMutualValidation", "x") == "AuthMutualValidation: \"x\" is not one of auto, host, tls-server-end-point");
    ck_assert(s.set("AuthMutualAuthStyle", "x") == "AuthMutualAuthStyle: \"x\" is not modal or non-modal");
    ck_assert(s.set("AuthMutualPath", "/a b") ==
              "AuthMutualPath: \"/a b\" contains a space, quote, backslash or control character");
    ck_assert(s.set("AuthMutualDBMType", "x") == "AuthMutualDBMType: unknown DBM type \"x\" (default, db, gdbm, ndbm, sdbm)");
    ck_assert(s.set("AuthMutualProvider", "ldap") == "AuthMutualProvider: unknown provider \"ldap\" (dbm, dbd)");
    ck_assert(s.set("AuthMutualAlgorithms", "x").rfind("AuthMutualAlgorithms: unknown algorithm \"x\"", 0) == 0);
    ck_assert(s.set("AuthMutualUsername", std::string(257, 'u')) ==
              "AuthMutualUsername \"" + std::string(257, 'u') + "\": longer than 256 octets");
    ck_assert(s.set("AuthMutualDBDUserQuery", "SELECT v FROM t WHERE u = %s AND d = %d") ==
              "AuthMutualDBDUserQuery \"SELECT v FROM t WHERE u = %s AND d = %d\": needs exactly one %s "
              "(the user name) and no other parameter, found 2");
    ck_assert(s.set("AuthMutualMaxFailures", "5") == "AuthMutualMaxFailures: <count> <seconds> or off");
    ck_assert(s.set("AuthMutualMaxFailures", "0", false, std::string_view("60")) ==
              "AuthMutualMaxFailures: 0 is out of range (1..1000000)");
    // Nothing refused was kept.
    ck_assert(s.same(LocationSettings()));
}
END_TEST

START_TEST(values_are_kept) {
    LocationSettings s;
    ck_assert(s.set("AuthMutualScope", scope).empty());
    ck_assert(s.set("AuthMutualAlgorithms", "iso-kam3-ec-p521-sha512").empty());
    ck_assert(s.set("AuthMutualAlgorithms", "iso-kam3-ec-p256-sha256", true).empty());
    ck_assert(s.set("AuthMutualAlgorithms", "iso-kam3-ec-p256-sha256", true) ==
              "AuthMutualAlgorithms: \"iso-kam3-ec-p256-sha256\" listed twice");
    ck_assert_uint_eq(s.algorithm_count(), 2);
    ck_assert(s.algorithm(0)->name() == "iso-kam3-ec-p521-sha512");
    ck_assert(s.set("AuthMutualPath", "/a/").empty());
    ck_assert(s.set("AuthMutualPath", "/b/", true).empty());
    ck_assert(*s.path() == "/a/ /b/");
    ck_assert(s.set("AuthMutualPath", "/c/").empty());   // a new line replaces the list
    ck_assert(*s.path() == "/c/");
    ck_assert(s.set("AuthMutualMaxFailures", "5", false, std::string_view("60")).empty());
    ck_assert(s.throttle().user_failures.count == 5 && s.throttle().user_failures.seconds == 60);
    ck_assert(s.set("AuthMutualMaxFailures", "off").empty());
    ck_assert(!s.throttle().user_failures.enabled());
    ck_assert(s.set("AuthMutualUserFile", "/etc/users").empty());
    ck_assert(s.partition() == "/etc/users");
    ck_assert(s.set("AuthMutualProvider", "dbd").empty());
    ck_assert(s.set("AuthMutualProvider", "dbm", true).empty());
    ck_assert(s.set("AuthMutualDBDUserQuery", "SELECT v FROM t WHERE u = %s").empty());
    ck_assert(s.partition() == "dbd:SELECT v FROM t WHERE u = %s\ndbm:/etc/users");
    ck_assert(s.query_label().rfind("auth_mutual_", 0) == 0);
    ck_assert(s.set("AuthMutualValidation", "HOST").empty());
    ck_assert(s.validation() == LocationSettings::Validation::host);
    ck_assert(s.set("AuthMutualOptional", "on").empty() && s.optional());
}
END_TEST

START_TEST(merge_follows_httpd) {
    LocationSettings outer;
    ck_assert(outer.set("AuthMutualScope", scope).empty());
    ck_assert(outer.set("AuthMutualNcMax", "100").empty());
    ck_assert(outer.set("AuthMutualAlgorithms", "iso-kam3-ec-p521-sha512").empty());
    LocationSettings inner;
    ck_assert(inner.set("AuthMutualNcMax", "50").empty());
    ck_assert(inner.set("AuthMutualSessionTime", "60").empty());
    const LocationSettings merged(outer, inner);
    ck_assert(merged.auth_scope() == scope);           // inherited
    ck_assert(merged.nc_max() == 50);                   // the inner section's
    ck_assert_uint_eq(merged.session_time(), 60);
    ck_assert_uint_eq(merged.algorithm_count(), 1);
    ck_assert(merged.algorithm(0)->name() == "iso-kam3-ec-p521-sha512");
    ck_assert_uint_eq(merged.nc_window(), default_nc_window);   // set nowhere
    // A list set in the inner section replaces the inherited one.
    LocationSettings listing;
    ck_assert(listing.set("AuthMutualAlgorithms", "iso-kam3-ec-p256-sha256").empty());
    const LocationSettings replaced(merged, listing);
    ck_assert_uint_eq(replaced.algorithm_count(), 1);
    ck_assert(replaced.algorithm(0)->name() == "iso-kam3-ec-p256-sha256");
    ck_assert(replaced.nc_max() == 50);
    // An unset inner section changes nothing; merging again is the same.
    // The glue's merge returns the other side itself when one sets nothing.
    const LocationSettings unset;
    ck_assert(unset.sets_nothing() && !outer.sets_nothing() && !merged.sets_nothing());
    const LocationSettings same(merged, unset);
    ck_assert(same.same(merged));
    ck_assert(LocationSettings(unset, inner).same(inner));
    ck_assert(!merged.same(outer));
    // A copy owns its values: it outlives what it was copied from.
    auto* temporary = new LocationSettings(outer, inner);
    const LocationSettings copy(*temporary);
    delete temporary;
    ck_assert(copy.same(merged));
    ck_assert(copy.auth_scope() == scope);
    // A copy is the same; a set() on the original makes it differ.
    LocationSettings changing;
    ck_assert(changing.set("AuthMutualNcMax", "100").empty());
    const LocationSettings before(changing);
    ck_assert(before.same(changing));
    ck_assert(changing.set("AuthMutualNcMax", "101").empty());
    ck_assert(!before.same(changing) && !changing.same(before));
    ck_assert(changing.set("AuthMutualNcMax", "100").empty());
    ck_assert(before.same(changing));   // by content again
}
END_TEST

START_TEST(policy_from_settings_and_facts) {
    LocationSettings s;
    ck_assert(s.set("AuthMutualScope", scope).empty());
    ck_assert(s.set("AuthMutualNoAuth", "on").empty());
    ConnectionPolicy connection;
    const char* tag = nullptr;
    std::string problem;
    const LocationPolicy* p = connection.policy(s, facts(), tag, problem);
    ck_assert_ptr_nonnull(p);
    ck_assert(p->origin == "http://127.0.0.1:8080" && p->vh == p->origin && p->validation == "host");
    ck_assert(p->control.initializing == "Mutual realm=\"r\", no-auth=true");
    ck_assert(p->control.success.empty());
    // Kept while nothing changes.
    ck_assert_ptr_eq(connection.policy(LocationSettings(s), facts(), tag, problem), p);
    ck_assert(connection.foreign_host(*p, "127.0.0.1:8080", false).empty());
    ck_assert(connection.foreign_host(*p, "example.com", false).rfind("vh is http://127.0.0.1:8080: the request's Host \"example.com:80\"", 0) == 0);
    // Another port: an origin the scope does not cover.
    ConnectionFacts other = facts();
    other.port = 8081;
    ck_assert_ptr_null(connection.policy(s, other, tag, problem));
    ck_assert_str_eq(tag, "MUT01405");
    // TLS without a certificate: no binding.
    ck_assert_ptr_null(connection.policy(s, facts(true), tag, problem));
    ck_assert_str_eq(tag, "MUT01405");   // https://127.0.0.1:8080 is outside the http scope
    LocationSettings tls;
    ck_assert(tls.set("AuthMutualScope", "127.0.0.1").empty());
    ck_assert_ptr_null(connection.policy(tls, facts(true), tag, problem));
    ck_assert_str_eq(tag, "MUT01014");
    // Without AuthMutualScope.
    ck_assert_ptr_null(connection.policy(LocationSettings(), facts(), tag, problem));
    ck_assert_str_eq(tag, "MUT01012");
    // A realm that cannot be sent as it is.
    ConnectionFacts quoted = facts();
    quoted.realm = "a\"b";
    ck_assert_ptr_null(connection.policy(s, quoted, tag, problem));
    ck_assert_str_eq(tag, "MUT01410");
}
END_TEST

START_TEST(refusals_outside_the_decision) {
    LocationSettings s;
    ck_assert(s.set("AuthMutualScope", scope).empty());
    ck_assert(s.set("AuthMutualAuthStyle", "modal").empty());
    ck_assert(s.set("AuthMutualLocationWhenLogout", "/bye").empty());
    ExchangeResult r = ConnectionPolicy::refusal(s, facts(), "authz-failed");
    ck_assert(r.outcome == ExchangeOutcome::init && r.reason == "authz-failed");
    ck_assert_uint_eq(r.www_authenticate.size(), 1);
    ck_assert(r.www_authenticate[0].find("reason=authz-failed") != std::string::npos);
    ck_assert(r.authentication_control == "Mutual realm=\"r\", auth-style=modal");
    ck_assert(ConnectionPolicy::logout_control(s, facts()) ==
              "Mutual realm=\"r\", location-when-logout=\"/bye\", logout-timeout=0");
    ck_assert(ConnectionPolicy::success_control(s, facts()) == "Mutual realm=\"r\", location-when-logout=\"/bye\"");
    ConnectionFacts proxy = facts();
    proxy.proxy = true;   // RFC 8120 §14: no RFC 8053 on a proxy's answers
    ck_assert(ConnectionPolicy::refusal(s, proxy, "initial").authentication_control.empty());
    ck_assert(ConnectionPolicy::logout_control(s, proxy).empty());
    // Even without AuthMutualScope a well-formed challenge is sent.
    ck_assert_uint_eq(ConnectionPolicy::refusal(LocationSettings(), facts(), "internal-error").www_authenticate.size(), 1);
}
END_TEST

START_TEST(server_wide_settings) {
    ServerOptions o;
    ck_assert(o.set("AuthMutualSessionTableSize", "15") == "AuthMutualSessionTableSize: 15 is out of range (16..4194304)");
    ck_assert(o.set("AuthMutualMaxKeyExchanges", "0") == "AuthMutualMaxKeyExchanges: 0 is out of range (1..4194304)");
    ck_assert(o.set("AuthMutualSessionTableSize", "512").empty() && o.table_slots == 512);
    ck_assert(o.set("AuthMutualSessionStore", "http://x").rfind("AuthMutualSessionStore: ", 0) == 0);
    ck_assert(o.set("AuthMutualSessionStore", "redis://127.0.0.1:6390/2").empty());
    ck_assert(o.store_url == "redis://127.0.0.1:6390/2");
    ck_assert(o.set("AuthMutualSessionStore", "SHM").empty() && o.store_url.empty());
    ck_assert(o.set("AuthMutualSessionStoreTimeout", "250").empty() && o.store_timeout_ms == 250);
}
END_TEST

int main() {
    Suite* s = suite_create("location_settings");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, refusals_name_the_directive);
    tcase_add_test(tc, values_are_kept);
    tcase_add_test(tc, merge_follows_httpd);
    tcase_add_test(tc, policy_from_settings_and_facts);
    tcase_add_test(tc, refusals_outside_the_decision);
    tcase_add_test(tc, server_wide_settings);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

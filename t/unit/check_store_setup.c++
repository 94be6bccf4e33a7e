// Check suite: the session store from the module's directive values
// (store_setup.h): URL check, key file, timeout and quota, failure tags.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "server/store_setup.h"

#include "test_support.h"  // before check.h (its fail() macro)

// check.h defines a fail() macro: include it after the C++ library headers.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

START_TEST(urls_are_checked) {
    ck_assert(check_redis_store_url("redis://127.0.0.1:6390/2").empty());
    ck_assert(!check_redis_store_url("http://127.0.0.1").empty());
}
END_TEST

START_TEST(store_made_from_directive_values) {
    ServerOptions table;
    table.table_slots = 1000;   // AuthMutualMaxKeyExchanges unset: half the slots
    RedisStoreSetup bad = make_redis_store("rediss://x", nullptr, 0, table);
    ck_assert_ptr_null(bad.store.get());
    ck_assert_str_eq(bad.tag, "MUT02101");
    ck_assert(bad.problem.rfind("AuthMutualSessionStore: ", 0) == 0);
    RedisStoreSetup no_key = make_redis_store("redis://127.0.0.1:6390", nullptr, 0, table);
    ck_assert_ptr_null(no_key.store.get());
    ck_assert_str_eq(no_key.tag, "MUT02102");
    ck_assert(no_key.problem == "AuthMutualSessionStoreKey: missing");

    char path[] = "/tmp/check_store_setup.XXXXXX";
    const int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const std::string key(32, 'k');
    ck_assert_int_eq(write(fd, key.data(), key.size()), 32);
    close(fd);
    RedisStoreSetup made = make_redis_store("redis://127.0.0.1:6390/2", path, 0, table);
    ck_assert_ptr_nonnull(made.store.get());
    ck_assert(made.summary == "at redis://127.0.0.1:6390/2 (timeout 500 ms, at most 500 pending key exchanges)");
    table.max_key_exchanges = 10;
    made = make_redis_store("redis://127.0.0.1:6390", path, 250, table);
    ck_assert(made.summary == "at redis://127.0.0.1:6390 (timeout 250 ms, at most 10 pending key exchanges)");
    std::remove(path);
}
END_TEST

int main() {
    Suite* s = suite_create("store_setup");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, urls_are_checked);
    tcase_add_test(tc, store_made_from_directive_values);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

// Check suite: the verifier sources shared by every provider
// (src/server/verifier_source.h): record_answer (record text -> answer,
// the DBM value or SQL rows joined with ","), the cache rule of stores
// without a file identity (DatabaseVerifierSource through
// VerifierRecordCache::lookup_timed) and the AuthMutualProvider chain.
#include "test_support.h"

#include <check.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "algorithm.h"
#include "log.h"
#include "server/location_verifiers.h"
#include "server/verifier_source.h"
#include "verifier_record.h"

using namespace mutual;
using mutual::test::run_suite;

namespace {

constexpr const char* scope = "example.com";
constexpr const char* realm = "sql realm";

std::vector<std::string> captured;
void capture_sink(void*, LogLevel, const char* tag, const std::string& message) {
    captured.push_back(std::string(tag) + " " + message);
}
bool logged(const char* tag, const char* part = "") {
    for (const auto& line : captured)
        if (line.compare(0, std::strlen(tag), tag) == 0 && line.find(part) != std::string::npos)
            return true;
    return false;
}

const Algorithm& alg(const char* name) { return *find_algorithm(name); }
const Algorithm& p256() { return alg("iso-kam3-ec-p256-sha256"); }
const Algorithm& dl2048() { return alg("iso-kam3-dl-2048-sha256"); }

VerifierEntry entry(const Algorithm& a, const char* user, const char* password,
                    const char* entry_realm = realm) {
    VerifierEntry e;
    e.algorithm = &a;
    e.auth_scope = scope;
    e.realm = entry_realm;
    ck_assert(a.verifier(compute_pi(a, password, scope, entry_realm, user), e.j) == KexError::none);
    return e;
}

// A table of rows per user, counting the queries; `down` makes it fail.
class TableQuery final : public RecordQuery {
public:
    LookupStatus fetch(std::string_view user, std::string& value, std::string& error) const override {
        ++queries;
        if (down) {
            error = "connection refused";
            return LookupStatus::open_failed;
        }
        auto it = rows.find(std::string(user));
        if (it == rows.end() || it->second.empty()) return LookupStatus::not_found;
        for (std::size_t i = 0; i < it->second.size(); ++i) {
            if (i > 0) value += ",";
            value += it->second[i];
        }
        return LookupStatus::found;
    }
    std::map<std::string, std::vector<std::string>> rows;
    mutable int queries = 0;
    bool down = false;
};

// A source answering one status (the chain's tests).
class FixedSource final : public VerifierSource {
public:
    explicit FixedSource(VerifierStatus s) : status(s) {}
    VerifierAnswer lookup(std::string_view, const Algorithm&) const override {
        ++lookups;
        VerifierAnswer a;
        a.status = status;
        a.detail = verifier_status_name(status);
        return a;
    }
    VerifierAnswer lookup_current(std::string_view u, const Algorithm& a) const override {
        ++current_lookups;
        return lookup(u, a);
    }
    VerifierStatus status;
    mutable int lookups = 0, current_lookups = 0;
};

}  // namespace

// ---- record_answer ------------------------------------------------------------------

START_TEST(record_answer_decodes_like_the_dbm_record) {
    captured.clear();
    set_log_sink(capture_sink, nullptr);
    const VerifierEntry e = entry(p256(), "alice", "pw");
    const VerifierEntry d = entry(dl2048(), "alice", "pw");
    const VerifierEntry other = entry(p256(), "alice", "pw", "other realm");
    const std::string where = "the database (test)";
    auto answer = [&](LookupStatus st, const std::string& value, const Algorithm& a) {
        return record_answer(st, value, "why", where, "alice", a, scope, realm);
    };
    // one record, and the same entries as two rows joined with ","
    VerifierAnswer r = answer(LookupStatus::found, encode_record({e, d}), p256());
    ck_assert(r.status == VerifierStatus::found && r.j == e.j);
    const std::string rows = encode_record({e}) + "," + encode_record({d});
    r = answer(LookupStatus::found, rows, dl2048());
    ck_assert(r.status == VerifierStatus::found && r.j == d.j);
    ck_assert(logged("MUT01202", "the database (test)"));
    // a row for another realm only
    r = answer(LookupStatus::found, encode_record({other}), p256());
    ck_assert(r.status == VerifierStatus::wrong_realm);
    ck_assert(logged("MUT01203", "other realm"));
    // a row for another realm and one for this realm: found
    r = answer(LookupStatus::found, encode_record({other}) + "," + encode_record({e}), p256());
    ck_assert(r.status == VerifierStatus::found && r.j == e.j);
    // no entry for the algorithm
    r = answer(LookupStatus::found, encode_record({d}), p256());
    ck_assert(r.status == VerifierStatus::no_verifier);
    ck_assert(logged("MUT01204"));
    // malformed: a row that is not a record, an empty row (NULL column),
    // the same entry in two rows
    for (const std::string& bad : {std::string("$2y$05$abcdefghijklmnopqrstuv"),
                                    encode_record({e}) + ",", encode_record({e}) + "," + encode_record({e})}) {
        captured.clear();
        r = answer(LookupStatus::found, bad, p256());
        ck_assert_msg(r.status == VerifierStatus::bad_record, "%s", bad.c_str());
        ck_assert(logged("MUT01201", "rewrite it with htmutual"));
    }
    ck_assert(answer(LookupStatus::found, encode_record({e}) + "," + encode_record({e}), p256()).detail.find(
                  record_error_name(RecordError::duplicate_entry)) != std::string::npos);
    // no record, and a store failure whose reason is the detail
    r = answer(LookupStatus::not_found, "", p256());
    ck_assert(r.status == VerifierStatus::unknown_user);
    ck_assert(logged("MUT01200", "the database (test)"));
    r = answer(LookupStatus::open_failed, "", p256());
    ck_assert(r.status == VerifierStatus::store_failed && r.detail == "why");
    r = answer(LookupStatus::read_failed, "", p256());
    ck_assert(r.status == VerifierStatus::store_failed);
    set_log_sink(nullptr, nullptr);
}
END_TEST

// ---- the cache rule of stores without a file identity ----------------------------------

START_TEST(database_record_age_is_bounded_by_the_recheck_interval) {
    ck_assert_uint_eq(database_record_age(0), 0);
    ck_assert_uint_eq(database_record_age(1), 1);
    ck_assert_uint_eq(database_record_age(database_record_max_age), database_record_max_age);
    ck_assert_uint_eq(database_record_age(60), database_record_max_age);
}
END_TEST

START_TEST(database_records_are_cached_for_max_age_and_rechecks_read_the_store) {
    TableQuery table;
    const VerifierEntry e = entry(p256(), "alice", "pw");
    const VerifierEntry changed = entry(p256(), "alice", "new pw");
    table.rows["alice"] = {encode_record({e})};
    VerifierRecordCache cache;
    std::int64_t now = 1000;
    auto source = [&](std::uint32_t max_age) {
        return DatabaseVerifierSource(table, "server 1 query 1", "the database", scope, realm, &cache,
                                      now, max_age);
    };
    // Within max_age (10 s): one query, a record and "no record" alike.
    ck_assert(source(10).lookup("alice", p256()).j == e.j);
    ck_assert(source(10).lookup("nobody", p256()).status == VerifierStatus::unknown_user);
    now += 9;
    ck_assert(source(10).lookup("alice", p256()).j == e.j);
    ck_assert(source(10).lookup("nobody", p256()).status == VerifierStatus::unknown_user);
    ck_assert_int_eq(table.queries, 2);
    ck_assert_uint_eq(cache.statistics().hits, 2);
    // The row changes: a key exchange may still see the old one inside
    // max_age, the recheck (lookup_current) never does, and refreshes it.
    table.rows["alice"] = {encode_record({changed})};
    ck_assert(source(10).lookup("alice", p256()).j == e.j);
    ck_assert(source(10).lookup_current("alice", p256()).j == changed.j);
    ck_assert_int_eq(table.queries, 3);
    ck_assert(source(10).lookup("alice", p256()).j == changed.j);
    ck_assert_int_eq(table.queries, 3);
    // Deleted: the recheck sees it at once; after max_age every lookup does.
    table.rows.erase("alice");
    ck_assert(source(10).lookup_current("alice", p256()).status == VerifierStatus::unknown_user);
    ck_assert(source(10).lookup("alice", p256()).status == VerifierStatus::unknown_user);
    table.rows["bob"] = {encode_record({entry(p256(), "bob", "pw")})};
    ck_assert(source(10).lookup("bob", p256()).status == VerifierStatus::found);
    table.rows.erase("bob");
    now += 10;   // exactly max_age later: too old
    ck_assert(source(10).lookup("bob", p256()).status == VerifierStatus::unknown_user);
    // max_age 0 (AuthMutualRecheckInterval 0): every lookup asks the store.
    const int before = table.queries;
    source(0).lookup("carol", p256());
    source(0).lookup("carol", p256());
    ck_assert_int_eq(table.queries, before + 2);
    // A clock set back does not make an entry live forever.
    table.rows["dave"] = {encode_record({entry(p256(), "dave", "pw")})};
    ck_assert(source(10).lookup("dave", p256()).status == VerifierStatus::found);
    now -= 5;
    const int q = table.queries;
    source(10).lookup("dave", p256());
    ck_assert_int_eq(table.queries, q + 1);
    // Failures are never kept: the store down, then back.
    now += 100;
    table.down = true;
    VerifierAnswer r = source(10).lookup("dave", p256());
    ck_assert(r.status == VerifierStatus::store_failed && r.detail == "connection refused");
    table.down = false;
    ck_assert(source(10).lookup("dave", p256()).status == VerifierStatus::found);
    // Another source name (another server's database) has its own entries.
    const int q2 = table.queries;
    DatabaseVerifierSource elsewhere(table, "server 2 query 1", "the database", scope, realm, &cache, now, 10);
    elsewhere.lookup("dave", p256());
    ck_assert_int_eq(table.queries, q2 + 1);
    // Without a cache: always the store.
    DatabaseVerifierSource uncached(table, "x", "the database", scope, realm, nullptr, now, 10);
    uncached.lookup("dave", p256());
    uncached.lookup("dave", p256());
    ck_assert_int_eq(table.queries, q2 + 3);
}
END_TEST

START_TEST(timed_cache_respects_its_size_limit) {
    TableQuery table;
    VerifierRecordCache cache(4);
    for (int i = 0; i < 10; ++i) {
        DatabaseVerifierSource s(table, "s", "db", scope, realm, &cache, 1000, 10);
        s.lookup("user" + std::to_string(i), p256());
    }
    ck_assert_int_eq(table.queries, 10);
    // the oldest were evicted, the newest are kept
    DatabaseVerifierSource s(table, "s", "db", scope, realm, &cache, 1000, 10);
    s.lookup("user9", p256());
    ck_assert_int_eq(table.queries, 10);
    s.lookup("user0", p256());
    ck_assert_int_eq(table.queries, 11);
}
END_TEST

// ---- AuthMutualProvider: the chain ---------------------------------------------------------

START_TEST(chain_first_hit_wins) {
    FixedSource unknown(VerifierStatus::unknown_user), found(VerifierStatus::found),
        failed(VerifierStatus::store_failed), wrong(VerifierStatus::wrong_realm),
        none(VerifierStatus::no_verifier), bad(VerifierStatus::bad_record);
    {
        VerifierChain chain;   // no source: fail closed
        ck_assert(chain.empty());
        ck_assert(chain.lookup("u", p256()).status == VerifierStatus::store_failed);
    }
    {
        VerifierChain chain;   // unknown passes on
        chain.add(&unknown);
        chain.add(&found);
        ck_assert(chain.lookup("u", p256()).status == VerifierStatus::found);
        ck_assert_int_eq(unknown.lookups, 1);
        ck_assert_int_eq(found.lookups, 1);
    }
    {
        VerifierChain chain;   // unknown everywhere: unknown (a fake session)
        chain.add(&unknown);
        chain.add(&unknown);
        ck_assert(chain.lookup("u", p256()).status == VerifierStatus::unknown_user);
    }
    for (FixedSource* first : {&failed, &wrong, &none, &bad}) {
        VerifierChain chain;   // anything else ends the search
        chain.add(first);
        chain.add(&found);
        const int before = found.lookups;
        ck_assert(chain.lookup("u", p256()).status == first->status);
        ck_assert_int_eq(found.lookups, before);
    }
    {
        VerifierChain chain;   // the recheck asks every source for its current record
        chain.add(&unknown);
        chain.add(&found);
        ck_assert(chain.lookup_current("u", p256()).status == VerifierStatus::found);
        ck_assert_int_eq(unknown.current_lookups, 1);
        ck_assert_int_eq(found.current_lookups, 1);
    }
    {
        VerifierChain chain;   // a listed provider without its configuration
        chain.add(&unknown);
        chain.add(&found, "AuthMutualProvider dbd without AuthMutualDBDUserQuery");
        VerifierAnswer a = chain.lookup("u", p256());
        ck_assert(a.status == VerifierStatus::store_failed);
        ck_assert_str_eq(a.detail.c_str(), "AuthMutualProvider dbd without AuthMutualDBDUserQuery");
    }
}
END_TEST

START_TEST(chain_of_dbm_and_database) {
    // the DBM source answers unknown for a missing user file entry: the
    // database answers next; the J found is the database's
    TableQuery table;
    const VerifierEntry e = entry(p256(), "sam", "pw");
    table.rows["sam"] = {encode_record({e})};
    VerifierRecordCache cache;
    DatabaseVerifierSource sql(table, "s", "the database", scope, realm, &cache, 1000, 10);
    FixedSource dbm_unknown(VerifierStatus::unknown_user);
    VerifierChain chain;
    chain.add(&dbm_unknown);
    chain.add(&sql);
    VerifierAnswer a = chain.lookup("sam", p256());
    ck_assert(a.status == VerifierStatus::found && a.j == e.j);
    table.down = true;   // the database down: fail closed
    ck_assert(chain.lookup("nobody", p256()).status == VerifierStatus::store_failed);
}
END_TEST

// A location's sources from its directive values, as the module composes
// them: no provider list means the DBM file alone (or nothing); a listed
// source without its directive answers store_failed, saying which.
START_TEST(location_verifiers_follow_the_directives) {
    TableQuery table;
    const VerifierEntry e = entry(p256(), "alice", "pw");
    table.rows["alice"] = {encode_record({e})};
    VerifierRecordCache cache;
    LocationVerifiers::Settings none;
    ck_assert_ptr_null(LocationVerifiers(none, scope, realm, &cache, 1000).get());

    LocationVerifiers::Settings file;
    file.user_file = "/nonexistent/users.db";
    LocationVerifiers dbm_only(file, scope, realm, &cache, 1000);
    ck_assert_ptr_nonnull(dbm_only.get());
    dbm_only.add_database();   // AuthMutualProvider dbd: the list replaces the file alone
    ck_assert(dbm_only.get()->lookup("alice", p256()).status == VerifierStatus::store_failed);

    LocationVerifiers unconfigured(none, scope, realm, &cache, 1000);
    unconfigured.add_database();
    const VerifierAnswer a = unconfigured.get()->lookup("alice", p256());
    ck_assert(a.status == VerifierStatus::store_failed);
    ck_assert(a.detail.find("AuthMutualProvider dbd without AuthMutualDBDUserQuery") != std::string::npos);

    LocationVerifiers::Settings sql;
    sql.query = &table;
    sql.query_cache_name = "server 1 query 1";
    sql.query_text = "SELECT verifier FROM users WHERE name = %s";
    sql.recheck_interval = 60;
    LocationVerifiers database(sql, scope, realm, &cache, 1000);
    database.add_database();
    ck_assert(database.get()->lookup("alice", p256()).j == e.j);
    ck_assert_int_eq(table.queries, 1);
}
END_TEST

// The glue's query in standard types, as a RecordQuery: rows joined with
// ",", no row not_found, a failed query read_failed with its reason.
START_TEST(rows_record_query_joins_the_rows) {
    std::vector<std::string> answer;
    bool up = true;
    const DatabaseQuery query = [&](std::string_view user, std::vector<std::string>& rows, std::string& error) {
        ck_assert(user == "alice");
        if (!up) {
            error = "connection refused";
            return false;
        }
        rows = answer;
        return true;
    };
    const RowsRecordQuery rows(query);
    std::string value, error;
    ck_assert(rows.fetch("alice", value, error) == LookupStatus::not_found);
    ck_assert(value.empty());
    answer = {"a", "b", "c"};
    ck_assert(rows.fetch("alice", value, error) == LookupStatus::found);
    assert_text_eq(value, "a,b,c");
    value.clear();
    up = false;
    ck_assert(rows.fetch("alice", value, error) == LookupStatus::read_failed);
    ck_assert(value.empty());
    assert_text_eq(error, "connection refused");
}
END_TEST

int main() {
    Suite* s = suite_create("verifier_source");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, record_answer_decodes_like_the_dbm_record);
    tcase_add_test(tc, database_record_age_is_bounded_by_the_recheck_interval);
    tcase_add_test(tc, database_records_are_cached_for_max_age_and_rechecks_read_the_store);
    tcase_add_test(tc, timed_cache_respects_its_size_limit);
    tcase_add_test(tc, chain_first_hit_wins);
    tcase_add_test(tc, chain_of_dbm_and_database);
    tcase_add_test(tc, location_verifiers_follow_the_directives);
    tcase_add_test(tc, rows_record_query_joins_the_rows);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

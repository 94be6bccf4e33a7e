// Check suite: the verifier record codec (verifier_record.h,
// docs/verifier-format.md) and the read-only DBM lookup (verifier_store.h).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <apr_dbm.h>
#include <apr_general.h>

#include "algorithm.h"
#include "encoding.h"
#include "verifier_record.h"
#include "verifier_store.h"
#include "test_support.h"

// After the C++ headers: check.h defines macros (fail, ...) they trip over.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

namespace {

#define assert_record_error(value, expected)                                                  \
    do {                                                                                      \
        std::vector<VerifierEntry> out_(1);                                                   \
        RecordError got_ = decode_record((value), out_);                                      \
        ck_assert_msg(got_ == (expected), "decode_record(\"%s\"): got %s, want %s",           \
                      std::string(value).c_str(), record_error_name(got_),                    \
                      record_error_name(expected));                                           \
        ck_assert_msg(out_.empty(), "entries left behind after an error");                    \
    } while (0)

VerifierEntry kat_entry(const std::string& name) {
    const json& v = kat_vector(name);  // fails the test when missing
    VerifierEntry e;
    e.algorithm = find_algorithm(v["algorithm"].get<std::string>());
    ck_assert_ptr_nonnull(e.algorithm);
    e.auth_scope = v["inputs"]["auth_scope"].get<std::string>();
    e.realm = v["inputs"]["realm"].get<std::string>();
    e.j = from_hex(v["derived"]["J"].get<std::string>());
    return e;
}

const char* const algorithm_names[] = {"iso-kam3-dl-2048-sha256", "iso-kam3-dl-4096-sha512",
                                       "iso-kam3-ec-p256-sha256", "iso-kam3-ec-p521-sha512"};

// A valid P-256 entry, the ascii KAT vector's.
std::string p256_entry_text() { return encode_record({kat_entry("iso-kam3-ec-p256-sha256/ascii")}); }

}  // namespace

START_TEST(encodes_the_documented_form) {
    VerifierEntry e = kat_entry("iso-kam3-ec-p256-sha256/ascii");
    assert_text_eq(encode_record({e}),
                   "1;iso-kam3-ec-p256-sha256;http%3A%2F%2Fexample.com;mutualref%20test%20realm;" +
                       kat_vector("iso-kam3-ec-p256-sha256/ascii")["derived"]["J"]
                           .get<std::string>());
    // DL: J in base64-fixed-number (the same octets).
    VerifierEntry d = kat_entry("iso-kam3-dl-2048-sha256/ascii");
    const std::string text = encode_record({d});
    const std::string prefix =
        "1;iso-kam3-dl-2048-sha256;http%3A%2F%2Fexample.com;mutualref%20test%20realm;";
    ck_assert(text.compare(0, prefix.size(), prefix) == 0);
    assert_text_eq(text.substr(prefix.size()), encode_base64_fixed(d.j));
    ck_assert_uint_eq(text.size() - prefix.size(), 344u);  // 256 octets
}
END_TEST

START_TEST(round_trip_every_kat_vector) {
    for (const json& v : kat_vectors()) {
        VerifierEntry e = kat_entry(v["name"].get<std::string>());
        const std::string text = encode_record({e});
        // Never a separator, whitespace or non-ASCII octet outside the encodings.
        for (char c : text) {
            unsigned char u = static_cast<unsigned char>(c);
            ck_assert_msg(u > 0x20 && u < 0x7f && c != ':' && c != '"' && c != '\\',
                          "octet 0x%02x in %s", u, text.c_str());
        }
        std::vector<VerifierEntry> out;
        ck_assert_int_eq(static_cast<int>(decode_record(text, out)),
                         static_cast<int>(RecordError::none));
        ck_assert_uint_eq(out.size(), 1u);
        ck_assert_ptr_eq(out[0].algorithm, e.algorithm);
        assert_text_eq(out[0].auth_scope, e.auth_scope);
        assert_text_eq(out[0].realm, e.realm);
        ck_assert(out[0].j == e.j);
        assert_text_eq(encode_record(out), text);
    }
    ck_assert_uint_eq(kat_vectors().size(), 12u);
}
END_TEST

START_TEST(multiple_entries) {
    std::vector<VerifierEntry> in;
    for (const char* name : algorithm_names) in.push_back(kat_entry(std::string(name) + "/ascii"));
    in.push_back(kat_entry("iso-kam3-ec-p256-sha256/utf8"));  // same algorithm, other scope
    in.push_back(kat_entry("iso-kam3-ec-p256-sha256/edge"));  // other realm and scope
    VerifierEntry other_realm = kat_entry("iso-kam3-ec-p256-sha256/ascii");
    other_realm.realm = "another realm";
    in.push_back(other_realm);

    const std::string text = encode_record(in);
    std::vector<VerifierEntry> out;
    ck_assert_int_eq(static_cast<int>(decode_record(text, out)),
                     static_cast<int>(RecordError::none));
    ck_assert_uint_eq(out.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        ck_assert_ptr_eq(out[i].algorithm, in[i].algorithm);
        assert_text_eq(out[i].realm, in[i].realm);
        ck_assert(out[i].j == in[i].j);
    }

    const Algorithm* p256 = find_algorithm("iso-kam3-ec-p256-sha256");
    const Algorithm* p521 = find_algorithm("iso-kam3-ec-p521-sha512");
    const VerifierEntry* hit = find_entry(out, *p256, "http://example.com", "another realm");
    ck_assert_ptr_nonnull(hit);
    ck_assert(hit->j == other_realm.j);
    hit = find_entry(out, *p256, "*.example.com", "Quote \" and \\ backslash, comma");
    ck_assert_ptr_nonnull(hit);
    ck_assert(hit->j == in[5].j);
    ck_assert_ptr_eq(find_entry(out, *p521, "http://example.com", "mutualref test realm"),
                     &out[3]);
    // Exact matches only: no case folding, no trailing slash tolerance.
    ck_assert_ptr_null(find_entry(out, *p256, "http://example.com/", "mutualref test realm"));
    ck_assert_ptr_null(find_entry(out, *p256, "http://example.com", "Mutualref test realm"));
    ck_assert_ptr_null(find_entry(out, *p521, "example.com", "mutualref test realm"));
    ck_assert_ptr_null(find_entry({}, *p256, "http://example.com", "mutualref test realm"));
}
END_TEST

START_TEST(percent_encoding_edges) {
    assert_text_eq(percent_encode_field(""), "");
    assert_text_eq(percent_encode_field("*.example.com"), "*.example.com");
    assert_text_eq(percent_encode_field("AZaz09-._~*"), "AZaz09-._~*");
    assert_text_eq(percent_encode_field("a;b,c:d%e f\"g\\h"),
                   "a%3Bb%2Cc%3Ad%25e%20f%22g%5Ch");
    assert_text_eq(percent_encode_field("Ren\xc3\xa9" "e"), "Ren%C3%A9e");
    assert_text_eq(percent_encode_field(std::string("\0\x7f\xff", 3)), "%00%7F%FF");

    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    std::string decoded;
    ck_assert(percent_decode_field(percent_encode_field(all), decoded));
    ck_assert(decoded == all);

    ck_assert(percent_decode_field("", decoded));
    assert_text_eq(decoded, "");
    ck_assert(percent_decode_field("%3A%2F%2F", decoded));
    assert_text_eq(decoded, ":/" "/");
    // Rejected: lower-case hex, short or bad escapes, characters that must be
    // escaped, escapes of characters that must not be.
    for (const char* bad : {"%3a", "%3", "%", "a%", "%G0", "%0G", "a b", "a:b", "a;b", "a,b",
                            "a\"b", "a/b", "%41", "%2A", "%7E", "Ren\xc3\xa9" "e", "a\tb"}) {
        decoded = "stale";
        ck_assert_msg(!percent_decode_field(bad, decoded), "accepted \"%s\"", bad);
    }
}
END_TEST

START_TEST(error_empty) {
    const std::string entry = p256_entry_text();
    assert_record_error("", RecordError::empty);
    assert_record_error(entry + ",", RecordError::empty);
    assert_record_error("," + entry, RecordError::empty);
    assert_record_error(entry + ",," + entry, RecordError::empty);
}
END_TEST

START_TEST(error_bad_version) {
    const std::string entry = p256_entry_text();
    assert_record_error("2" + entry.substr(1), RecordError::bad_version);
    assert_record_error("01" + entry.substr(1), RecordError::bad_version);
    assert_record_error("1", RecordError::bad_version);
    assert_record_error("x", RecordError::bad_version);
    assert_record_error(" " + entry, RecordError::bad_version);
    // An htpasswd/htdbm hash is not a record.
    assert_record_error("$apr1$abcdefgh$0123456789abcdefghijkl", RecordError::bad_version);
    assert_record_error(entry + ",2" + entry.substr(1), RecordError::bad_version);
}
END_TEST

START_TEST(error_bad_field_count) {
    const std::string entry = p256_entry_text();
    assert_record_error("1;iso-kam3-ec-p256-sha256;scope;realm", RecordError::bad_field_count);
    assert_record_error(entry + ";", RecordError::bad_field_count);
    assert_record_error(entry + ";extra", RecordError::bad_field_count);
    assert_record_error("1;", RecordError::bad_field_count);
}
END_TEST

START_TEST(error_unknown_algorithm) {
    const std::string entry = p256_entry_text();
    const std::string rest = entry.substr(std::string("1;iso-kam3-ec-p256-sha256").size());
    assert_record_error("1;iso-kam3-ec-p384-sha384" + rest, RecordError::unknown_algorithm);
    assert_record_error("1;ISO-KAM3-EC-P256-SHA256" + rest, RecordError::unknown_algorithm);
    assert_record_error("1;" + rest, RecordError::unknown_algorithm);
}
END_TEST

START_TEST(error_bad_percent) {
    const VerifierEntry e = kat_entry("iso-kam3-ec-p256-sha256/ascii");
    const std::string j = e.algorithm->encode_key(e.j);
    assert_record_error("1;iso-kam3-ec-p256-sha256;http%3a%2F%2Fexample.com;r;" + j,
                        RecordError::bad_percent);
    assert_record_error("1;iso-kam3-ec-p256-sha256;http://example.com;r;" + j,
                        RecordError::bad_percent);
    assert_record_error("1;iso-kam3-ec-p256-sha256;s;mutualref test realm;" + j,
                        RecordError::bad_percent);
    assert_record_error("1;iso-kam3-ec-p256-sha256;s;r%2;" + j, RecordError::bad_percent);
    assert_record_error("1;iso-kam3-ec-p256-sha256;s;%72;" + j, RecordError::bad_percent);
}
END_TEST

START_TEST(error_bad_verifier) {
    const VerifierEntry e = kat_entry("iso-kam3-ec-p256-sha256/ascii");
    const std::string head = "1;iso-kam3-ec-p256-sha256;s;r;";
    std::string j = e.algorithm->encode_key(e.j);
    assert_record_error(head, RecordError::bad_verifier);                       // empty
    assert_record_error(head + j.substr(2), RecordError::bad_verifier);         // short
    assert_record_error(head + j + "00", RecordError::bad_verifier);            // long
    assert_record_error(head + "zz" + j.substr(2), RecordError::bad_verifier);  // not hex
    std::string upper = j;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ck_assert(upper != j);
    assert_record_error(head + upper, RecordError::bad_verifier);  // not canonical
    // x >= p: no point on P-256.
    assert_record_error(head + "01" + std::string(64, 'f'), RecordError::bad_verifier);
    // P(J) with a first octet above 3 is not a point encoding.
    assert_record_error(head + "04" + j.substr(2), RecordError::bad_verifier);

    // DL: 1 and 0 are outside 1 < J < q - 1; base64 of the wrong length.
    const std::string dl_head = "1;iso-kam3-dl-2048-sha256;s;r;";
    Bytes one(256, 0);
    one.back() = 1;
    assert_record_error(dl_head + encode_base64_fixed(one), RecordError::bad_verifier);
    Bytes zero(256, 0);
    assert_record_error(dl_head + encode_base64_fixed(zero), RecordError::bad_verifier);
    Bytes all_ones(256, 0xff);  // above q
    assert_record_error(dl_head + encode_base64_fixed(all_ones), RecordError::bad_verifier);
    Bytes short_j(255, 7);
    assert_record_error(dl_head + encode_base64_fixed(short_j), RecordError::bad_verifier);
    // An EC value in a DL entry.
    assert_record_error(dl_head + j, RecordError::bad_verifier);
}
END_TEST

// validate=false skips only the group-element check of J; length, encoding
// and canonical spelling are still enforced.
START_TEST(decode_without_validation_skips_only_the_group_check) {
    const VerifierEntry e = kat_entry("iso-kam3-ec-p256-sha256/ascii");
    const std::string head = "1;iso-kam3-ec-p256-sha256;s;r;";
    const std::string j = e.algorithm->encode_key(e.j);
    const std::string not_on_curve = head + "01" + std::string(64, 'f');
    std::vector<VerifierEntry> out;
    ck_assert(decode_record(not_on_curve, out) == RecordError::bad_verifier);
    ck_assert(decode_record(not_on_curve, out, true) == RecordError::bad_verifier);
    ck_assert(decode_record(not_on_curve, out, false) == RecordError::none);
    ck_assert_uint_eq(out.size(), 1);
    ck_assert_uint_eq(out[0].j.size(), e.algorithm->element_length());
    Bytes one(256, 0);
    one.back() = 1;
    const std::string dl_one = "1;iso-kam3-dl-2048-sha256;s;r;" + encode_base64_fixed(one);
    ck_assert(decode_record(dl_one, out) == RecordError::bad_verifier);
    ck_assert(decode_record(dl_one + "," + head + j, out, false) == RecordError::none);
    ck_assert_uint_eq(out.size(), 2);
    ck_assert(out[1].j == e.j);
    // Still refused without validation: short, not hex, not canonical.
    ck_assert(decode_record(head + j.substr(2), out, false) == RecordError::bad_verifier);
    ck_assert(decode_record(head + "zz" + j.substr(2), out, false) == RecordError::bad_verifier);
    std::string upper = j;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ck_assert(decode_record(head + upper, out, false) == RecordError::bad_verifier);
    ck_assert(decode_record(head + j + "," + head + j, out, false) == RecordError::duplicate_entry);
}
END_TEST

START_TEST(error_duplicate_entry) {
    const std::string entry = p256_entry_text();
    assert_record_error(entry + "," + entry, RecordError::duplicate_entry);
    VerifierEntry a = kat_entry("iso-kam3-ec-p256-sha256/ascii");
    VerifierEntry b = kat_entry("iso-kam3-ec-p256-sha256/utf8");
    b.auth_scope = a.auth_scope;
    b.realm = a.realm;  // same key, different J: still a duplicate
    const std::string dl = encode_record({kat_entry("iso-kam3-dl-2048-sha256/ascii")});
    assert_record_error(encode_record({a}) + "," + dl + "," + encode_record({b}),
                        RecordError::duplicate_entry);
}
END_TEST

START_TEST(error_names_are_distinct) {
    const RecordError all[] = {RecordError::none,          RecordError::empty,
                               RecordError::bad_version,   RecordError::bad_field_count,
                               RecordError::unknown_algorithm, RecordError::bad_percent,
                               RecordError::bad_verifier,  RecordError::duplicate_entry};
    for (RecordError a : all) {
        ck_assert(record_error_name(a) != nullptr && *record_error_name(a) != '\0');
        for (RecordError b : all)
            if (a != b) ck_assert_str_ne(record_error_name(a), record_error_name(b));
    }
}
END_TEST

// ---- verifier_store --------------------------------------------------------

namespace {

std::string make_temp_dir() {
    char pattern[] = "/tmp/check_verifier_store.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(pattern));
    return pattern;
}

void write_dbm(const std::string& path, const char* type,
               const std::vector<std::pair<std::string, std::string>>& pairs) {
    apr_pool_t* pool = nullptr;
    ck_assert_int_eq(apr_pool_create(&pool, nullptr), APR_SUCCESS);
    apr_dbm_t* dbm = nullptr;
    ck_assert_int_eq(apr_dbm_open_ex(&dbm, type, path.c_str(), APR_DBM_RWCREATE,
                                     APR_FPROT_UREAD | APR_FPROT_UWRITE, pool),
                     APR_SUCCESS);
    for (const auto& [k, v] : pairs) {
        apr_datum_t key = {const_cast<char*>(k.data()), k.size()};
        apr_datum_t value = {const_cast<char*>(v.data()), v.size()};
        ck_assert_int_eq(apr_dbm_store(dbm, key, value), APR_SUCCESS);
    }
    apr_dbm_close(dbm);
    apr_pool_destroy(pool);
}

}  // namespace

START_TEST(store_lookup) {
    const char* const types[] = {"default", "db", "gdbm", "sdbm"};
    const char* type = types[_i];
    const std::string dir = make_temp_dir();
    const std::string path = dir + "/users";
    const std::string record = p256_entry_text();
    const std::string utf8_user = "Ren\xc3\xa9" "e";
    write_dbm(path, type, {{"alice", record}, {utf8_user, record + "," + record}});

    std::string value, error;
    ck_assert(lookup_verifier_record(path, type, "alice", value, error) == LookupStatus::found);
    ck_assert(value == record);
    ck_assert(lookup_verifier_record(path, type, utf8_user, value, error) ==
              LookupStatus::found);
    ck_assert(value == record + "," + record);
    // Not found is a normal answer: no error text, empty value.
    ck_assert(lookup_verifier_record(path, type, "bob", value, error) ==
              LookupStatus::not_found);
    ck_assert(value.empty() && error.empty());
    ck_assert(lookup_verifier_record(path, type, "alic", value, error) ==
              LookupStatus::not_found);
    ck_assert(lookup_verifier_record(path, type, "alice\n", value, error) ==
              LookupStatus::not_found);

    // A missing file: open_failed with the OS reason for the log.
    ck_assert(lookup_verifier_record(dir + "/missing", type, "alice", value, error) ==
              LookupStatus::open_failed);
    ck_assert_msg(error.find("No such file") != std::string::npos, "error: %s", error.c_str());
    std::string cmd = "rm -rf '" + dir + "'";
    ck_assert_int_eq(std::system(cmd.c_str()), 0);
}
END_TEST

START_TEST(store_unknown_type) {
    std::string value, error;
    ck_assert(lookup_verifier_record("/tmp/whatever", "nosuchdbm", "alice", value, error) ==
              LookupStatus::open_failed);
    ck_assert_msg(error.find("nosuchdbm") != std::string::npos, "error: %s", error.c_str());
}
END_TEST

int main() {
    if (!load_kat()) return EXIT_FAILURE;  // the reason is on stderr
    apr_initialize();
    Suite* s = suite_create("verifier_record");
    TCase* tc = tcase_create("codec");
    tcase_add_test(tc, encodes_the_documented_form);
    tcase_add_test(tc, round_trip_every_kat_vector);
    tcase_add_test(tc, multiple_entries);
    tcase_add_test(tc, percent_encoding_edges);
    tcase_add_test(tc, error_empty);
    tcase_add_test(tc, error_bad_version);
    tcase_add_test(tc, error_bad_field_count);
    tcase_add_test(tc, error_unknown_algorithm);
    tcase_add_test(tc, error_bad_percent);
    tcase_add_test(tc, error_bad_verifier);
    tcase_add_test(tc, decode_without_validation_skips_only_the_group_check);
    tcase_add_test(tc, error_duplicate_entry);
    tcase_add_test(tc, error_names_are_distinct);
    suite_add_tcase(s, tc);
    TCase* store = tcase_create("store");
    tcase_add_loop_test(store, store_lookup, 0, 4);
    tcase_add_test(store, store_unknown_type);
    suite_add_tcase(s, store);
    const int status = run_suite(s);
    apr_terminate();
    return status;
}

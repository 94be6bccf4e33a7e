// Shared support for the Check suites (test_support.h).
#include "test_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>

// check.h defines a fail() macro: include it after the C++ library headers.
#include <check.h>

#include "encoding.h"

namespace mutual {
namespace test {
namespace {

json document;
bool loaded = false;

std::string kat_path() {
    const char* env = std::getenv("MUTUAL_KAT");
    return env && *env ? env : "t/data/kam3-vectors.json";
}

}  // namespace

bool load_kat() {
    if (loaded) return true;
    const std::string path = kat_path();
    std::ifstream in(path);
    if (!in) {
        std::fprintf(stderr, "cannot read the KAT file %s (set MUTUAL_KAT)\n", path.c_str());
        return false;
    }
    json parsed = json::parse(in, nullptr, false);
    if (parsed.is_discarded() || !parsed.contains("vectors") || !parsed["vectors"].is_array()) {
        std::fprintf(stderr, "KAT file %s is not a vector file\n", path.c_str());
        return false;
    }
    document = std::move(parsed);
    loaded = true;
    return true;
}

const json& kat() {
    ck_assert_msg(load_kat(), "cannot load the KAT file %s (set MUTUAL_KAT)", kat_path().c_str());
    return document;
}

const json& kat_vectors() { return kat()["vectors"]; }

const json& kat_vector(std::string_view name) {
    for (const json& v : kat_vectors())
        if (v.contains("name") && v["name"].get<std::string>() == name) return v;
    ck_abort_msg("KAT vector %.*s missing (MUTUAL_KAT?)", static_cast<int>(name.size()), name.data());
    return document;  // not reached
}

Bytes from_hex(const std::string& hex) {
    if (hex.empty()) return Bytes();
    std::optional<Bytes> b = decode_hex_fixed(hex, 0);
    ck_assert_msg(b.has_value(), "bad hex in test data");
    return *b;
}

Secret secret_from_hex(const std::string& hex) {
    const Bytes b = from_hex(hex);
    return Secret(b.begin(), b.end());
}

std::string to_hex(const Bytes& b) { return encode_hex_fixed(b.data(), b.size()); }
std::string to_hex(const Secret& b) { return encode_hex_fixed(b.data(), b.size()); }

int run_suite(Suite* s) {
    SRunner* runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

}  // namespace test
}  // namespace mutual

// Shared support for the Check suites: the known-answer vectors of
// t/data/kam3-vectors.json, loaded by one loader, the hex helpers every
// suite compares them with, the runner of a suite's main() and a text
// comparison. Linked into
// every build/t/check_* binary. Include it before <check.h>.
#ifndef MUTUAL_TEST_SUPPORT_H
#define MUTUAL_TEST_SUPPORT_H

#include <string>
#include <string_view>

#ifdef fail
#error "include test_support.h before <check.h>: check.h's fail() macro breaks <nlohmann/json.hpp>"
#endif
#include <nlohmann/json.hpp>

#include "bytes.h"

struct Suite;  // <check.h>

namespace mutual {
namespace test {

using json = nlohmann::json;

// Reads the vectors from $MUTUAL_KAT, or t/data/kam3-vectors.json relative
// to the working directory (make unit-check sets MUTUAL_KAT). Call it in
// main() before the runner forks; false (and a line on stderr) when the file
// is missing or is not a vector file.
bool load_kat();

// The whole document and its "vectors" array; load on first use (inside a
// test a missing file fails the test).
const json& kat();
const json& kat_vectors();
// The vector of this name ("iso-kam3-ec-p256-sha256/ascii"); fails the test
// when absent.
const json& kat_vector(std::string_view name);

// Test data hex (either case) to octets; fails the test on bad hex.
Bytes from_hex(const std::string& hex);
Secret secret_from_hex(const std::string& hex);
// Octets as lower-case hex, as the vectors write them.
std::string to_hex(const Bytes& b);
std::string to_hex(const Secret& b);

// Runs every test of s (CK_NORMAL output), frees the runner and returns
// main()'s exit status: EXIT_SUCCESS when nothing failed.
int run_suite(Suite* s);

}  // namespace test
}  // namespace mutual

// Two texts (std::string, string_view, const char*) equal, both shown when
// not; each argument evaluated once (ck_assert_str_eq would keep a pointer
// past a temporary). A macro for Check's file and line.
#define assert_text_eq(actual, expected)                                                    \
    do {                                                                                    \
        const std::string actual_(actual), expected_(expected);                             \
        ck_assert_msg(actual_ == expected_, "%s: got \"%s\", want \"%s\"", #actual,          \
                      actual_.c_str(), expected_.c_str());                                  \
    } while (0)

#endif

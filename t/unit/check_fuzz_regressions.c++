// Replays saved fuzzer inputs through the libFuzzer targets' own entry points
// (fuzz/fuzz_*.c++, compiled here with gcc, and with ASan+UBSan under
// `make SANITIZE=1`): every file of fuzz/regressions/<target>/ (minimised
// inputs of past findings) and of fuzz/corpus/<target>/ (the seeds). A broken
// fuzz property fails the test instead of aborting.
//
// The fuzz directory is $MUTUAL_FUZZ_DIR, else "fuzz" under the working
// directory (make unit-check runs from the repository root); the server and
// client targets read the KAT vectors from $MUTUAL_KAT like every suite.
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

// Every header the fuzz targets use comes before check.h, whose fail() macro
// would clash with names in the standard library.
#include <nlohmann/json.hpp>

#include "algorithm.h"
#include "client/client_session.h"
#include "client/target.h"
#include "encoding.h"
#include "header.h"
#include "server/server_exchange.h"
#include "server/session_table.h"
#include "verifier_record.h"

#include "test_support.h"  // before check.h (its fail() macro)

#include <check.h>

#define MUTUAL_FUZZ_NO_MAIN 1
#define FUZZ_CHECK(condition) ck_assert_msg((condition), "fuzz property failed: %s", #condition)

#include "../../fuzz/fuzz_encoding.c++"
#include "../../fuzz/fuzz_header.c++"
#include "../../fuzz/fuzz_verifier_record.c++"
#include "../../fuzz/fuzz_server_exchange.c++"
#include "../../fuzz/fuzz_client_response.c++"

namespace {

using OneInput = int (*)(const std::uint8_t*, std::size_t);

std::string fuzz_dir() {
    const char* dir = std::getenv("MUTUAL_FUZZ_DIR");
    return dir != nullptr && *dir != '\0' ? dir : "fuzz";
}

// Regular files of a directory, sorted; empty when it does not exist.
std::vector<std::string> files_in(const std::string& directory) {
    std::vector<std::string> files;
    DIR* d = opendir(directory.c_str());
    if (d == nullptr) return files;
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.empty() || name[0] == '.') continue;
        files.push_back(directory + "/" + name);
    }
    closedir(d);
    std::sort(files.begin(), files.end());
    return files;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    ck_assert_msg(in.good(), "cannot open %s", path.c_str());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs every file of <kind>/<target>/; returns how many there were.
std::size_t replay(const char* kind, const char* target, OneInput one_input) {
    std::vector<std::string> files = files_in(fuzz_dir() + "/" + kind + "/" + target);
    for (const std::string& path : files) {
        std::string data = read_file(path);
        // Copy into an exactly-sized heap block so ASan sees overreads.
        std::vector<std::uint8_t> input(data.begin(), data.end());
        one_input(input.empty() ? nullptr : input.data(), input.size());
    }
    return files.size();
}

void replay_target(const char* target, OneInput one_input) {
    std::size_t seeds = replay("corpus", target, one_input);
    ck_assert_msg(seeds > 0, "no seed files in %s/corpus/%s", fuzz_dir().c_str(), target);
    replay("regressions", target, one_input);
}

START_TEST(header_inputs) {
    replay_target("header", mutual::fuzz::header_one_input);
}
END_TEST

START_TEST(encoding_inputs) {
    replay_target("encoding", mutual::fuzz::encoding_one_input);
}
END_TEST

START_TEST(verifier_record_inputs) {
    replay_target("verifier_record", mutual::fuzz::verifier_record_one_input);
}
END_TEST

START_TEST(server_exchange_inputs) {
    replay_target("server_exchange", mutual::fuzz::server_exchange_one_input);
}
END_TEST

START_TEST(client_response_inputs) {
    replay_target("client_response", mutual::fuzz::client_response_one_input);
}
END_TEST

// The entry points must also survive the degenerate inputs directly.
START_TEST(empty_and_tiny_inputs) {
    const std::uint8_t one[1] = {0};
    for (OneInput f : {mutual::fuzz::header_one_input, mutual::fuzz::encoding_one_input,
                       mutual::fuzz::verifier_record_one_input,
                       mutual::fuzz::server_exchange_one_input,
                       mutual::fuzz::client_response_one_input}) {
        ck_assert_int_eq(f(nullptr, 0), 0);
        ck_assert_int_eq(f(one, 1), 0);
    }
}
END_TEST

Suite* fuzz_regressions_suite() {
    Suite* s = suite_create("fuzz_regressions");
    TCase* tc = tcase_create("replay");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, header_inputs);
    tcase_add_test(tc, encoding_inputs);
    tcase_add_test(tc, verifier_record_inputs);
    tcase_add_test(tc, server_exchange_inputs);
    tcase_add_test(tc, client_response_inputs);
    tcase_add_test(tc, empty_and_tiny_inputs);
    suite_add_tcase(s, tc);
    return s;
}

}  // namespace

int main() {
    return mutual::test::run_suite(fuzz_regressions_suite());
}

// The table of supported algorithms (RFC 8121 §3 order) and lookup by token.
//
// The algorithm objects and their OpenSSL groups are created on first use and
// intentionally leaked: the module is unloaded and reloaded on every httpd
// restart, and nothing here may run a destructor at unload time.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "algorithm.h"
#include "ascii.h"

namespace mutual {

// Defined in kam3_dl.c++ and kam3_ec.c++.
const Algorithm* new_kam3_dl_2048_sha256();
const Algorithm* new_kam3_dl_4096_sha512();
const Algorithm* new_kam3_ec_p256_sha256();
const Algorithm* new_kam3_ec_p521_sha512();

namespace {

using AlgorithmFactory = const Algorithm* (*)();

// Adding an algorithm: one line here.
constexpr AlgorithmFactory algorithm_table[] = {
    new_kam3_dl_2048_sha256,
    new_kam3_dl_4096_sha512,
    new_kam3_ec_p256_sha256,
    new_kam3_ec_p521_sha512,
};

const std::vector<const Algorithm*>* build_registry() {
    auto* list = new std::vector<const Algorithm*>();
    list->reserve(sizeof algorithm_table / sizeof algorithm_table[0]);
    for (AlgorithmFactory factory : algorithm_table) list->push_back(factory());
    return list;
}

}  // namespace

const std::vector<const Algorithm*>& all_algorithms() noexcept {
    // Thread-safe one-time initialisation; the pointer is trivially destructible.
    static const std::vector<const Algorithm*>* const registry = build_registry();
    return *registry;
}

const Algorithm* find_algorithm(std::string_view name) noexcept {
    for (const Algorithm* algorithm : all_algorithms())
        if (equal_ignoring_ascii_case(algorithm->name(), name)) return algorithm;
    return nullptr;
}

std::string known_algorithm_names() {
    std::string known;
    for (const Algorithm* algorithm : all_algorithms()) {
        if (!known.empty()) known.append(", ");
        known.append(algorithm->name());
    }
    return known;
}

const Algorithm* find_algorithm(std::string_view name, std::string& problem) {
    const Algorithm* algorithm = find_algorithm(name);
    if (algorithm == nullptr) {
        problem.assign("unknown algorithm \"");
        problem.append(name);
        problem.append("\" (known: " + known_algorithm_names() + ")");
    }
    return algorithm;
}

}  // namespace mutual

// Shared by the libFuzzer targets fuzz/fuzz_*.c++ and by
// t/unit/check_fuzz_regressions.c++, which includes the targets with
// MUTUAL_FUZZ_NO_MAIN defined and replays saved inputs through the same code.
//
// Each target defines `int <name>_one_input(const uint8_t*, size_t)` inside
// namespace mutual::fuzz and, unless MUTUAL_FUZZ_NO_MAIN, the libFuzzer entry
// point calling it. A broken property calls FUZZ_CHECK, which aborts (the
// fuzzer records the input as a crash) or, in the Check suite, fails the test.
#ifndef MUTUAL_FUZZ_COMMON_H
#define MUTUAL_FUZZ_COMMON_H

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ascii.h"

#ifndef FUZZ_CHECK
#define FUZZ_CHECK(condition)                                                          \
    do {                                                                               \
        if (!(condition)) {                                                            \
            std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #condition,      \
                         __FILE__, __LINE__);                                          \
            std::abort();                                                              \
        }                                                                              \
    } while (0)
#endif

#ifdef MUTUAL_FUZZ_NO_MAIN
#define MUTUAL_FUZZ_ENTRY(function)
#else
#define MUTUAL_FUZZ_ENTRY(function)                                                    \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
        return mutual::fuzz::function(data, size);                                     \
    }
#endif

namespace mutual {
namespace fuzz {

// Consumes the first octet of the input as a selector (0 when empty).
inline std::uint8_t take_selector(const std::uint8_t*& data, std::size_t& size) noexcept {
    if (size == 0) return 0;
    std::uint8_t s = data[0];
    ++data;
    --size;
    return s;
}

// Known, reported findings can be masked while they wait for a fix, so a long
// run goes on looking for new ones: MUTUAL_FUZZ_MASK is a comma-separated list
// of finding names (docs/security.md lists them). Never set by make fuzz or by
// the Check suite, which enforce every property.
inline bool masked(std::string_view finding) {
    const char* env = std::getenv("MUTUAL_FUZZ_MASK");
    if (env == nullptr) return false;
    std::string_view list(env);
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        if (list.substr(0, comma) == finding) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
    return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace fuzz
}  // namespace mutual

#endif

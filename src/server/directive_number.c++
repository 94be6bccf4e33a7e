#include "server/directive_number.h"

namespace mutual {

std::string parse_directive_number(std::string_view directive, std::string_view text,
                                   std::uint64_t low, std::uint64_t high, std::uint64_t& out) {
    const auto not_a_number = [&] {
        std::string problem(directive);
        problem.append(": \"").append(text).append("\" is not a decimal number");
        return problem;
    };
    if (text.empty() || (text[0] == '0' && text.size() > 1)) return not_a_number();
    std::uint64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return not_a_number();
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (high - digit) / 10) {
            value = high + 1;
            break;
        }
        value = value * 10 + digit;
    }
    if (value < low || value > high) {
        std::string problem(directive);
        problem.append(": ").append(text).append(" is out of range (").append(std::to_string(low))
            .append("..").append(std::to_string(high)).append(")");
        return problem;
    }
    out = value;
    return std::string();
}

}  // namespace mutual

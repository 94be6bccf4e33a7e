// Check suite: the shared ASCII helpers (src/ascii.h): case folding, hex
// digits, and the printable policies the server log, htmutual and
// mutual-client use for untrusted text.
#include <cstdlib>
#include <string>

#include "ascii.h"

#include "test_support.h"  // before check.h (its fail() macro)

// After the C++ headers: check.h defines a macro named fail.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

START_TEST(case_folding_is_ascii_only) {
    static_assert(ascii_lower('A') == 'a' && ascii_lower('Z') == 'z' && ascii_lower('@') == '@');
    assert_text_eq(ascii_lowercase("Mutual ISO-KAM3 \xc3\x89t\xc3\xa9"), "mutual iso-kam3 \xc3\x89t\xc3\xa9");
    ck_assert(equal_ignoring_ascii_case("ISO-kam3-EC-p256-sha256", "iso-kam3-ec-p256-sha256"));
    ck_assert(!equal_ignoring_ascii_case("mutual", "mutua"));
    ck_assert(!equal_ignoring_ascii_case("[", "{"));  // 0x5b vs 0x7b: not letters
    ck_assert(!equal_ignoring_ascii_case("\xc3\x89", "\xc3\xa9"));
}
END_TEST

START_TEST(hex_digits) {
    const std::string digits = "0123456789abcdefABCDEF";
    for (std::size_t i = 0; i < digits.size(); ++i)
        ck_assert_int_eq(hex_digit_value(digits[i]), i < 16 ? static_cast<int>(i) : static_cast<int>(i) - 6);
    for (char c : std::string("gG/:@`\x7f \0", 10)) ck_assert_int_eq(hex_digit_value(c), -1);
    ck_assert_int_eq(upper_hex_digit_value('F'), 15);
    ck_assert_int_eq(upper_hex_digit_value('9'), 9);
    ck_assert_int_eq(upper_hex_digit_value('f'), -1);
}
END_TEST

START_TEST(printable_for_log_escapes_all_but_printable_ascii_and_bounds) {
    assert_text_eq(printable("alice", printable_for_log), "alice");
    assert_text_eq(printable(std::string("a\"b\\c\n\0\x7f\xc3\xa9", 10), printable_for_log),
                   "a\\x22b\\x5cc\\x0a\\x00\\x7f\\xc3\\xa9");
    const std::string long_text(300, 'x');
    assert_text_eq(printable(long_text, printable_for_log), std::string(256, 'x') + "...");
    assert_text_eq(printable(std::string(256, 'x'), printable_for_log), std::string(256, 'x'));
}
END_TEST

START_TEST(printable_for_terminal_keeps_utf8_and_quotes) {
    assert_text_eq(printable("Ren\xc3\xa9" "e \"q\" a\\b\x1b[2J\x7f", printable_for_terminal),
                   "Ren\xc3\xa9" "e \"q\" a\\x5cb\\x1b[2J\\x7f");
    assert_text_eq(printable(std::string(300, 'y'), printable_for_terminal), std::string(300, 'y'));
}
END_TEST

START_TEST(printable_replacing_controls_uses_a_question_mark) {
    assert_text_eq(printable("OK\x1b]0;x\x07 \xc3\xa9\\\"\x7f", printable_replacing_controls),
                   "OK?]0;x? \xc3\xa9\\\"?");
}
END_TEST

int main() {
    Suite* s = suite_create("ascii");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, case_folding_is_ascii_only);
    tcase_add_test(tc, hex_digits);
    tcase_add_test(tc, printable_for_log_escapes_all_but_printable_ascii_and_bounds);
    tcase_add_test(tc, printable_for_terminal_keeps_utf8_and_quotes);
    tcase_add_test(tc, printable_replacing_controls_uses_a_question_mark);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

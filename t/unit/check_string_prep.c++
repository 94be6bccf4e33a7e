// Check suite: RFC 7613 string preparation (UsernameCasePreserved for user
// names, OpaqueString for passwords) as RFC 8120 §9 asks for.
#include <cstdlib>
#include <set>
#include <string>

#include "string_prep.h"

#include "test_support.h"  // before check.h (its fail() macro)

// check.h defines a fail() macro: include it after the C++ library headers.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

namespace {

struct UserResult {
    PrepError error;
    std::string text;
};

UserResult user(const std::string& in) {
    UserResult r;
    r.error = prepare_username(in, r.text);
    return r;
}

struct PasswordResult {
    PrepError error;
    std::string text;
};

PasswordResult password(const std::string& in) {
    SecretString out;
    PasswordResult r;
    r.error = prepare_password(in, out);
    r.text.assign(out.data(), out.size());
    return r;
}

}  // namespace

#define assert_prepared(result, expected)                                                     \
    do {                                                                                      \
        const auto r_ = (result);                                                             \
        ck_assert_msg(r_.error == PrepError::none, "%s: error %s", #result,                   \
                      prep_error_name(r_.error));                                             \
        ck_assert_msg(r_.text == std::string(expected), "%s: got \"%s\", want \"%s\"", #result, \
                      r_.text.c_str(), std::string(expected).c_str());                        \
    } while (0)

#define assert_rejected(result, expected_error)                                              \
    do {                                                                                     \
        const auto r_ = (result);                                                            \
        ck_assert_msg(r_.error == (expected_error), "%s: got %s, want %s", #result,          \
                      prep_error_name(r_.error), prep_error_name(expected_error));           \
        ck_assert_msg(r_.text.empty(), "%s: output left behind on failure", #result);        \
    } while (0)

START_TEST(ascii_passes_through) {
    assert_prepared(user("alice"), "alice");
    assert_prepared(user("Alice.Smith+tag@example.com"), "Alice.Smith+tag@example.com");
    assert_prepared(user("!#$%&'*+-/=?^_`{|}~\"(),:;<>[\\]"), "!#$%&'*+-/=?^_`{|}~\"(),:;<>[\\]");
    assert_prepared(password("password123"), "password123");
    assert_prepared(password("p@ss w0rd!~ with spaces"), "p@ss w0rd!~ with spaces");
}
END_TEST

START_TEST(nfc_composes) {
    // e + COMBINING ACUTE ACCENT -> U+00E9
    assert_prepared(user("Rene\xcc\x81" "e"), "Ren\xc3\xa9" "e");
    assert_prepared(password("Rene\xcc\x81" "e"), "Ren\xc3\xa9" "e");
    // A + COMBINING RING ABOVE -> U+00C5; ANGSTROM SIGN (U+212B) -> U+00C5
    assert_prepared(password("A\xcc\x8a"), "\xc3\x85");
    assert_prepared(password("\xe2\x84\xab"), "\xc3\x85");
    assert_prepared(user("\xe2\x84\xab"), "\xc3\x85");
}
END_TEST

START_TEST(username_width_mapping) {
    // FULLWIDTH LATIN CAPITAL LETTER A, B, C -> ABC
    assert_prepared(user("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3"), "ABC");
    // FULLWIDTH DIGIT ONE, FULLWIDTH COMMERCIAL AT
    assert_prepared(user("a\xef\xbc\x91\xef\xbc\xa0" "b"), "a1@b");
    // HALFWIDTH KATAKANA LETTER KA -> KATAKANA LETTER KA (U+30AB)
    assert_prepared(user("\xef\xbd\xb6"), "\xe3\x82\xab");
    // HALFWIDTH KA + HALFWIDTH VOICED SOUND MARK -> GA (U+30AC) after NFC
    assert_prepared(user("\xef\xbd\xb6\xef\xbe\x9e"), "\xe3\x82\xac");
    // Passwords are not width-mapped (OpaqueString).
    assert_prepared(password("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3"), "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3");
}
END_TEST

START_TEST(username_spaces) {
    // RFC 7613 §3.1: username = userpart *(1*SP userpart)
    assert_prepared(user("Ren\xc3\xa9" "e Zo\xc3\xab \xe6\xb5\x8b\xe8\xaf\x95"),
                    "Ren\xc3\xa9" "e Zo\xc3\xab \xe6\xb5\x8b\xe8\xaf\x95");
    // IDEOGRAPHIC SPACE is the fullwidth form of U+0020.
    assert_prepared(user("a\xe3\x80\x80" "b"), "a b");
    assert_rejected(user(" alice"), PrepError::disallowed_char);
    assert_rejected(user("alice "), PrepError::disallowed_char);
    assert_rejected(user(" "), PrepError::disallowed_char);
    assert_rejected(user("a\tb"), PrepError::disallowed_char);
    assert_rejected(user("a\xc2\xa0" "b"), PrepError::disallowed_char);      // NO-BREAK SPACE
    assert_rejected(user("a\xe2\x80\x83" "b"), PrepError::disallowed_char);  // EM SPACE
    assert_rejected(user("a\xe2\x80\xa8" "b"), PrepError::disallowed_char);  // LINE SEPARATOR
}
END_TEST

START_TEST(password_spaces_map_to_ascii_space) {
    assert_prepared(password("a\xc2\xa0" "b"), "a b");        // U+00A0
    assert_prepared(password("a\xe3\x80\x80" "b"), "a b");    // U+3000
    assert_prepared(password("a\xe2\x80\x83" "b"), "a b");    // U+2003
    assert_prepared(password(" leading and trailing "), " leading and trailing ");
    assert_prepared(password("\xc2\xa0"), " ");
}
END_TEST

START_TEST(identifier_class_rejects_what_freeform_allows) {
    // Symbols, punctuation and compatibility characters outside ASCII: ID_DIS, FREE_PVAL.
    const char* const freeform_only[] = {
        "snow\xe2\x98\x83",    // U+2603 SNOWMAN (So)
        "key\xf0\x9f\x94\x90",  // U+1F510 (So)
        "\xe2\x85\xb7",        // U+2177 SMALL ROMAN NUMERAL EIGHT (HasCompat)
        "\xc7\x85",            // U+01C5 (Lt, HasCompat)
        "x\xc2\xb2",           // U+00B2 SUPERSCRIPT TWO (HasCompat)
        "a\xe2\x80\x94" "b",   // U+2014 EM DASH (Pd)
        "\xc2\xbd",            // U+00BD VULGAR FRACTION ONE HALF
    };
    for (const char* s : freeform_only) {
        assert_rejected(user(s), PrepError::disallowed_char);
        assert_prepared(password(s), s);
    }
    // Letters, marks and digits of any script are fine in both.
    assert_prepared(user("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"), "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
    assert_prepared(user("stra\xc3\x9f" "e"), "stra\xc3\x9f" "e");  // U+00DF exception: PVALID
    assert_prepared(user("\xe6\xb5\x8b\xe8\xaf\x95"), "\xe6\xb5\x8b\xe8\xaf\x95");
}
END_TEST

START_TEST(controls_and_unassigned_rejected) {
    const char* const bad[] = {
        "a\x01" "b", "a\x7f" "b", "a\nb", "a\rb",
        "a\xc2\x85" "b",       // U+0085 (Cc)
        "a\xcd\xb8" "b",       // U+0378 unassigned
        "a\xee\x80\x80" "b",   // U+E000 private use
        "a\xef\xbf\xbe" "b",   // U+FFFE noncharacter
        "a\xe2\x80\x8b" "b",   // U+200B ZERO WIDTH SPACE (Cf)
        "a\xc2\xad" "b",       // U+00AD SOFT HYPHEN (default ignorable)
        "a\xe1\x84\x80" "b",   // U+1100 HANGUL CHOSEONG KIYEOK (old Hangul jamo)
    };
    for (const char* s : bad) {
        assert_rejected(user(s), PrepError::disallowed_char);
        assert_rejected(password(s), PrepError::disallowed_char);
    }
    assert_rejected(password(std::string("a\0b", 3)), PrepError::disallowed_char);
}
END_TEST

START_TEST(contextual_rules) {
    // MIDDLE DOT only between two 'l' (Catalan l·l)
    assert_prepared(user("pel\xc2\xb7l"), "pel\xc2\xb7l");
    assert_rejected(user("a\xc2\xb7" "b"), PrepError::disallowed_char);
    assert_rejected(password("a\xc2\xb7" "b"), PrepError::disallowed_char);
    // ZERO WIDTH JOINER only after a virama (DEVANAGARI KA + VIRAMA + ZWJ + SSA)
    assert_prepared(user("\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7"),
                    "\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7");
    assert_rejected(user("a\xe2\x80\x8d" "b"), PrepError::disallowed_char);
    // GREEK KERAIA must precede a Greek character
    assert_prepared(user("\xcd\xb5\xce\xb1"), "\xcd\xb5\xce\xb1");
    assert_rejected(user("\xcd\xb5" "a"), PrepError::disallowed_char);
    // ARABIC-INDIC and EXTENDED ARABIC-INDIC digits do not mix
    assert_rejected(user("\xd8\xa8\xd9\xa1\xdb\xb1"), PrepError::disallowed_char);
}
END_TEST

START_TEST(bidi_rule_for_usernames) {
    // Hebrew SHALOM: an RTL userpart
    assert_prepared(user("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"), "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d");
    assert_prepared(user("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d" "1"), "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d" "1");
    // LTR label holding an R character, and RTL label holding an L character
    assert_rejected(user("a\xd7\xa9"), PrepError::bidi_rule);
    assert_rejected(user("\xd7\xa9" "a"), PrepError::bidi_rule);
    // A label starting with a digit when the name is RTL
    assert_rejected(user("1\xd7\xa9"), PrepError::bidi_rule);
    // Without RTL characters the rule does not apply.
    assert_prepared(user("1alice_"), "1alice_");
    // Passwords have no directionality rule.
    assert_prepared(password("a\xd7\xa9"), "a\xd7\xa9");
}
END_TEST

START_TEST(invalid_utf8_rejected) {
    const char* const bad[] = {"\xc3", "a\xc3(", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "a\x80"};
    for (const char* s : bad) {
        assert_rejected(user(s), PrepError::invalid_utf8);
        assert_rejected(password(s), PrepError::invalid_utf8);
    }
}
END_TEST

START_TEST(empty_rejected) {
    assert_rejected(user(""), PrepError::empty);
    assert_rejected(password(""), PrepError::empty);
}
END_TEST

START_TEST(kat_strings_are_already_prepared) {
    // The users and passwords of kam3-vectors.json (user_hex / password_hex).
    const std::string kat_user = "Ren\xc3\xa9" "e Zo\xc3\xab \xe6\xb5\x8b\xe8\xaf\x95";
    const std::string kat_password =
        "p\xc3\xa4ssw\xc3\xb6rd \xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xf0\x9f\x94\x90";
    assert_prepared(user(kat_user), kat_user);
    assert_prepared(user("alice"), "alice");
    assert_prepared(user("bob"), "bob");
    assert_prepared(password(kat_password), kat_password);
    assert_prepared(password("password123"), "password123");
    assert_prepared(password("p"), "p");
    // The same password typed with a decomposed o-umlaut prepares to the KAT octets.
    assert_prepared(password("p\xc3\xa4sswo\xcc\x88rd \xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xf0\x9f\x94\x90"),
                    kat_password);
}
END_TEST

START_TEST(error_names_are_distinct) {
    std::set<std::string> names;
    for (int e = 0; e <= static_cast<int>(PrepError::internal); ++e)
        names.insert(prep_error_name(static_cast<PrepError>(e)));
    ck_assert_uint_eq(names.size(), static_cast<std::size_t>(PrepError::internal) + 1);
    ck_assert_str_eq(prep_error_name(PrepError::bidi_rule), "bidi_rule");
}
END_TEST

START_TEST(configured_username_is_prepared_and_bounded) {
    std::string out;
    ck_assert(check_configured_username("alice", out).empty());
    ck_assert(out == "alice");
    ck_assert(check_configured_username("", out) == "not a valid user name (empty)");
    ck_assert(check_configured_username(std::string(256, 'a'), out).empty());
    ck_assert(check_configured_username(std::string(257, 'a'), out) == "longer than 256 octets");
}
END_TEST

int main() {
    Suite* s = suite_create("string_prep");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, ascii_passes_through);
    tcase_add_test(tc, nfc_composes);
    tcase_add_test(tc, username_width_mapping);
    tcase_add_test(tc, username_spaces);
    tcase_add_test(tc, password_spaces_map_to_ascii_space);
    tcase_add_test(tc, identifier_class_rejects_what_freeform_allows);
    tcase_add_test(tc, controls_and_unassigned_rejected);
    tcase_add_test(tc, contextual_rules);
    tcase_add_test(tc, bidi_rule_for_usernames);
    tcase_add_test(tc, invalid_utf8_rejected);
    tcase_add_test(tc, empty_rejected);
    tcase_add_test(tc, kat_strings_are_already_prepared);
    tcase_add_test(tc, error_names_are_distinct);
    tcase_add_test(tc, configured_username_is_prepared_and_bounded);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

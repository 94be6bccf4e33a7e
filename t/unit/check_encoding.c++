// Check suite: RFC 8120 §3.2.3 / §12.1 encodings.
#include <cstdlib>
#include <string>

#include "encoding.h"
#include "test_support.h"

// After the C++ headers: check.h defines a macro named fail.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

namespace {

std::string vi_hex(std::uint64_t i) {
    Bytes b;
    append_vi(b, i);
    return to_hex(b);
}

}  // namespace

// ck_assert_str_eq keeps a pointer past the full expression, so compare
// std::string values instead of c_str() of temporaries.
START_TEST(vi_examples_of_rfc8120) {
    // §12.1: VI(0) = "\000", VI(100) = "d", VI(10000) = "\316\020", VI(1000000) = "\275\204@"
    assert_text_eq(vi_hex(0), "00");
    assert_text_eq(vi_hex(100), "64");
    assert_text_eq(vi_hex(127), "7f");
    assert_text_eq(vi_hex(128), "8100");
    assert_text_eq(vi_hex(10000), "ce10");
    assert_text_eq(vi_hex(16384), "818000");
    assert_text_eq(vi_hex(1000000), "bd8440");
    assert_text_eq(vi_hex(UINT64_MAX), "81ffffffffffffffff7f");
}
END_TEST

START_TEST(vs_examples_of_rfc8120) {
    Bytes b;
    append_vs(b, "");
    assert_text_eq(to_hex(b), "00");
    b.clear();
    append_vs(b, "Tea");
    assert_text_eq(to_hex(b), "03546561");
    b.clear();
    append_vs(b, "Caf\xc3\xa9");
    assert_text_eq(to_hex(b), "05436166c3a9");
    b.clear();
    append_vs(b, std::string(10000, 'a'));
    ck_assert_uint_eq(b.size(), 10002);
    ck_assert_uint_eq(b[0], 0xce);
    ck_assert_uint_eq(b[1], 0x10);
    ck_assert_uint_eq(b[2], 'a');
}
END_TEST

START_TEST(integer_strict_syntax) {
    DecodeError e;
    ck_assert(decode_integer("0", &e).value() == 0);
    ck_assert(decode_integer("16384", &e).value() == 16384);
    ck_assert(!decode_integer("", &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::empty));
    ck_assert(!decode_integer("007", &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::leading_zero));
    ck_assert(!decode_integer("00", &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::leading_zero));
    ck_assert(!decode_integer("-1", &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_character));
    ck_assert(!decode_integer("1 ", &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_character));
    ck_assert(!decode_integer("0x10", &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_character));
    assert_text_eq(encode_integer(10000), "10000");
}
END_TEST

START_TEST(integer_saturates_never_wraps) {
    ck_assert(decode_integer("18446744073709551615").value() == UINT64_MAX);
    ck_assert(decode_integer("18446744073709551616").value() == UINT64_MAX);  // 2^64
    ck_assert(decode_integer("1208925819614629174706176").value() == UINT64_MAX);  // 2^80
    ck_assert(decode_integer(std::string(5000, '9')).value() == UINT64_MAX);
    ck_assert(decode_integer("18446744073709551614").value() == UINT64_MAX - 1);
}
END_TEST

START_TEST(hex_fixed_number) {
    DecodeError e;
    auto b = decode_hex_fixed("00FFaB", 3, &e);
    ck_assert(b.has_value());
    assert_text_eq(encode_hex_fixed(*b), "00ffab");
    ck_assert(decode_hex_fixed("00ff", 0).has_value());  // any even length
    ck_assert(!decode_hex_fixed("0ff", 0, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::odd_length));
    ck_assert(!decode_hex_fixed("00fg", 0, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_character));
    ck_assert(!decode_hex_fixed("", 0, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::empty));
    ck_assert(!decode_hex_fixed("0011", 3, &e));  // natural length enforced (no stripping)
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::wrong_length));
    ck_assert(!decode_hex_fixed("00112233", 3, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::wrong_length));
}
END_TEST

START_TEST(base64_fixed_number_round_trip) {
    for (std::size_t n = 1; n < 70; ++n) {
        Bytes b(n);
        for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 37 + n);
        const std::string text = encode_base64_fixed(b);
        ck_assert_uint_eq(text.size() % 4, 0);
        auto back = decode_base64_fixed(text, n);
        ck_assert(back.has_value());
        ck_assert(*back == b);
    }
    // RFC 4648 §10 test vectors
    assert_text_eq(encode_base64_fixed(to_bytes("f")), "Zg==");
    assert_text_eq(encode_base64_fixed(to_bytes("fo")), "Zm8=");
    assert_text_eq(encode_base64_fixed(to_bytes("foobar")), "Zm9vYmFy");
}
END_TEST

START_TEST(base64_fixed_number_rejections) {
    DecodeError e;
    ck_assert(!decode_base64_fixed("", 0, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::empty));
    ck_assert(!decode_base64_fixed("Zm9v YmFy", 0, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_character));
    ck_assert(!decode_base64_fixed("Zm9-", 0, &e));  // base64url alphabet is not allowed
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_character));
    ck_assert(!decode_base64_fixed("Zg", 0, &e));    // insufficient padding
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_padding));
    ck_assert(!decode_base64_fixed("Zg=", 0, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_padding));
    ck_assert(!decode_base64_fixed("Zg===", 0, &e));  // excess padding
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_padding));
    ck_assert(!decode_base64_fixed("Zm8=Zm8=", 0, &e));  // padding in the middle
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_padding));
    ck_assert(!decode_base64_fixed("====", 0, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_padding));
    ck_assert(!decode_base64_fixed("Zh==", 0, &e));  // pad bits set: non-canonical
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::noncanonical_bits));
    ck_assert(!decode_base64_fixed("Zm9=", 0, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::noncanonical_bits));
    ck_assert(!decode_base64_fixed("Zm9vYmFy", 5, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::wrong_length));
}
END_TEST

// The allocation-free forms (the server's per-request path) answer as the
// allocating ones: the same octets, the same errors, never past capacity.
START_TEST(fixed_numbers_into_buffers) {
    std::uint8_t out[8] = {};
    DecodeError e;
    std::optional<std::size_t> n = decode_hex_fixed("00FFaB", 3, out, sizeof out, &e);
    ck_assert(n && *n == 3 && out[0] == 0x00 && out[1] == 0xff && out[2] == 0xab);
    ck_assert(!decode_hex_fixed("00fg", 2, out, sizeof out, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_character));
    ck_assert(!decode_hex_fixed("0g1", 0, out, sizeof out, &e));   // characters before length
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::bad_character));
    std::uint8_t small[2] = {};
    n = decode_hex_fixed("a1b2c3d4", 0, small, sizeof small, &e);   // longer than the buffer
    ck_assert(n && *n == 4 && small[0] == 0xa1 && small[1] == 0xb2);
    n = decode_base64_fixed("Zm9vYmFy", 6, out, sizeof out, &e);
    ck_assert(n && *n == 6 && std::string(out, out + 6) == "foobar");
    n = decode_base64_fixed("Zm9vYmFy", 0, small, sizeof small, &e);
    ck_assert(n && *n == 6 && small[0] == 'f' && small[1] == 'o');
    ck_assert(!decode_base64_fixed("Zm9vYmFy", 5, small, sizeof small, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::wrong_length));
    ck_assert(!decode_base64_fixed("Zh==", 0, small, sizeof small, &e));
    ck_assert_int_eq(static_cast<int>(e), static_cast<int>(DecodeError::noncanonical_bits));
    for (std::size_t length = 0; length < 40; ++length) {
        Bytes b(length);
        for (std::size_t i = 0; i < length; ++i) b[i] = static_cast<std::uint8_t>(i * 53 + 7);
        char text[128];
        std::size_t written = encode_hex_fixed(b.data(), b.size(), text);
        ck_assert(std::string(text, written) == encode_hex_fixed(b));
        written = encode_base64_fixed(b.data(), b.size(), text);
        ck_assert(written == base64_fixed_length(length) && std::string(text, written) == encode_base64_fixed(b));
    }
}
END_TEST

START_TEST(utf8_validation) {
    ck_assert(is_valid_utf8(""));
    ck_assert(is_valid_utf8("Ren\xc3\xa9" "e \xe6\xb5\x8b \xf0\x9f\x94\x90"));
    ck_assert(!is_valid_utf8("\xc3"));              // truncated
    ck_assert(!is_valid_utf8("\xc0\xaf"));          // overlong
    ck_assert(!is_valid_utf8("\xe0\x80\xaf"));      // overlong 3-byte
    ck_assert(!is_valid_utf8("\xed\xa0\x80"));      // surrogate
    ck_assert(!is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
    ck_assert(!is_valid_utf8("\xc3\x22"));          // <"> as a continuation byte
    ck_assert(!is_valid_utf8("\xff"));
}
END_TEST

int main() {
    Suite* s = suite_create("encoding");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, vi_examples_of_rfc8120);
    tcase_add_test(tc, vs_examples_of_rfc8120);
    tcase_add_test(tc, integer_strict_syntax);
    tcase_add_test(tc, integer_saturates_never_wraps);
    tcase_add_test(tc, hex_fixed_number);
    tcase_add_test(tc, base64_fixed_number_round_trip);
    tcase_add_test(tc, base64_fixed_number_rejections);
    tcase_add_test(tc, fixed_numbers_into_buffers);
    tcase_add_test(tc, utf8_validation);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

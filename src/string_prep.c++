// RFC 7613 PRECIS profiles for RFC 8120 §9, on ICU's Unicode data.
//
//  * prepare_username: UsernameCasePreserved (RFC 7613 §3.3/§3.4): width
//    mapping, NFC, then each space-separated userpart (§3.1: username =
//    userpart *(1*SP userpart)) must be non-empty IdentifierClass text and,
//    when the name holds right-to-left characters, satisfy the Bidi Rule.
//  * prepare_password: OpaqueString (RFC 7613 §4.2): non-ASCII spaces to
//    U+0020, NFC, FreeformClass.
//
// The string classes follow the derived-property algorithm of RFC 7564 §8
// with the categories of §9 and the contextual rules of RFC 5892 Appendix A.
// Intermediate buffers are wiped (they may hold a password).
#include "string_prep.h"

#include <cstdint>
#include <string>
#include <vector>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "encoding.h"
#include "protocol_defaults.h"

namespace mutual {

const char* prep_error_name(PrepError e) noexcept {
    switch (e) {
    case PrepError::none: return "none";
    case PrepError::invalid_utf8: return "invalid_utf8";
    case PrepError::empty: return "empty";
    case PrepError::disallowed_char: return "disallowed_char";
    case PrepError::bidi_rule: return "bidi_rule";
    case PrepError::internal: return "internal";
    }
    return "unknown";
}

namespace {

using CodePoints = std::vector<UChar32, CleansingAllocator<UChar32>>;
using Utf16 = std::vector<UChar, CleansingAllocator<UChar>>;

// Longest input accepted (octets); far beyond any real name or password.
constexpr std::size_t max_input_length = 65536;

// ---- conversions ---------------------------------------------------------

PrepError decode_utf8(std::string_view in, CodePoints& out) {
    if (in.size() > max_input_length || !is_valid_utf8(in)) return PrepError::invalid_utf8;
    const auto* s = reinterpret_cast<const std::uint8_t*>(in.data());
    const auto length = static_cast<std::int32_t>(in.size());
    out.clear();
    out.reserve(in.size());
    for (std::int32_t i = 0; i < length;) {
        UChar32 c;
        U8_NEXT(s, i, length, c);
        if (c < 0) return PrepError::invalid_utf8;
        out.push_back(c);
    }
    return PrepError::none;
}

template <typename String>
void encode_utf8(const CodePoints& in, String& out) {
    out.clear();
    for (UChar32 c : in) {
        char buffer[U8_MAX_LENGTH];
        std::int32_t n = 0;  // c is a scalar value: decode_utf8 and ICU produce no others
        U8_APPEND_UNSAFE(reinterpret_cast<std::uint8_t*>(buffer), n, c);
        out.append(buffer, static_cast<std::size_t>(n));
    }
}

Utf16 to_utf16(const CodePoints& in) {
    Utf16 out;
    out.reserve(in.size() + 8);
    for (UChar32 c : in) {
        if (c <= 0xFFFF) {
            out.push_back(static_cast<UChar>(c));
        } else {
            out.push_back(U16_LEAD(c));
            out.push_back(U16_TRAIL(c));
        }
    }
    return out;
}

CodePoints from_utf16(const UChar* s, std::int32_t length) {
    CodePoints out;
    out.reserve(static_cast<std::size_t>(length));
    for (std::int32_t i = 0; i < length;) {
        UChar32 c;
        U16_NEXT(s, i, length, c);
        out.push_back(c);
    }
    return out;
}

// ---- mappings -------------------------------------------------------------

const UNormalizer2* nfc_instance() {
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2* n = unorm2_getNFCInstance(&status);
    return U_SUCCESS(status) ? n : nullptr;
}

const UNormalizer2* nfkc_instance() {
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2* n = unorm2_getNFKCInstance(&status);
    return U_SUCCESS(status) ? n : nullptr;
}

// RFC 7613 §3.3 rule 1: fullwidth and halfwidth code points (decomposition
// type <wide> or <narrow>) to their decomposition mappings.
PrepError map_width(CodePoints& text) {
    const UNormalizer2* nfkc = nfkc_instance();
    if (nfkc == nullptr) return PrepError::internal;
    CodePoints out;
    out.reserve(text.size());
    for (UChar32 c : text) {
        const int type = u_getIntPropertyValue(c, UCHAR_DECOMPOSITION_TYPE);
        if (type != U_DT_WIDE && type != U_DT_NARROW) {
            out.push_back(c);
            continue;
        }
        UChar mapping[8];
        UErrorCode status = U_ZERO_ERROR;
        const std::int32_t n = unorm2_getRawDecomposition(nfkc, c, mapping, 8, &status);
        if (U_FAILURE(status) || n <= 0) return PrepError::internal;
        for (UChar32 m : from_utf16(mapping, n)) out.push_back(m);
    }
    text.swap(out);
    return PrepError::none;
}

// RFC 7613 §4.2 rule 2: non-ASCII spaces (Zs other than U+0020) to U+0020.
void map_spaces(CodePoints& text) {
    for (UChar32& c : text)
        if (c != 0x20 && u_charType(c) == U_SPACE_SEPARATOR) c = 0x20;
}

PrepError normalize_nfc(CodePoints& text) {
    const UNormalizer2* nfc = nfc_instance();
    if (nfc == nullptr) return PrepError::internal;
    const Utf16 in = to_utf16(text);
    Utf16 out(in.size() * 3 + 16);
    for (int attempt = 0; attempt < 2; ++attempt) {
        UErrorCode status = U_ZERO_ERROR;
        const std::int32_t n =
            unorm2_normalize(nfc, in.data(), static_cast<std::int32_t>(in.size()), out.data(),
                             static_cast<std::int32_t>(out.size()), &status);
        if (status == U_BUFFER_OVERFLOW_ERROR) {
            out.assign(static_cast<std::size_t>(n) + 1, 0);
            continue;
        }
        if (U_FAILURE(status)) return PrepError::internal;
        text = from_utf16(out.data(), n);
        return PrepError::none;
    }
    return PrepError::internal;
}

// ---- RFC 7564 derived property ----------------------------------------------

enum class Property {
    pvalid,          // both classes
    freeform_only,   // ID_DIS / FREE_PVAL
    contextj,
    contexto,
    disallowed,      // includes UNASSIGNED
};

bool has_compat(UChar32 c) {
    // HasCompat: toNFKC(cp) != cp
    const UNormalizer2* nfkc = nfkc_instance();
    if (nfkc == nullptr) return true;  // fail closed
    UChar s[2];
    std::int32_t n = 0;
    U16_APPEND_UNSAFE(s, n, c);
    UErrorCode status = U_ZERO_ERROR;
    const UBool normalized = unorm2_isNormalized(nfkc, s, n, &status);
    return U_FAILURE(status) || !normalized;
}

Property derived_property(UChar32 c) {
    // Exceptions (RFC 5892 §2.6)
    switch (c) {
    case 0x00DF: case 0x03C2: case 0x06FD: case 0x06FE: case 0x0F0B: case 0x3007:
        return Property::pvalid;
    case 0x00B7: case 0x0375: case 0x05F3: case 0x05F4: case 0x30FB:
        return Property::contexto;
    case 0x0640: case 0x07FA: case 0x302E: case 0x302F: case 0x303B:
        return Property::disallowed;
    default:
        break;
    }
    if ((c >= 0x0660 && c <= 0x0669) || (c >= 0x06F0 && c <= 0x06F9)) return Property::contexto;
    if (c >= 0x3031 && c <= 0x3035) return Property::disallowed;
    // BackwardCompatible is empty.
    const std::int8_t category = u_charType(c);
    const bool noncharacter = u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT);
    if (category == U_UNASSIGNED && !noncharacter) return Property::disallowed;  // UNASSIGNED
    if (c >= 0x21 && c <= 0x7E) return Property::pvalid;                        // ASCII7
    if (u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) return Property::contextj;
    const int hangul = u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE);
    if (hangul == U_HST_LEADING_JAMO || hangul == U_HST_VOWEL_JAMO || hangul == U_HST_TRAILING_JAMO)
        return Property::disallowed;  // OldHangulJamo
    if (noncharacter || u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT))
        return Property::disallowed;  // PrecisIgnorableProperties
    if (category == U_CONTROL_CHAR) return Property::disallowed;  // Controls
    if (has_compat(c)) return Property::freeform_only;
    switch (category) {
    // LetterDigits
    case U_LOWERCASE_LETTER: case U_UPPERCASE_LETTER: case U_OTHER_LETTER:
    case U_DECIMAL_DIGIT_NUMBER: case U_MODIFIER_LETTER: case U_NON_SPACING_MARK:
    case U_COMBINING_SPACING_MARK:
        return Property::pvalid;
    // OtherLetterDigits, Spaces, Symbols, Punctuation
    case U_TITLECASE_LETTER: case U_LETTER_NUMBER: case U_OTHER_NUMBER: case U_ENCLOSING_MARK:
    case U_SPACE_SEPARATOR:
    case U_MATH_SYMBOL: case U_CURRENCY_SYMBOL: case U_MODIFIER_SYMBOL: case U_OTHER_SYMBOL:
    case U_CONNECTOR_PUNCTUATION: case U_DASH_PUNCTUATION: case U_START_PUNCTUATION:
    case U_END_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
        return Property::freeform_only;
    default:
        return Property::disallowed;
    }
}

// ---- RFC 5892 Appendix A contextual rules ----------------------------------

constexpr std::uint8_t virama_combining_class = 9;

int joining_type(UChar32 c) { return u_getIntPropertyValue(c, UCHAR_JOINING_TYPE); }

bool zwnj_allowed(const CodePoints& s, std::size_t i) {
    if (i > 0 && u_getCombiningClass(s[i - 1]) == virama_combining_class) return true;
    // (Joining_Type:{L,D})(Joining_Type:T)*\u200C(Joining_Type:T)*(Joining_Type:{R,D})
    std::size_t before = i;
    while (before > 0 && joining_type(s[before - 1]) == U_JT_TRANSPARENT) --before;
    if (before == 0) return false;
    const int left = joining_type(s[before - 1]);
    if (left != U_JT_LEFT_JOINING && left != U_JT_DUAL_JOINING) return false;
    std::size_t after = i + 1;
    while (after < s.size() && joining_type(s[after]) == U_JT_TRANSPARENT) ++after;
    if (after >= s.size()) return false;
    const int right = joining_type(s[after]);
    return right == U_JT_RIGHT_JOINING || right == U_JT_DUAL_JOINING;
}

UScriptCode script_of(UChar32 c) {
    UErrorCode status = U_ZERO_ERROR;
    const UScriptCode script = uscript_getScript(c, &status);
    return U_SUCCESS(status) ? script : USCRIPT_INVALID_CODE;
}

// s is the label the rule looks at (a userpart, or the whole password).
bool context_allows(const CodePoints& s, std::size_t i) {
    const UChar32 c = s[i];
    const bool has_before = i > 0;
    const bool has_after = i + 1 < s.size();
    switch (c) {
    case 0x200C:
        return zwnj_allowed(s, i);
    case 0x200D:
        return has_before && u_getCombiningClass(s[i - 1]) == virama_combining_class;
    case 0x00B7:
        return has_before && has_after && s[i - 1] == 0x006C && s[i + 1] == 0x006C;
    case 0x0375:
        return has_after && script_of(s[i + 1]) == USCRIPT_GREEK;
    case 0x05F3:
    case 0x05F4:
        return has_before && script_of(s[i - 1]) == USCRIPT_HEBREW;
    case 0x30FB:
        for (UChar32 other : s) {
            const UScriptCode script = script_of(other);
            if (script == USCRIPT_HIRAGANA || script == USCRIPT_KATAKANA || script == USCRIPT_HAN)
                return true;
        }
        return false;
    default:
        break;
    }
    if (c >= 0x0660 && c <= 0x0669) {
        for (UChar32 other : s)
            if (other >= 0x06F0 && other <= 0x06F9) return false;
        return true;
    }
    if (c >= 0x06F0 && c <= 0x06F9) {
        for (UChar32 other : s)
            if (other >= 0x0660 && other <= 0x0669) return false;
        return true;
    }
    return false;
}

enum class StringClass { identifier, freeform };

bool conforms(const CodePoints& label, StringClass string_class) {
    for (std::size_t i = 0; i < label.size(); ++i) {
        switch (derived_property(label[i])) {
        case Property::pvalid:
            break;
        case Property::freeform_only:
            if (string_class != StringClass::freeform) return false;
            break;
        case Property::contextj:
        case Property::contexto:
            if (!context_allows(label, i)) return false;
            break;
        case Property::disallowed:
            return false;
        }
    }
    return true;
}

// ---- RFC 5893 Bidi Rule ------------------------------------------------------

bool is_rtl(UCharDirection d) {
    return d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC || d == U_ARABIC_NUMBER;
}

bool satisfies_bidi_rule(const CodePoints& label) {
    if (label.empty()) return false;
    const UCharDirection first = u_charDirection(label[0]);
    const bool rtl = first == U_RIGHT_TO_LEFT || first == U_RIGHT_TO_LEFT_ARABIC;
    if (!rtl && first != U_LEFT_TO_RIGHT) return false;  // rule 1
    bool has_en = false;
    bool has_an = false;
    for (UChar32 c : label) {
        const UCharDirection d = u_charDirection(c);
        switch (d) {
        case U_EUROPEAN_NUMBER: has_en = true; break;
        case U_ARABIC_NUMBER: has_an = true; break;
        default: break;
        }
        const bool common = d == U_EUROPEAN_NUMBER || d == U_EUROPEAN_NUMBER_SEPARATOR ||
                            d == U_COMMON_NUMBER_SEPARATOR || d == U_EUROPEAN_NUMBER_TERMINATOR ||
                            d == U_OTHER_NEUTRAL || d == U_BOUNDARY_NEUTRAL ||
                            d == U_DIR_NON_SPACING_MARK;
        const bool allowed = rtl ? (common || d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC ||
                                    d == U_ARABIC_NUMBER)    // rule 2
                                 : (common || d == U_LEFT_TO_RIGHT);  // rule 5
        if (!allowed) return false;
    }
    if (rtl && has_en && has_an) return false;  // rule 4
    // rules 3 and 6: the last character that is not NSM
    std::size_t end = label.size();
    while (end > 0 && u_charDirection(label[end - 1]) == U_DIR_NON_SPACING_MARK) --end;
    if (end == 0) return false;
    const UCharDirection last = u_charDirection(label[end - 1]);
    if (rtl)
        return last == U_RIGHT_TO_LEFT || last == U_RIGHT_TO_LEFT_ARABIC ||
               last == U_EUROPEAN_NUMBER || last == U_ARABIC_NUMBER;
    return last == U_LEFT_TO_RIGHT || last == U_EUROPEAN_NUMBER;
}

}  // namespace

PrepError prepare_username(std::string_view in, std::string& out) {
    out.clear();
    CodePoints text;
    if (PrepError e = decode_utf8(in, text); e != PrepError::none) return e;
    if (PrepError e = map_width(text); e != PrepError::none) return e;
    if (PrepError e = normalize_nfc(text); e != PrepError::none) return e;
    if (text.empty()) return PrepError::empty;

    // username = userpart *(1*SP userpart): no leading, trailing or only spaces.
    std::vector<CodePoints> userparts(1);
    for (UChar32 c : text) {
        if (c == 0x20) {
            if (!userparts.back().empty()) userparts.emplace_back();
            continue;
        }
        userparts.back().push_back(c);
    }
    if (text.front() == 0x20 || text.back() == 0x20) return PrepError::disallowed_char;

    bool has_rtl = false;
    for (const CodePoints& part : userparts) {
        if (!conforms(part, StringClass::identifier)) return PrepError::disallowed_char;
        for (UChar32 c : part) has_rtl = has_rtl || is_rtl(u_charDirection(c));
    }
    if (has_rtl)
        for (const CodePoints& part : userparts)
            if (!satisfies_bidi_rule(part)) return PrepError::bidi_rule;

    encode_utf8(text, out);
    return PrepError::none;
}

PrepError prepare_password(std::string_view in, SecretString& out) {
    out.clear();
    CodePoints text;
    if (PrepError e = decode_utf8(in, text); e != PrepError::none) return e;
    map_spaces(text);
    if (PrepError e = normalize_nfc(text); e != PrepError::none) return e;
    if (text.empty()) return PrepError::empty;
    if (!conforms(text, StringClass::freeform)) return PrepError::disallowed_char;
    encode_utf8(text, out);
    return PrepError::none;
}

std::string check_configured_username(std::string_view in, std::string& out) {
    const PrepError e = prepare_username(in, out);
    std::string problem;
    if (e != PrepError::none) {
        problem.assign("not a valid user name (");
        problem.append(prep_error_name(e));
        problem.append(")");
    } else if (out.size() > max_user_name_length) {
        problem.assign("longer than " + std::to_string(max_user_name_length) + " octets");
    }
    return problem;
}

}  // namespace mutual

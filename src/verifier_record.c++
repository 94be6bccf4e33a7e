// The verifier record codec (format in verifier_record.h and
// docs/verifier-format.md). Decoding is strict: it accepts exactly what
// encode_record produces, so a value that decodes has one spelling only.
#include "verifier_record.h"

#include <cstddef>

#include "algorithm.h"
#include "ascii.h"

namespace mutual {
namespace {

constexpr std::string_view record_version = "1";
constexpr std::size_t fields_per_entry = 5;

bool is_unescaped(unsigned char c) noexcept {
    return is_ascii_alnum(static_cast<char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' ||
           c == '*';
}

// Splits `s` at every `separator` (an empty s gives one empty piece).
std::vector<std::string_view> split(std::string_view s, char separator) {
    std::vector<std::string_view> pieces;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = s.find(separator, start);
        if (end == std::string_view::npos) {
            pieces.push_back(s.substr(start));
            return pieces;
        }
        pieces.push_back(s.substr(start, end - start));
        start = end + 1;
    }
}

RecordError decode_entry(std::string_view text, VerifierEntry& entry, bool validate) {
    if (text.empty()) return RecordError::empty;
    std::vector<std::string_view> fields = split(text, ';');
    if (fields[0] != record_version || fields.size() < 2) return RecordError::bad_version;
    if (fields.size() != fields_per_entry) return RecordError::bad_field_count;

    // Only the canonical lower-case token: find_algorithm is case-insensitive.
    const Algorithm* algorithm = find_algorithm(fields[1]);
    if (algorithm == nullptr || algorithm->name() != fields[1])
        return RecordError::unknown_algorithm;
    entry.algorithm = algorithm;

    if (!percent_decode_field(fields[2], entry.auth_scope)) return RecordError::bad_percent;
    if (!percent_decode_field(fields[3], entry.realm)) return RecordError::bad_percent;

    std::optional<Bytes> j = algorithm->decode_key(fields[4]);
    if (!j) return RecordError::bad_verifier;
    // J is a group element like K_c1: the same range / on-curve checks apply.
    if (validate && algorithm->check_client_key(*j) != KexError::none)
        return RecordError::bad_verifier;
    // Canonical spelling only (hex-fixed-number accepts upper case on the wire).
    if (algorithm->encode_key(*j) != fields[4]) return RecordError::bad_verifier;
    entry.j = std::move(*j);
    return RecordError::none;
}

}  // namespace

const char* record_error_name(RecordError e) noexcept {
    switch (e) {
        case RecordError::none: return "none";
        case RecordError::empty: return "empty record or entry";
        case RecordError::bad_version: return "unknown record format version";
        case RecordError::bad_field_count: return "entry does not have five fields";
        case RecordError::unknown_algorithm: return "unknown algorithm";
        case RecordError::bad_percent: return "bad percent-encoding";
        case RecordError::bad_verifier: return "verifier J is not a valid group element";
        case RecordError::duplicate_entry: return "duplicate entry for one algorithm, scope and realm";
    }
    return "unknown record error";
}

std::string percent_encode_field(std::string_view s) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (is_unescaped(c)) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0x0f]);
        }
    }
    return out;
}

bool percent_decode_field(std::string_view s, std::string& out) {
    out.clear();
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (is_unescaped(c)) {
            out.push_back(s[i]);
            continue;
        }
        if (c != '%' || s.size() - i < 3) return false;
        int high = upper_hex_digit_value(s[i + 1]);
        int low = upper_hex_digit_value(s[i + 2]);
        if (high < 0 || low < 0) return false;
        unsigned char decoded = static_cast<unsigned char>(high * 16 + low);
        if (is_unescaped(decoded)) return false;  // not canonical: must appear as itself
        out.push_back(static_cast<char>(decoded));
        i += 2;
    }
    return true;
}

RecordError decode_record(std::string_view value, std::vector<VerifierEntry>& out,
                          bool validate) {
    out.clear();
    if (value.empty()) return RecordError::empty;
    std::vector<VerifierEntry> entries;
    for (std::string_view text : split(value, ',')) {
        VerifierEntry entry;
        RecordError e = decode_entry(text, entry, validate);
        if (e != RecordError::none) return e;
        if (find_entry(entries, *entry.algorithm, entry.auth_scope, entry.realm) != nullptr)
            return RecordError::duplicate_entry;
        entries.push_back(std::move(entry));
    }
    out = std::move(entries);
    return RecordError::none;
}

std::string encode_record(const std::vector<VerifierEntry>& entries) {
    std::string value;
    for (const VerifierEntry& entry : entries) {
        if (!value.empty()) value.push_back(',');
        value.append(record_version);
        value.push_back(';');
        value.append(entry.algorithm->name());
        value.push_back(';');
        value.append(percent_encode_field(entry.auth_scope));
        value.push_back(';');
        value.append(percent_encode_field(entry.realm));
        value.push_back(';');
        value.append(entry.algorithm->encode_key(entry.j));
    }
    return value;
}

const VerifierEntry* find_entry(const std::vector<VerifierEntry>& entries,
                                const Algorithm& algorithm, std::string_view auth_scope,
                                std::string_view realm) noexcept {
    for (const VerifierEntry& entry : entries) {
        if (entry.algorithm == &algorithm && entry.auth_scope == auth_scope &&
            entry.realm == realm)
            return &entry;
    }
    return nullptr;
}

}  // namespace mutual

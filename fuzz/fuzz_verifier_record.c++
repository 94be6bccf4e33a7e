// libFuzzer target: the verifier record codec of verifier_record.h (the
// value htmutual stores in the DBM file and the module reads per request).
//
// Input: the record value. Properties:
//  * decode_record accepts only canonical records: encode_record of what it
//    decoded is the input again, and every entry has a known algorithm, a J
//    of the algorithm's element length that passes check_client_key, and no
//    (algorithm, scope, realm) twice (find_entry finds each entry itself).
//  * a rejection leaves the output empty.
//  * percent_decode_field accepts only canonical text (encode gives it back),
//    and percent_encode_field of any octets decodes to those octets.
#include "fuzz_common.h"

#include <string>
#include <vector>

#include "algorithm.h"
#include "verifier_record.h"

namespace mutual {
namespace fuzz {
namespace verifier_record_target {

void check_record(std::string_view value) {
    std::vector<VerifierEntry> entries;
    RecordError e = decode_record(value, entries);
    if (e != RecordError::none) {
        FUZZ_CHECK(entries.empty());
        return;
    }
    FUZZ_CHECK(!entries.empty());
    FUZZ_CHECK(encode_record(entries) == value);
    for (const VerifierEntry& entry : entries) {
        FUZZ_CHECK(entry.algorithm != nullptr);
        FUZZ_CHECK(find_algorithm(entry.algorithm->name()) == entry.algorithm);
        FUZZ_CHECK(entry.j.size() == entry.algorithm->element_length());
        FUZZ_CHECK(entry.algorithm->check_client_key(entry.j) == KexError::none);
        FUZZ_CHECK(find_entry(entries, *entry.algorithm, entry.auth_scope, entry.realm) ==
                   &entry);
    }
}

void check_percent(std::string_view text) {
    std::string decoded;
    if (percent_decode_field(text, decoded)) FUZZ_CHECK(percent_encode_field(decoded) == text);
    std::string encoded = percent_encode_field(text);
    for (char c : encoded)
        FUZZ_CHECK(c != ':' && c != ';' && c != ',' && c != ' ' &&
                   static_cast<unsigned char>(c) < 0x80);
    std::string back;
    FUZZ_CHECK(percent_decode_field(encoded, back) && back == text);
}

int verifier_record_one_input(const std::uint8_t* data, std::size_t size) {
    std::string_view value = as_text(data, size);
    check_record(value);
    check_percent(value);
    return 0;
}

}  // namespace verifier_record_target

using verifier_record_target::verifier_record_one_input;

}  // namespace fuzz
}  // namespace mutual

MUTUAL_FUZZ_ENTRY(verifier_record_one_input)

// libFuzzer target: the client's handling of the server's responses (the
// state machine of src/client/client_session.h, RFC 8120 §10).
//
// Input: one selector octet, then up to 8 responses separated by an empty
// line. A response is a status line ("401", or "HTTP/1.1 401 ...") followed
// by "Name: value" header lines. selector % vectors picks a KAT vector: the
// target URL comes from its vh, the credentials supplied when asked are its
// user and password; bit 4 declines credentials instead; bit 5 makes the
// target https with a made-up certificate hash; bit 6 turns session reuse and
// kex-first off.
//
// Each input gets a fresh ClientContext. The exchange is driven until it
// finishes or the input runs out of responses. Properties:
//  * it finishes within max_requests + 2 steps (no loop);
//  * success / AUTH-SUCCEED / verified content never happen: the input
//    cannot know z (the client's S_c1 is random), so no response can prove
//    the server's identity (§10, §17.5); a finished outcome is consistent
//    (AUTH-SUCCEED iff success);
//  * every Authorization the client sends parses as the message it claims
//    (req-KEX-C1 / req-VFY-C, with the chosen realm), normal requests carry
//    none;
//  * the detail text holds no password (unless the responses contain it).
//
// PBKDF2 (pi) runs with one iteration and the discrete-log groups'
// secret-exponent exponentiations with 128-bit exponents in the fuzzer (see
// the interposers below); the Check suite replaying the corpus uses the real
// functions.
#include "fuzz_common.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#ifndef MUTUAL_FUZZ_NO_MAIN
#include <dlfcn.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#endif

#include <nlohmann/json.hpp>

#include "client/client_session.h"
#include "client/target.h"
#include "header.h"

#ifndef MUTUAL_FUZZ_NO_MAIN
// Interposes libcrypto's PBKDF2 (the executable's definition wins over the
// shared library's; the real one is found with RTLD_NEXT) and runs it with
// one iteration: pi's salt contains the realm the (fuzzed) server sent, so
// nearly every input would otherwise pay 16384 HMACs for a value that only
// has to be some scalar. The code paths are the same; pi values differ from
// the real ones, which no property depends on (success is impossible anyway).
extern "C" int PKCS5_PBKDF2_HMAC(const char* pass, int passlen, const unsigned char* salt,
                                 int saltlen, int iter, const EVP_MD* digest, int keylen,
                                 unsigned char* out) {
    using Real = int (*)(const char*, int, const unsigned char*, int, int, const EVP_MD*, int,
                         unsigned char*);
    static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "PKCS5_PBKDF2_HMAC"));
    if (real == nullptr) std::abort();
    (void)iter;
    return real(pass, passlen, salt, saltlen, 1, digest, keylen, out);
}

// The same for the client's DL exponentiations with a secret exponent
// (K_c1 = g^S_c1 and z, src/kam3_dl.c++): the exponent is cut to its low
// 128 bits (never zero). A 4096-bit exponent costs about 20 ms, and most
// executions of this target were spent there rather than in the client's
// parsing and state machine. The exponent stays random and unknown to the
// input, so no response can still prove knowledge of z; the client's code
// paths are the same, and the math is checked by the KAT suite, not here.
extern "C" int BN_mod_exp_mont_consttime(BIGNUM* rr, const BIGNUM* a, const BIGNUM* p,
                                         const BIGNUM* m, BN_CTX* ctx, BN_MONT_CTX* in_mont) {
    using Real = int (*)(BIGNUM*, const BIGNUM*, const BIGNUM*, const BIGNUM*, BN_CTX*,
                         BN_MONT_CTX*);
    static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "BN_mod_exp_mont_consttime"));
    if (real == nullptr) std::abort();
    BIGNUM* shorter = BN_dup(p);
    if (shorter == nullptr) return 0;
    if (BN_num_bits(shorter) > 128 && BN_mask_bits(shorter, 128) != 1) {
        BN_clear_free(shorter);
        return 0;
    }
    if (BN_is_zero(shorter)) BN_one(shorter);
    const int rc = real(rr, a, shorter, m, ctx, in_mont);
    BN_clear_free(shorter);
    return rc;
}
#endif

namespace mutual {
namespace fuzz {
namespace client_response_target {

using client::AuthState;
using client::ClientContext;
using client::ClientOptions;
using client::Content;
using client::Exchange;
using client::MessageKind;
using client::Outcome;
using client::Response;
using client::Step;

struct Vector {
    std::string url;       // from vh
    std::string user, password;
};

std::string kat_path() {
    const char* env = std::getenv("MUTUAL_KAT");
    return env != nullptr && *env != '\0' ? env : "t/data/kam3-vectors.json";
}

const std::vector<Vector>& vectors() {
    static std::vector<Vector>* v = [] {
        auto* list = new std::vector<Vector>();
        std::ifstream in(kat_path());
        if (!in) {
            std::fprintf(stderr, "fuzz_client_response: cannot read %s (set MUTUAL_KAT)\n",
                         kat_path().c_str());
            std::abort();
        }
        nlohmann::json kat = nlohmann::json::parse(in);
        for (const auto& vector : kat["vectors"]) {
            const auto& i = vector["inputs"];
            Vector x;
            x.url = i["vh"].get<std::string>() + "/private/page";
            x.user = i["user"].get<std::string>();
            x.password = i["password"].get<std::string>();
            list->push_back(std::move(x));
        }
        if (list->empty()) std::abort();
        return list;
    }();
    return *v;
}

// Splits the input into responses (blank-line separated).
std::vector<Response> read_responses(std::string_view text, bool tls) {
    std::vector<Response> responses;
    while (!text.empty() && responses.size() < 8) {
        std::size_t end = text.find("\n\n");
        std::string_view block = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 2);
        Response r;
        r.tls = tls;
        if (tls) r.tls_server_end_point = Bytes(32, 0xab);
        bool first = true;
        while (!block.empty()) {
            std::size_t nl = block.find('\n');
            std::string_view line = block.substr(0, nl);
            block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (first) {
                first = false;
                if (line.substr(0, 5) == "HTTP/") {
                    std::size_t sp = line.find(' ');
                    line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
                }
                long status = 0;
                for (std::size_t i = 0; i < line.size() && i < 3; ++i) {
                    if (line[i] < '0' || line[i] > '9') break;
                    status = status * 10 + (line[i] - '0');
                }
                r.status = status;
                continue;
            }
            std::size_t colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.remove_prefix(1);
            r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
        }
        responses.push_back(std::move(r));
    }
    return responses;
}

void check_request(const Step& step) {
    if (step.message == MessageKind::normal_request) {
        FUZZ_CHECK(step.authorization.empty());
        return;
    }
    MutualCredentials c;
    FUZZ_CHECK(parse_mutual_credentials(step.authorization, c) == HeaderError::none);
    FUZZ_CHECK((step.message == MessageKind::req_kex_c1) == (c.kind == RequestKind::kex_c1));
}

int client_response_one_input(const std::uint8_t* data, std::size_t size) {
    const std::uint8_t selector = take_selector(data, size);
    const Vector& v = vectors()[(selector & 0x0f) % vectors().size()];
    const bool decline = (selector & 0x10) != 0;
    const bool tls = (selector & 0x20) != 0;
    std::string url = v.url;
    if (tls && url.compare(0, 7, "http://") == 0) url = "https://" + url.substr(7);
    std::optional<client::Target> target = client::parse_target(url);
    FUZZ_CHECK(target.has_value());

    ClientOptions options;
    options.clock = [] { return std::int64_t{1000}; };
    if ((selector & 0x40) != 0) {
        options.kex_first = false;
        options.reuse_sessions = false;
    }
    const unsigned max_requests = options.max_requests;
    ClientContext context(std::move(options));
    Exchange exchange(context, *target);

    std::vector<Response> responses = read_responses(as_text(data, size), tls);
    std::size_t next = 0;
    Step step = exchange.begin();
    unsigned steps = 0;
    while (step.action != Step::Action::finished) {
        FUZZ_CHECK(++steps <= max_requests + 6);  // + credentials, + certificate re-keys
        if (step.action == Step::Action::send_request) {
            if (next >= responses.size()) return 0;  // the input ran out
            if (step.bind_to_connection) {
                // The certificate of the connection is the one its response reports.
                std::optional<std::string> bound =
                    exchange.bind(responses[next].tls_server_end_point);
                if (!bound) {
                    step = exchange.connection_changed();
                    continue;
                }
                step.authorization = *bound;
            }
            check_request(step);
            step = exchange.receive(responses[next++]);
        } else {
            step = decline ? exchange.decline_credentials()
                           : exchange.supply_credentials(v.user, v.password);
        }
    }
    FUZZ_CHECK(step.outcome != Outcome::success);
    FUZZ_CHECK(step.state != AuthState::auth_succeed);
    FUZZ_CHECK(step.content != Content::verified);
    // (Unless the server itself sent the password's text, e.g. in a realm the
    // detail quotes, or in any letter case in a token the client writes in
    // lower case, such as an algorithm name: the fuzzer found both.)
    if (v.password.size() >= 6) {
        const std::string password = ascii_lowercase(v.password);
        if (ascii_lowercase(as_text(data, size)).find(password) == std::string::npos)
            FUZZ_CHECK(ascii_lowercase(step.detail).find(password) == std::string::npos);
    }
    return 0;
}

}  // namespace client_response_target

using client_response_target::client_response_one_input;

}  // namespace fuzz
}  // namespace mutual

MUTUAL_FUZZ_ENTRY(client_response_one_input)

// Check suite: the KAM3 algorithms of RFC 8121 §3 and the default functions
// of RFC 8120 §12.2/§13, against the known-answer vectors and by round trips.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "test_support.h"  // before check.h, which defines a fail() macro

// check.h defines a fail() macro: include it after the C++ library headers.
#include <check.h>

#include "algorithm.h"
#include "encoding.h"
#include "openssl_ptr.h"

using namespace mutual;
using namespace mutual::test;

namespace {

// Algorithms in RFC 8121 §3 order.
const char* const algorithm_names[] = {
    "iso-kam3-dl-2048-sha256",
    "iso-kam3-dl-4096-sha512",
    "iso-kam3-ec-p256-sha256",
    "iso-kam3-ec-p521-sha512",
};

Bytes bn_octets(const BIGNUM* bn, std::size_t length) {
    Bytes out(length);
    ck_assert_int_ge(BN_bn2binpad(bn, out.data(), static_cast<int>(length)), 0);
    return out;
}

Secret to_secret(const Bytes& b) { return Secret(b.begin(), b.end()); }

const Algorithm& algorithm(const char* name) {
    const Algorithm* a = find_algorithm(name);
    ck_assert_msg(a != nullptr, "algorithm %s missing", name);
    return *a;
}

// The server's exchange composed from the step-wise functions, mapping
// nothing: it must agree with server_exchange_with, which shares their code.
KexError stepwise_exchange(const Algorithm& a, const Bytes& j, const Bytes& k_c1,
                           const Secret& s_s1, Bytes& k_s1, Secret& z) {
    if (KexError e = a.check_client_key(k_c1); e != KexError::none) return e;
    Bytes k;
    if (KexError e = a.server_key(j, k_c1, s_s1, k); e != KexError::none) return e;
    Secret secret;
    if (KexError e = a.server_secret(k_c1, k, s_s1, secret); e != KexError::none) return e;
    k_s1 = std::move(k);
    z = std::move(secret);
    return KexError::none;
}

#define assert_error(actual, expected)                                              \
    ck_assert_msg((actual) == (expected), "%s: got %s, want %s", #actual,           \
                  kex_error_name(actual), kex_error_name(expected))

#define assert_text_eq(actual, expected, what)                                         \
    ck_assert_msg(std::string(actual) == std::string(expected), "%s %s: got %s, want %s", \
                  vector_name.c_str(), what, std::string(actual).c_str(),                \
                  std::string(expected).c_str())

using Bn = UniquePtr<BIGNUM>;

// q of a DL algorithm.
Bn dl_prime(const Algorithm& a) {
    Bn q(a.element_length() == 256 ? BN_get_rfc3526_prime_2048(nullptr)
                                   : BN_get_rfc3526_prime_4096(nullptr));
    ck_assert_ptr_nonnull(q.get());
    return q;
}

int ec_nid(const Algorithm& a) {
    return a.element_length() == 33 ? NID_X9_62_prime256v1 : NID_secp521r1;
}

}  // namespace

// ---- registry ---------------------------------------------------------------

START_TEST(registry_lists_the_four_algorithms_in_rfc_order) {
    const auto& all = all_algorithms();
    ck_assert_uint_eq(all.size(), 4);
    for (std::size_t i = 0; i < 4; ++i) {
        ck_assert_ptr_nonnull(all[i]);
        ck_assert_msg(all[i]->name() == algorithm_names[i], "entry %zu is %.*s", i,
                      static_cast<int>(all[i]->name().size()), all[i]->name().data());
        ck_assert_ptr_eq(find_algorithm(algorithm_names[i]), all[i]);
    }
}
END_TEST

START_TEST(unknown_algorithm_problem_names_the_known_ones) {
    std::string problem;
    ck_assert_ptr_eq(find_algorithm("ISO-KAM3-EC-P256-SHA256", problem), all_algorithms()[2]);
    ck_assert(problem.empty());
    ck_assert_ptr_null(find_algorithm("rot13", problem));
    ck_assert(problem == "unknown algorithm \"rot13\" (known: iso-kam3-dl-2048-sha256, iso-kam3-dl-4096-sha512, "
                         "iso-kam3-ec-p256-sha256, iso-kam3-ec-p521-sha512)");
}
END_TEST

START_TEST(find_algorithm_ignores_case_and_rejects_unknown) {
    ck_assert_ptr_eq(find_algorithm("ISO-KAM3-EC-P256-SHA256"), find_algorithm("iso-kam3-ec-p256-sha256"));
    ck_assert_ptr_eq(find_algorithm("Iso-Kam3-Dl-4096-Sha512"), all_algorithms()[1]);
    ck_assert_ptr_null(find_algorithm(""));
    ck_assert_ptr_null(find_algorithm("iso-kam3-ec-p384-sha384"));
    ck_assert_ptr_null(find_algorithm("iso-kam3-dl-2048-sha256 "));
    ck_assert_ptr_null(find_algorithm("iso-kam3-dl-2048-sha25"));
}
END_TEST

START_TEST(algorithm_sizes_follow_rfc8121_appendix_b) {
    struct Expected {
        std::size_t element, scalar, hash;
        WireFormat format;
        std::size_t key_text, vk_text;
    };
    const Expected expected[] = {
        {256, 256, 32, WireFormat::base64_fixed, 344, 44},
        {512, 512, 64, WireFormat::base64_fixed, 684, 88},
        {33, 32, 32, WireFormat::hex_fixed, 66, 64},
        {66, 66, 64, WireFormat::hex_fixed, 132, 128},
    };
    for (std::size_t i = 0; i < 4; ++i) {
        const Algorithm& a = *all_algorithms()[i];
        ck_assert_uint_eq(a.element_length(), expected[i].element);
        ck_assert_uint_eq(a.scalar_length(), expected[i].scalar);
        ck_assert_uint_eq(a.hash_length(), expected[i].hash);
        ck_assert(a.wire_format() == expected[i].format);
        ck_assert(a.quoted_on_wire() == (expected[i].format == WireFormat::base64_fixed));
        ck_assert_uint_eq(a.pi_iterations(), 16384);
        ck_assert_uint_eq(a.encode_key(Bytes(a.element_length(), 7)).size(), expected[i].key_text);
        ck_assert_uint_eq(a.encode_vk(Bytes(a.hash_length(), 7)).size(), expected[i].vk_text);
    }
}
END_TEST

// ---- known answers -------------------------------------------------------------

START_TEST(kat_has_twelve_vectors_covering_every_algorithm) {
    const json& vectors = kat_vectors();
    ck_assert_uint_eq(vectors.size(), 12);
    std::set<std::string> seen;
    for (const json& v : vectors) seen.insert(v["algorithm"].get<std::string>());
    ck_assert_uint_eq(seen.size(), 4);
    for (const char* name : algorithm_names) ck_assert(seen.count(name) == 1);
}
END_TEST

START_TEST(kat_vector_reproduces_every_derived_value) {
    const json& v = kat_vectors().at(static_cast<std::size_t>(_i));
    const std::string vector_name = v["name"].get<std::string>();
    const json& in = v["inputs"];
    const json& d = v["derived"];
    const json& hex = v["hex"];
    const Algorithm& a = algorithm(v["algorithm"].get<std::string>().c_str());

    const std::string user = in["user"], password = in["password"], realm = in["realm"];
    const std::string scope = in["auth_scope"], vh = in["vh"], t = in["t"];
    const std::uint64_t nc = in["nc"].get<std::uint64_t>();
    // The inputs are prepared strings; the *_hex fields say which octets they are.
    assert_text_eq(to_hex(to_bytes(user)), in["user_hex"].get<std::string>(), "user octets");
    assert_text_eq(to_hex(to_bytes(password)), in["password_hex"].get<std::string>(), "password octets");
    const Secret s_c1 = secret_from_hex(in["S_c1"]);
    const Secret s_s1 = secret_from_hex(in["S_s1"]);
    ck_assert_uint_eq(s_c1.size(), a.scalar_length());
    ck_assert_uint_eq(s_s1.size(), a.scalar_length());

    assert_text_eq(to_hex(pi_salt(a, scope, realm, user)), d["pi_salt"].get<std::string>(), "pi_salt");

    const Secret pi = compute_pi(a, password, scope, realm, user);
    assert_text_eq(to_hex(pi), d["pi"].get<std::string>(), "pi");

    Bytes j;
    assert_error(a.verifier(pi, j), KexError::none);
    assert_text_eq(to_hex(j), d["J"].get<std::string>(), "J");

    Bytes k_c1;
    assert_error(a.client_key(s_c1, k_c1), KexError::none);
    assert_text_eq(to_hex(k_c1), hex["K_c1"].get<std::string>(), "K_c1 (hex)");
    assert_text_eq(a.encode_key(k_c1), d["K_c1"].get<std::string>(), "K_c1 (wire)");
    DecodeError decode_error = DecodeError::bad_character;
    const auto k_c1_decoded = a.decode_key(d["K_c1"].get<std::string>(), &decode_error);
    ck_assert_msg(k_c1_decoded && *k_c1_decoded == k_c1, "%s: K_c1 wire form does not decode", vector_name.c_str());
    ck_assert(decode_error == DecodeError::none);
    assert_error(a.check_client_key(k_c1), KexError::none);

    assert_text_eq(to_hex(compute_t1(a, k_c1)), d["t_1"].get<std::string>(), "t_1");

    Bytes k_s1;
    assert_error(a.server_key(j, k_c1, s_s1, k_s1), KexError::none);
    assert_text_eq(to_hex(k_s1), hex["K_s1"].get<std::string>(), "K_s1 (hex)");
    assert_text_eq(a.encode_key(k_s1), d["K_s1"].get<std::string>(), "K_s1 (wire)");
    const auto k_s1_decoded = a.decode_key(d["K_s1"].get<std::string>());
    ck_assert_msg(k_s1_decoded && *k_s1_decoded == k_s1, "%s: K_s1 wire form does not decode", vector_name.c_str());
    assert_error(a.check_server_key(k_s1), KexError::none);

    assert_text_eq(to_hex(compute_t2(a, k_c1, k_s1)), d["t_2"].get<std::string>(), "t_2");

    Secret z_client, z_server;
    assert_error(a.client_secret(pi, s_c1, k_c1, k_s1, z_client), KexError::none);
    assert_error(a.server_secret(k_c1, k_s1, s_s1, z_server), KexError::none);
    assert_text_eq(to_hex(z_client), d["z"].get<std::string>(), "z (client formula)");
    assert_text_eq(to_hex(z_server), d["z"].get<std::string>(), "z (server formula)");

    const Bytes vk_c = compute_vk_c(a, k_c1, k_s1, z_client, nc, vh);
    const Bytes vk_s = compute_vk_s(a, k_c1, k_s1, z_server, nc, vh);
    assert_text_eq(to_hex(vk_c), hex["VK_c"].get<std::string>(), "VK_c (hex)");
    assert_text_eq(a.encode_vk(vk_c), d["VK_c"].get<std::string>(), "VK_c (wire)");
    assert_text_eq(to_hex(vk_s), hex["VK_s"].get<std::string>(), "VK_s (hex)");
    assert_text_eq(a.encode_vk(vk_s), d["VK_s"].get<std::string>(), "VK_s (wire)");
    const auto vk_c_decoded = a.decode_vk(d["VK_c"].get<std::string>());
    ck_assert_msg(vk_c_decoded && equal_constant_time(*vk_c_decoded, vk_c), "%s: VK_c wire form", vector_name.c_str());
    const auto vk_s_decoded = a.decode_vk(d["VK_s"].get<std::string>());
    ck_assert_msg(vk_s_decoded && equal_constant_time(*vk_s_decoded, vk_s), "%s: VK_s wire form", vector_name.c_str());

    assert_text_eq(to_hex(compute_b1(a, k_c1, k_s1, z_client, vh, t)), d["b_1"].get<std::string>(), "b_1");
    assert_text_eq(to_hex(compute_b2(a, k_c1, k_s1, z_client, nc, vh, t)), d["b_2"].get<std::string>(), "b_2");
    // What an application does with the exported inner hashes (issue #12).
    assert_text_eq(to_hex(channel_binding_from_inner(a, compute_b1_inner(a, k_c1, k_s1, z_client, vh), t)),
                   d["b_1"].get<std::string>(), "b_1 from its inner hash");
    assert_text_eq(to_hex(channel_binding_from_inner(a, compute_b2_inner(a, k_c1, k_s1, z_server, nc, vh), t)),
                   d["b_2"].get<std::string>(), "b_2 from its inner hash");
}
END_TEST

// The combined server call gives the KAT K_s1 and z, and so do the
// step-wise functions composed.
START_TEST(kat_server_exchange_gives_k_s1_and_z) {
    const json& v = kat_vectors().at(static_cast<std::size_t>(_i));
    const std::string vector_name = v["name"].get<std::string>();
    const json& in = v["inputs"];
    const json& d = v["derived"];
    const json& hex = v["hex"];
    const Algorithm& a = algorithm(v["algorithm"].get<std::string>().c_str());
    const Secret s_c1 = secret_from_hex(in["S_c1"]);
    const Secret s_s1 = secret_from_hex(in["S_s1"]);
    const Secret pi = compute_pi(a, in["password"].get<std::string>(), in["auth_scope"].get<std::string>(),
                                 in["realm"].get<std::string>(), in["user"].get<std::string>());
    Bytes j, k_c1;
    assert_error(a.verifier(pi, j), KexError::none);
    assert_error(a.client_key(s_c1, k_c1), KexError::none);
    assert_text_eq(to_hex(k_c1), hex["K_c1"].get<std::string>(), "K_c1");
    assert_text_eq(to_hex(j), d["J"].get<std::string>(), "J");

    Bytes k_s1 = to_bytes("stale"), k_s1_default;
    Secret z(3, 9), z_default;
    assert_error(a.server_exchange_with(j, k_c1, s_s1, k_s1, z), KexError::none);
    assert_text_eq(to_hex(k_s1), hex["K_s1"].get<std::string>(), "K_s1 (server_exchange)");
    assert_text_eq(to_hex(z), d["z"].get<std::string>(), "z (server_exchange)");
    assert_error(stepwise_exchange(a, j, k_c1, s_s1, k_s1_default, z_default), KexError::none);
    assert_text_eq(to_hex(k_s1_default), hex["K_s1"].get<std::string>(), "K_s1 (default server_exchange)");
    assert_text_eq(to_hex(z_default), d["z"].get<std::string>(), "z (default server_exchange)");
}
END_TEST

// Errors of the combined call: K_c1 problems as K_c1 errors, a bad J as
// bad_verifier, a bad S_s1 as bad_scalar; nothing is written on failure.
START_TEST(server_exchange_reports_each_input_problem) {
    const Algorithm& a = *all_algorithms()[static_cast<std::size_t>(_i)];
    const bool ec = a.wire_format() == WireFormat::hex_fixed;
    const Secret pi = compute_pi(a, "pw", "example.com", "realm", "user");
    Bytes j, k_c1;
    assert_error(a.verifier(pi, j), KexError::none);
    assert_error(a.client_key(a.random_client_scalar(), k_c1), KexError::none);
    const Secret s_s1 = a.random_server_scalar();
    // EC: x >= p (not on the curve); DL: 1 (out of range).
    Bytes invalid(a.element_length(), ec ? 0xff : 0);
    if (!ec) invalid.back() = 1;
    const KexError invalid_error = ec ? KexError::not_on_curve : KexError::out_of_range;
    Bytes zero(a.element_length(), 0);
    const Bytes untouched = to_bytes("untouched");
    for (int which = 0; which < 2; ++which) {
        const auto call = [&](const Bytes& jj, const Bytes& kk, const Secret& ss) {
            Bytes k_s1 = untouched;
            Secret z(1, 42);
            KexError e = which == 0 ? a.server_exchange_with(jj, kk, ss, k_s1, z)
                                    : stepwise_exchange(a, jj, kk, ss, k_s1, z);
            if (e != KexError::none) {
                ck_assert(k_s1 == untouched);
                ck_assert(z == Secret(1, 42));
            }
            return e;
        };
        assert_error(call(j, invalid, s_s1), invalid_error);
        assert_error(call(j, zero, s_s1), ec ? KexError::infinity : KexError::out_of_range);
        assert_error(call(j, Bytes(3, 1), s_s1), KexError::bad_encoding);
        assert_error(call(invalid, k_c1, s_s1), KexError::bad_verifier);
        assert_error(call(j, k_c1, Secret(a.scalar_length(), 0)), KexError::bad_scalar);
        assert_error(call(j, k_c1, Secret()), KexError::bad_scalar);
        assert_error(call(j, k_c1, s_s1), KexError::none);
    }
    // The exchange agrees with the client.
    const Secret s_c1 = a.random_client_scalar();
    assert_error(a.client_key(s_c1, k_c1), KexError::none);
    Bytes k_s1;
    Secret z_server, z_client;
    assert_error(a.server_exchange_with(j, k_c1, s_s1, k_s1, z_server), KexError::none);
    assert_error(a.client_secret(pi, s_c1, k_c1, k_s1, z_client), KexError::none);
    ck_assert(z_server == z_client);
    // The drawing call: a fresh S_s1 each time, agreeing with the client;
    // a bad J rejected as bad_verifier, a bad K_c1 as the client's error,
    // nothing written on failure.
    Bytes k_s1_drawn, k_s1_again;
    Secret z_drawn, z_again;
    assert_error(a.server_exchange(j, k_c1, k_s1_drawn, z_drawn), KexError::none);
    assert_error(a.server_exchange(j, k_c1, k_s1_again, z_again), KexError::none);
    ck_assert(k_s1_drawn != k_s1_again);
    assert_error(a.client_secret(pi, s_c1, k_c1, k_s1_drawn, z_client), KexError::none);
    ck_assert(z_drawn == z_client);
    Bytes k_s1_untouched = to_bytes("untouched");
    assert_error(a.server_exchange(invalid, k_c1, k_s1_untouched, z_drawn), KexError::bad_verifier);
    assert_error(a.server_exchange(j, invalid, k_s1_untouched, z_drawn), invalid_error);
    ck_assert(k_s1_untouched == to_bytes("untouched"));
    ck_assert(z_drawn == z_client);
}
END_TEST

// ---- random exchanges ------------------------------------------------------------

START_TEST(random_exchanges_agree_and_wrong_password_differs) {
    const Algorithm& a = *all_algorithms()[static_cast<std::size_t>(_i)];
    const int runs = a.element_length() == 512 ? 3 : 20;
    const Secret pi = compute_pi(a, "correct horse", "example.com", "realm", "user");
    const Secret wrong_pi = compute_pi(a, "correct horsf", "example.com", "realm", "user");
    ck_assert_uint_eq(pi.size(), a.hash_length());
    ck_assert(pi != wrong_pi);
    Bytes j;
    assert_error(a.verifier(pi, j), KexError::none);
    ck_assert_uint_eq(j.size(), a.element_length());

    Secret previous_s_c1;
    for (int run = 0; run < runs; ++run) {
        const Secret s_c1 = a.random_client_scalar();
        const Secret s_s1 = a.random_server_scalar();
        ck_assert_uint_eq(s_c1.size(), a.scalar_length());
        ck_assert_uint_eq(s_s1.size(), a.scalar_length());
        ck_assert(s_c1 != previous_s_c1);
        previous_s_c1 = s_c1;

        Bytes k_c1, k_s1;
        assert_error(a.client_key(s_c1, k_c1), KexError::none);
        assert_error(a.check_client_key(k_c1), KexError::none);
        assert_error(a.server_key(j, k_c1, s_s1, k_s1), KexError::none);
        assert_error(a.check_server_key(k_s1), KexError::none);
        ck_assert_uint_eq(k_c1.size(), a.element_length());
        ck_assert_uint_eq(k_s1.size(), a.element_length());

        // Wire round trip of both keys.
        const auto k_c1_back = a.decode_key(a.encode_key(k_c1));
        ck_assert(k_c1_back && *k_c1_back == k_c1);
        const auto k_s1_back = a.decode_key(a.encode_key(k_s1));
        ck_assert(k_s1_back && *k_s1_back == k_s1);

        Secret z_client, z_server, z_wrong;
        assert_error(a.client_secret(pi, s_c1, k_c1, k_s1, z_client), KexError::none);
        assert_error(a.server_secret(k_c1, k_s1, s_s1, z_server), KexError::none);
        ck_assert_uint_eq(z_client.size(), a.element_length());
        ck_assert(z_client == z_server);

        const std::uint64_t nc = static_cast<std::uint64_t>(run) + 1;
        const Bytes vk_c_client = compute_vk_c(a, k_c1, k_s1, z_client, nc, "https://example.com:443");
        const Bytes vk_c_server = compute_vk_c(a, k_c1, k_s1, z_server, nc, "https://example.com:443");
        ck_assert(equal_constant_time(vk_c_client, vk_c_server));
        ck_assert(!equal_constant_time(vk_c_client, compute_vk_s(a, k_c1, k_s1, z_server, nc,
                                                                 "https://example.com:443")));
        ck_assert(!equal_constant_time(vk_c_client, compute_vk_c(a, k_c1, k_s1, z_server, nc + 1,
                                                                 "https://example.com:443")));

        // A client holding the wrong password derives another z and VK_c.
        assert_error(a.client_secret(wrong_pi, s_c1, k_c1, k_s1, z_wrong), KexError::none);
        ck_assert(z_wrong != z_server);
        ck_assert(!equal_constant_time(compute_vk_c(a, k_c1, k_s1, z_wrong, nc, "https://example.com:443"),
                                       vk_c_server));
    }
}
END_TEST

START_TEST(dl_client_scalars_meet_the_minimum) {
    for (std::size_t i = 0; i < 2; ++i) {
        const Algorithm& a = *all_algorithms()[i];
        Bn minimum(BN_new());
        ck_assert(BN_set_word(minimum.get(), a.element_length() * 8));
        for (int run = 0; run < 50; ++run) {
            const Secret s = a.random_client_scalar();
            Bn value(BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr));
            ck_assert(BN_cmp(value.get(), minimum.get()) >= 0);
        }
    }
}
END_TEST

// The algorithms share their groups, Montgomery contexts and EVP_MDs across
// threads (httpd's event MPM): concurrent exchanges must all agree.
START_TEST(concurrent_exchanges_agree) {
    const Algorithm& ec = algorithm("iso-kam3-ec-p256-sha256");
    const Algorithm& dl = algorithm("iso-kam3-dl-2048-sha256");
    const Secret ec_pi = compute_pi(ec, "pw", "s", "r", "u");
    const Secret dl_pi = compute_pi(dl, "pw", "s", "r", "u");
    Bytes ec_j, dl_j;
    assert_error(ec.verifier(ec_pi, ec_j), KexError::none);
    assert_error(dl.verifier(dl_pi, dl_j), KexError::none);
    int failures[4] = {0, 0, 0, 0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int run = 0; run < 12; ++run) {
                const bool use_dl = run % 6 == 0;
                const Algorithm& a = use_dl ? dl : ec;
                const Secret& pi = use_dl ? dl_pi : ec_pi;
                const Bytes& j = use_dl ? dl_j : ec_j;
                const Secret s_c1 = a.random_client_scalar(), s_s1 = a.random_server_scalar();
                Bytes k_c1, k_s1;
                Secret z_c, z_s;
                if (a.client_key(s_c1, k_c1) != KexError::none ||
                    a.server_key(j, k_c1, s_s1, k_s1) != KexError::none ||
                    a.client_secret(pi, s_c1, k_c1, k_s1, z_c) != KexError::none ||
                    a.server_secret(k_c1, k_s1, s_s1, z_s) != KexError::none || z_c != z_s)
                    ++failures[t];
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    for (int t = 0; t < 4; ++t) ck_assert_int_eq(failures[t], 0);
}
END_TEST

// ---- validity checks ----------------------------------------------------------------

START_TEST(dl_rejects_keys_outside_one_and_q_minus_one) {
    const Algorithm& a = *all_algorithms()[static_cast<std::size_t>(_i)];
    const std::size_t n = a.element_length();
    Bn q = dl_prime(a);
    Bn value(BN_new());

    const Secret pi = compute_pi(a, "pw", "s", "r", "u");
    Bytes j, good_k_c1, good_k_s1;
    assert_error(a.verifier(pi, j), KexError::none);
    const Secret s_c1 = a.random_client_scalar();
    const Secret s_s1 = a.random_server_scalar();
    assert_error(a.client_key(s_c1, good_k_c1), KexError::none);
    assert_error(a.server_key(j, good_k_c1, s_s1, good_k_s1), KexError::none);

    std::vector<Bytes> bad;
    bad.push_back(Bytes(n, 0));                                   // 0
    ck_assert(BN_one(value.get()));
    bad.push_back(bn_octets(value.get(), n));                     // 1
    ck_assert(BN_sub(value.get(), q.get(), BN_value_one()));
    bad.push_back(bn_octets(value.get(), n));                     // q - 1
    bad.push_back(bn_octets(q.get(), n));                         // q
    ck_assert(BN_add(value.get(), q.get(), BN_value_one()));
    bad.push_back(bn_octets(value.get(), n));                     // q + 1
    bad.push_back(Bytes(n, 0xff));                                // 2^(8n) - 1

    for (const Bytes& k : bad) {
        // The encoding itself is fine: the natural length is right.
        const auto decoded = a.decode_key(a.encode_key(k));
        ck_assert(decoded && *decoded == k);
        assert_error(a.check_client_key(k), KexError::out_of_range);
        assert_error(a.check_server_key(k), KexError::out_of_range);
        Bytes k_s1;
        assert_error(a.server_key(j, k, s_s1, k_s1), KexError::out_of_range);
        Secret z;
        assert_error(a.client_secret(pi, s_c1, good_k_c1, k, z), KexError::out_of_range);
        assert_error(a.server_secret(k, good_k_s1, s_s1, z), KexError::out_of_range);
    }

    // A bad stored J is the server's fault, not the client's.
    for (const Bytes& bad_j : bad) {
        Bytes k_s1;
        assert_error(a.server_key(bad_j, good_k_c1, s_s1, k_s1), KexError::bad_verifier);
    }

    // The edges of the accepted range: 2 and q - 2.
    ck_assert(BN_set_word(value.get(), 2));
    assert_error(a.check_client_key(bn_octets(value.get(), n)), KexError::none);
    ck_assert(BN_sub_word(q.get(), 2));
    assert_error(a.check_server_key(bn_octets(q.get(), n)), KexError::none);
}
END_TEST

START_TEST(ec_rejects_invalid_points) {
    const Algorithm& a = *all_algorithms()[2 + static_cast<std::size_t>(_i)];
    const std::size_t n = a.element_length();
    UniquePtr<EC_GROUP> group(EC_GROUP_new_by_curve_name(ec_nid(a)));
    ck_assert_ptr_nonnull(group.get());
    const BIGNUM* p = EC_GROUP_get0_field(group.get());
    Bn gx(BN_new()), gy(BN_new()), value(BN_new());
    ck_assert(EC_POINT_get_affine_coordinates(group.get(), EC_GROUP_get0_generator(group.get()),
                                              gx.get(), gy.get(), nullptr));

    const Secret pi = compute_pi(a, "pw", "s", "r", "u");
    Bytes j, good_k_c1, good_k_s1;
    assert_error(a.verifier(pi, j), KexError::none);
    const Secret s_c1 = a.random_client_scalar();
    const Secret s_s1 = a.random_server_scalar();
    assert_error(a.client_key(s_c1, good_k_c1), KexError::none);
    assert_error(a.server_key(j, good_k_c1, s_s1, good_k_s1), KexError::none);

    // P(G) is accepted, and so is P(-G) (the other y parity).
    ck_assert(BN_lshift1(value.get(), gx.get()));
    if (BN_is_odd(gy.get())) ck_assert(BN_add_word(value.get(), 1));
    const Bytes p_g = bn_octets(value.get(), n);
    assert_error(a.check_client_key(p_g), KexError::none);
    Bytes p_minus_g = p_g;
    p_minus_g.back() ^= 1;
    assert_error(a.check_client_key(p_minus_g), KexError::none);
    // S_c1 = 1 gives P(G).
    Secret one(a.scalar_length(), 0);
    one.back() = 1;
    Bytes k_one;
    assert_error(a.client_key(one, k_one), KexError::none);
    ck_assert(k_one == p_g);

    struct Bad {
        Bytes k;
        KexError error;
    };
    std::vector<Bad> bad;
    // x = 1 (P-256) and x = 3 (P-521): x^3 - 3x + b is not a square mod p.
    ck_assert(BN_set_word(value.get(), a.element_length() == 33 ? 2 : 6));
    bad.push_back({bn_octets(value.get(), n), KexError::not_on_curve});
    bad.push_back({Bytes(n, 0), KexError::infinity});  // 0: the encoding of 0_E
    ck_assert(BN_lshift1(value.get(), p));             // x = p, y even
    bad.push_back({bn_octets(value.get(), n), KexError::not_on_curve});
    // x = p + Gx: congruent to a valid x, but not below p.
    ck_assert(BN_add(value.get(), p, gx.get()));
    ck_assert(BN_lshift1(value.get(), value.get()));
    if (BN_is_odd(gy.get())) ck_assert(BN_add_word(value.get(), 1));
    bad.push_back({bn_octets(value.get(), n), KexError::not_on_curve});
    bad.push_back({Bytes(n, 0xff), KexError::not_on_curve});

    for (const Bad& b : bad) {
        const auto decoded = a.decode_key(a.encode_key(b.k));
        ck_assert(decoded && *decoded == b.k);
        assert_error(a.check_client_key(b.k), b.error);
        assert_error(a.check_server_key(b.k), b.error);
        Bytes k_s1;
        assert_error(a.server_key(j, b.k, s_s1, k_s1), b.error);
        Secret z;
        assert_error(a.client_secret(pi, s_c1, good_k_c1, b.k, z), b.error);
        assert_error(a.server_secret(b.k, good_k_s1, s_s1, z), b.error);
        // A bad stored J is the server's fault, not the client's.
        assert_error(a.server_key(b.k, good_k_c1, s_s1, k_s1), KexError::bad_verifier);
    }
}
END_TEST

START_TEST(wrong_natural_length_is_rejected) {
    for (const Algorithm* a : all_algorithms()) {
        const std::size_t n = a->element_length();
        const std::size_t h = a->hash_length();
        for (std::size_t length : {n - 1, n + 1}) {
            const Bytes k(length, 0x42);
            const std::string text = a->wire_format() == WireFormat::base64_fixed
                                         ? encode_base64_fixed(k)
                                         : encode_hex_fixed(k);
            DecodeError e = DecodeError::none;
            ck_assert(!a->decode_key(text, &e));
            ck_assert(e == DecodeError::wrong_length);
            assert_error(a->check_client_key(k), KexError::bad_encoding);
            assert_error(a->check_server_key(k), KexError::bad_encoding);
        }
        for (std::size_t length : {h - 1, h + 1, n}) {
            const Bytes vk(length, 0x42);
            const std::string text = a->wire_format() == WireFormat::base64_fixed
                                         ? encode_base64_fixed(vk)
                                         : encode_hex_fixed(vk);
            DecodeError e = DecodeError::none;
            ck_assert(!a->decode_vk(text, &e));
            ck_assert(e == DecodeError::wrong_length);
        }
        DecodeError e = DecodeError::none;
        ck_assert(!a->decode_key("", &e));
        ck_assert(e != DecodeError::none);
        // Hex keys accept upper case; base64 keys refuse the hex form.
        const Bytes k(n, 0xab);
        if (a->wire_format() == WireFormat::hex_fixed) {
            std::string upper = encode_hex_fixed(k);
            for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            const auto decoded = a->decode_key(upper);
            ck_assert(decoded && *decoded == k);
        } else {
            ck_assert(!a->decode_key(encode_hex_fixed(k)));
        }
    }
}
END_TEST

START_TEST(scalars_outside_one_to_r_minus_one_are_rejected) {
    const Algorithm& a = *all_algorithms()[static_cast<std::size_t>(_i)];
    const std::size_t s_len = a.scalar_length();
    Bn r(BN_new());
    if (a.wire_format() == WireFormat::base64_fixed) {
        Bn q = dl_prime(a);
        ck_assert(BN_rshift1(r.get(), q.get()));
    } else {
        UniquePtr<EC_GROUP> group(EC_GROUP_new_by_curve_name(ec_nid(a)));
        ck_assert(BN_copy(r.get(), EC_GROUP_get0_order(group.get())));
    }
    Bn value(BN_new());

    const Secret pi = compute_pi(a, "pw", "s", "r", "u");
    Bytes j, k_c1, k_s1;
    assert_error(a.verifier(pi, j), KexError::none);
    const Secret s_c1 = a.random_client_scalar();
    const Secret s_s1 = a.random_server_scalar();
    assert_error(a.client_key(s_c1, k_c1), KexError::none);
    assert_error(a.server_key(j, k_c1, s_s1, k_s1), KexError::none);

    std::vector<Secret> bad;
    bad.push_back(Secret());                 // nothing
    bad.push_back(Secret(s_len, 0));         // 0
    bad.push_back(to_secret(bn_octets(r.get(), s_len)));  // r
    ck_assert(BN_add(value.get(), r.get(), BN_value_one()));
    bad.push_back(to_secret(bn_octets(value.get(), s_len)));  // r + 1
    bad.push_back(Secret(s_len, 0xff));
    for (const Secret& s : bad) {
        Bytes out;
        Secret z;
        assert_error(a.client_key(s, out), KexError::bad_scalar);
        assert_error(a.server_key(j, k_c1, s, out), KexError::bad_scalar);
        assert_error(a.client_secret(pi, s, k_c1, k_s1, z), KexError::bad_scalar);
        assert_error(a.server_secret(k_c1, k_s1, s, z), KexError::bad_scalar);
    }

    // r - 1 is the largest valid scalar for both sides.
    ck_assert(BN_sub(value.get(), r.get(), BN_value_one()));
    const Secret largest = to_secret(bn_octets(value.get(), s_len));
    Bytes out;
    assert_error(a.client_key(largest, out), KexError::none);
    assert_error(a.server_key(j, k_c1, largest, out), KexError::none);

    // DL: S_c1 must make g^S_c1 exceed q (S_c1 >= bits(q)); the server's S_s1 need not.
    Secret small(s_len, 0);
    const unsigned minimum = static_cast<unsigned>(a.element_length() * 8);
    small[s_len - 2] = static_cast<std::uint8_t>((minimum - 1) >> 8);
    small[s_len - 1] = static_cast<std::uint8_t>((minimum - 1) & 0xff);
    Secret z;
    if (a.wire_format() == WireFormat::base64_fixed) {
        assert_error(a.client_key(small, out), KexError::bad_scalar);
        assert_error(a.client_secret(pi, small, k_c1, k_s1, z), KexError::bad_scalar);
        small[s_len - 1] = static_cast<std::uint8_t>(minimum & 0xff);
        small[s_len - 2] = static_cast<std::uint8_t>(minimum >> 8);
        assert_error(a.client_key(small, out), KexError::none);
    } else {
        assert_error(a.client_key(small, out), KexError::none);
    }
    Secret one(s_len, 0);
    one.back() = 1;
    assert_error(a.server_key(j, k_c1, one, out), KexError::none);
    assert_error(a.server_secret(k_c1, k_s1, one, z), KexError::none);
}
END_TEST

// ---- small helpers -----------------------------------------------------------------

START_TEST(error_names_are_distinct) {
    std::set<std::string> names;
    for (int e = 0; e <= static_cast<int>(KexError::internal); ++e)
        names.insert(kex_error_name(static_cast<KexError>(e)));
    ck_assert_uint_eq(names.size(), static_cast<std::size_t>(KexError::internal) + 1);
    ck_assert_str_eq(kex_error_name(KexError::out_of_range), "out_of_range");
}
END_TEST

START_TEST(equal_constant_time_compares_content_and_length) {
    ck_assert(equal_constant_time(Bytes{}, Bytes{}));
    ck_assert(equal_constant_time(Bytes{1, 2, 3}, Bytes{1, 2, 3}));
    ck_assert(!equal_constant_time(Bytes{1, 2, 3}, Bytes{1, 2, 4}));
    ck_assert(!equal_constant_time(Bytes{1, 2, 3}, Bytes{1, 2}));
    ck_assert(!equal_constant_time(Bytes{}, Bytes{0}));
}
END_TEST

START_TEST(pi_depends_on_every_salt_component) {
    const Algorithm& a = algorithm("iso-kam3-ec-p256-sha256");
    const Secret base = compute_pi(a, "pw", "scope", "realm", "user");
    ck_assert_uint_eq(base.size(), 32);
    ck_assert(base != compute_pi(a, "pw", "scope", "realm", "User"));
    ck_assert(base != compute_pi(a, "pw", "scope", "realm2", "user"));
    ck_assert(base != compute_pi(a, "pw", "scope2", "realm", "user"));
    ck_assert(base != compute_pi(a, "pw2", "scope", "realm", "user"));
    // VS() makes the concatenation unambiguous.
    ck_assert(pi_salt(a, "ab", "c", "u") != pi_salt(a, "a", "bc", "u"));
    ck_assert(base != compute_pi(algorithm("iso-kam3-dl-2048-sha256"), "pw", "scope", "realm", "user"));
}
END_TEST

int main() {
    if (!load_kat()) {
        std::fprintf(stderr, "check_kam3: cannot read the KAT file (set MUTUAL_KAT)\n");
        return EXIT_FAILURE;
    }
    Suite* s = suite_create("kam3");
    TCase* tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, registry_lists_the_four_algorithms_in_rfc_order);
    tcase_add_test(tc, find_algorithm_ignores_case_and_rejects_unknown);
    tcase_add_test(tc, unknown_algorithm_problem_names_the_known_ones);
    tcase_add_test(tc, algorithm_sizes_follow_rfc8121_appendix_b);
    tcase_add_test(tc, kat_has_twelve_vectors_covering_every_algorithm);
    tcase_add_loop_test(tc, kat_vector_reproduces_every_derived_value, 0, 12);
    tcase_add_loop_test(tc, kat_server_exchange_gives_k_s1_and_z, 0, 12);
    tcase_add_loop_test(tc, server_exchange_reports_each_input_problem, 0, 4);
    tcase_add_loop_test(tc, random_exchanges_agree_and_wrong_password_differs, 0, 4);
    tcase_add_test(tc, dl_client_scalars_meet_the_minimum);
    tcase_add_test(tc, concurrent_exchanges_agree);
    tcase_add_loop_test(tc, dl_rejects_keys_outside_one_and_q_minus_one, 0, 2);
    tcase_add_loop_test(tc, ec_rejects_invalid_points, 0, 2);
    tcase_add_test(tc, wrong_natural_length_is_rejected);
    tcase_add_loop_test(tc, scalars_outside_one_to_r_minus_one_are_rejected, 0, 4);
    tcase_add_test(tc, error_names_are_distinct);
    tcase_add_test(tc, equal_constant_time_compares_content_and_length);
    tcase_add_test(tc, pi_depends_on_every_salt_component);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

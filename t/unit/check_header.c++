// Check suite: authentication header grammar (RFC 7235/7615/5987) and the
// Mutual messages of RFC 8120 §4, against the KAT header strings.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "encoding.h"
#include "header.h"
#include "test_support.h"

// After the standard headers: check.h defines a macro named fail.
#include <check.h>

using namespace mutual;
using namespace mutual::test;

// ck_assert_str_eq keeps a pointer past the full expression, so compare
// std::string values instead of c_str() of temporaries.
#define assert_error(actual, expected) \
    ck_assert_msg((actual) == (expected), "%s: got %s, want %s", #actual, \
                  header_error_name(actual), header_error_name(expected))

namespace {

const char* const kat_sid = "00112233445566778899aabbccddeeff";

// The vector file, with the 12 vectors this suite expects.
const json& twelve_vectors() {
    const json& doc = kat();
    ck_assert_msg(doc["vectors"].size() == 12, "KAT file: expected 12 vectors");
    return doc;
}

std::uint64_t json_integer(const json& j) {
    if (j.is_number_unsigned()) return j.get<std::uint64_t>();
    return std::stoull(j.get<std::string>());
}

// A credentials prefix with every common mandatory field.
const std::string cred_prefix =
    "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, realm=\"r\"";

}  // namespace

// ---- KAT: every canonical header parses and re-serializes byte-identically ----

START_TEST(kat_headers_round_trip) {
    const json& doc = twelve_vectors();
    int checked = 0;
    for (const json& v : doc["vectors"]) {
        const std::string name = v["name"].get<std::string>();
        const std::string algorithm = v["algorithm"].get<std::string>();
        const json& in = v["inputs"];
        const json& derived = v["derived"];
        const bool quote = v["wire_encoding"].get<std::string>().rfind("base64", 0) == 0;
        const json& h = v["headers"];
        auto check_id = [&](const RealmId& id) {
            assert_text_eq(id.algorithm, algorithm);
            assert_text_eq(id.validation, "host");
            ck_assert_msg(id.auth_scope.has_value(), "%s: auth-scope missing", name.c_str());
            assert_text_eq(*id.auth_scope, in["auth_scope"].get<std::string>());
            assert_text_eq(id.realm, in["realm"].get<std::string>());
        };

        {
            const std::string text = h["401-INIT WWW-Authenticate"].get<std::string>();
            std::vector<MutualChallenge> cs;
            assert_error(parse_mutual_challenges(text, cs), HeaderError::none);
            ck_assert_uint_eq(cs.size(), 1);
            ck_assert(cs[0].kind == ResponseKind::init);
            assert_text_eq(cs[0].reason, "initial");
            check_id(cs[0].id);
            assert_text_eq(serialize_challenge(cs[0], quote), text);
            ++checked;
        }
        {
            const std::string text = h["req-KEX-C1 Authorization"].get<std::string>();
            MutualCredentials c;
            assert_error(parse_mutual_credentials(text, c), HeaderError::none);
            ck_assert(c.kind == RequestKind::kex_c1);
            check_id(c.id);
            assert_text_eq(c.user, in["user"].get<std::string>());
            assert_text_eq(c.kc1, derived["K_c1"].get<std::string>());
            assert_text_eq(serialize_credentials(c, quote), text);
            ++checked;
        }
        {
            const std::string text = h["401-KEX-S1 WWW-Authenticate"].get<std::string>();
            std::vector<MutualChallenge> cs;
            assert_error(parse_mutual_challenges(text, cs), HeaderError::none);
            ck_assert_uint_eq(cs.size(), 1);
            const MutualChallenge& c = cs[0];
            ck_assert(c.kind == ResponseKind::kex_s1);
            check_id(c.id);
            assert_text_eq(to_hex(c.sid), kat_sid);
            assert_text_eq(c.ks1, derived["K_s1"].get<std::string>());
            ck_assert_uint_eq(c.nc_max, 10000);
            ck_assert_uint_eq(c.nc_window, 128);
            ck_assert_uint_eq(c.time, 300);
            ck_assert(!c.path.has_value());
            assert_text_eq(serialize_challenge(c, quote), text);
            ++checked;
        }
        {
            const std::string text = h["req-VFY-C Authorization"].get<std::string>();
            MutualCredentials c;
            assert_error(parse_mutual_credentials(text, c), HeaderError::none);
            ck_assert(c.kind == RequestKind::vfy_c);
            check_id(c.id);
            assert_text_eq(to_hex(c.sid), kat_sid);
            assert_text_eq(c.sid_text, kat_sid);
            ck_assert_uint_eq(c.nc, json_integer(in["nc"]));
            assert_text_eq(c.vkc, derived["VK_c"].get<std::string>());
            assert_text_eq(serialize_credentials(c, quote), text);
            ++checked;
        }
        {
            const std::string text = h["200-VFY-S Authentication-Info"].get<std::string>();
            MutualAuthInfo a;
            assert_error(parse_mutual_auth_info(text, a), HeaderError::none);
            assert_text_eq(to_hex(a.sid), kat_sid);
            assert_text_eq(a.vks, derived["VK_s"].get<std::string>());
            assert_text_eq(serialize_auth_info(a, quote), text);
            ++checked;
        }
    }
    ck_assert_int_eq(checked, 60);
}
END_TEST

START_TEST(kat_utf8_user_uses_ext_value) {
    const json& doc = twelve_vectors();
    bool seen = false;
    for (const json& v : doc["vectors"]) {
        const std::string text = v["headers"]["req-KEX-C1 Authorization"].get<std::string>();
        if (text.find("user*=") == std::string::npos) continue;
        seen = true;
        AuthItem item;
        assert_error(parse_credentials(text, item), HeaderError::none);
        const Param* user = item.find("user");
        ck_assert_ptr_nonnull(user);
        ck_assert(user->extended);
        assert_text_eq(user->value, "Ren\xC3\xA9" "e Zo\xC3\xAB \xE6\xB5\x8B\xE8\xAF\x95");
        assert_text_eq(string_param("user", user->value),
                       "user*=UTF-8''Ren%C3%A9e%20Zo%C3%AB%20%E6%B5%8B%E8%AF%95");
    }
    ck_assert(seen);
}
END_TEST

// ---- grammar ---------------------------------------------------------------

START_TEST(several_mutual_challenges_in_one_header) {
    const std::string value =
        "Mutual version=1, algorithm=iso-kam3-dl-2048-sha256, validation=host, realm=\"a\", "
        "reason=initial, Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=tls-unique, "
        "auth-scope=\"example.com\", realm=\"b\", reason=stale-session";
    std::vector<AuthItem> items;
    assert_error(parse_challenges(value, items), HeaderError::none);
    ck_assert_uint_eq(items.size(), 2);
    ck_assert_uint_eq(items[0].params.size(), 5);
    ck_assert_uint_eq(items[1].params.size(), 6);

    std::vector<MutualChallenge> cs;
    assert_error(parse_mutual_challenges(value, cs), HeaderError::none);
    ck_assert_uint_eq(cs.size(), 2);
    assert_text_eq(cs[0].id.algorithm, "iso-kam3-dl-2048-sha256");
    assert_text_eq(cs[0].id.realm, "a");
    ck_assert(!cs[0].id.auth_scope.has_value());
    ck_assert(cs[0].kind == ResponseKind::init);
    assert_text_eq(cs[1].id.validation, "tls-unique");
    assert_text_eq(cs[1].id.realm, "b");
    ck_assert(cs[1].kind == ResponseKind::stale);
}
END_TEST

START_TEST(mixed_schemes) {
    const std::string value =
        "Basic realm=\"basic, realm\", Negotiate, Bearer abc/+xyz==, "
        "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, realm=\"m\", "
        "reason=initial, Digest realm=\"d\", nonce=\"n\", qop=auth, Foo";
    std::vector<AuthItem> items;
    assert_error(parse_challenges(value, items), HeaderError::none);
    ck_assert_uint_eq(items.size(), 6);
    assert_text_eq(items[0].scheme, "Basic");
    ck_assert_uint_eq(items[0].params.size(), 1);
    assert_text_eq(items[0].params[0].value, "basic, realm");
    assert_text_eq(items[1].scheme, "Negotiate");
    ck_assert(items[1].params.empty() && items[1].token68.empty());
    assert_text_eq(items[2].scheme, "Bearer");
    assert_text_eq(items[2].token68, "abc/+xyz==");
    assert_text_eq(items[3].scheme, "Mutual");
    ck_assert_uint_eq(items[3].params.size(), 5);
    assert_text_eq(items[4].scheme, "Digest");
    ck_assert_uint_eq(items[4].params.size(), 3);
    assert_text_eq(items[4].find("qop")->value, "auth");
    assert_text_eq(items[5].scheme, "Foo");

    std::vector<MutualChallenge> cs;
    assert_error(parse_mutual_challenges(value, cs), HeaderError::none);
    ck_assert_uint_eq(cs.size(), 1);
    assert_text_eq(cs[0].id.realm, "m");

    // No Mutual challenge at all.
    assert_error(parse_mutual_challenges("Basic realm=\"x\", Negotiate", cs),
                 HeaderError::not_mutual);
    ck_assert(cs.empty());

    // Token68 credentials of another scheme.
    AuthItem cred;
    assert_error(parse_credentials("Basic dXNlcjpwYXNz", cred), HeaderError::none);
    assert_text_eq(cred.scheme, "Basic");
    assert_text_eq(cred.token68, "dXNlcjpwYXNz");
}
END_TEST

START_TEST(quoted_string_escapes) {
    AuthItem item;
    assert_error(parse_credentials("X a=\"q\\\"b\\\\c\\d e\", b=\"\", c=\"x,y=z\", d=\"\t\xC3\xA9\"", item),
                 HeaderError::none);
    ck_assert_uint_eq(item.params.size(), 4);
    assert_text_eq(item.find("a")->value, "q\"b\\cd e");
    ck_assert(item.find("a")->quoted);
    assert_text_eq(item.find("b")->value, "");
    assert_text_eq(item.find("c")->value, "x,y=z");
    assert_text_eq(item.find("d")->value, "\t\xC3\xA9");

    assert_text_eq(quote_string("Quote \" and \\ backslash, comma"),
                   "\"Quote \\\" and \\\\ backslash, comma\"");
    // Control characters cannot be carried by a quoted-string: never emitted.
    assert_text_eq(quote_string("a\r\nb\x7f"), "\"ab\"");

    // Round trip through the Mutual layer.
    MutualChallenge c;
    c.kind = ResponseKind::init;
    c.id = RealmId{"iso-kam3-ec-p256-sha256", "host", std::nullopt, "a\"b\\c"};
    c.reason = "initial";
    std::string text = serialize_challenge(c, false);
    assert_text_eq(text, "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, "
                         "realm=\"a\\\"b\\\\c\", reason=initial");
    std::vector<MutualChallenge> back;
    assert_error(parse_mutual_challenges(text, back), HeaderError::none);
    ck_assert_uint_eq(back.size(), 1);
    assert_text_eq(back[0].id.realm, "a\"b\\c");
}
END_TEST

START_TEST(case_insensitive_names_and_scheme) {
    const std::string value =
        "mUTUAL VERSION=1, Algorithm=ISO-KAM3-EC-P256-SHA256, VALIDATION=Host, "
        "Auth-Scope=\"Example.com\", REALM=\"Mixed Case\", Reason=Stale-Session";
    std::vector<MutualChallenge> cs;
    assert_error(parse_mutual_challenges(value, cs), HeaderError::none);
    ck_assert_uint_eq(cs.size(), 1);
    assert_text_eq(cs[0].id.algorithm, "iso-kam3-ec-p256-sha256");
    assert_text_eq(cs[0].id.validation, "host");
    assert_text_eq(*cs[0].id.auth_scope, "Example.com");  // strings keep their case
    assert_text_eq(cs[0].id.realm, "Mixed Case");
    assert_text_eq(cs[0].reason, "stale-session");
    ck_assert(cs[0].kind == ResponseKind::stale);

    MutualCredentials c;
    assert_error(parse_mutual_credentials(
                     "MUTUAL Version=1, ALGORITHM=iso-kam3-dl-2048-sha256, validation=HOST, "
                     "realm=\"r\", SID=00AABB, NC=5, VKC=\"abc=\"",
                     c),
                 HeaderError::none);
    ck_assert(c.kind == RequestKind::vfy_c);
    assert_text_eq(c.sid_text, "00aabb");
    assert_text_eq(to_hex(c.sid), "00aabb");
    ck_assert_uint_eq(c.nc, 5);
    assert_text_eq(c.vkc, "abc=");
}
END_TEST

START_TEST(whitespace_and_empty_elements) {
    AuthItem item;
    assert_error(parse_credentials(" \t, Mutual \t , version = 1 ,, ,algorithm=\t\"x\"\t, ,  ", item),
                 HeaderError::none);
    assert_text_eq(item.scheme, "Mutual");
    ck_assert_uint_eq(item.params.size(), 2);
    assert_text_eq(item.find("version")->value, "1");
    assert_text_eq(item.find("algorithm")->value, "x");

    std::vector<Param> params;
    assert_error(parse_auth_info(",version=1 ,, sid = \"00\" ,", params), HeaderError::none);
    ck_assert_uint_eq(params.size(), 2);
    assert_text_eq(params[1].name, "sid");
    assert_text_eq(params[1].value, "00");

    // Quoted and unquoted forms are interchangeable for the receiver (§3.2).
    MutualCredentials c;
    assert_error(parse_mutual_credentials(
                     "Mutual version=\"1\", algorithm=\"iso-kam3-ec-p256-sha256\", validation=host, "
                     "realm=r, user=alice, kc1=\"00ab\"",
                     c),
                 HeaderError::none);
    assert_text_eq(c.id.realm, "r");
    assert_text_eq(c.user, "alice");
    assert_text_eq(c.kc1, "00ab");
}
END_TEST

START_TEST(extended_parameters) {
    AuthItem item;
    assert_error(parse_credentials("Mutual user*=utf-8''%e6%b5%8B%E8%af%95!x, path*=UTF-8''a%20b", item),
                 HeaderError::none);
    const Param* user = item.find("user");
    ck_assert_ptr_nonnull(user);
    ck_assert(user->extended);
    ck_assert(!user->quoted);
    assert_text_eq(user->value, "\xE6\xB5\x8B\xE8\xAF\x95!x");
    ck_assert_ptr_null(item.find("user*"));
    assert_text_eq(item.find("path")->value, "a b");

    // Empty ext value decodes to the empty string.
    assert_error(parse_credentials("Mutual a*=UTF-8''", item), HeaderError::none);
    assert_text_eq(item.find("a")->value, "");

    // Serializer: ASCII stays a quoted-string, non-ASCII becomes name*=, realm never.
    assert_text_eq(string_param("user", "alice bob"), "user=\"alice bob\"");
    assert_text_eq(string_param("user", "Ren\xC3\xA9" "e"), "user*=UTF-8''Ren%C3%A9e");
    assert_text_eq(string_param("realm", "Ren\xC3\xA9" "e"), "realm=\"Ren\xC3\xA9" "e\"");
    assert_text_eq(ext_value_encode("a-b.c_d~e!#$&+^`|%'*\"()"),
                   "UTF-8''a-b.c_d~e!#$&+^`|%25%27%2A%22%28%29");

    MutualCredentials c;
    c.kind = RequestKind::kex_c1;
    c.id = RealmId{"iso-kam3-ec-p256-sha256", "host", std::string("\xC3\xA9.example"), "r"};
    c.user = "\xC3\xA9t\xC3\xA9";
    c.kc1 = "00ff";
    std::string text = serialize_credentials(c, false);
    assert_text_eq(text, "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, "
                         "auth-scope*=UTF-8''%C3%A9.example, realm=\"r\", "
                         "user*=UTF-8''%C3%A9t%C3%A9, kc1=00ff");
    MutualCredentials back;
    assert_error(parse_mutual_credentials(text, back), HeaderError::none);
    assert_text_eq(back.user, c.user);
    assert_text_eq(*back.id.auth_scope, *c.id.auth_scope);
    assert_text_eq(serialize_credentials(back, false), text);
}
END_TEST

START_TEST(kex_s1_path_and_quoting) {
    MutualChallenge c;
    c.kind = ResponseKind::kex_s1;
    c.id = RealmId{"iso-kam3-dl-2048-sha256", "host", std::nullopt, "r"};
    c.sid = Bytes{0xab, 0xcd};
    c.ks1 = "QUJD";
    c.nc_max = 1;
    c.nc_window = 0;
    c.time = UINT64_MAX;
    c.path = "/a /b";
    std::string text = serialize_challenge(c, true);
    assert_text_eq(text, "Mutual version=1, algorithm=iso-kam3-dl-2048-sha256, validation=host, "
                         "realm=\"r\", sid=abcd, ks1=\"QUJD\", nc-max=1, nc-window=0, "
                         "time=18446744073709551615, path=\"/a /b\"");
    std::vector<MutualChallenge> back;
    assert_error(parse_mutual_challenges(text, back), HeaderError::none);
    ck_assert_uint_eq(back.size(), 1);
    ck_assert(back[0].path.has_value());
    assert_text_eq(*back[0].path, "/a /b");
    ck_assert_uint_eq(back[0].time, UINT64_MAX);
    assert_text_eq(serialize_challenge(back[0], true), text);

    MutualAuthInfo a;
    a.sid = Bytes{0x01};
    a.vks = "abcd";
    assert_text_eq(serialize_auth_info(a, false), "version=1, sid=01, vks=abcd");
    assert_text_eq(serialize_auth_info(a, true), "version=1, sid=01, vks=\"abcd\"");
}
END_TEST

START_TEST(unknown_parameters_ignored) {
    MutualCredentials c;
    assert_error(parse_mutual_credentials(cred_prefix + ", user=u, kc1=ab, -x.example=1, "
                                                        "foo=\"bar\", ks=1, kc=2, kcx=3",
                                          c),
                 HeaderError::none);
    ck_assert(c.kind == RequestKind::kex_c1);
    // reason is a response parameter; §4 forbids only ks# and vks in a
    // request, so a request's reason is one more parameter to ignore.
    assert_error(parse_mutual_credentials(cred_prefix + ", user=u, kc1=ab, reason=initial", c),
                 HeaderError::none);
    ck_assert(c.kind == RequestKind::kex_c1);
    assert_error(parse_mutual_credentials(cred_prefix + ", sid=00, nc=1, vkc=ab, reason=x", c),
                 HeaderError::none);
    ck_assert(c.kind == RequestKind::vfy_c);
    std::vector<MutualChallenge> cs;
    assert_error(parse_mutual_challenges(cred_prefix + ", reason=-custom.example.com, extra=1", cs),
                 HeaderError::none);
    ck_assert_uint_eq(cs.size(), 1);
    assert_text_eq(cs[0].reason, "-custom.example.com");
    ck_assert(cs[0].kind == ResponseKind::init);
}
END_TEST

START_TEST(nc_saturates_and_rejects_leading_zero) {
    MutualCredentials c;
    assert_error(parse_mutual_credentials(cred_prefix + ", sid=00, nc=99999999999999999999999, vkc=ab", c),
                 HeaderError::none);
    ck_assert(c.nc == UINT64_MAX);
    assert_error(parse_mutual_credentials(cred_prefix + ", sid=00, nc=0, vkc=ab", c),
                 HeaderError::none);
    ck_assert_uint_eq(c.nc, 0);
    assert_error(parse_mutual_credentials(cred_prefix + ", sid=00, nc=007, vkc=ab", c),
                 HeaderError::bad_nc);
}
END_TEST

// ---- every reachable rejection, each with its own code -------------------

namespace {

enum class Entry { challenges, credentials, auth_info, m_credentials, m_challenges, m_auth_info };

struct Case {
    Entry entry;
    std::string input;
    HeaderError expected;
};

HeaderError run_entry(Entry entry, const std::string& input) {
    switch (entry) {
    case Entry::challenges: {
        std::vector<AuthItem> v;
        return parse_challenges(input, v);
    }
    case Entry::credentials: {
        AuthItem i;
        return parse_credentials(input, i);
    }
    case Entry::auth_info: {
        std::vector<Param> v;
        return parse_auth_info(input, v);
    }
    case Entry::m_credentials: {
        MutualCredentials c;
        return parse_mutual_credentials(input, c);
    }
    case Entry::m_challenges: {
        std::vector<MutualChallenge> v;
        return parse_mutual_challenges(input, v);
    }
    case Entry::m_auth_info: {
        MutualAuthInfo a;
        return parse_mutual_auth_info(input, a);
    }
    }
    return HeaderError::none;
}

std::string with_nul(const std::string& before, const std::string& after) {
    std::string s = before;
    s.push_back('\0');
    return s + after;
}

std::vector<Case> rejection_cases() {
    const std::string& P = cred_prefix;
    const std::string ks1_tail = ", sid=00, ks1=ab, nc-max=10, nc-window=8, time=60";
    std::string many_params = "Mutual ";
    for (std::size_t i = 0; i <= max_params; ++i)
        many_params += (i ? ", p" : "p") + std::to_string(i) + "=1";
    using E = Entry;
    using H = HeaderError;
    return {
        {E::credentials, std::string(max_header_length + 1, 'a'), H::too_long},
        {E::challenges, "Mutual realm=\"" + std::string(max_header_length, 'x') + "\"", H::too_long},
        {E::auth_info, std::string(max_header_length + 1, ' '), H::too_long},
        {E::credentials, "", H::empty},
        {E::challenges, " \t ", H::empty},
        {E::challenges, " , ,, ", H::empty},
        {E::auth_info, "", H::empty},
        {E::credentials, "\"Mutual\" version=1", H::bad_scheme},
        {E::credentials, "Mutual\"x\"", H::bad_scheme},
        {E::challenges, "realm=\"x\", Mutual", H::bad_scheme},
        {E::challenges, with_nul("Mutual", " version=1"), H::bad_scheme},
        {E::credentials, "Mutual version=1, @x=1", H::bad_param_name},
        {E::credentials, "Mutual *=1", H::bad_param_name},
        {E::credentials, "Mutual \"x\"=1", H::bad_param_name},
        {E::auth_info, "version=1, =1", H::bad_param_name},
        {E::credentials, "Mutual version=1, user", H::missing_equals},
        {E::credentials, "Mutual version 1", H::missing_equals},
        {E::credentials, "Mutual version=1, Basic abc", H::missing_equals},
        {E::auth_info, "version=1, sid", H::missing_equals},
        {E::credentials, "Mutual version=1, realm=", H::bad_token_value},
        {E::credentials, "Mutual version=@", H::bad_token_value},
        {E::auth_info, "sid=\xC3\xA9", H::bad_token_value},
        {E::credentials, "Mutual realm=\"abc", H::unterminated_quote},
        {E::credentials, "Mutual realm=\"abc\\", H::unterminated_quote},
        {E::challenges, "Mutual realm=\"abc\\\"", H::unterminated_quote},
        {E::credentials, "Mutual realm=\"a\x01" "b\"", H::bad_quoted_char},
        {E::credentials, with_nul("Mutual realm=\"a", "b\""), H::bad_quoted_char},
        {E::credentials, with_nul("Mutual realm=\"a\\", "\""), H::bad_quoted_char},
        {E::credentials, "Mutual realm=\"a\x7f\"", H::bad_quoted_char},
        {E::credentials, "Mutual realm=\"a\r\nX-Injected: 1\"", H::bad_quoted_char},
        {E::credentials, "Mutual version=1 realm=\"x\"", H::bad_separator},
        {E::credentials, "Mutual realm=\"x\"y", H::bad_separator},
        {E::credentials, with_nul("Mutual version=1", ""), H::bad_separator},
        {E::credentials, "Mutual version=1\r\n", H::bad_separator},
        {E::challenges, "Basic abc==, realm=\"x\"", H::bad_separator},
        {E::auth_info, "version=1; sid=00", H::bad_separator},
        {E::credentials, many_params, H::too_many_params},
        {E::credentials, "Mutual realm=\"a\", realm=\"b\"", H::duplicate_param},
        {E::credentials, "Mutual Realm=\"a\", REALM=b", H::duplicate_param},
        {E::credentials, "Mutual user=\"a\", user*=UTF-8''b", H::duplicate_param},
        {E::credentials, "Mutual user*=UTF-8''a, user=\"b\"", H::duplicate_param},
        {E::auth_info, "version=1, version=1", H::duplicate_param},
        {E::credentials, "Mutual user*=\"UTF-8''x\"", H::ext_syntax},
        {E::credentials, "Mutual user*=UTF-8'x", H::ext_syntax},
        {E::credentials, "Mutual user*=x", H::ext_syntax},
        {E::credentials, "Mutual user*=UTF-8''a'b", H::ext_syntax},
        {E::credentials, "Mutual user*=UTF-8''a*b", H::ext_syntax},
        {E::credentials, "Mutual user*=ISO-8859-1''x", H::ext_charset},
        {E::credentials, "Mutual user*=''x", H::ext_charset},
        {E::credentials, "Mutual user*=UTF-8'en'x", H::ext_language},
        {E::credentials, "Mutual user*=UTF-8''a%2", H::ext_percent},
        {E::credentials, "Mutual user*=UTF-8''a%", H::ext_percent},
        {E::credentials, "Mutual user*=UTF-8''%zz", H::ext_percent},
        {E::credentials, "Mutual user*=UTF-8''a%0Ab", H::ext_percent},  // fuzz F1: control character
        {E::credentials, "Mutual user*=UTF-8''a%7F", H::ext_percent},
        {E::credentials, "Mutual user*=UTF-8''%G1", H::ext_percent},
        {E::credentials, "Mutual realm*=UTF-8''x", H::ext_realm},
        {E::challenges, "Mutual REALM*=utf-8''x", H::ext_realm},
        {E::credentials, "Mutual user*=UTF-8''%C3", H::invalid_utf8},
        {E::credentials, "Mutual user*=UTF-8''%C0%AF", H::invalid_utf8},
        {E::credentials, "Mutual user*=UTF-8''%ED%A0%80", H::invalid_utf8},
        {E::credentials, "Mutual user*=UTF-8''%FF", H::invalid_utf8},
        {E::m_credentials, P + ", user=\"\xFF\", kc1=ab", H::invalid_utf8},
        {E::m_challenges, "Mutual version=1, algorithm=a, validation=host, realm=\"\xC3\", reason=initial",
         H::invalid_utf8},
        {E::m_credentials, "Mutual abc==", H::b64token_credentials},
        {E::m_credentials, "mutual dXNlcjpwYXNz", H::b64token_credentials},
        {E::m_challenges, "Mutual abc", H::b64token_credentials},
        {E::m_credentials, "Basic dXNlcjpwYXNz", H::not_mutual},
        {E::m_credentials, "Mutua version=1", H::not_mutual},
        {E::m_challenges, "Basic realm=\"x\"", H::not_mutual},
        {E::m_credentials, "Mutual algorithm=a, validation=host, realm=\"r\", user=u, kc1=ab",
         H::missing_version},
        {E::m_credentials, "Mutual", H::missing_version},
        {E::m_challenges, "Mutual realm=\"r\", reason=initial", H::missing_version},
        {E::m_auth_info, "sid=00, vks=ab", H::missing_version},
        {E::m_credentials, "Mutual version=2, algorithm=a, validation=host, realm=\"r\", user=u, kc1=ab",
         H::bad_version},
        {E::m_credentials, "Mutual version=01", H::bad_version},
        {E::m_challenges, "Mutual version=\"2\", reason=initial", H::bad_version},
        {E::m_auth_info, "version=1.0, sid=00, vks=ab", H::bad_version},
        {E::m_credentials, "Mutual version=1, validation=host, realm=\"r\", user=u, kc1=ab",
         H::missing_algorithm},
        {E::m_credentials, "Mutual version=1, algorithm=a, realm=\"r\", user=u, kc1=ab",
         H::missing_validation},
        {E::m_credentials, "Mutual version=1, algorithm=a, validation=host, user=u, kc1=ab",
         H::missing_realm},
        {E::m_challenges, "Mutual version=1, algorithm=a, validation=host, reason=initial",
         H::missing_realm},
        {E::m_credentials, P + ", kc1=ab", H::missing_user},
        {E::m_credentials, P + ", nc=1, vkc=ab", H::missing_sid},
        {E::m_challenges, P + ", ks1=ab, nc-max=1, nc-window=1, time=1", H::missing_sid},
        {E::m_auth_info, "version=1, vks=ab", H::missing_sid},
        {E::m_credentials, P + ", sid=00, vkc=ab", H::missing_nc},
        {E::m_challenges, P, H::missing_reason},
        {E::m_challenges, P + ", path=\"/\"", H::missing_reason},
        {E::m_credentials, "Mutual version=1, algorithm=\"a b\", validation=host, realm=\"r\", "
                           "user=u, kc1=ab", H::bad_extensive_token},
        {E::m_credentials, "Mutual version=1, algorithm=-foo, validation=host, realm=\"r\", "
                           "user=u, kc1=ab", H::bad_extensive_token},
        {E::m_credentials, "Mutual version=1, algorithm=a, validation=\"\", realm=\"r\", "
                           "user=u, kc1=ab", H::bad_extensive_token},
        {E::m_challenges, P + ", reason=auth.failed", H::bad_extensive_token},
        {E::m_challenges, P + ", reason=_x", H::bad_extensive_token},
        {E::m_credentials, P + ", user=u, kc1=ab, sid=00, nc=1, vkc=ab", H::kc_vkc_conflict},
        {E::m_credentials, P + ", user=u, kc1=ab, kc2=cd", H::kc_vkc_conflict},
        {E::m_credentials, P + ", user=u, kc1=ab, ks1=ab", H::response_params_in_request},
        {E::m_credentials, P + ", sid=00, nc=1, vkc=ab, vks=ab", H::response_params_in_request},
        {E::m_challenges, P + ", reason=initial, kc1=ab", H::request_params_in_response},
        {E::m_challenges, P + ks1_tail + ", vkc=ab", H::request_params_in_response},
        {E::m_auth_info, "version=1, sid=00, vks=ab, vkc=ab", H::request_params_in_response},
        {E::m_challenges, P + ", reason=initial" + ks1_tail, H::reason_ks_vks_conflict},
        {E::m_challenges, P + ", reason=initial, vks=ab", H::reason_ks_vks_conflict},
        {E::m_challenges, P + ks1_tail + ", ks2=cd", H::reason_ks_vks_conflict},
        {E::m_auth_info, "version=1, sid=00, vks=ab, reason=initial", H::reason_ks_vks_conflict},
        {E::m_credentials, P + ", sid=abc, nc=1, vkc=ab", H::bad_sid},
        {E::m_credentials, P + ", sid=zz, nc=1, vkc=ab", H::bad_sid},
        {E::m_credentials, P + ", sid=\"\", nc=1, vkc=ab", H::bad_sid},
        {E::m_challenges, P + ", sid=0g, ks1=ab, nc-max=1, nc-window=1, time=1", H::bad_sid},
        {E::m_auth_info, "version=1, sid=\"0 \", vks=ab", H::bad_sid},
        {E::m_credentials, P + ", sid=00, nc=007, vkc=ab", H::bad_nc},
        {E::m_credentials, P + ", sid=00, nc=x1, vkc=ab", H::bad_nc},
        {E::m_credentials, P + ", sid=00, nc=\"\", vkc=ab", H::bad_nc},
        {E::m_credentials, P + ", sid=00, nc=-1, vkc=ab", H::bad_nc},
        {E::m_challenges, P + ", sid=00, ks1=ab, nc-max=01, nc-window=1, time=1", H::bad_nc_max},
        {E::m_challenges, P + ", sid=00, ks1=ab, nc-max=1, nc-window=1e3, time=1", H::bad_nc_window},
        {E::m_challenges, P + ", sid=00, ks1=ab, nc-max=1, nc-window=1, time=\" 1\"", H::bad_time},
        {E::m_credentials, P + ", user=u", H::missing_kex_value},
        {E::m_credentials, P + ", user=u, kc2=ab", H::missing_kex_value},
        {E::m_auth_info, "version=1, sid=00", H::missing_kex_value},
        {E::m_challenges, P + ", sid=00, ks1=ab, nc-window=1, time=1", H::missing_ks1_fields},
        {E::m_challenges, P + ", sid=00, ks1=ab, nc-max=1, time=1", H::missing_ks1_fields},
        {E::m_challenges, P + ", sid=00, ks1=ab, nc-max=1, nc-window=1", H::missing_ks1_fields},
        {E::m_credentials, P + ", user=\"\", kc1=ab", H::bad_user},
        {E::m_credentials, P + ", user=\"\xEF\xBB\xBF" "bob\", kc1=ab", H::bad_user},
        {E::m_credentials, P + ", user*=UTF-8''%EF%BB%BFbob, kc1=ab", H::bad_user},
        {E::m_credentials, P + ", user*=UTF-8'', kc1=ab", H::bad_user},
    };
}

}  // namespace

START_TEST(every_rejection_has_its_code) {
    std::set<int> covered;
    int index = 0;
    for (const Case& c : rejection_cases()) {
        HeaderError got = run_entry(c.entry, c.input);
        ck_assert_msg(got == c.expected, "case %d (%.60s): got %s, want %s", index,
                      c.input.c_str(), header_error_name(got), header_error_name(c.expected));
        covered.insert(static_cast<int>(c.expected));
        ++index;
    }
    // Every enumerator after none is reachable from some parser and covered here.
    for (int e = static_cast<int>(HeaderError::too_long); e <= static_cast<int>(HeaderError::bad_user);
         ++e)
        ck_assert_msg(covered.count(e) == 1, "no rejection case for %s",
                      header_error_name(static_cast<HeaderError>(e)));
}
END_TEST

START_TEST(error_names_are_distinct) {
    std::set<std::string> names;
    for (int e = static_cast<int>(HeaderError::none); e <= static_cast<int>(HeaderError::bad_user); ++e) {
        std::string n = header_error_name(static_cast<HeaderError>(e));
        ck_assert_msg(n != "unknown", "enumerator %d has no name", e);
        ck_assert_msg(names.insert(n).second, "duplicate name %s", n.c_str());
    }
    assert_text_eq(header_error_name(HeaderError::ext_realm), "ext_realm");
}
END_TEST

// ---- hostile input -----------------------------------------------------------

START_TEST(hostile_sizes) {
    // 16 KiB + 1 octets is rejected before any parsing; 16 KiB exactly is parsed.
    std::string value = "Mutual realm=\"" + std::string(max_header_length - 15, 'x') + "\"";
    ck_assert_uint_eq(value.size(), max_header_length);
    AuthItem item;
    assert_error(parse_credentials(value, item), HeaderError::none);
    assert_error(parse_credentials(value + " ", item), HeaderError::too_long);

    // 100k commas: too long. 16k commas after a scheme: empty elements, linear.
    std::vector<AuthItem> items;
    assert_error(parse_challenges(std::string(100000, ','), items), HeaderError::too_long);
    assert_error(parse_challenges("Mutual" + std::string(max_header_length - 6, ','), items),
                 HeaderError::none);
    ck_assert_uint_eq(items.size(), 1);
    assert_error(parse_challenges(std::string(max_header_length, ','), items), HeaderError::empty);

    // Thousands of one-letter challenges.
    std::string schemes;
    while (schemes.size() + 3 <= max_header_length) schemes += "a, ";
    assert_error(parse_challenges(schemes, items), HeaderError::none);
    ck_assert_uint_eq(items.size(), max_header_length / 3);

    // Deeply repeated escaped quotes: one quoted-string of 8k \" pairs.
    std::string quotes = "Mutual realm=\"";
    while (quotes.size() + 3 <= max_header_length) quotes += "\\\"";
    assert_error(parse_credentials(quotes, item), HeaderError::unterminated_quote);
    assert_error(parse_credentials(quotes + "\"", item), HeaderError::none);
    ck_assert_uint_eq(item.find("realm")->value.size(), (quotes.size() - 14) / 2);
    ck_assert(item.find("realm")->value.find_first_not_of('"') == std::string::npos);

    // Quote storms: thousands of empty quoted-strings as token68-less values.
    std::string storm = "Mutual ";
    for (int i = 0; storm.size() + 12 < max_header_length; ++i)
        storm += "a" + std::to_string(i) + "=\"\", ";
    assert_error(parse_credentials(storm, item), HeaderError::too_many_params);

    // Many params in Authentication-Info, and many duplicates.
    std::string info;
    for (int i = 0; info.size() + 10 < max_header_length; ++i) info += "v=1, ";
    std::vector<Param> params;
    assert_error(parse_auth_info(info, params), HeaderError::duplicate_param);

    // Exactly max_params parameters is fine.
    std::string limit = "Mutual ";
    for (std::size_t i = 0; i < max_params; ++i) limit += (i ? ", p" : "p") + std::to_string(i) + "=1";
    assert_error(parse_credentials(limit, item), HeaderError::none);
    ck_assert_uint_eq(item.params.size(), max_params);

    // Long runs of percent escapes in an ext value.
    std::string pct = "Mutual user*=UTF-8''";
    while (pct.size() + 3 <= max_header_length) pct += "%41";
    assert_error(parse_credentials(pct, item), HeaderError::none);
    ck_assert_uint_eq(item.find("user")->value.size(), (pct.size() - 20) / 3);
}
END_TEST

START_TEST(hostile_control_characters) {
    AuthItem item;
    for (int c = 0; c < 0x20; ++c) {
        if (c == '\t') continue;
        std::string v = "Mutual realm=\"a";
        v.push_back(static_cast<char>(c));
        v += "\"";
        assert_error(parse_credentials(v, item), HeaderError::bad_quoted_char);
        std::string t = "Mutual version=1";
        t.push_back(static_cast<char>(c));
        assert_error(parse_credentials(t, item), HeaderError::bad_separator);
    }
    // A NUL does not end parsing early: whatever follows it is still checked.
    std::string nul = "Mutual version=1, realm=\"x\"";
    nul.push_back('\0');
    nul += ", user=\"y\"";
    assert_error(parse_credentials(nul, item), HeaderError::bad_separator);
    // Non-ASCII octets outside quotes are not token characters.
    assert_error(parse_credentials("Mutual version=1, \xC3\xA9=1", item), HeaderError::bad_param_name);
    // ...but obs-text inside quoted-strings is fine at the grammar level.
    assert_error(parse_credentials("Mutual realm=\"\xC3\xA9\"", item), HeaderError::none);
}
END_TEST

// ---- the view parser of the server's per-request path ------------------------

// Whatever parse_credentials_view / parse_mutual_verification accept, the
// owning parsers accept with the same content.
void expect_views_agree(const std::string& value) {
    CredentialsView view;
    if (parse_credentials_view(value, view)) {
        AuthItem item;
        ck_assert_msg(parse_credentials(value, item) == HeaderError::none, "view-only: %s", value.c_str());
        ck_assert(item.token68.empty() && item.scheme == view.scheme);
        ck_assert_uint_eq(item.params.size(), view.count);
        for (std::size_t i = 0; i < view.count; ++i) {
            ck_assert(!item.params[i].extended && item.params[i].quoted == view.params[i].quoted);
            ck_assert(item.params[i].value == view.params[i].value);
            std::string lower(view.params[i].name);
            for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            ck_assert(item.params[i].name == lower);
        }
    }
    VerificationView v;
    if (!parse_mutual_verification(value, v)) return;
    MutualCredentials c;
    ck_assert_msg(parse_mutual_credentials(value, c) == HeaderError::none, "view-only: %s", value.c_str());
    ck_assert(c.kind == RequestKind::vfy_c);
    std::string algorithm(v.algorithm), validation(v.validation);
    for (char& ch : algorithm) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (char& ch : validation) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    ck_assert(c.id.algorithm == algorithm && c.id.validation == validation && c.id.realm == v.realm);
    ck_assert(c.id.auth_scope.has_value() == v.auth_scope.has_value());
    if (v.auth_scope) ck_assert(*c.id.auth_scope == *v.auth_scope);
    ck_assert(Bytes(v.sid().begin(), v.sid().end()) == c.sid);
    ck_assert(c.nc == v.nc && c.vkc == v.vkc);
}

const std::string usual_vfy_c =
    "Mutual version=1, algorithm=iso-kam3-ec-p256-sha256, validation=host, "
    "auth-scope=\"example.com\", realm=\"r\xC3\xA9alm\", sid=00112233445566778899aabbccddeeff, "
    "nc=12, vkc=\"SGVsbG8gd29ybGQhIEhlbGxvIHdvcmxkISBIZWxsbyB3b3I=\"";

START_TEST(view_parser_reads_the_usual_req_vfy_c) {
    VerificationView v;
    ck_assert(parse_mutual_verification(usual_vfy_c, v));
    ck_assert(v.algorithm == "iso-kam3-ec-p256-sha256" && v.validation == "host");
    ck_assert(v.auth_scope && *v.auth_scope == "example.com" && v.realm == "r\xC3\xA9alm");
    ck_assert(v.nc == 12 && v.sid().size() == 16 && v.sid().data()[15] == 0xff);
    expect_views_agree(usual_vfy_c);
    // Case-insensitive names, scheme and tokens; a hex vkc; no auth-scope.
    const std::string upper =
        "MUTUAL Version=1,ALGORITHM=ISO-KAM3-DL-2048-SHA256 ,\tValidation=Host, REALM=\"x\", "
        "SID=\"00AB\", NC=0, VKC=00ff";
    ck_assert(parse_mutual_verification(upper, v));
    ck_assert(!v.auth_scope && v.algorithm == "ISO-KAM3-DL-2048-SHA256" && v.vkc == "00ff");
    expect_views_agree(upper);
    // A copy keeps its own sid.
    const VerificationView copy = v;
    v = VerificationView();
    ck_assert(copy.sid().size() == 2 && copy.sid().data()[1] == 0xab);
}
END_TEST

START_TEST(view_parser_declines_what_needs_the_owning_parser) {
    const char* const declined[] = {
        "",
        "Mutual",
        "Basic YWxpY2U6cHc=",
        "Mutual abc=",                                          // token68
        "Mutual version=1, , algorithm=a",                      // empty element
        "Mutual version=1, realm=\"a\\\"b\", sid=00, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm*=UTF-8''x, sid=00, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, user*=UTF-8''x, realm=\"x\", sid=00, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, Realm=\"x\", REALM=\"y\", sid=00, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=2, realm=\"x\", sid=00, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=00, nc=1, vkc=00, kc1=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=00, nc=1, vkc=00, KS1=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=00, nc=1, vkc=00, vks=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=00, nc=01, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=0, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=0g, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=00, nc=1, vkc=00, algorithm=a., validation=host",
        "Mutual version=1, realm=\"\xEF\xBB\xBFx\", sid=00, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"\xC3\", sid=00, nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", nc=1, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=00, vkc=00, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=00, nc=1, algorithm=a, validation=host",
        "Mutual version=1, realm=\"x\", sid=00, nc=1, vkc=00, algorithm=a, validation=host,",
        "Mutual version=1, realm=\"x\", sid=00, nc=1, vkc=00, algorithm=a, validation=host x",
    };
    for (const char* value : declined) {
        VerificationView v;
        ck_assert_msg(!parse_mutual_verification(value, v), "accepted: %s", value);
        expect_views_agree(value);
    }
    // A sid longer than the inline buffer goes to the owning parser.
    std::string long_sid = "Mutual version=1, realm=\"x\", nc=1, vkc=00, algorithm=a, validation=host, sid=";
    long_sid.append(2 * (VerificationView::max_inline_sid + 1), 'a');
    VerificationView v;
    ck_assert(!parse_mutual_verification(long_sid, v));
    MutualCredentials c;
    ck_assert(parse_mutual_credentials(long_sid, c) == HeaderError::none);
    // More parameters than the view holds: the owning parser reads them.
    std::string many = usual_vfy_c;
    for (std::size_t i = 0; i < CredentialsView::capacity; ++i)
        many += ", x" + std::to_string(i) + "=1";
    ck_assert(!parse_mutual_verification(many, v));
    ck_assert(parse_mutual_credentials(many, c) == HeaderError::none && c.kind == RequestKind::vfy_c);
    // Too long for any parser.
    std::string too_long = usual_vfy_c + ", x=\"" + std::string(max_header_length, 'a') + "\"";
    ck_assert(!parse_mutual_verification(too_long, v));
}
END_TEST

// Hostile input: mutations of a req-VFY-C (octets replaced, inserted,
// removed, every octet value) never make the view parsers accept what the
// owning parsers refuse or read differently.
START_TEST(view_parser_agrees_on_mutated_input) {
    std::uint32_t state = 2463534242u;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return state;
    };
    const std::string alphabet = "\"\\,=*' \t\r\n\x7f\x80\xff\xC3\xA9aAzZ09-_.%";
    std::size_t accepted = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string v = usual_vfy_c;
        const int edits = 1 + static_cast<int>(next() % 4);
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = next() % (v.size() + 1);
            const char c = (next() % 2) ? alphabet[next() % alphabet.size()] : static_cast<char>(next() & 0xff);
            switch (next() % 3) {
                case 0: if (at < v.size()) v[at] = c; break;
                case 1: v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), c); break;
                default: if (at < v.size()) v.erase(at, 1); break;
            }
        }
        expect_views_agree(v);
        VerificationView view;
        accepted += parse_mutual_verification(v, view);
    }
    // Many mutations (inside the vkc, the realm...) keep a valid req-VFY-C.
    ck_assert_uint_gt(accepted, 1000);
}
END_TEST

int main() {
    Suite* s = suite_create("header");
    TCase* kat = tcase_create("kat");
    tcase_add_test(kat, kat_headers_round_trip);
    tcase_add_test(kat, kat_utf8_user_uses_ext_value);
    suite_add_tcase(s, kat);

    TCase* grammar = tcase_create("grammar");
    tcase_add_test(grammar, several_mutual_challenges_in_one_header);
    tcase_add_test(grammar, mixed_schemes);
    tcase_add_test(grammar, quoted_string_escapes);
    tcase_add_test(grammar, case_insensitive_names_and_scheme);
    tcase_add_test(grammar, whitespace_and_empty_elements);
    tcase_add_test(grammar, extended_parameters);
    suite_add_tcase(s, grammar);

    TCase* messages = tcase_create("messages");
    tcase_add_test(messages, kex_s1_path_and_quoting);
    tcase_add_test(messages, unknown_parameters_ignored);
    tcase_add_test(messages, nc_saturates_and_rejects_leading_zero);
    tcase_add_test(messages, every_rejection_has_its_code);
    tcase_add_test(messages, error_names_are_distinct);
    suite_add_tcase(s, messages);

    TCase* views = tcase_create("views");
    tcase_add_test(views, view_parser_reads_the_usual_req_vfy_c);
    tcase_add_test(views, view_parser_declines_what_needs_the_owning_parser);
    tcase_add_test(views, view_parser_agrees_on_mutated_input);
    suite_add_tcase(s, views);

    TCase* hostile = tcase_create("hostile");
    tcase_add_test(hostile, hostile_sizes);
    tcase_add_test(hostile, hostile_control_characters);
    suite_add_tcase(s, hostile);

    return run_suite(s);
}

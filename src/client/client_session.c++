#include "client/client_session.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "ascii.h"
#include "encoding.h"
#include "log.h"
#include "protocol_defaults.h"
#include "string_prep.h"

namespace mutual {
namespace client {
namespace {

std::vector<const std::string*> header_values(const HeaderList& headers, std::string_view name) {
    std::vector<const std::string*> out;
    for (const auto& h : headers)
        if (equal_ignoring_ascii_case(h.first, name)) out.push_back(&h.second);
    return out;
}

// Every challenge of the named headers, split into Mutual challenges that
// parse (in order), the first error of one that does not, and whether any
// other scheme was offered.
struct Challenges {
    std::vector<MutualChallenge> mutual;
    HeaderError first_error = HeaderError::none;
    std::vector<std::string> other_schemes;
    bool any_mutual() const { return !mutual.empty() || first_error != HeaderError::none; }
};

Challenges collect_challenges(const HeaderList& headers, std::string_view name) {
    Challenges out;
    for (const std::string* value : header_values(headers, name)) {
        std::vector<AuthItem> items;
        const HeaderError grammar = parse_challenges(*value, items);
        if (grammar != HeaderError::none) {
            // A header we cannot even split: if it mentions Mutual it is a
            // malformed Mutual challenge, otherwise someone else's.
            if (ascii_lowercase(*value).find("mutual") != std::string::npos &&
                out.first_error == HeaderError::none)
                out.first_error = grammar;
            continue;
        }
        for (const AuthItem& item : items) {
            if (!equal_ignoring_ascii_case(item.scheme, "Mutual")) {
                out.other_schemes.push_back(item.scheme);
                continue;
            }
            MutualChallenge challenge;
            const HeaderError e = parse_mutual_challenge(item, challenge);
            if (e == HeaderError::none) {
                out.mutual.push_back(std::move(challenge));
            } else {
                log(LogLevel::warn, "MUT05002",
                    std::string("ignoring a malformed Mutual challenge: ") + header_error_name(e));
                if (out.first_error == HeaderError::none) out.first_error = e;
            }
        }
    }
    return out;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) out += ", ";
        out += s;
    }
    return out;
}

std::string realm_key(std::string_view algorithm, std::string_view scope,
                      std::string_view realm) {
    Bytes key;
    append_vs(key, algorithm);
    append_vs(key, scope);
    append_vs(key, realm);
    return std::string(key.begin(), key.end());
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool is_server_error(long status) { return status >= 500 && status <= 599; }
bool is_client_error(long status) { return status >= 400 && status <= 499; }

}  // namespace

const char* auth_state_name(AuthState s) noexcept {
    switch (s) {
        case AuthState::auth_succeed: return "AUTH-SUCCEED";
        case AuthState::auth_required: return "AUTH-REQUIRED";
        case AuthState::unauthenticated: return "UNAUTHENTICATED";
    }
    return "?";
}

const char* outcome_name(Outcome o) noexcept {
    switch (o) {
        case Outcome::success: return "success";
        case Outcome::not_protected: return "not-protected";
        case Outcome::credentials_required: return "credentials-required";
        case Outcome::credentials_rejected: return "credentials-rejected";
        case Outcome::authorization_failed: return "authorization-failed";
        case Outcome::server_not_authenticated: return "server-not-authenticated";
        case Outcome::protocol_error: return "protocol-error";
        case Outcome::unsupported: return "unsupported";
        case Outcome::invalid_credentials: return "invalid-credentials";
        case Outcome::server_error: return "server-error";
        case Outcome::http_error: return "http-error";
    }
    return "?";
}

const char* message_kind_name(MessageKind k) noexcept {
    switch (k) {
        case MessageKind::normal_request: return "normal request";
        case MessageKind::req_kex_c1: return "req-KEX-C1";
        case MessageKind::req_vfy_c: return "req-VFY-C";
    }
    return "?";
}

// ---- ClientContext ------------------------------------------------------

ClientContext::ClientContext(ClientOptions options) : options_(std::move(options)) {
    for (auto& name : options_.algorithms) name = ascii_lowercase(name);
}

std::int64_t ClientContext::now() const {
    if (options_.clock) return options_.clock();
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool ClientContext::has_credentials(std::string_view algorithm, std::string_view scope,
                                    std::string_view realm) const {
    for (const auto& c : credentials_)
        if (c.algorithm == algorithm && c.scope == scope && c.realm == realm)
            return !c.expires_at || now() < *c.expires_at;
    return false;
}

void ClientContext::forget_credentials(std::string_view algorithm, std::string_view scope,
                                       std::string_view realm) {
    credentials_.erase(std::remove_if(credentials_.begin(), credentials_.end(),
                                      [&](const CredentialEntry& c) {
                                          return c.algorithm == algorithm && c.scope == scope &&
                                                 c.realm == realm;
                                      }),
                       credentials_.end());
    sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                   [&](const Session& s) {
                                       return s.id.algorithm == algorithm && s.scope == scope &&
                                              s.id.realm == realm;
                                   }),
                    sessions_.end());
}

ClientContext::KnownRealm* ClientContext::find_realm_for(const Target& t) {
    const std::string origin = t.origin();
    KnownRealm* best = nullptr;
    std::size_t best_length = 0;
    for (auto& realm : realms_) {
        if (!has_credentials(realm.id.algorithm, realm.scope, realm.id.realm)) continue;
        for (const auto& c : realm.coverage) {
            if (c.origin != origin || t.path.compare(0, c.prefix.size(), c.prefix) != 0) continue;
            if (best == nullptr || c.prefix.size() >= best_length) {
                best = &realm;
                best_length = c.prefix.size();
            }
        }
    }
    return best;
}

void ClientContext::remember_realm(const RealmId& id, const std::string& scope, const Target& t,
                                   const std::optional<std::string>& path) {
    KnownRealm* known = nullptr;
    for (auto& r : realms_)
        if (r.id.algorithm == id.algorithm && r.scope == scope && r.id.realm == id.realm &&
            r.id.validation == id.validation)
            known = &r;
    if (known == nullptr) {
        realms_.push_back(KnownRealm{id, scope, {}});
        known = &realms_.back();
    }
    known->id = id;
    auto add = [known](std::string origin, std::string prefix) {
        for (const auto& c : known->coverage)
            if (c.origin == origin && c.prefix == prefix) return;
        known->coverage.push_back(Coverage{std::move(origin), std::move(prefix)});
    };
    if (!path) {
        add(t.origin(), path_directory(t.path));
        return;
    }
    add(t.origin(), t.path);
    std::size_t start = 0;
    const std::string& list = *path;
    while (start < list.size()) {
        std::size_t end = list.find(' ', start);
        if (end == std::string::npos) end = list.size();
        const std::string element = list.substr(start, end - start);
        start = end + 1;
        if (element.empty()) continue;
        if (element[0] == '/') {
            add(t.origin(), element);
            continue;
        }
        auto other = parse_target(element);
        if (other && other->url.compare(0, other->scheme.size() + 3, other->scheme + "://") == 0 &&
            scope_covers(scope, *other)) {
            add(other->origin(), other->path);
        } else {
            log(LogLevel::debug, "MUT05008",
                "ignoring path element outside the auth-scope: " + element);
        }
    }
}

ClientContext::CredentialEntry* ClientContext::find_credentials(std::string_view algorithm,
                                                                std::string_view scope,
                                                                std::string_view realm) {
    for (auto& c : credentials_) {
        if (c.algorithm != algorithm || c.scope != scope || c.realm != realm) continue;
        if (c.expires_at && now() >= *c.expires_at) {  // RFC 8053 logout-timeout passed
            const std::string a(algorithm), sc(scope), r(realm);
            forget_credentials(a, sc, r);
            return nullptr;
        }
        return &c;
    }
    return nullptr;
}

const Secret* ClientContext::pi_for(CredentialEntry& entry, const Algorithm& a) {
    const std::string name(a.name());
    auto found = entry.pi_by_algorithm.find(name);
    if (found != entry.pi_by_algorithm.end()) return &found->second;
    const std::string_view password(entry.password.data(), entry.password.size());
    Secret pi = options_.derive_pi ? options_.derive_pi(a, password, entry.scope, entry.realm, entry.user)
                                   : compute_pi(a, password, entry.scope, entry.realm, entry.user);
    if (pi.empty()) return nullptr;
    ++pi_derivations_;
    return &entry.pi_by_algorithm.emplace(name, std::move(pi)).first->second;
}

ClientContext::Session* ClientContext::find_session(const std::string& origin,
                                                    std::string_view algorithm,
                                                    std::string_view scope,
                                                    std::string_view realm) {
    for (auto& s : sessions_)
        if (s.origin == origin && s.id.algorithm == algorithm && s.scope == scope &&
            s.id.realm == realm)
            return &s;
    return nullptr;
}

void ClientContext::drop_session(const Session* s) {
    sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                   [s](const Session& x) { return &x == s; }),
                    sessions_.end());
}

// ---- Exchange -----------------------------------------------------------

Exchange::Exchange(ClientContext& context, Target target, Role role)
    : context_(context), target_(std::move(target)), role_(role) {}

std::string Exchange::omitted_scope() const {
    // §14: a proxy's auth-scope is its host name; §4.1 otherwise.
    return role_ == Role::proxy ? target_.host : default_auth_scope(target_);
}

bool Exchange::validation_acceptable(std::string_view validation) const {
    // §7: "host" on plain HTTP, "tls-server-end-point" on HTTPS with a
    // certificate. tls-unique is not supported (TLS 1.3 has no Finished-based
    // binding in libcurl's reach).
    return target_.https() ? validation == "tls-server-end-point" : validation == "host";
}

bool Exchange::same_realm(const RealmId& id, const std::string& scope) const {
    return expected_ && expected_->id.algorithm == id.algorithm && expected_->scope == scope &&
           expected_->id.realm == id.realm;
}

std::string Exchange::vh_of(const Response& response) const {
    if (!target_.https()) return target_.origin();
    return std::string(response.tls_server_end_point.begin(), response.tls_server_end_point.end());
}

Step Exchange::finish(AuthState state, Outcome outcome, Content content, std::string detail) {
    finished_ = true;
    pending_.reset();
    awaiting_.reset();
    Step step;
    step.action = Step::Action::finished;
    step.state = state;
    step.outcome = outcome;
    step.content = content;
    step.detail = std::move(detail);
    const std::string line = std::string(auth_state_name(state)) + " (" + outcome_name(outcome) +
                             ") for " + target_.url + (step.detail.empty() ? "" : ": ") +
                             step.detail;
    switch (outcome) {
        case Outcome::success: log(LogLevel::debug, "MUT05010", line); break;
        case Outcome::not_protected: log(LogLevel::debug, "MUT05011", line); break;
        case Outcome::credentials_required: log(LogLevel::info, "MUT05012", line); break;
        case Outcome::credentials_rejected: log(LogLevel::info, "MUT05013", line); break;
        case Outcome::authorization_failed: log(LogLevel::info, "MUT05014", line); break;
        case Outcome::server_not_authenticated: log(LogLevel::warn, "MUT05015", line); break;
        case Outcome::protocol_error: log(LogLevel::warn, "MUT05016", line); break;
        case Outcome::unsupported: log(LogLevel::warn, "MUT05017", line); break;
        case Outcome::invalid_credentials: log(LogLevel::info, "MUT05018", line); break;
        case Outcome::server_error: log(LogLevel::warn, "MUT05019", line); break;
        case Outcome::http_error: log(LogLevel::info, "MUT03301", line); break;
    }
    return step;
}

Step Exchange::send(MessageKind kind, std::string authorization) {
    if (requests_ >= context_.options_.max_requests)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "too many requests in one exchange");
    ++requests_;
    certificate_refused_ = false;
    summary_.requests = requests_;
    sent_ = kind;
    Step step;
    step.action = Step::Action::send_request;
    step.message = kind;
    step.authorization = std::move(authorization);
    return step;
}

Step Exchange::begin() {
    // Step 1: is the resource expected inside a realm we know and have
    // credentials for?
    if (context_.options_.kex_first || context_.options_.reuse_sessions) {
        ClientContext::KnownRealm* realm = context_.find_realm_for(target_);
        const Algorithm* algorithm =
            realm != nullptr ? find_algorithm(realm->id.algorithm) : nullptr;
        if (realm != nullptr && algorithm != nullptr &&
            validation_acceptable(realm->id.validation)) {
            expected_ = RealmInfo{realm->id, realm->scope, target_.origin(), ""};
            // Step 2 -> 3: a session with nonce numbers left and time to live.
            ClientContext::Session* session =
                context_.options_.reuse_sessions
                    ? context_.find_session(target_.origin(), realm->id.algorithm, realm->scope,
                                            realm->id.realm)
                    : nullptr;
            if (session != nullptr && session->nc_last < session->nc_max &&
                context_.now() < session->reusable_until) {
                summary_.reused = true;
                return send_vfy(*session);
            }
            if (session != nullptr) context_.drop_session(session);
            // Step 4: req-KEX-C1 as the first request.
            if (context_.options_.kex_first) {
                Selected chosen;
                chosen.challenge.kind = ResponseKind::init;
                chosen.challenge.id = realm->id;
                chosen.algorithm = algorithm;
                chosen.scope = realm->scope;
                return send_kex(chosen);
            }
            expected_.reset();
        }
    }
    // Step 5: a normal request.
    return send(MessageKind::normal_request, std::string());
}

Step Exchange::handle_init(const std::vector<MutualChallenge>& challenges,
                           HeaderError parse_error, bool optional) {
    std::vector<Selected> candidates;
    std::vector<std::size_t> ranks;
    std::vector<std::string> refused;
    const auto& preference = context_.options_.algorithms;
    for (const MutualChallenge& c : challenges) {
        if (c.kind == ResponseKind::kex_s1) {
            refused.push_back("401-KEX-S1 without a req-KEX-C1");
            continue;
        }
        const Algorithm* a = find_algorithm(c.id.algorithm);
        if (a == nullptr) {
            refused.push_back("algorithm " + c.id.algorithm + " unsupported");
            continue;
        }
        // Without a preference list the server's order decides.
        std::size_t rank = candidates.size();
        if (!preference.empty()) {
            auto it = std::find(preference.begin(), preference.end(), std::string(a->name()));
            if (it == preference.end()) {
                refused.push_back("algorithm " + c.id.algorithm + " not allowed");
                continue;
            }
            rank = static_cast<std::size_t>(it - preference.begin());
        }
        if (!validation_acceptable(c.id.validation)) {
            refused.push_back("validation " + c.id.validation + " unacceptable on " +
                              target_.scheme);
            continue;
        }
        const std::string scope = c.id.auth_scope.value_or(omitted_scope());
        if (!scope_covers(scope, target_)) {
            refused.push_back("auth-scope " + quoted(scope) + " does not include " +
                              target_.host);
            continue;
        }
        candidates.push_back(Selected{c, a, scope});
        ranks.push_back(rank);
    }
    const Selected* best = nullptr;
    std::size_t best_rank = 0;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (best == nullptr || ranks[i] < best_rank) {
            best = &candidates[i];
            best_rank = ranks[i];
        }
    }
    if (best == nullptr) {
        if (optional)
            return finish(AuthState::unauthenticated, Outcome::not_protected,
                          Content::unauthenticated,
                          "optional Mutual authentication offered, but not usable (" +
                              join(refused) + ")");
        if (challenges.empty() && parse_error != HeaderError::none)
            return finish(AuthState::auth_required, Outcome::protocol_error, Content::withheld,
                          std::string("malformed 401-INIT: ") + header_error_name(parse_error));
        return finish(AuthState::auth_required, Outcome::unsupported, Content::unauthenticated,
                      "no usable Mutual challenge (" + join(refused) + ")");
    }
    const Selected chosen = *best;
    log(LogLevel::debug, "MUT05001",
        "401-INIT: realm " + quoted(chosen.challenge.id.realm) + ", algorithm " +
            chosen.challenge.id.algorithm + ", reason " + chosen.challenge.reason);
    context_.remember_realm(chosen.challenge.id, chosen.scope, target_, std::nullopt);
    expected_ = RealmInfo{chosen.challenge.id, chosen.scope, target_.origin(),
                          chosen.challenge.reason};
    optional_init_ = optional;
    return after_realm_chosen(chosen);
}

Step Exchange::after_realm_chosen(const Selected& chosen) {
    // Step 6: password known? Step 7: session available?
    if (context_.find_credentials(chosen.challenge.id.algorithm, chosen.scope,
                                  chosen.challenge.id.realm) != nullptr) {
        ClientContext::Session* session =
            context_.options_.reuse_sessions
                ? context_.find_session(target_.origin(), chosen.challenge.id.algorithm,
                                        chosen.scope, chosen.challenge.id.realm)
                : nullptr;
        if (session != nullptr && session->nc_last < session->nc_max &&
            context_.now() < session->reusable_until) {
            summary_.reused = true;
            return send_vfy(*session);  // Step 8
        }
        return send_kex(chosen);  // Step 9
    }
    // Step 12: ask the user.
    awaiting_ = chosen;
    Step step;
    step.action = Step::Action::need_credentials;
    step.realm = RealmInfo{chosen.challenge.id, chosen.scope, target_.origin(),
                           chosen.challenge.reason};
    return step;
}

Step Exchange::supply_credentials(std::string_view user, std::string_view password) {
    if (finished_ || !awaiting_)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "credentials supplied without being asked for");
    std::string prepared_user;
    const PrepError user_error = prepare_username(user, prepared_user);
    if (user_error != PrepError::none)
        return finish(AuthState::auth_required, Outcome::invalid_credentials, Content::withheld,
                      std::string("the user name cannot be used: ") + prep_error_name(user_error));
    // The server never looks up a longer name (RFC 8120 §11 Note 2: a fake
    // session), so sending it could only fail.
    if (prepared_user.size() > max_user_name_length)
        return finish(AuthState::auth_required, Outcome::invalid_credentials, Content::withheld,
                      "the user name cannot be used: longer than " +
                          std::to_string(max_user_name_length) + " octets");
    SecretString prepared_password;
    const PrepError password_error = prepare_password(password, prepared_password);
    if (password_error != PrepError::none)
        return finish(AuthState::auth_required, Outcome::invalid_credentials, Content::withheld,
                      std::string("the password cannot be used: ") +
                          prep_error_name(password_error));
    const Selected chosen = *awaiting_;
    awaiting_.reset();
    context_.forget_credentials(chosen.challenge.id.algorithm, chosen.scope,
                                chosen.challenge.id.realm);
    ClientContext::CredentialEntry entry;
    entry.algorithm = chosen.challenge.id.algorithm;
    entry.scope = chosen.scope;
    entry.realm = chosen.challenge.id.realm;
    entry.user = std::move(prepared_user);
    entry.password = std::move(prepared_password);
    context_.credentials_.push_back(std::move(entry));
    return send_kex(chosen);
}

Step Exchange::decline_credentials() {
    if (finished_ || !awaiting_)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "credentials declined without being asked for");
    const std::string realm = awaiting_->challenge.id.realm;
    if (optional_init_)
        return finish(AuthState::unauthenticated, Outcome::not_protected, Content::unauthenticated,
                      "the server offers optional Mutual authentication for realm " +
                          quoted(realm) + "; no credentials given");
    return finish(AuthState::auth_required, Outcome::credentials_required,
                  Content::unauthenticated,
                  "the server requires Mutual authentication for realm " + quoted(realm) +
                      " and no credentials were given");
}

Step Exchange::send_kex(const Selected& chosen) {
    const std::string key =
        realm_key(chosen.challenge.id.algorithm, chosen.scope, chosen.challenge.id.realm);
    if (std::find(kex_realms_.begin(), kex_realms_.end(), key) != kex_realms_.end())
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "the server asked for a second key exchange for realm " +
                          quoted(chosen.challenge.id.realm) + " in one request sequence");
    ClientContext::CredentialEntry* credentials = context_.find_credentials(
        chosen.challenge.id.algorithm, chosen.scope, chosen.challenge.id.realm);
    if (credentials == nullptr) {
        // A 401-STALE after the credentials were forgotten: ask again.
        awaiting_ = chosen;
        Step step;
        step.action = Step::Action::need_credentials;
        step.realm = RealmInfo{chosen.challenge.id, chosen.scope, target_.origin(),
                               chosen.challenge.reason};
        return step;
    }
    kex_realms_.push_back(key);
    const Algorithm& a = *chosen.algorithm;
    if (context_.pi_for(*credentials, a) == nullptr)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "deriving pi failed");
    PendingKex pending;
    pending.algorithm = &a;
    pending.id = chosen.challenge.id;
    pending.scope = chosen.scope;
    pending.user = credentials->user;
    pending.s_c1 = a.random_client_scalar();
    const KexError e = pending.s_c1.empty() ? KexError::internal
                                            : a.client_key(pending.s_c1, pending.k_c1);
    if (e != KexError::none)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      std::string("computing K_c1 failed: ") + kex_error_name(e));
    MutualCredentials c;
    c.kind = RequestKind::kex_c1;
    c.id = chosen.challenge.id;
    c.user = credentials->user;
    c.kc1 = a.encode_key(pending.k_c1);
    expected_ = RealmInfo{chosen.challenge.id, chosen.scope, target_.origin(),
                          chosen.challenge.reason};
    summary_.user = credentials->user;
    summary_.realm = chosen.challenge.id.realm;
    summary_.scope = chosen.scope;
    summary_.algorithm = std::string(a.name());
    summary_.validation = chosen.challenge.id.validation;
    pending_ = std::move(pending);
    return send(MessageKind::req_kex_c1, serialize_credentials(c, a.quoted_on_wire()));
}

Step Exchange::handle_kex_s1(const MutualChallenge& challenge, const Response& response) {
    PendingKex& p = *pending_;
    const Algorithm& a = *p.algorithm;
    if (challenge.sid.empty())
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "401-KEX-S1 with an empty sid");
    if (challenge.nc_max < 1)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "401-KEX-S1 with nc-max 0 leaves no nonce number");
    if (target_.https() && response.tls_server_end_point.empty())
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "no server certificate to compute tls-server-end-point from");
    DecodeError decode_error = DecodeError::none;
    const std::optional<Bytes> k_s1 = a.decode_key(challenge.ks1, &decode_error);
    if (!k_s1)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      std::string("ks1 does not decode: ") + decode_error_name(decode_error));
    ClientContext::CredentialEntry* credentials =
        context_.find_credentials(p.id.algorithm, p.scope, p.id.realm);
    const Secret* pi = credentials != nullptr ? context_.pi_for(*credentials, a) : nullptr;
    if (pi == nullptr)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "credentials vanished during the key exchange");
    Secret z;
    const KexError e = a.client_secret(*pi, p.s_c1, p.k_c1, *k_s1, z);
    if (e != KexError::none)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      std::string("invalid ks1 from the server: ") + kex_error_name(e));

    ClientContext::Session session;
    session.origin = target_.origin();
    session.id = p.id;
    session.scope = p.scope;
    session.algorithm = &a;
    session.user = p.user;
    session.sid = challenge.sid;
    session.sid_text = encode_hex_fixed(challenge.sid);
    session.k_c1 = std::move(p.k_c1);
    session.k_s1 = *k_s1;
    session.z = std::move(z);
    session.nc_max = challenge.nc_max;
    session.nc_window = challenge.nc_window;
    const std::int64_t now = context_.now();
    const std::uint64_t lifetime =
        std::min<std::uint64_t>(challenge.time, static_cast<std::uint64_t>(INT32_MAX));
    session.reusable_until = now + static_cast<std::int64_t>(lifetime);
    session.vh = vh_of(response);
    pending_.reset();
    // §14: a proxy's path parameter is disregarded.
    context_.remember_realm(session.id, session.scope, target_,
                            role_ == Role::proxy ? std::nullopt : challenge.path);
    if (ClientContext::Session* old = context_.find_session(session.origin, session.id.algorithm,
                                                            session.scope, session.id.realm))
        context_.drop_session(old);
    context_.sessions_.push_back(std::move(session));
    ClientContext::Session& stored = context_.sessions_.back();
    log(LogLevel::debug, "MUT05005",
        "401-KEX-S1: session " + stored.sid_text + ", nc-max " + std::to_string(stored.nc_max) +
            ", nc-window " + std::to_string(stored.nc_window) + ", time " +
            std::to_string(challenge.time));
    summary_.reused = false;
    return send_vfy(stored);
}

ClientContext::Session* Exchange::current_session() {
    return context_.find_session(session_origin_, session_algorithm_, session_scope_,
                                 session_realm_);
}

Step Exchange::send_vfy(ClientContext::Session& session) {
    const std::uint64_t nc = session.nc_last + 1;
    if (nc > session.nc_max || nc == 0)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "no nonce number left in the session");
    session_origin_ = session.origin;
    session_algorithm_ = session.id.algorithm;
    session_scope_ = session.scope;
    session_realm_ = session.id.realm;
    expected_ = RealmInfo{session.id, session.scope, target_.origin(), ""};
    summary_.user = session.user;
    summary_.realm = session.id.realm;
    summary_.scope = session.scope;
    summary_.algorithm = std::string(session.algorithm->name());
    summary_.validation = session.id.validation;
    summary_.sid = session.sid_text;
    if (target_.https()) {
        // vh is the certificate of the connection that will carry the
        // request: known only once the transport has it (bind()).
        vh_used_.clear();
        Step step = send(MessageKind::req_vfy_c, std::string());
        step.bind_to_connection = step.action == Step::Action::send_request;
        return step;
    }
    return send(MessageKind::req_vfy_c, vfy_authorization(session, target_.origin()));
}

std::string Exchange::vfy_authorization(ClientContext::Session& session, const std::string& vh) {
    const Algorithm& a = *session.algorithm;
    const std::uint64_t nc = session.nc_last + 1;
    session.nc_last = nc;  // never reused, whatever the answer
    const Bytes vk_c = compute_vk_c(a, session.k_c1, session.k_s1, session.z, nc, vh);
    MutualCredentials c;
    c.kind = RequestKind::vfy_c;
    c.id = session.id;
    c.sid = session.sid;
    c.sid_text = session.sid_text;
    c.nc = nc;
    c.vkc = a.encode_vk(vk_c);
    nc_used_ = nc;
    vh_used_ = vh;
    summary_.nc = nc;
    return serialize_credentials(c, a.quoted_on_wire());
}

std::optional<std::string> Exchange::bind(const Bytes& tls_server_end_point) {
    if (finished_ || sent_ != MessageKind::req_vfy_c || !vh_used_.empty() || requests_ == 0)
        return std::nullopt;
    ClientContext::Session* session = current_session();
    if (session == nullptr || session->nc_last >= session->nc_max) return std::nullopt;
    const std::string vh(tls_server_end_point.begin(), tls_server_end_point.end());
    // Compared in constant time: vh is public, but there is no reason to
    // leak how much of it matched.
    if (vh.empty() || vh.size() != session->vh.size() ||
        !equal_constant_time(tls_server_end_point,
                             Bytes(session->vh.begin(), session->vh.end()))) {
        certificate_refused_ = true;
        return std::nullopt;
    }
    return vfy_authorization(*session, vh);
}

Step Exchange::connection_changed() {
    if (finished_ || !certificate_refused_)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "connection_changed() without a refused binding");
    certificate_refused_ = false;
    // The refused request never left the client.
    if (requests_ > 0) --requests_;
    ClientContext::Session* session = current_session();
    if (session == nullptr)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "the session was lost before the request was sent");
    if (++certificate_rekeys_ > 2)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "the server certificate changed on every connection; giving up");
    Selected chosen;
    chosen.challenge.kind = ResponseKind::init;
    chosen.challenge.id = session->id;
    chosen.algorithm = session->algorithm;
    chosen.scope = session->scope;
    log(LogLevel::info, "MUT03300",
        "the connection to " + target_.origin() +
            " presents another certificate than the one session " + session->sid_text +
            " was keyed over: its req-VFY-C is not sent; re-keying with req-KEX-C1");
    context_.drop_session(session);
    summary_.reused = false;
    // This key exchange replaces the session, so it is not the loop §10.1
    // forbids (one req-KEX-C1 per realm): the certificate counter bounds it.
    const std::string key =
        realm_key(chosen.challenge.id.algorithm, chosen.scope, chosen.challenge.id.realm);
    kex_realms_.erase(std::remove(kex_realms_.begin(), kex_realms_.end(), key), kex_realms_.end());
    return send_kex(chosen);
}

Step Exchange::verify(const Response& response) {
    ClientContext::Session* session = context_.find_session(session_origin_, session_algorithm_,
                                                            session_scope_, session_realm_);
    if (session == nullptr)
        return finish(AuthState::unauthenticated, Outcome::server_not_authenticated,
                      Content::withheld, "the session was lost before the response arrived");
    std::vector<const std::string*> values = header_values(response.headers, "Authentication-Info");
    if (values.empty()) values = header_values(response.interim_headers, "Authentication-Info");
    auto refuse = [this, session](std::string why) {
        context_.drop_session(session);
        return finish(AuthState::unauthenticated, Outcome::server_not_authenticated,
                      Content::withheld, std::move(why));
    };
    if (values.size() != 1)
        return refuse(values.empty() ? "the response to req-VFY-C has no Authentication-Info"
                                     : "the response has several Authentication-Info headers");
    MutualAuthInfo info;
    std::string_view value = *values.front();
    HeaderError e = parse_mutual_auth_info(value, info);
    if (e != HeaderError::none && value.size() > 7 &&
        equal_ignoring_ascii_case(value.substr(0, 7), "Mutual ")) {
        // RFC 7615 has no scheme here, but RFC 8120's Figure 1 shows
        // "Authentication-Info: Mutual vks=...": accept that form too.
        e = parse_mutual_auth_info(value.substr(7), info);
    }
    if (e != HeaderError::none)
        return refuse(std::string("malformed Authentication-Info: ") + header_error_name(e));
    if (info.sid != session->sid) return refuse("Authentication-Info names another sid");
    if (target_.https() && vh_of(response) != vh_used_)
        return refuse("the server certificate changed during the exchange");
    const Algorithm& a = *session->algorithm;
    DecodeError decode_error = DecodeError::none;
    const std::optional<Bytes> vks = a.decode_vk(info.vks, &decode_error);
    if (!vks) return refuse(std::string("vks does not decode: ") + decode_error_name(decode_error));
    const Bytes expected =
        compute_vk_s(a, session->k_c1, session->k_s1, session->z, nc_used_, vh_used_);
    if (!equal_constant_time(expected, *vks)) {
        log(LogLevel::warn, "MUT05003",
            "wrong vks for session " + session->sid_text + " on " + target_.origin());
        return refuse("wrong vks: the server does not know the verifier");
    }
    summary_.b1_inner = compute_b1_inner(a, session->k_c1, session->k_s1, session->z, vh_used_);
    summary_.b2_inner = compute_b2_inner(a, session->k_c1, session->k_s1, session->z, nc_used_, vh_used_);
    return finish(AuthState::auth_succeed, Outcome::success, Content::verified, std::string());
}

Step Exchange::receive(const Response& response) {
    Step step = receive_message(response);
    apply_control(response, step);
    return step;
}

void Exchange::apply_control(const Response& response, const Step& step) {
    control_ = AuthenticationControl{};
    if (role_ == Role::proxy) return;  // §14: RFC 8053 does not apply to proxies
    // The relevant entry: scheme Mutual, the realm being (or about to be)
    // authenticated (RFC 8053 §4 (1), (2)); the others are ignored.
    std::string realm;
    if (step.action == Step::Action::need_credentials)
        realm = step.realm.id.realm;
    else if (expected_)
        realm = expected_->id.realm;
    else
        return;
    const AuthItem* entry = nullptr;
    std::vector<AuthItem> items;
    for (const std::string* value : header_values(response.headers, "Authentication-Control")) {
        std::vector<AuthItem> parsed;
        if (parse_challenges(*value, parsed) != HeaderError::none) continue;
        for (auto& item : parsed) items.push_back(std::move(item));
    }
    for (const AuthItem& item : items) {
        const Param* r = item.find("realm");
        if (equal_ignoring_ascii_case(item.scheme, "Mutual") && r != nullptr && r->value == realm) {
            entry = &item;
            break;  // duplicates: "MAY take any one"
        }
    }
    if (entry == nullptr) return;
    const bool success =
        step.action == Step::Action::finished && step.outcome == Outcome::success;
    if (const Param* p = entry->find("location-when-unauthenticated"))
        control_.location_when_unauthenticated = p->value;
    if (const Param* p = entry->find("location-when-logout"))
        control_.location_when_logout = p->value;
    if (const Param* p = entry->find("username"); p != nullptr && response.status == 401)
        control_.username = p->value;
    const Param* timeout = entry->find("logout-timeout");
    if (timeout == nullptr || !success) return;  // §4.6: only a verified response counts
    std::uint64_t seconds = 0;
    if (timeout->value.empty() || (timeout->value.size() > 1 && timeout->value[0] == '0')) return;
    for (char c : timeout->value) {
        if (c < '0' || c > '9') return;
        const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
        seconds = seconds > (UINT64_MAX - digit) / 10 ? UINT64_MAX : seconds * 10 + digit;
    }
    control_.logout_timeout = seconds;
    const std::string algorithm = session_algorithm_, scope = session_scope_;
    if (seconds == 0) {
        log(LogLevel::debug, "MUT03302",
            "logout-timeout=0: forgetting the session and credentials of realm " + quoted(realm));
        context_.forget_credentials(algorithm, scope, realm);
        return;
    }
    const std::int64_t until =
        context_.now() + static_cast<std::int64_t>(std::min<std::uint64_t>(seconds, INT32_MAX));
    if (ClientContext::Session* session = current_session())
        session->reusable_until = std::min(session->reusable_until, until);
    if (ClientContext::CredentialEntry* c = context_.find_credentials(algorithm, scope, realm))
        c->expires_at = until;
    log(LogLevel::debug, "MUT03303",
        "logout-timeout=" + std::to_string(seconds) + ": realm " + quoted(realm) +
            " is forgotten after that many seconds");
}

Step Exchange::receive_message(const Response& response) {
    if (finished_ || awaiting_ || requests_ == 0)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "a response arrived that no request of this exchange asked for");
    const bool first = requests_ == 1;
    const long status = response.status;
    if (response.tls != target_.https())
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "the transport's TLS state does not match the URL scheme");

    Challenges www;
    if (is_client_error(status)) www = collect_challenges(response.headers, "WWW-Authenticate");
    const bool has_auth_info =
        !header_values(response.headers, "Authentication-Info").empty() ||
        !header_values(response.interim_headers, "Authentication-Info").empty();

    // Classify, for verbose output.
    last_kind_ = "normal response";
    for (const auto& c : www.mutual) {
        last_kind_ = c.kind == ResponseKind::kex_s1  ? "401-KEX-S1"
                     : c.kind == ResponseKind::stale ? "401-STALE"
                                                     : "401-INIT";
        break;
    }
    if (www.mutual.empty() && www.first_error != HeaderError::none)
        last_kind_ = "malformed Mutual challenge";
    if (status != 401 && has_auth_info && sent_ == MessageKind::req_vfy_c) last_kind_ = "200-VFY-S";

    const auto not_protected = [&]() {
        // An error answer is reported as what it is, not as "not protected".
        if (is_server_error(status))
            return finish(AuthState::unauthenticated, Outcome::server_error,
                          Content::unauthenticated, "server error " + std::to_string(status));
        if (is_client_error(status) && status != 401 && status != 407 &&
            www.other_schemes.empty())
            return finish(AuthState::unauthenticated, Outcome::http_error,
                          Content::unauthenticated, "HTTP error " + std::to_string(status));
        if (!www.other_schemes.empty())
            return finish(AuthState::unauthenticated, Outcome::not_protected,
                          Content::unauthenticated,
                          "the server asks for " + join(www.other_schemes) +
                              " authentication, not Mutual");
        return finish(AuthState::unauthenticated, Outcome::not_protected, Content::unauthenticated,
                      "the resource is not protected by Mutual authentication");
    };

    if (sent_ == MessageKind::normal_request) {
        // §10.1: a 200-VFY-S is accepted only for req-VFY-C, a 401-KEX-S1
        // only for req-KEX-C1; anything else is a fatal error.
        if (has_auth_info)
            return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                          "Authentication-Info on the response to a normal request");
        for (const MutualChallenge& c : www.mutual)
            if (c.kind == ResponseKind::kex_s1)
                return finish(AuthState::unauthenticated, Outcome::protocol_error,
                              Content::withheld, "401-KEX-S1 in response to a normal request");
        if (www.any_mutual()) return handle_init(www.mutual, www.first_error, false);
        if (status != 401 && !is_server_error(status)) {
            // RFC 8053: Optional-WWW-Authenticate offers authentication on
            // an ordinary response.
            Challenges optional = collect_challenges(response.headers, "Optional-WWW-Authenticate");
            if (!optional.mutual.empty()) {
                last_kind_ = "401-INIT (Optional-WWW-Authenticate)";
                return handle_init(optional.mutual, optional.first_error, true);
            }
        }
        return not_protected();
    }

    // A 401 (or another 4xx carrying Mutual challenges and no vks).
    const bool challenge_response =
        status == 401 || (is_client_error(status) && www.any_mutual() && !has_auth_info);

    if (sent_ == MessageKind::req_vfy_c && !challenge_response) {
        if (has_auth_info) return verify(response);
        if (is_server_error(status))
            return finish(AuthState::unauthenticated, Outcome::server_error,
                          Content::unauthenticated,
                          "server error " + std::to_string(status) + " without Authentication-Info");
        if (first) return not_protected();  // Step 3 -> Step 11
        ClientContext::Session* session = context_.find_session(
            session_origin_, session_algorithm_, session_scope_, session_realm_);
        if (session != nullptr) context_.drop_session(session);
        return finish(AuthState::unauthenticated, Outcome::server_not_authenticated,
                      Content::withheld, "the response to req-VFY-C has no Authentication-Info");
    }

    if (sent_ == MessageKind::req_kex_c1 && !challenge_response) {
        if (is_server_error(status))
            return finish(AuthState::unauthenticated, Outcome::server_error,
                          Content::unauthenticated,
                          "server error " + std::to_string(status) + " in the key exchange");
        if (first && !has_auth_info) return not_protected();  // Step 4 -> Step 11
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "unexpected " + std::to_string(status) + " response to req-KEX-C1");
    }

    // 401 to req-KEX-C1 or req-VFY-C.
    if (sent_ == MessageKind::req_vfy_c) {
        // §10.1: any 401 to req-VFY-C makes the session unusable.
        if (ClientContext::Session* session = context_.find_session(
                session_origin_, session_algorithm_, session_scope_, session_realm_))
            context_.drop_session(session);
    }
    if (!www.any_mutual()) {
        if (first) return not_protected();
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "401 without a Mutual challenge in the middle of the exchange");
    }
    if (www.mutual.empty())
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      std::string("malformed Mutual challenge: ") +
                          header_error_name(www.first_error));

    if (sent_ == MessageKind::req_kex_c1) {
        for (const MutualChallenge& c : www.mutual) {
            if (c.kind != ResponseKind::kex_s1) continue;
            const std::string scope = c.id.auth_scope.value_or(omitted_scope());
            if (c.id.algorithm == pending_->id.algorithm && scope == pending_->scope &&
                c.id.realm == pending_->id.realm && c.id.validation == pending_->id.validation &&
                c.id.auth_scope == pending_->id.auth_scope)
                return handle_kex_s1(c, response);
        }
    }
    // 401-INIT / 401-STALE: for our realm, or another one?
    const MutualChallenge* ours = nullptr;
    std::vector<MutualChallenge> others;
    for (const MutualChallenge& c : www.mutual) {
        if (c.kind == ResponseKind::kex_s1) {
            if (sent_ == MessageKind::req_vfy_c)
                return finish(AuthState::unauthenticated, Outcome::protocol_error,
                              Content::withheld, "401-KEX-S1 in response to req-VFY-C");
            continue;  // a 401-KEX-S1 for some other realm
        }
        const std::string scope = c.id.auth_scope.value_or(omitted_scope());
        if (same_realm(c.id, scope)) {
            if (ours == nullptr || (c.kind == ResponseKind::stale && ours->kind != c.kind))
                ours = &c;
        } else {
            others.push_back(c);
        }
    }
    if (ours != nullptr && ours->kind == ResponseKind::stale && sent_ == MessageKind::req_vfy_c) {
        // Step 9: re-key without asking the user, once per sequence.
        if (rekeyed_)
            return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                          "a second 401-STALE in one request sequence");
        rekeyed_ = true;
        log(LogLevel::debug, "MUT05006", "401-STALE: starting a new key exchange");
        Selected chosen;
        chosen.challenge = *ours;
        chosen.algorithm = find_algorithm(ours->id.algorithm);
        chosen.scope = expected_->scope;
        if (chosen.algorithm == nullptr ||
            (!context_.options_.algorithms.empty() &&
             std::find(context_.options_.algorithms.begin(), context_.options_.algorithms.end(),
                       std::string(chosen.algorithm->name())) ==
                 context_.options_.algorithms.end()) ||
            !validation_acceptable(ours->id.validation))
            return finish(AuthState::unauthenticated, Outcome::unsupported, Content::withheld,
                          "401-STALE names an algorithm or validation this client will not use");
        return send_kex(chosen);
    }
    if (ours != nullptr && ours->kind == ResponseKind::stale)
        // §10.1: 401-STALE is an answer to req-VFY-C only; the credentials
        // stay (the server did not judge them).
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "401-STALE in response to req-KEX-C1");
    if (ours != nullptr) {
        // Step 13: the credentials were not accepted.
        const std::string reason = ours->reason;
        const RealmInfo realm = *expected_;
        if (reason == "authz-failed")
            return finish(AuthState::auth_required, Outcome::authorization_failed,
                          Content::unauthenticated,
                          "user " + quoted(summary_.user) + " is authenticated but not authorized (authz-failed)");
        context_.forget_credentials(realm.id.algorithm, realm.scope, realm.id.realm);
        return finish(AuthState::auth_required, Outcome::credentials_rejected,
                      Content::unauthenticated,
                      "the server did not accept the credentials of user " + quoted(summary_.user) +
                          " for realm " + quoted(realm.id.realm) + " (reason " +
                          (reason.empty() ? std::string("none") : reason) + ")");
    }
    // A 401-INIT for a different realm: only acceptable for the first request.
    if (!first)
        return finish(AuthState::unauthenticated, Outcome::protocol_error, Content::withheld,
                      "401 for a different realm in the middle of the exchange");
    pending_.reset();
    return handle_init(others, HeaderError::none, false);
}

}  // namespace client
}  // namespace mutual

// Origins and authentication scopes (RFC 8120 §5, §7), one implementation
// for the module's directives, the server's checks and the client's scope
// checks: the "<scheme>://<host>:<port>" vh of the host validation method,
// the single-server auth-scope (the RFC 6454 §6.2 serialization of an
// origin: default port omitted), the §5 grammar and coverage.
#ifndef MUTUAL_AUTH_SCOPE_H
#define MUTUAL_AUTH_SCOPE_H

#include <string>
#include <string_view>

namespace mutual {

// vh for validation=host: "<scheme>://<host>:<port>", lower case, port always
// present. An IPv6 literal host is given with its brackets.
std::string host_validation_value(std::string_view scheme, std::string_view host,
                                  unsigned port);

// 80 for "http", 443 for "https" (lower case), 0 for any other scheme.
unsigned default_port(std::string_view scheme) noexcept;

// The single-server auth-scope of an origin (§5; RFC 6454 §6.2):
// "<scheme>://<host>" for the scheme's default port, else
// "<scheme>://<host>:<port>"; lower case.
std::string single_server_scope(std::string_view scheme, std::string_view host, unsigned port);

// Whether `host` is `domain` or a subdomain of it (label-wise suffix;
// both lower case).
bool host_in_domain(std::string_view host, std::string_view domain) noexcept;

// The three forms of an auth-scope (§5), told apart the one way every
// reader here does: "://" makes it single-server ("<scheme>://<host>[:<port>]"),
// a leading "*." followed by something wildcard-domain ("*.<domain>"),
// anything else single-host. Says nothing about validity.
enum class AuthScopeForm { single_server, wildcard_domain, single_host };
AuthScopeForm auth_scope_form(std::string_view scope) noexcept;

// Checks an AuthMutualHost value ("<scheme>://<host>:<port>", lower case,
// port present, no leading zeros). Empty string when fine, else the problem.
std::string check_explicit_vh(std::string_view value);

// Checks an AuthMutualScope value against RFC 8120 §5 (single-server,
// single-host or wildcard-domain form, lower case). Empty when fine.
std::string check_auth_scope(std::string_view value);

// Whether an absolute URI ("<scheme>://<host>[:<port>][/...]", e.g. an
// origin or an AuthMutualPath element) lies inside an auth-scope (RFC 8120
// §5: single-server, single-host or wildcard-domain form). Host names are
// compared case-insensitively; a missing port is the scheme's default.
// A wildcard "*.<domain>" covers <domain> itself and every host under it
// (§5), as the client's scope_covers does.
bool auth_scope_covers(std::string_view auth_scope, std::string_view uri);

}  // namespace mutual

#endif

#include "authentication_control.h"

#include "ascii.h"
#include "encoding.h"
#include "http_auth_grammar.h"

namespace mutual {

namespace {

void append(std::string& out, std::string_view param) {
    out += ", ";
    out += param;
}

}  // namespace

std::string authentication_control(std::string_view realm, const AuthenticationControl& c,
                                   ControlResponse kind) {
    std::string params;
    switch (kind) {
        case ControlResponse::initializing:
            if (c.modal) append(params, *c.modal ? "auth-style=modal" : "auth-style=non-modal");
            if (c.location_when_unauthenticated)
                append(params, string_param("location-when-unauthenticated", *c.location_when_unauthenticated));
            if (c.no_auth) append(params, "no-auth=true");
            if (c.username) append(params, string_param("username", *c.username));
            break;
        case ControlResponse::negative:
            if (c.modal) append(params, *c.modal ? "auth-style=modal" : "auth-style=non-modal");
            if (c.username) append(params, string_param("username", *c.username));
            break;
        case ControlResponse::intermediate:
        case ControlResponse::optional:
            break;
        case ControlResponse::success:
            if (c.location_when_logout)
                append(params, string_param("location-when-logout", *c.location_when_logout));
            if (c.logout_timeout) append(params, "logout-timeout=" + encode_integer(*c.logout_timeout));
            break;
        case ControlResponse::logout:
            if (c.location_when_logout)
                append(params, string_param("location-when-logout", *c.location_when_logout));
            append(params, "logout-timeout=0");
            break;
    }
    if (params.empty()) return std::string();
    // The realm is a plain quoted-string even when not ASCII (§4.1).
    return "Mutual " + string_param("realm", realm) + params;
}

ControlHeaders control_headers(std::string_view realm, const AuthenticationControl& control) {
    ControlHeaders h;
    h.initializing = authentication_control(realm, control, ControlResponse::initializing);
    h.negative = authentication_control(realm, control, ControlResponse::negative);
    h.success = authentication_control(realm, control, ControlResponse::success);
    h.logout = authentication_control(realm, control, ControlResponse::logout);
    return h;
}

const char* control_string_problem(std::string_view value) noexcept {
    for (char ch : value) {
        const auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u == 0x7f) return "contains a control character";
    }
    if (!is_valid_utf8(value)) return "is not valid UTF-8";
    return nullptr;
}

std::string check_control_string(std::string_view value) {
    const char* problem = control_string_problem(value);
    return problem != nullptr ? problem : std::string();
}

std::string optional_www_authenticate(const std::vector<std::string>& init_challenges,
                                      const std::optional<std::string>& path) {
    std::string out;
    for (const std::string& challenge : init_challenges) {
        if (!out.empty()) out += ", ";
        out += challenge;
        if (path) append(out, string_param("path", *path));
    }
    return out;
}

bool is_mutual_authorization(std::string_view a) noexcept {
    std::size_t i = 0;
    while (i < a.size() && (a[i] == ' ' || a[i] == '\t')) ++i;
    std::size_t end = i;
    while (end < a.size() && a[end] != ' ' && a[end] != '\t') ++end;
    return equal_ignoring_ascii_case(a.substr(i, end - i), "Mutual");
}

}  // namespace mutual

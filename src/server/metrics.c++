#include "server/metrics.h"

namespace mutual {

namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(std::string& out, const char* name, const char* labels, std::uint64_t value) {
    out += name;
    if (labels != nullptr && *labels != '\0') {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += std::to_string(value);
    out += '\n';
}

// A label value as the exposition format escapes it (\\, \", \n).
std::string label_value(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

}  // namespace

std::string prometheus_text(const MetricsSnapshot& s) {
    std::string out;
    family(out, "mutual_key_exchanges_total", "counter",
           "Key exchanges answered with 401-KEX-S1 (real and fake sessions).");
    for (const auto& [name, value] : s.key_exchanges)
        sample(out, "mutual_key_exchanges_total", ("algorithm=\"" + label_value(name) + "\"").c_str(), value);
    family(out, "mutual_verifications_total", "counter",
           "Verifications (req-VFY-C) by result: 200-VFY-S, 401-INIT auth-failed, 401-STALE.");
    sample(out, "mutual_verifications_total", "result=\"success\"", s.success);
    sample(out, "mutual_verifications_total", "result=\"failure\"", s.failure);
    sample(out, "mutual_verifications_total", "result=\"stale\"", s.stale);
    family(out, "mutual_throttled_total", "counter",
           "Key exchanges refused with 429 (failure lock-outs and per-client budget).");
    sample(out, "mutual_throttled_total", nullptr, s.throttled);
    family(out, "mutual_sessions", "gauge", "Sessions in the session table by state.");
    sample(out, "mutual_sessions", "state=\"key-exchanging\"", s.key_exchanging);
    sample(out, "mutual_sessions", "state=\"authenticated\"", s.authenticated);
    family(out, "mutual_session_capacity", "gauge", "Slots of the session table.");
    sample(out, "mutual_session_capacity", nullptr, s.capacity);
    family(out, "mutual_evictions_total", "counter",
           "Sessions pushed out of the session table to make room.");
    sample(out, "mutual_evictions_total", nullptr, s.evictions);
    family(out, "mutual_store_errors_total", "counter",
           "Verifier store failures (401-INIT internal-error).");
    sample(out, "mutual_store_errors_total", nullptr, s.store_errors);
    family(out, "mutual_lockouts", "gauge",
           "User names and client addresses refused now by the failure throttle or the budget.");
    sample(out, "mutual_lockouts", nullptr, s.locked_out);
    return out;
}

std::string status_auto_text(const MetricsSnapshot& s) {
    std::string out;
    auto line = [&out](const std::string& name, std::uint64_t value) {
        out += name;
        out += ": ";
        out += std::to_string(value);
        out += '\n';
    };
    for (const auto& [name, value] : s.key_exchanges) line("MutualKeyExchanges " + name, value);
    for (const StatusField& f : status_fields) line(f.auto_name, s.*f.value);
    return out;
}

const StatusField status_fields[10] = {
    {"MutualVerificationsSuccess", "verifications, success", &MetricsSnapshot::success},
    {"MutualVerificationsFailure", "verifications, failure", &MetricsSnapshot::failure},
    {"MutualVerificationsStale", "verifications, stale", &MetricsSnapshot::stale},
    {"MutualThrottled", "throttled (429)", &MetricsSnapshot::throttled},
    {"MutualSessionsKeyExchanging", "sessions key-exchanging", &MetricsSnapshot::key_exchanging},
    {"MutualSessionsAuthenticated", "sessions authenticated", &MetricsSnapshot::authenticated},
    {"MutualSessionCapacity", "session capacity", &MetricsSnapshot::capacity},
    {"MutualEvictions", "evictions", &MetricsSnapshot::evictions},
    {"MutualStoreErrors", "store errors", &MetricsSnapshot::store_errors},
    {"MutualLockouts", "lock-outs now", &MetricsSnapshot::locked_out},
};

}  // namespace mutual

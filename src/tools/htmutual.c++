// htmutual: create and maintain the DBM verifier files of mod_auth_mutual,
// as htdbm/htpasswd do for Basic authentication. It links the same core as
// the module (string preparation, pi, J, the record codec), so the file
// format and the math cannot drift. Manual: docs/htmutual.1.
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <apr_general.h>
#include <openssl/crypto.h>

#include "algorithm.h"
#include "ascii.h"
#include "bytes.h"
#include "log.h"
#include "protocol_defaults.h"
#include "server/server_exchange.h"
#include "string_prep.h"
#include "tools/password_prompt.h"
#include "verifier_file.h"
#include "verifier_record.h"
#include "verifier_store.h"

using namespace mutual;

namespace {

const char program[] = "htmutual";

// Exit status (documented in --help and docs/htmutual.1). 1-6 keep the
// meanings htpasswd and htdbm give them.
enum ExitCode {
    exit_ok = 0,
    exit_file = 1,          // the file cannot be read, created, locked or written
    exit_usage = 2,         // command line syntax
    exit_mismatch = 3,      // password confirmation or verification (-v) failed
    exit_interrupted = 4,   // interrupted at the password prompt
    exit_too_long = 5,      // an argument, the password or a record is too long
    exit_bad_input = 6,     // user name or password rejected by string preparation
    exit_invalid_file = 7,  // the file is not a (valid) htmutual verifier file
    exit_not_found = 8,     // -v/-D: no such user, or no matching entry
    exit_internal = 9,      // cryptographic or memory failure
    exit_unsupported = 10,  // unknown algorithm or DBM type
};

constexpr std::size_t max_text_bytes = 1024;      // realm, auth-scope
constexpr std::size_t max_password_bytes = 1024;  // as typed, before preparation

enum class Mode { update, print, verify, remove, list };

#ifndef MUTUAL_VERSION
#define MUTUAL_VERSION "unknown"
#endif
#ifndef MUTUAL_RELEASE_DATE
#define MUTUAL_RELEASE_DATE "unknown"
#endif

// Where Debian's apache2 says which user it runs as (APACHE_RUN_USER);
// $HTMUTUAL_APACHE_ENVVARS names another file (tests, other layouts).
constexpr const char* default_envvars = "/etc/apache2/envvars";

struct Options {
    Mode mode = Mode::update;
    bool create = false;
    bool password_from_argv = false;
    bool password_from_stdin = false;
    std::string auth_scope;
    bool have_scope = false;
    std::string dbm_type = "default";
    bool have_type = false;
    std::vector<std::string> algorithm_names;
    std::vector<std::string> operands;
    bool export_records = false;  // -e: -l printing "user:record" lines
};

// ---- messages ---------------------------------------------------------------

// Errors and warnings go through the core's log sink (stderr for the tools),
// each with its own tag.
int fail(int code, const char* tag, const std::string& message) {
    log(LogLevel::error, tag, message);
    return code;
}

void note(const std::string& message) { std::fprintf(stderr, "%s\n", message.c_str()); }

// A user name, realm or key as it may be shown on a terminal: control
// characters and backslash as \xHH, everything else (UTF-8 too) as is.
std::string printable(std::string_view s) { return mutual::printable(s, printable_for_terminal); }

const char synopsis[] =
    "Usage: htmutual [-c] [-a ALGORITHM]... -s AUTH-SCOPE [-T DBMTYPE] [-i] FILE REALM USER\n"
    "       htmutual -b [-c] [-a ALGORITHM]... -s AUTH-SCOPE [-T DBMTYPE] FILE REALM USER PASSWORD\n"
    "       htmutual -n [-a ALGORITHM]... -s AUTH-SCOPE [-i | -b] REALM USER [PASSWORD]\n"
    "       htmutual -v [-a ALGORITHM]... -s AUTH-SCOPE [-T DBMTYPE] [-i | -b] FILE REALM USER [PASSWORD]\n"
    "       htmutual -D [-a ALGORITHM]... -s AUTH-SCOPE [-T DBMTYPE] FILE REALM USER\n"
    "       htmutual -D [-T DBMTYPE] FILE USER\n"
    "       htmutual -l [-T DBMTYPE] FILE\n"
    "       htmutual -e [-T DBMTYPE] FILE\n"
    "       htmutual -h | --help | --version\n";

void print_help() {
    std::printf(
        "htmutual -- create and maintain verifier files for mod_auth_mutual\n"
        "(HTTP Mutual authentication, RFC 8120 and RFC 8121)\n\n%s\n", synopsis);
    std::printf(
        "The server never stores passwords. For each user it stores verifiers J(pi),\n"
        "where pi is derived (PBKDF2, RFC 8120 section 12.2) from the password AND the\n"
        "user name, the REALM, the AUTH-SCOPE and the ALGORITHM. The realm and the\n"
        "auth-scope are inputs of pi: REALM must equal the AuthName and AUTH-SCOPE the\n"
        "AuthMutualScope of the protected area, byte for byte, or the verifier never\n"
        "matches. User names and passwords are prepared as RFC 8120 section 9 asks\n"
        "(RFC 7613 UsernameCasePreserved and OpaqueString); UTF-8 is fine.\n\n"
        "A user may have several verifiers, one per (algorithm, auth-scope, realm).\n"
        "Adding a user replaces the verifiers for the same algorithm, auth-scope and\n"
        "realm and keeps the others.\n\n"
        "Options:\n"
        "  -a ALGORITHM  Algorithm of the verifier; repeat for several. Default:\n"
        "                %s. Supported:\n",
        std::string(default_algorithm_name).c_str());
    for (const Algorithm* a : all_algorithms())
        std::printf("                  %s\n", std::string(a->name()).c_str());
    std::printf(
        "                With -v and -D, no -a means every algorithm.\n"
        "  -s AUTH-SCOPE The auth-scope (required except with -l): the module's\n"
        "                AuthMutualScope, for example http://www.example.com or\n"
        "                *.example.com. Refused as the module refuses it (lower\n"
        "                case, no default port, no path); give it once.\n"
        "  -c            Create FILE, replacing an existing verifier file (all its\n"
        "                users are lost). A file that is not a verifier file is never\n"
        "                replaced: remove it first.\n"
        "  -n            Do not touch any file: print \"user:record\" on standard output\n"
        "                (FILE is not given).\n"
        "  -b            Take the password from the command line (last argument).\n"
        "                Avoid it: the password is visible in the process list and may\n"
        "                end up in the shell history.\n"
        "  -i            Read the password from standard input (one line, no\n"
        "                confirmation), for scripts.\n"
        "  -D            Delete the user's verifiers for AUTH-SCOPE, REALM and the -a\n"
        "                algorithms (all algorithms without -a); the user disappears\n"
        "                when no verifier is left. With FILE USER only (no -s, no\n"
        "                REALM): delete the user and all its verifiers, also a\n"
        "                damaged record.\n"
        "  -x            The same as -D (htdbm's letter).\n"
        "  -v            Verify the password against the stored verifiers (exit 0 when\n"
        "                it matches, 3 when not).\n"
        "  -l            List the users of FILE: one line per verifier,\n"
        "                USER<TAB>ALGORITHM<TAB>AUTH-SCOPE<TAB>REALM.\n"
        "  -e            Export FILE: one \"user:record\" line per user, the -n format\n"
        "                (to load the verifiers into SQL, AuthMutualProvider dbd).\n"
        "  -T DBMTYPE    DBM type of FILE: default, db, gdbm, sdbm (as AuthMutualDBMType;\n"
        "                default: \"default\", APR-util's default type).\n"
        "  -h, --help    Show this help.\n"
        "  --version     Show the version.\n\n"
        "Without -b or -i the password is asked twice on the terminal, without echo.\n"
        "Writers lock FILE.lock, write a complete new file and rename it over FILE,\n"
        "so concurrent runs lose nothing and a failed write leaves FILE intact. New\n"
        "files get mode 0600: let httpd read them once (chgrp www-data FILE;\n"
        "chmod 640 FILE); an existing file keeps its mode, owner and group. After\n"
        "writing, htmutual warns when the user apache2 runs as (APACHE_RUN_USER in\n"
        "/etc/apache2/envvars) cannot read FILE.\n\n"
        "Exit status:\n"
        "   0  success (with -v: the password matches)\n"
        "   1  FILE cannot be read, created, locked or written\n"
        "   2  command line syntax error, or no terminal to ask the password on\n"
        "   3  the passwords typed differ, or (-v) the password does not match\n"
        "   4  interrupted at the password prompt\n"
        "   5  an argument, the password or a record is too long\n"
        "   6  the user name or password is not allowed (RFC 7613 preparation)\n"
        "   7  FILE is not a valid htmutual verifier file; it was not modified\n"
        "   8  (-v, -D) the user, or a verifier for the algorithm/scope/realm, is missing\n"
        "   9  internal error (cryptography, memory)\n"
        "  10  unknown algorithm or unsupported DBM type\n\n"
        "Examples:\n"
        "  htmutual -c -s https://www.example.com /etc/apache2/mutual.db \"Staff\" alice\n"
        "  htmutual -a iso-kam3-dl-2048-sha256 -a iso-kam3-ec-p256-sha256 \\\n"
        "           -s https://www.example.com /etc/apache2/mutual.db \"Staff\" bob\n"
        "  printf '%%s\\n' \"$PW\" | htmutual -i -s https://www.example.com FILE Staff carol\n"
        "  htmutual -l /etc/apache2/mutual.db\n\n"
        "See htmutual(1) and docs/verifier-format.md.\n");
}

int usage_error(const char* tag, const std::string& message) {
    log(LogLevel::error, tag, message);
    std::fprintf(stderr, "%sRun \"htmutual --help\" for the options and exit codes.\n",
                 synopsis);
    return exit_usage;
}

// ---- command line -----------------------------------------------------------

// Returns exit_ok when the options are usable, or the exit code.
int parse_options(int argc, char** argv, Options& options, bool& help, bool& version) {
    static const struct option long_options[] = {{"help", no_argument, nullptr, 'h'},
                                                 {"version", no_argument, nullptr, 'V'},
                                                 {nullptr, 0, nullptr, 0}};
    bool mode_conflict = false;
    auto set_mode = [&](Mode mode) {
        if (options.mode != Mode::update && options.mode != mode) mode_conflict = true;
        options.mode = mode;
    };
    opterr = 0;
    int c;
    // "+": stop at the first operand, so a -b password may start with "-".
    while ((c = getopt_long(argc, argv, "+a:s:cnbiDxvleT:h", long_options, nullptr)) != -1) {
        switch (c) {
            case 'a': options.algorithm_names.emplace_back(optarg); break;
            case 's':
                // One verifier is made for one auth-scope: a second -s would
                // silently win, so it is refused.
                if (options.have_scope)
                    return usage_error("MUT04900", "-s given twice (\"" +
                                                       printable(options.auth_scope) + "\" and \"" +
                                                       printable(optarg) +
                                                       "\"); run htmutual once per auth-scope");
                options.auth_scope = optarg;
                options.have_scope = true;
                break;
            case 'c': options.create = true; break;
            case 'n': set_mode(Mode::print); break;
            case 'b': options.password_from_argv = true; break;
            case 'i': options.password_from_stdin = true; break;
            case 'D':
            case 'x': set_mode(Mode::remove); break;  // -x: htdbm's letter
            case 'v': set_mode(Mode::verify); break;
            case 'l': set_mode(Mode::list); break;
            case 'e':
                set_mode(Mode::list);
                options.export_records = true;
                break;
            case 'T':
                options.dbm_type = optarg;
                options.have_type = true;
                break;
            case 'h': help = true; return exit_ok;
            case 'V': version = true; return exit_ok;
            case ':':
                return usage_error("MUT04001", std::string("option -") +
                                                   static_cast<char>(optopt) +
                                                   " needs an argument");
            default:
                if (optopt != 0)
                    return usage_error("MUT04002", std::string("unknown option -") +
                                                       static_cast<char>(optopt));
                return usage_error("MUT04003",
                                   std::string("unknown option ") + argv[optind - 1]);
        }
    }
    // A -b password stays in argv only (obtain_password wipes it there), never
    // in a std::string that would outlive it unwiped.
    const std::size_t operand_count = static_cast<std::size_t>(argc - optind);
    const int copied_end = options.password_from_argv && operand_count > 0 ? argc - 1 : argc;
    for (int i = optind; i < copied_end; ++i) options.operands.emplace_back(argv[i]);
    options.dbm_type = ascii_lowercase(options.dbm_type);

    if (mode_conflict)
        return usage_error("MUT04004", "use only one of -n, -v, -D (-x) and -l (-e)");
    if (options.password_from_argv && options.password_from_stdin)
        return usage_error("MUT04005", "use either -b or -i, not both");
    const Mode mode = options.mode;
    if (options.create && mode != Mode::update)
        return usage_error("MUT04006", "-c creates a file for adding users; it cannot be "
                                       "combined with -n, -v, -D or -l");
    if ((mode == Mode::remove || mode == Mode::list) &&
        (options.password_from_argv || options.password_from_stdin))
        return usage_error("MUT04007", "-D and -l take no password: drop -b and -i");
    if (mode == Mode::print && options.have_type)
        return usage_error("MUT04008", "-n writes no file: drop -T");
    if (mode == Mode::list && (options.have_scope || !options.algorithm_names.empty()))
        return usage_error("MUT04009", "-l lists every user of FILE: drop -s and -a");
    // -D FILE USER (htdbm -x): the whole user, whatever its verifiers.
    const bool whole_user = mode == Mode::remove && !options.have_scope &&
                            options.algorithm_names.empty() && operand_count == 2;
    if (mode != Mode::list && !whole_user && !options.have_scope)
        return usage_error("MUT04010",
                           "-s AUTH-SCOPE is required: give the AuthMutualScope of the "
                           "protected area (it is an input of pi)");
    if (mode != Mode::list && !whole_user && options.auth_scope.empty())
        return usage_error("MUT04011", "-s AUTH-SCOPE must not be empty");
    // The module's own check (AuthMutualScope) and its words: a verifier for
    // a scope the module refuses could never be used. -D and -v still take
    // any scope, for verifiers older versions made.
    if (options.have_scope && (mode == Mode::update || mode == Mode::print) &&
        !options.auth_scope.empty()) {
        const std::string problem = check_auth_scope(options.auth_scope);
        if (!problem.empty())
            return fail(exit_usage, "MUT04901",
                        "-s \"" + printable(options.auth_scope) + "\": " + problem +
                            " (the module refuses this AuthMutualScope too)");
    }

    std::size_t wanted = mode == Mode::list ? 1 : mode == Mode::print || whole_user ? 2 : 3;
    if (options.password_from_argv) ++wanted;
    if (operand_count != wanted) {
        std::string what = mode == Mode::list    ? "FILE"
                           : mode == Mode::print ? "REALM USER"
                                                 : "FILE REALM USER";
        if (options.password_from_argv) what += " PASSWORD";
        return usage_error("MUT04012", "expected " + std::to_string(wanted) +
                                           " arguments (" + what + "), got " +
                                           std::to_string(operand_count));
    }
    return exit_ok;
}

// ---- passwords ----------------------------------------------------------------

// Ctrl-C (or another termination signal) at a password prompt or while
// reading -i: the terminal is restored and the program ends at once with
// status 4 (password_prompt.h); nothing was written yet.
constexpr OnInterrupt on_interrupt{
    "htmutual: error: interrupted; nothing was changed [MUT04020]\n", exit_interrupted};

int password_read_error(ReadResult result, const char* where) {
    switch (result) {
        case ReadResult::end_of_input:
            return fail(exit_interrupted, "MUT04021",
                        std::string("no password read from ") + where +
                            "; nothing was changed");
        case ReadResult::too_long:
            return fail(exit_too_long, "MUT04022",
                        "the password is longer than " + std::to_string(max_password_bytes) +
                            " bytes; choose a shorter one");
        default:
            return fail(exit_file, "MUT04023",
                        std::string("cannot read the password from ") + where + ": " +
                            std::strerror(errno));
    }
}

// Gets the password from argv (-b, then wiped there), stdin (-i) or the
// terminal (asked twice when `confirm`).
int obtain_password(const Options& options, char* argv_password, bool confirm,
                    SecretString& password) {
    if (options.password_from_argv) {
        log(LogLevel::warn, "MUT04024",
            "the password is visible on the command line (process list, shell "
            "history); prefer the prompt or -i");
        password.assign(argv_password);
        OPENSSL_cleanse(argv_password, std::strlen(argv_password));
        if (password.size() > max_password_bytes)
            return password_read_error(ReadResult::too_long, "the command line");
        return exit_ok;
    }
    if (options.password_from_stdin) {
        InterruptExit on_signal(on_interrupt);
        ReadResult result = read_password_line(STDIN_FILENO, password, max_password_bytes);
        if (result == ReadResult::end_of_input) {
            password.clear();  // an empty password: string preparation rejects it
            return exit_ok;
        }
        return result == ReadResult::ok ? exit_ok
                                        : password_read_error(result, "standard input");
    }
    ReadResult result = prompt_password(confirm ? "New password: " : "Password: ", password,
                                        on_interrupt, max_password_bytes);
    if (result == ReadResult::ok && confirm) {
        SecretString again;
        result = prompt_password("Re-type new password: ", again, on_interrupt, max_password_bytes);
        if (result == ReadResult::ok && again != password)
            return fail(exit_mismatch, "MUT04026",
                        "password verification error: the two passwords differ; nothing "
                        "was changed, run the command again");
    }
    if (result == ReadResult::no_terminal)
        return fail(exit_usage, "MUT04025",
                    std::string("cannot ask for the password: no terminal (/dev/tty: ") +
                        std::strerror(errno) +
                        "); use -i to read it from standard input");
    return result == ReadResult::ok ? exit_ok : password_read_error(result, "the terminal");
}

// ---- verifiers ----------------------------------------------------------------

int select_algorithms(const Options& options, bool default_when_empty,
                      std::vector<const Algorithm*>& algorithms) {
    std::vector<std::string> names = options.algorithm_names;
    if (names.empty() && default_when_empty) names.emplace_back(default_algorithm_name);
    for (const std::string& name : names) {
        const Algorithm* a = find_algorithm(name);
        if (a == nullptr) {
            std::string known;
            for (const Algorithm* k : all_algorithms())
                known += (known.empty() ? "" : ", ") + std::string(k->name());
            return fail(exit_unsupported, "MUT04030",
                        "unknown algorithm \"" + printable(name) + "\"; use one of " + known);
        }
        if (std::find(algorithms.begin(), algorithms.end(), a) == algorithms.end())
            algorithms.push_back(a);
    }
    return exit_ok;
}

int compute_verifier(const Algorithm& a, const SecretString& password,
                     const std::string& auth_scope, const std::string& realm,
                     const std::string& user, Bytes& j) {
    Secret pi = compute_pi(a, std::string_view(password.data(), password.size()), auth_scope,
                           realm, user);
    if (pi.empty())
        return fail(exit_internal, "MUT04031",
                    "cannot compute pi for " + std::string(a.name()) +
                        " (OpenSSL failure); check the OpenSSL installation");
    KexError e = a.verifier(pi, j);
    if (e != KexError::none)
        return fail(exit_internal, "MUT04032",
                    "cannot compute the verifier for " + std::string(a.name()) + ": " +
                        kex_error_name(e) + "; check the OpenSSL installation");
    return exit_ok;
}

// The limit is the server's (protocol_defaults.h), on the name as prepared
// (the module never looks up a longer one); a name that is too long as typed
// and cannot be prepared is too long as well.
int prepare_user(const std::string& input, std::string& user) {
    PrepError e = prepare_username(input, user);
    if (user.size() > max_user_name_length ||
        (e != PrepError::none && input.size() > max_user_name_length))
        return fail(exit_too_long, "MUT04033",
                    "the user name is longer than " + std::to_string(max_user_name_length) +
                        " bytes; choose a shorter one");
    if (e != PrepError::none)
        return fail(exit_bad_input, "MUT04034",
                    "user name \"" + printable(input) + "\" is not allowed (" +
                        prep_error_name(e) +
                        "); RFC 7613 UsernameCasePreserved allows letters, digits, "
                        "symbols and single spaces between them, no control characters");
    if (user.find(':') != std::string::npos)
        return fail(exit_bad_input, "MUT04035",
                    "user name \"" + printable(input) +
                        "\" contains \":\", which htmutual does not allow (as htpasswd); "
                        "choose another name");
    return exit_ok;
}

int prepare_secret(const SecretString& input, SecretString& password) {
    PrepError e = prepare_password(std::string_view(input.data(), input.size()), password);
    if (e != PrepError::none)
        return fail(exit_bad_input, "MUT04036",
                    std::string("the password is not allowed (") + prep_error_name(e) +
                        "); RFC 7613 OpaqueString needs a non-empty password without "
                        "control characters");
    return exit_ok;
}

int check_text_lengths(const std::string& realm, const std::string& auth_scope) {
    if (realm.size() > max_text_bytes || auth_scope.size() > max_text_bytes)
        return fail(exit_too_long, "MUT04037",
                    "the realm and the auth-scope may have at most " +
                        std::to_string(max_text_bytes) + " bytes each");
    return exit_ok;
}

// ---- the file -------------------------------------------------------------------

// A word for a command line the user may paste: as is when plain, else in
// single quotes (control characters shown as printable() does).
std::string shell_quoted(std::string_view word) {
    const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return std::isalnum(c) || std::strchr("@%+=:,./-_", c) != nullptr;
    });
    if (plain) return std::string(word);
    std::string out = "'";
    for (char ch : word) {
        if (ch == '\'') out += "'\\''";
        else out += printable(std::string_view(&ch, 1));
    }
    return out + "'";
}

// The user (and group) apache2 runs as, from Debian's envvars file
// ("export APACHE_RUN_USER=www-data"); false when there is no such file or
// it computes the value (then htmutual cannot know it).
bool apache_run_user(std::string& user, std::string& group, std::string& source) {
    const char* env = std::getenv("HTMUTUAL_APACHE_ENVVARS");
    source = env != nullptr && *env != '\0' ? env : default_envvars;
    std::ifstream in(source);
    if (!in) return false;
    std::string line;
    auto value_of = [&](std::string_view name, std::string& out) {
        std::string_view rest(line);
        rest.remove_prefix(std::min(rest.find_first_not_of(" \t"), rest.size()));
        if (rest.substr(0, 7) == "export ") rest.remove_prefix(7);
        if (rest.substr(0, name.size()) != name || rest.substr(name.size(), 1) != "=") return;
        rest.remove_prefix(name.size() + 1);
        rest = rest.substr(0, rest.find_first_of(" \t#;"));
        if (rest.size() >= 2 && (rest.front() == '"' || rest.front() == '\'') &&
            rest.back() == rest.front())
            rest = rest.substr(1, rest.size() - 2);
        out.assign(rest.data(), rest.size());
    };
    while (std::getline(in, line)) {
        value_of("APACHE_RUN_USER", user);
        value_of("APACHE_RUN_GROUP", group);
    }
    return !user.empty() && user.find('$') == std::string::npos;
}

// Whether the mode bits let uid (member of groups) do `want` (4 read,
// 1 search). ACLs are not looked at.
bool mode_permits(const struct stat& st, uid_t uid, const std::vector<gid_t>& groups,
                  unsigned want) {
    if (uid == 0) return true;
    if (st.st_uid == uid) return ((st.st_mode >> 6) & want) == want;
    if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end())
        return ((st.st_mode >> 3) & want) == want;
    return (st.st_mode & want) == want;
}

// After writing FILE: warns when the user apache2 runs as cannot read it
// (the module would log "Permission denied" and refuse every login), with
// the commands that fix it.
void warn_unless_server_can_read(const std::string& path, const std::string& dbm_type) {
    std::string user, group, source;
    if (!apache_run_user(user, group, source)) return;
    struct passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) {
        log(LogLevel::warn, "MUT04902",
            source + " names APACHE_RUN_USER " + printable(user) +
                ", but there is no such user; apache2 will not start as it is");
        return;
    }
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    int count = 32;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    if (::getgrouplist(pw->pw_name, gid, groups.data(), &count) < 0) {
        groups.resize(static_cast<std::size_t>(count));
        if (::getgrouplist(pw->pw_name, gid, groups.data(), &count) < 0) count = 0;
    }
    groups.resize(static_cast<std::size_t>(count));
    if (std::find(groups.begin(), groups.end(), gid) == groups.end()) groups.push_back(gid);
    if (group.empty() || group.find('$') != std::string::npos) {
        struct group* gr = ::getgrgid(gid);
        group = gr != nullptr ? gr->gr_name : std::to_string(gid);
    }

    std::string first, second;
    if (!dbm_file_names(path, dbm_type, first, second)) return;
    std::vector<std::string> unreadable;
    std::string blocked_directory;
    for (const std::string& name : {first, second}) {
        if (name.empty()) continue;
        char* resolved = ::realpath(name.c_str(), nullptr);
        if (resolved == nullptr) continue;
        std::string full(resolved);
        std::free(resolved);
        // Every directory on the way must be searchable.
        for (std::size_t slash = full.find('/', 1); slash != std::string::npos;
             slash = full.find('/', slash + 1)) {
            const std::string directory = full.substr(0, slash);
            struct stat st;
            if (::stat(directory.c_str(), &st) == 0 && !mode_permits(st, uid, groups, 1) &&
                blocked_directory.empty())
                blocked_directory = directory;
        }
        struct stat st;
        if (::stat(full.c_str(), &st) == 0 && !mode_permits(st, uid, groups, 4))
            unreadable.push_back(name);
    }
    if (!blocked_directory.empty()) {
        log(LogLevel::warn, "MUT04903",
            "the directory " + blocked_directory + " is not searchable by " + printable(user) +
                " (APACHE_RUN_USER in " + source +
                "), the user apache2 runs as: the module cannot open " + path +
                " and will refuse every login (\"Permission denied\", MUT01108); keep the "
                "file in a directory apache2 may enter, such as /etc/apache2");
        return;
    }
    if (unreadable.empty()) return;
    std::string files;
    for (const std::string& name : unreadable) files += " " + shell_quoted(name);
    log(LogLevel::warn, "MUT04904",
        path + " is not readable by " + printable(user) + " (APACHE_RUN_USER in " + source +
            "), the user apache2 runs as: the module will log \"Permission denied\" "
            "(MUT01108) and refuse every login. Let it read the file: chgrp " +
            shell_quoted(group) + files + " && chmod 640" + files);
}

int file_error(const DbmFileResult& r, const char* tag) {
    switch (r.error) {
        case DbmFileError::none: return exit_ok;
        case DbmFileError::unsupported_type: return fail(exit_unsupported, tag, r.message);
        case DbmFileError::not_dbm: return fail(exit_invalid_file, tag, r.message);
        case DbmFileError::too_large: return fail(exit_too_long, tag, r.message);
        case DbmFileError::missing:
        case DbmFileError::access: return fail(exit_file, tag, r.message);
    }
    return fail(exit_file, tag, r.message);
}

// Every record must decode before the file is touched: a foreign or damaged
// file is never "repaired" into something else.
int validate_records(const std::string& path, const DbmRecords& records, const char* action) {
    std::vector<VerifierEntry> entries;
    for (const auto& [key, value] : records) {
        RecordError e = decode_record(value, entries);
        if (e != RecordError::none)
            return fail(exit_invalid_file, "MUT04040",
                        path + ": not a htmutual verifier file (user \"" + printable(key) +
                            "\": " + record_error_name(e) + "); refusing to " + action +
                            " it. Check the file name and -T, or restore the file from a "
                            "backup");
    }
    return exit_ok;
}

// Blocks termination signals while the new file is renamed into place.
class SignalBlocker {
public:
    SignalBlocker() {
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
        sigprocmask(SIG_BLOCK, &set, &old_);
    }
    ~SignalBlocker() { sigprocmask(SIG_SETMASK, &old_, nullptr); }
    SignalBlocker(const SignalBlocker&) = delete;
    SignalBlocker& operator=(const SignalBlocker&) = delete;

private:
    sigset_t old_;
};

int write_records(const std::string& path, const std::string& dbm_type,
                  const DbmRecords& records) {
    SignalBlocker blocker;
    DbmFileResult r = replace_dbm_file(path, dbm_type, records);
    return r ? exit_ok : file_error(r, "MUT04041");
}

// Reads and validates FILE under the caller's lock.
int load_file(const std::string& path, const std::string& dbm_type, DbmRecords& records,
              const char* action) {
    DbmFileResult r = read_dbm_file(path, dbm_type, records);
    if (!r) return file_error(r, "MUT04042");
    return validate_records(path, records, action);
}

// ---- modes ------------------------------------------------------------------------

int list_users(const Options& options) {
    const std::string& path = options.operands[0];
    FileLock lock;
    if (DbmFileResult r = lock.acquire(path, false); !r) return file_error(r, "MUT04050");
    DbmRecords records;
    DbmFileResult r = read_dbm_file(path, options.dbm_type, records);
    if (!r) return file_error(r, "MUT04051");
    int status = exit_ok;
    std::vector<VerifierEntry> entries;
    for (const auto& [key, value] : records) {
        RecordError e = decode_record(value, entries);
        if (e != RecordError::none) {
            status = fail(exit_invalid_file, "MUT04052",
                          path + ": the record of user \"" + printable(key) +
                              "\" is not a valid verifier record (" + record_error_name(e) +
                              "); check the file name and -T, or remove the user with: "
                              "htmutual -x " + (options.have_type ? "-T " + options.dbm_type + " " : "") +
                              shell_quoted(path) + " " + shell_quoted(key));
            continue;
        }
        if (options.export_records) {
            // The -n format: user names never hold ':' (htmutual refuses
            // them) nor control characters (RFC 7613), so a line is one user.
            const bool control = std::any_of(key.begin(), key.end(), [](char c) {
                return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
            });
            if (key.find(':') != std::string::npos || control) {
                status = fail(exit_invalid_file, "MUT04054",
                              path + ": user \"" + printable(key) +
                                  "\" contains ':' or a control character: not exported");
                continue;
            }
            std::printf("%s:%s\n", key.c_str(), value.c_str());
            continue;
        }
        for (const VerifierEntry& entry : entries) {
            std::printf("%s\t%s\t%s\t%s\n", printable(key).c_str(),
                        std::string(entry.algorithm->name()).c_str(),
                        printable(entry.auth_scope).c_str(), printable(entry.realm).c_str());
        }
    }
    if (std::fflush(stdout) != 0)
        return fail(exit_file, "MUT04053", "cannot write the list to standard output");
    return status;
}

// -D FILE USER: the user and every verifier, also a record that does not
// decode (the advice -l gives for one); every other record must decode.
int remove_whole_user(const Options& options, const std::string& typed_user) {
    const std::string& path = options.operands[0];
    FileLock lock;
    if (DbmFileResult r = lock.acquire(path, true); !r) return file_error(r, "MUT04905");
    DbmRecords records;
    if (DbmFileResult r = read_dbm_file(path, options.dbm_type, records); !r)
        return file_error(r, "MUT04906");
    // The key as prepared (what htmutual stores), else byte for byte as -l shows it.
    std::string user;
    auto found = records.end();
    if (prepare_username(typed_user, user) == PrepError::none) found = records.find(user);
    if (found == records.end()) found = records.find(typed_user);
    if (found == records.end())
        return fail(exit_not_found, "MUT04907",
                    "user \"" + printable(typed_user) + "\" is not in " + path +
                        "; list the users with: htmutual -l " + path);
    const std::string key = found->first;
    std::vector<VerifierEntry> entries;
    const bool damaged = decode_record(found->second, entries) != RecordError::none;
    records.erase(found);
    if (int s = validate_records(path, records, "modify"); s != exit_ok) return s;
    if (int s = write_records(path, options.dbm_type, records); s != exit_ok) return s;
    note("Deleted user " + printable(key) +
         (damaged ? " (its damaged record)"
                  : " and its " + std::to_string(entries.size()) + " verifier(s)"));
    return exit_ok;
}

int remove_user(const Options& options, const std::string& realm, const std::string& user) {
    const std::string& path = options.operands[0];
    std::vector<const Algorithm*> algorithms;
    if (int s = select_algorithms(options, false, algorithms); s != exit_ok) return s;

    FileLock lock;
    if (DbmFileResult r = lock.acquire(path, true); !r) return file_error(r, "MUT04060");
    DbmRecords records;
    if (int s = load_file(path, options.dbm_type, records, "modify"); s != exit_ok) return s;
    auto found = records.find(user);
    if (found == records.end())
        return fail(exit_not_found, "MUT04061",
                    "user \"" + printable(user) + "\" is not in " + path +
                        "; list the users with: htmutual -l " + path);
    std::vector<VerifierEntry> entries, kept;
    decode_record(found->second, entries);  // validated by load_file
    for (VerifierEntry& entry : entries) {
        bool chosen = entry.auth_scope == options.auth_scope && entry.realm == realm &&
                      (algorithms.empty() || std::find(algorithms.begin(), algorithms.end(),
                                                       entry.algorithm) != algorithms.end());
        if (!chosen) kept.push_back(std::move(entry));
    }
    if (kept.size() == entries.size())
        return fail(exit_not_found, "MUT04062",
                    "user \"" + printable(user) + "\" has no verifier for auth-scope \"" +
                        printable(options.auth_scope) + "\", realm \"" + printable(realm) +
                        "\"" + (algorithms.empty() ? "" : " and the -a algorithms") +
                        "; list them with: htmutual -l " + path);
    std::size_t removed = entries.size() - kept.size();
    if (kept.empty())
        records.erase(found);
    else
        found->second = encode_record(kept);
    if (int s = write_records(path, options.dbm_type, records); s != exit_ok) return s;
    note("Deleted " + std::to_string(removed) + " verifier(s) of user " + printable(user) +
         (kept.empty() ? "; the user is gone" : ""));
    return exit_ok;
}

int verify_user(const Options& options, const std::string& realm, const std::string& user,
                const SecretString& password) {
    const std::string& path = options.operands[0];
    std::vector<const Algorithm*> algorithms;
    if (int s = select_algorithms(options, false, algorithms); s != exit_ok) return s;

    std::string value;
    {
        // The module's own lookup path; the shared lock keeps writers' renames out.
        FileLock lock;
        if (DbmFileResult r = lock.acquire(path, false); !r) return file_error(r, "MUT04070");
        if (DbmFileResult r = probe_dbm_file(path, options.dbm_type); !r)
            return file_error(r, "MUT04071");
        std::string error;
        switch (lookup_verifier_record(path, options.dbm_type, user, value, error)) {
            case LookupStatus::found: break;
            case LookupStatus::not_found:
                return fail(exit_not_found, "MUT04072",
                            "user \"" + printable(user) + "\" is not in " + path +
                                "; list the users with: htmutual -l " + path);
            case LookupStatus::open_failed:
                return fail(exit_invalid_file, "MUT04073",
                            path + ": " + error + "; check the file name and -T");
            case LookupStatus::read_failed:
                return fail(exit_invalid_file, "MUT04074",
                            path + ": " + error +
                                "; the file is damaged: restore it from a backup or recreate it");
        }
    }
    std::vector<VerifierEntry> entries;
    if (RecordError e = decode_record(value, entries); e != RecordError::none)
        return fail(exit_invalid_file, "MUT04075",
                    path + ": the record of user \"" + printable(user) +
                        "\" is not a valid verifier record (" + record_error_name(e) +
                        "); check the file name and -T, or add the user again");

    std::vector<const VerifierEntry*> chosen;
    if (algorithms.empty()) {
        for (const VerifierEntry& entry : entries)
            if (entry.auth_scope == options.auth_scope && entry.realm == realm)
                chosen.push_back(&entry);
    } else {
        for (const Algorithm* a : algorithms) {
            const VerifierEntry* entry = find_entry(entries, *a, options.auth_scope, realm);
            if (entry == nullptr)
                return fail(exit_not_found, "MUT04076",
                            "user \"" + printable(user) + "\" has no " +
                                std::string(a->name()) + " verifier for auth-scope \"" +
                                printable(options.auth_scope) + "\", realm \"" +
                                printable(realm) + "\"; list them with: htmutual -l " + path);
            chosen.push_back(entry);
        }
    }
    if (chosen.empty())
        return fail(exit_not_found, "MUT04077",
                    "user \"" + printable(user) + "\" has no verifier for auth-scope \"" +
                        printable(options.auth_scope) + "\", realm \"" + printable(realm) +
                        "\" (the realm and the auth-scope must match exactly); list them "
                        "with: htmutual -l " + path);
    for (const VerifierEntry* entry : chosen) {
        Bytes j;
        if (int s = compute_verifier(*entry->algorithm, password, options.auth_scope, realm,
                                     user, j);
            s != exit_ok)
            return s;
        if (!equal_constant_time(j, entry->j))
            return fail(exit_mismatch, "MUT04078",
                        "password verification failed for user \"" + printable(user) + "\" (" +
                            std::string(entry->algorithm->name()) + ")");
    }
    note("Password for user " + printable(user) + " correct.");
    return exit_ok;
}

int add_user(const Options& options, const std::string& realm, const std::string& user,
             const SecretString& password) {
    std::vector<const Algorithm*> algorithms;
    if (int s = select_algorithms(options, true, algorithms); s != exit_ok) return s;

    // The slow part (PBKDF2, exponentiation) before taking the lock.
    std::vector<VerifierEntry> fresh;
    for (const Algorithm* a : algorithms) {
        VerifierEntry entry;
        entry.algorithm = a;
        entry.auth_scope = options.auth_scope;
        entry.realm = realm;
        if (int s = compute_verifier(*a, password, options.auth_scope, realm, user, entry.j);
            s != exit_ok)
            return s;
        fresh.push_back(std::move(entry));
    }

    if (options.mode == Mode::print) {
        std::printf("%s:%s\n", user.c_str(), encode_record(fresh).c_str());
        if (std::fflush(stdout) != 0)
            return fail(exit_file, "MUT04080", "cannot write to standard output");
        return exit_ok;
    }

    const std::string& path = options.operands[0];
    FileLock lock;
    if (DbmFileResult r = lock.acquire(path, true); !r) return file_error(r, "MUT04081");
    DbmRecords records;
    if (options.create) {
        // -c replaces a verifier file, never anything else.
        if (dbm_file_exists(path, options.dbm_type)) {
            if (int s = load_file(path, options.dbm_type, records, "replace"); s != exit_ok) {
                if (s == exit_invalid_file)
                    log(LogLevel::error, "MUT04082",
                        "remove " + path + " first if you really want to replace it");
                return s;
            }
        }
        records.clear();
    } else {
        DbmFileResult r = read_dbm_file(path, options.dbm_type, records);
        if (r.error == DbmFileError::missing)
            return fail(exit_file, "MUT04083",
                        path + " does not exist; use -c to create it (and check -T)");
        if (!r) return file_error(r, "MUT04084");
        if (int s = validate_records(path, records, "modify"); s != exit_ok) return s;
    }

    std::vector<VerifierEntry> entries;
    bool updating = false;
    if (auto found = records.find(user); found != records.end()) {
        decode_record(found->second, entries);  // validated above
        updating = true;
    }
    for (VerifierEntry& entry : fresh) {
        auto same = std::find_if(entries.begin(), entries.end(), [&](const VerifierEntry& e) {
            return e.algorithm == entry.algorithm && e.auth_scope == entry.auth_scope &&
                   e.realm == entry.realm;
        });
        if (same != entries.end())
            *same = std::move(entry);
        else
            entries.push_back(std::move(entry));
    }
    records[user] = encode_record(entries);
    if (int s = write_records(path, options.dbm_type, records); s != exit_ok) return s;
    note(std::string(updating ? "Updating" : "Adding") + " password for user " +
         printable(user));
    return exit_ok;
}

int run(int argc, char** argv) {
    Options options;
    bool help = false;
    bool version = false;
    if (argc <= 1) return usage_error("MUT04013", "no arguments");
    if (int s = parse_options(argc, argv, options, help, version); s != exit_ok) return s;
    if (help) {
        print_help();
        return exit_ok;
    }
    if (version) {
        std::printf("htmutual, mod_auth_mutual %s (%s)\n", MUTUAL_VERSION, MUTUAL_RELEASE_DATE);
        return exit_ok;
    }
    // An unusable DBM type fails before anything (a lock file) is created.
    if (options.mode != Mode::print) {
        std::string first, second;
        if (DbmFileResult r = dbm_file_names(options.operands[0], options.dbm_type, first, second);
            !r)
            return file_error(r, "MUT04908");
    }
    if (options.mode == Mode::list) return list_users(options);
    if (options.mode == Mode::remove && options.operands.size() == 2) {
        int s = remove_whole_user(options, options.operands[1]);
        if (s == exit_ok) warn_unless_server_can_read(options.operands[0], options.dbm_type);
        return s;
    }

    // Operands: [FILE] REALM USER [PASSWORD]
    const std::size_t first = options.mode == Mode::print ? 0 : 1;
    const std::string& realm = options.operands[first];
    if (int s = check_text_lengths(realm, options.auth_scope); s != exit_ok) return s;
    std::string user;
    if (int s = prepare_user(options.operands[first + 1], user); s != exit_ok) return s;

    if (options.mode == Mode::remove) {
        int s = remove_user(options, realm, user);
        if (s == exit_ok) warn_unless_server_can_read(options.operands[0], options.dbm_type);
        return s;
    }

    SecretString typed, password;
    char* argv_password = options.password_from_argv ? argv[argc - 1] : nullptr;
    bool confirm = options.mode != Mode::verify;
    if (int s = obtain_password(options, argv_password, confirm, typed); s != exit_ok) return s;
    if (int s = prepare_secret(typed, password); s != exit_ok) return s;
    if (options.mode == Mode::verify) return verify_user(options, realm, user, password);
    int s = add_user(options, realm, user, password);
    if (s == exit_ok && options.mode == Mode::update)
        warn_unless_server_can_read(options.operands[0], options.dbm_type);
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    set_log_sink(stderr_log_sink, const_cast<char*>(program));
    if (apr_initialize() != APR_SUCCESS) {
        std::fprintf(stderr, "htmutual: cannot initialize APR\n");
        return exit_internal;
    }
    int status;
    try {
        status = run(argc, argv);
    } catch (const std::bad_alloc&) {
        status = fail(exit_internal, "MUT04090", "out of memory");
    } catch (const std::exception& e) {
        status = fail(exit_internal, "MUT04091", std::string("internal error: ") + e.what());
    }
    apr_terminate();
    return status;
}

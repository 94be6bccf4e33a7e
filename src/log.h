// The core's log sink. The module binds it to ap_log_error/ap_log_rerror, the
// tools to stderr, the unit tests to a capture buffer. Never pass a secret.
#ifndef MUTUAL_LOG_H
#define MUTUAL_LOG_H

#include <string>

namespace mutual {

enum class LogLevel { error, warn, notice, info, debug };

// tag: a stable identifier of the call site, "MUT" followed by five digits
// (for example "MUT01001"), which tests and fail2ban can match.
using LogFunction = void (*)(void* context, LogLevel level, const char* tag,
                             const std::string& message);

// Installs the process-wide sink (nullptr restores the default: discard).
void set_log_sink(LogFunction function, void* context) noexcept;

// Reports through the installed sink; never throws.
void log(LogLevel level, const char* tag, const std::string& message) noexcept;

// A sink writing "htmutual: message" lines to stderr, for the tools.
void stderr_log_sink(void* program_name, LogLevel level, const char* tag,
                     const std::string& message);

}  // namespace mutual

#endif

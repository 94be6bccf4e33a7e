#include "log.h"

#include <cstdio>

namespace mutual {
namespace {

struct Sink {
    LogFunction function;
    void* context;
};

// Set once at startup (module post_config, tool main) before threads exist.
Sink current_sink{nullptr, nullptr};

}  // namespace

void set_log_sink(LogFunction function, void* context) noexcept {
    current_sink = Sink{function, context};
}

void log(LogLevel level, const char* tag, const std::string& message) noexcept {
    Sink sink = current_sink;
    if (sink.function == nullptr) return;
    try {
        sink.function(sink.context, level, tag, message);
    } catch (...) {
        // A sink must never take the caller down.
    }
}

void stderr_log_sink(void* program_name, LogLevel level, const char* tag,
                     const std::string& message) {
    static const char* const names[] = {"error", "warning", "notice", "info", "debug"};
    std::fprintf(stderr, "%s: %s: %s [%s]\n",
                 program_name ? static_cast<const char*>(program_name) : "mutual",
                 names[static_cast<int>(level)], message.c_str(), tag);
}

}  // namespace mutual

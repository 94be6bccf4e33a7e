// The password input of the tools (htmutual, mutual-client): one line from
// a file descriptor, and the prompt on the controlling terminal without
// echo, as getpass(3) asks, but into a SecretString and with the terminal
// restored when a termination signal ends the program.
#ifndef MUTUAL_TOOLS_PASSWORD_PROMPT_H
#define MUTUAL_TOOLS_PASSWORD_PROMPT_H

#include <signal.h>
#include <termios.h>

#include <cstddef>
#include <limits>
#include <string_view>

#include "bytes.h"

namespace mutual {

enum class ReadResult {
    ok,
    end_of_input,  // the input ended before anything was read
    too_long,      // the line was longer than max_bytes (read to its end)
    failed,        // read(2) failed (errno says why)
    no_terminal,   // prompt_password: no /dev/tty, or not a terminal (errno says why)
};

inline constexpr std::size_t no_length_limit = std::numeric_limits<std::size_t>::max();

// What a termination signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) does while a
// password is being read: the terminal gets its settings back and the line
// is ended (on the terminal while prompting, else on standard error), then
// `message` (static storage; may be nullptr) goes to standard error and the
// program exits at once with `status` (0: 128 + the signal number, as a
// shell reports it). Nothing else runs: the process's memory, holding at
// most part of a password, goes with it. (Flag-and-check would race: a
// signal arriving just before read(2) would leave the prompt blocked.)
struct OnInterrupt {
    const char* message = nullptr;
    int status = 0;
};

// Reads one line from fd into `line`, without its "\n" or "\r\n"; retries
// on EINTR.
ReadResult read_password_line(int fd, SecretString& line, std::size_t max_bytes = no_length_limit);

// Handles the termination signals as `on_interrupt` says while it lives;
// `tty` (or -1) is the terminal whose settings `saved` the handler puts
// back (prompt_password passes them; a read from standard input does not).
class InterruptExit {
public:
    explicit InterruptExit(const OnInterrupt& on_interrupt, int tty = -1,
                           const struct termios* saved = nullptr) noexcept;
    ~InterruptExit();
    InterruptExit(const InterruptExit&) = delete;
    InterruptExit& operator=(const InterruptExit&) = delete;

private:
    static constexpr std::size_t count = 4;
    struct sigaction old_[count];
};

// Asks for one line on the controlling terminal (/dev/tty) without echo.
// Echo goes off BEFORE the prompt is written (as getpass does): the switch
// (TCSAFLUSH) discards what was typed before it, so it must never discard
// an answer typed as soon as the prompt shows. The terminal's settings come
// back afterwards, and the line the answer ended is ended on the terminal.
ReadResult prompt_password(std::string_view prompt, SecretString& password,
                           const OnInterrupt& on_interrupt,
                           std::size_t max_bytes = no_length_limit);

}  // namespace mutual

#endif

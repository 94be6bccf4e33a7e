#include "tools/password_prompt.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <openssl/crypto.h>

namespace mutual {

namespace {

// The handler's state: plain data, set before the handler is installed.
int interrupted_tty = -1;
struct termios interrupted_tty_state;
const char* interrupt_message = nullptr;
std::size_t interrupt_message_length = 0;
int interrupt_status = 0;

constexpr int interrupt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// tcsetattr, write and _exit are async-signal-safe.
extern "C" void exit_on_interrupt(int signal_number) {
    const int line_end = interrupted_tty >= 0 ? interrupted_tty : STDERR_FILENO;
    if (interrupted_tty >= 0) ::tcsetattr(interrupted_tty, TCSAFLUSH, &interrupted_tty_state);
    (void)!::write(line_end, "\n", 1);
    if (interrupt_message != nullptr)
        (void)!::write(STDERR_FILENO, interrupt_message, interrupt_message_length);
    ::_exit(interrupt_status != 0 ? interrupt_status : 128 + signal_number);
}

}  // namespace

ReadResult read_password_line(int fd, SecretString& line, std::size_t max_bytes) {
    line.clear();
    line.reserve(std::min<std::size_t>(max_bytes, 1024) + 1);  // few copies of a secret
    bool overflow = false;
    bool got_any = false;
    char c = 0;
    ReadResult result = ReadResult::ok;
    for (;;) {
        const ssize_t n = ::read(fd, &c, 1);
        if (n < 0) {
            if (errno == EINTR) continue;
            result = ReadResult::failed;
            break;
        }
        if (n == 0) {
            if (!got_any) result = ReadResult::end_of_input;
            break;
        }
        got_any = true;
        if (c == '\n') break;
        if (line.size() >= max_bytes) {
            overflow = true;  // keep reading to the end of the line
            continue;
        }
        line.push_back(c);
    }
    const int saved_errno = errno;
    OPENSSL_cleanse(&c, sizeof c);
    errno = saved_errno;
    if (result != ReadResult::ok) return result;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return overflow ? ReadResult::too_long : ReadResult::ok;
}

InterruptExit::InterruptExit(const OnInterrupt& on_interrupt, int tty,
                             const struct termios* saved) noexcept {
    interrupt_message = on_interrupt.message;
    interrupt_message_length = on_interrupt.message ? std::strlen(on_interrupt.message) : 0;
    interrupt_status = on_interrupt.status;
    if (tty >= 0 && saved != nullptr) {
        interrupted_tty_state = *saved;
        interrupted_tty = tty;
    }
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = exit_on_interrupt;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < count; ++i) sigaction(interrupt_signals[i], &action, &old_[i]);
}

InterruptExit::~InterruptExit() {
    for (std::size_t i = 0; i < count; ++i) sigaction(interrupt_signals[i], &old_[i], nullptr);
    interrupted_tty = -1;
}

ReadResult prompt_password(std::string_view prompt, SecretString& password,
                           const OnInterrupt& on_interrupt, std::size_t max_bytes) {
    const int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0) return ReadResult::no_terminal;
    struct termios saved;
    if (::tcgetattr(tty, &saved) != 0) {  // never read a password with echo on
        const int saved_errno = errno;
        ::close(tty);
        errno = saved_errno;
        return ReadResult::no_terminal;
    }
    ReadResult result;
    int saved_errno;
    {
        InterruptExit on_signal(on_interrupt, tty, &saved);
        struct termios silent = saved;
        silent.c_lflag &= static_cast<tcflag_t>(~(ECHO | ECHOE | ECHOK | ECHONL));
        silent.c_lflag |= ICANON;
        ::tcsetattr(tty, TCSAFLUSH, &silent);
        (void)!::write(tty, prompt.data(), prompt.size());
        result = read_password_line(tty, password, max_bytes);
        saved_errno = errno;
        ::tcsetattr(tty, TCSAFLUSH, &saved);
    }
    (void)!::write(tty, "\n", 1);  // the Enter was not echoed
    ::close(tty);
    errno = saved_errno;
    return result;
}

}  // namespace mutual

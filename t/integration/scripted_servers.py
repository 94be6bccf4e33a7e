"""Small pieces the scripted servers of the client tests share: a listening
socket on 127.0.0.1 served by a thread (one thread per connection), and a
byte splice between two sockets (TCP pass-through, CONNECT tunnels)."""

import socket
import threading


class Listener:
    """Accepts on 127.0.0.1:<free port> and calls self.handle(conn) in a
    thread per connection; close() stops at once."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.1)  # so close() is noticed without a connection
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def handle(self, conn):
        raise NotImplementedError

    def close(self):
        self.closed = True
        self.listener.close()
        self.thread.join(5)

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn, self.connections),
                             daemon=True).start()

    def _handle(self, conn, number):
        try:
            self.handle(conn, number)
        finally:
            conn.close()


def read_head(rfile):
    """The request line and header fields up to the empty line, or None when
    the connection closes first."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = rfile.readline(65536)
        if not line:
            return None
        head += line
    return head


def splice(a, b, pending=b""):
    """Copies bytes both ways until either side closes; `pending` (already
    read from a) goes to b first."""
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    if pending:
        b.sendall(pending)
    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join(5)
    b.close()

"""Starts `gatehouse serve` and measures the time until /readyz answers 200, polling with
a plain socket so that no process start-up is counted. Prints "<pid> <milliseconds>" and
leaves the server running. Usage: start.py BINARY PORT WORKDIR LOGFILE (settings come
from the environment)."""

import socket
import subprocess
import sys
import time

binary, port, workdir, logfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    sys.exit(f"port {port} is already in use; stop whatever listens there or set PORT")
except OSError:
    pass
started = time.monotonic()
server = subprocess.Popen(
    [binary, "serve"],
    cwd=workdir,
    stdout=subprocess.DEVNULL,
    stderr=open(logfile, "w"),
    start_new_session=True,
)
while True:
    if server.poll() is not None:
        sys.exit(f"gatehouse exited with {server.returncode}; see {logfile}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
            if b" 200 " in conn.recv(64):
                break
    except OSError:
        time.sleep(0.0005)
print(server.pid, round((time.monotonic() - started) * 1000))

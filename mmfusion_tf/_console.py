"""Keeps TensorFlow's C++ start-up and log lines off the `mmfusion` command's console.

TensorFlow 2.21 writes them straight to file descriptor 2 through absl, before
and regardless of `TF_CPP_MIN_LOG_LEVEL` ("WARNING: All log messages before
absl::InitializeLog()...", `I0000 ... cudart_stub.cc`, `E0000 ... failed call
to cuInit`, the CPU-instructions notice). The command owns its process, so it
points descriptor 2 at a pipe and forwards every line except those; Python's
own messages, warnings and tracebacks pass unchanged. `mmfusion --tf-logs` or
`MMFUSION_TF_LOGS=1` keeps the lines.

Example:

>>> quiet = TensorFlowLogFilter().start()   # before TensorFlow is imported
>>> quiet.dropped                            # after some work: lines kept off the console
3
"""

import atexit
import os
import re
import sys
import threading

# glog/absl prefix: severity, MMDD, time, thread id, file:line]
_TF_LINE = re.compile(
    rb"^(?:[IWE]\d{4} [\d:.]+\s+\d+ [\w.\-/]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)"
)


def is_tensorflow_log_line(line):
    """Whether `line` (bytes) is one of TensorFlow's C++ log lines (fatal `F` lines never are)."""
    return bool(_TF_LINE.match(line))


class TensorFlowLogFilter:
    """Forwards descriptor `fd` (stderr) through a filter that drops TensorFlow's C++ log lines.

    Args:
        fd: int, the descriptor to filter (2).
    """

    def __init__(self, fd=2):
        self.fd = fd
        self.dropped = 0
        self._saved = None
        self._thread = None

    def start(self):
        if self._saved is not None:
            return self
        sys.stderr.flush()
        self._saved = os.dup(self.fd)
        read, write = os.pipe()
        os.dup2(write, self.fd)
        os.close(write)
        self._thread = threading.Thread(target=self._pump, args=(read,), name="mmfusion-stderr", daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        return self

    def _write(self, data):
        while data:
            data = data[os.write(self._saved, data):]

    def _pump(self, read):
        pending = b""
        while True:
            try:
                chunk = os.read(read, 65536)
            except OSError:
                break
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            kept = [line + b"\n" for line in lines if not is_tensorflow_log_line(line)]
            self.dropped += len(lines) - len(kept)
            if b"\r" in pending:  # a progress line redrawn in place: show it now
                kept.append(pending)
                pending = b""
            if kept:
                self._write(b"".join(kept))
        if pending and not is_tensorflow_log_line(pending):
            self._write(pending)
        os.close(read)

    def stop(self):
        """Restores the descriptor and forwards what is still in the pipe."""
        if self._saved is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, self.fd)  # closes the pipe's write end: the pump sees EOF
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():  # else a child process still holds the pipe: leave its way out open
            os.close(self._saved)
        self._saved = None

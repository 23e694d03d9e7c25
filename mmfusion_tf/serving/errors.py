"""One error type for the dev server and both clients, with TF Serving's codes.

The server raises `ServingError("NOT_FOUND", ...)`; the gRPC layer answers with that status code and
the REST layer with TF Serving's HTTP code for it (tensorflow_serving/model_servers/http_server.cc,
`ToHTTPStatusCode`). The clients raise the same type, so callers catch one thing.

Example:

>>> error = ServingError("NOT_FOUND", "Servable not found for request: Latest(demo)")
>>> error.http_status, str(error)
(404, 'NOT_FOUND: Servable not found for request: Latest(demo)')
"""

import re
import time

# TF Serving's mapping of canonical codes to HTTP codes (http_server.cc).
HTTP_STATUS = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501, "INTERNAL": 500,
    "UNAVAILABLE": 503, "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}
# HTTP -> code, for the REST client: 400 is ambiguous (three codes share it), INVALID_ARGUMENT is the usual one.
_CODE_FOR_HTTP = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
                  503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class ServingError(Exception):
    """A request failed with a TF Serving status.

    Args:
        code: str, canonical status name (`"NOT_FOUND"`, `"INVALID_ARGUMENT"`, ...).
        message: str, TF Serving's message for it.
        http_status: int or None, the HTTP code when the error came over REST (default: the code's mapping).
    """

    def __init__(self, code, message, http_status=None):
        if code not in HTTP_STATUS:
            raise ValueError(f"`code` must be a canonical status name. Received: code={code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = HTTP_STATUS[code] if http_status is None else http_status

    @classmethod
    def from_http(cls, http_status, message):
        return cls(_CODE_FOR_HTTP.get(http_status, "UNKNOWN"), message, http_status=http_status)


_EAGER_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\]\s*$")


def op_error_text(message):
    r"""The part of a TensorFlow op error a TF Serving client would see, whole.

    A signature called eagerly wraps the runtime's message in "Graph
    execution error:", "Detected at node ... defined at ...:" and a stack
    trace, and appends "[Op:__inference_...]". TF Serving's status carries
    the runtime's message itself: the assertion's whole text (which names
    the input and example) and the node line. That is what is kept.

    Example:

    >>> op_error_text("Graph execution error:\n\nDetected at node Assert defined at (most recent call last):\n"
    ...               "<stack traces unavailable>\nassertion failed: [Input `image` example 1: too big]\n"
    ...               "\t [[{{node Assert}}]] [Op:__inference_serve_12]")
    'assertion failed: [Input `image` example 1: too big]\n\t [[{{node Assert}}]]'
    """
    lines = message.split("\n")
    if lines and lines[0].strip() == "Graph execution error:":
        lines = lines[1:]
        while lines and (not lines[0].strip() or lines[0].startswith(("Detected at node", "<stack traces", "  "))):
            lines = lines[1:]
    return _EAGER_SUFFIX.sub("", "\n".join(lines)).strip("\n ") or message


def invalid_argument(message):
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message):
    return ServingError("NOT_FOUND", message)


def call_with_retries(call, retries, backoff):
    """`call()`, tried again after `backoff * 2**attempt` seconds while it fails with UNAVAILABLE."""
    for attempt in range(retries + 1):
        try:
            return call()
        except ServingError as error:
            if error.code != "UNAVAILABLE" or attempt == retries:
                raise
            time.sleep(backoff * 2 ** attempt)

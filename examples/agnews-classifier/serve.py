#!/usr/bin/env python3
"""AG_NEWS topic classifier served over the Amazon SageMaker inference contract.

Standard library only (Python 3.9+). SageMaker's bring-your-own-container
contract is small:

* ``GET /ping``         -> 200 once the container is ready to serve.
* ``POST /invocations`` -> run the model on the request body.
* listen on port 8080 (or ``SAGEMAKER_BIND_TO_PORT``); the model artifact
  (the unpacked ``model.tar.gz``) is mounted at ``/opt/ml/model``.
* the container is started with the argument ``serve``.

The model is a multinomial naive Bayes classifier produced by ``train.py``
(``vocab.json`` + ``weights.json``). See README.md for the environment
variables, including the ``MLM_EXAMPLE_*`` knobs used to simulate slow,
failing or crashing models in tests and demos.

Exit status: 0 after a graceful SIGTERM/SIGINT shutdown; 2 when the model or
the configuration is unusable (missing/malformed model files, bad env var,
cannot bind); 3 for the simulated start failure (``MLM_EXAMPLE_FAIL_START``);
1 for the simulated crash (``MLM_EXAMPLE_CRASH_AFTER``).
"""

import json
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PROG = "agnews-classifier"

MODEL_KIND = "multinomial_naive_bayes"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "weights.json"

# SageMaker real-time endpoints reject payloads above 6 MB anyway.
MAX_BODY_BYTES = 6 * 1024 * 1024
# How long a SIGTERM waits for in-flight requests before exiting regardless.
DRAIN_TIMEOUT_S = 10.0
# Socket timeout per connection, so a client that connects and never sends a
# complete request cannot pin a thread (or the shutdown drain) forever.
CONNECTION_TIMEOUT_S = 60.0

EXIT_CONFIG = 2
EXIT_FAIL_START = 3
EXIT_CRASH = 1

# --------------------------------------------------------------------------
# Tokenisation. train.py imports this function, so the model is always built
# with exactly the tokens the server will look up.
# --------------------------------------------------------------------------

# Runs of Unicode letters/digits ("\w" without the underscore).
_WORD_RE = re.compile(r"[^\W_]+")

# Function words carry no topic signal; dropping them keeps the tiny training
# corpus from learning accidental per-class frequencies of "the" or "of".
STOPWORDS = frozenset(
    """
    a about after against all also am an and any are as at be been before
    being between both but by can could did do does doing during each few for
    from further had has have having he her here hers him his how i if in
    into is it its itself just me more my no nor not now of off on once only
    or other our ours out over own said same says she should so some such
    than that the their theirs them then there these they this those through
    to too under until up very was we were what when where which while who
    whom why will with would you your
    """.split()
)


def tokenize(text):
    """Lowercase ``text`` and return its content words, in order.

    Single characters (the "s" of "Saturn's", stray digits) are dropped too.
    """
    return [
        tok
        for tok in _WORD_RE.findall(text.lower())
        if len(tok) > 1 and tok not in STOPWORDS
    ]


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


class ModelError(Exception):
    """The model files are missing or malformed."""


def _is_number(value):
    # bool is a subclass of int; true/false in a weights file is a bug.
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _number_list(value, length, what):
    if not isinstance(value, list) or len(value) != length:
        raise ModelError(f"{what} must be a list of {length} numbers")
    if not all(_is_number(v) for v in value):
        raise ModelError(f"{what} must contain only finite numbers")
    return tuple(float(v) for v in value)


class NaiveBayesModel:
    """Multinomial naive Bayes: log P(c) + sum over known tokens of log P(t|c).

    Tokens that are not in the vocabulary are ignored (standard practice: they
    carry no evidence either way).
    """

    def __init__(self, classes, log_priors, token_log_likelihoods):
        self.classes = classes  # tuple of (label, name)
        self.log_priors = log_priors  # tuple of floats, one per class
        self.token_log_likelihoods = token_log_likelihoods  # token -> tuple

    @classmethod
    def from_json(cls, vocab, weights):
        """Build and validate a model from parsed vocab.json / weights.json."""
        if not isinstance(vocab, dict) or not isinstance(vocab.get("tokens"), list):
            raise ModelError(f'{VOCAB_FILE}: expected an object with a "tokens" list')
        tokens = vocab["tokens"]
        if not all(isinstance(t, str) and t for t in tokens):
            raise ModelError(f"{VOCAB_FILE}: every token must be a non-empty string")
        if len(set(tokens)) != len(tokens):
            raise ModelError(f"{VOCAB_FILE}: tokens must be unique")

        if not isinstance(weights, dict):
            raise ModelError(f"{WEIGHTS_FILE}: expected a JSON object")
        if weights.get("model") != MODEL_KIND:
            raise ModelError(
                f'{WEIGHTS_FILE}: "model" must be "{MODEL_KIND}", '
                f"got {weights.get('model')!r}"
            )

        raw_classes = weights.get("classes")
        if not isinstance(raw_classes, list) or len(raw_classes) < 2:
            raise ModelError(f'{WEIGHTS_FILE}: "classes" must list at least 2 classes')
        classes = []
        for i, c in enumerate(raw_classes):
            if (
                not isinstance(c, dict)
                or not isinstance(c.get("label"), int)
                or isinstance(c.get("label"), bool)
                or not isinstance(c.get("name"), str)
            ):
                raise ModelError(
                    f'{WEIGHTS_FILE}: classes[{i}] must be {{"label": <int>, "name": <string>}}'
                )
            classes.append((c["label"], c["name"]))
        if len({label for label, _ in classes}) != len(classes):
            raise ModelError(f"{WEIGHTS_FILE}: class labels must be unique")
        n = len(classes)

        log_priors = _number_list(
            weights.get("log_priors"), n, f'{WEIGHTS_FILE}: "log_priors"'
        )

        rows = weights.get("log_likelihoods")
        if not isinstance(rows, list) or len(rows) != len(tokens):
            raise ModelError(
                f'{WEIGHTS_FILE}: "log_likelihoods" must have one row per {VOCAB_FILE} '
                f"token ({len(tokens)} rows expected, got "
                f"{len(rows) if isinstance(rows, list) else type(rows).__name__})"
            )
        table = {}
        for i, (token, row) in enumerate(zip(tokens, rows)):
            table[token] = _number_list(
                row, n, f'{WEIGHTS_FILE}: "log_likelihoods"[{i}] (token {token!r})'
            )
        return cls(tuple(classes), log_priors, table)

    @classmethod
    def load(cls, model_dir):
        """Load ``vocab.json`` and ``weights.json`` from ``model_dir``."""
        if not os.path.isdir(model_dir):
            raise ModelError(f"model directory {model_dir!r} does not exist or is not a directory")
        parsed = []
        for name in (VOCAB_FILE, WEIGHTS_FILE):
            path = os.path.join(model_dir, name)
            try:
                with open(path, "r", encoding="utf-8") as f:
                    parsed.append(json.load(f))
            except FileNotFoundError:
                raise ModelError(f"model file {path!r} not found") from None
            except (OSError, UnicodeDecodeError) as e:
                raise ModelError(f"cannot read model file {path!r}: {e}") from None
            except ValueError as e:  # json.JSONDecodeError
                raise ModelError(f"model file {path!r} is not valid JSON: {e}") from None
        return cls.from_json(*parsed)

    def predict(self, text):
        """Classify one text: {"label", "category", "scores": {name: probability}}."""
        scores = list(self.log_priors)
        for token in tokenize(text):
            row = self.token_log_likelihoods.get(token)
            if row is not None:
                for i, value in enumerate(row):
                    scores[i] += value
        # Ties (e.g. no known token and equal priors) go to the first class.
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        # Softmax of the joint log probabilities = posterior probabilities.
        top = scores[best]
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        label, name = self.classes[best]
        return {
            "label": label,
            "category": name,
            "scores": {
                cname: round(e / total, 6) for (_, cname), e in zip(self.classes, exps)
            },
        }


# --------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------


class RequestError(Exception):
    """A client error, answered with ``{"error": message}``."""

    def __init__(self, message, status=HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.message = message
        self.status = status


def _parse_content_type(header):
    """Return (media type, charset) from a Content-Type header value."""
    media, _, params = header.partition(";")
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    return media.strip().lower(), charset


def _decode(body, charset):
    try:
        return body.decode(charset)
    except LookupError:
        raise RequestError(f"unknown charset {charset!r} in Content-Type") from None
    except UnicodeDecodeError as e:
        raise RequestError(f"request body is not valid {charset}: {e}") from None


def _check_text(value, where):
    if not isinstance(value, str):
        raise RequestError(f"{where} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RequestError(f"{where} must not be empty")
    return value


def parse_invocation(content_type, body):
    """Turn an /invocations request into (texts, is_batch).

    Accepted bodies:
      application/json  {"sentence": "..."}  or  {"instances": ["...", ...]}
      text/plain        the whole body is one sentence
    """
    if not content_type:
        raise RequestError("missing Content-Type header: use application/json or text/plain")
    media, charset = _parse_content_type(content_type)

    if media == "text/plain":
        return [_check_text(_decode(body, charset), "text/plain body")], False

    if media != "application/json":
        raise RequestError(
            f"unsupported Content-Type {content_type!r}: use application/json or text/plain"
        )
    text = _decode(body, charset)
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise RequestError(f"invalid JSON body: {e}") from None
    if not isinstance(obj, dict):
        raise RequestError(
            'JSON body must be an object: {"sentence": "..."} or {"instances": ["...", ...]}'
        )
    has_sentence, has_instances = "sentence" in obj, "instances" in obj
    if has_sentence and has_instances:
        raise RequestError('JSON body must contain only one of "sentence" or "instances"')
    if has_sentence:
        return [_check_text(obj["sentence"], '"sentence"')], False
    if has_instances:
        instances = obj["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError('"instances" must be a non-empty list of strings')
        return [_check_text(s, f'"instances"[{i}]') for i, s in enumerate(instances)], True
    raise RequestError(
        'JSON body must contain "sentence" (a string) or "instances" (a list of strings)'
    )


# --------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server_version = "agnews-classifier/1"
    # One request per connection. That keeps the SIGTERM drain exact: an open
    # connection is always a request being received or answered, never an
    # idle keep-alive socket that would hold the drain for its full timeout.
    protocol_version = "HTTP/1.0"
    timeout = CONNECTION_TIMEOUT_S

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/ping":
            # The model is loaded before the socket is opened, so anyone who
            # can connect is talking to a ready server.
            self._send_json(HTTPStatus.OK, {"status": "ok"})
        elif path == "/invocations":
            self._method_not_allowed("POST")
        else:
            self._not_found(path)

    def do_POST(self):
        path = urlsplit(self.path).path
        if path == "/invocations":
            self._invocations()
        elif path == "/ping":
            self._method_not_allowed("GET")
        else:
            self._not_found(path)

    def _invocations(self):
        server = self.server
        try:
            body = self._read_body()
        except RequestError as e:
            status, payload = e.status, {"error": e.message}
        except OSError:
            # Client went away or stalled past the socket timeout; nobody to answer.
            self.close_connection = True
            return
        else:
            status, payload = self._predict(body)
            if server.error_rate and random.random() < server.error_rate:
                # A simulated model failure (MLM_EXAMPLE_ERROR_RATE), after the real work.
                status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {
                    "error": f"simulated failure (MLM_EXAMPLE_ERROR_RATE={server.error_rate})"
                }

        if server.delay_s:
            time.sleep(server.delay_s)  # simulated slow model (MLM_EXAMPLE_DELAY_MS)
        server.grow_once()  # simulated memory growth (MLM_EXAMPLE_ALLOCATE_MB)
        self._send_json(status, payload)
        server.invocation_answered()

    def _predict(self, body):
        """Return (status, payload) for a received /invocations body."""
        try:
            texts, batch = parse_invocation(self.headers.get("Content-Type"), body)
        except RequestError as e:
            return e.status, {"error": e.message}
        try:
            predictions = [self.server.model.predict(t) for t in texts]
        except Exception as e:  # a bug, not a client error; keep serving
            self.log_error("prediction failed: %r", e)
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"prediction failed: {e}"}
        return HTTPStatus.OK, ({"predictions": predictions} if batch else predictions[0])

    def _read_body(self):
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(
                "chunked request bodies are not supported: send a Content-Length",
                HTTPStatus.LENGTH_REQUIRED,
            )
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise RequestError("missing Content-Length header", HTTPStatus.LENGTH_REQUIRED)
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            raise RequestError(f"invalid Content-Length {raw!r}") from None
        if length > MAX_BODY_BYTES:
            raise RequestError(
                f"request body of {length} bytes exceeds the {MAX_BODY_BYTES} byte limit",
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        body = self.rfile.read(length)
        if len(body) != length:
            raise RequestError(
                f"request body truncated: got {len(body)} of {length} bytes"
            )
        return body

    def _not_found(self, path):
        self._send_json(
            HTTPStatus.NOT_FOUND,
            {"error": f"no such path {path!r}: use GET /ping or POST /invocations"},
        )

    def _method_not_allowed(self, allowed):
        self._send_json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": f"method {self.command} not allowed on this path: use {allowed}"},
            extra_headers={"Allow": allowed},
        )

    def send_error(self, code, message=None, explain=None):
        # Errors raised by BaseHTTPRequestHandler itself (malformed request
        # line, unsupported method, ...) are JSON too instead of HTML.
        self.close_connection = True
        if message is None:
            message = self.responses.get(code, ("error",))[0]
        self._send_json(code, {"error": message})

    def _send_json(self, status, payload, extra_headers=None):
        body = json.dumps(payload).encode("utf-8") + b"\n"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            # The client disconnected (e.g. gave up waiting); nothing to do.
            self.close_connection = True

    def log_message(self, format, *args):
        # One short line per request on stderr (the default adds a timestamp
        # the process supervisor already records).
        sys.stderr.write(f"{PROG}: {self.address_string()} {format % args}\n")


class ModelServer(ThreadingHTTPServer):
    """Thread-per-connection server that can drain in-flight requests."""

    daemon_threads = True  # never let a stuck handler block interpreter exit
    # socketserver's default listen backlog is 5: a burst of 20-40 concurrent requests then
    # loses SYNs and waits out a 1 s retransmit. The kernel caps this at somaxconn anyway.
    request_queue_size = 1024

    def __init__(
        self, address, model, delay_s=0.0, crash_after=None, error_rate=0.0, allocate_mb=0
    ):
        # TCPServer reads address_family when it creates the socket.
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.model = model
        self.delay_s = delay_s
        self.error_rate = error_rate
        self.crash_after = crash_after
        self.allocate_mb = allocate_mb
        self._ballast = None  # the memory MLM_EXAMPLE_ALLOCATE_MB holds, once allocated
        self._active = 0
        self._active_cv = threading.Condition()
        self._answered = 0
        self._answered_lock = threading.Lock()
        super().__init__(address, Handler)

    # Connections are counted in process_request, which runs synchronously in
    # the serve_forever loop: once shutdown() has returned, every accepted
    # connection is already counted, so wait_idle() cannot miss one.
    def process_request(self, request, client_address):
        with self._active_cv:
            self._active += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connection_done()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_done()

    def _connection_done(self):
        with self._active_cv:
            self._active -= 1
            self._active_cv.notify_all()

    def wait_idle(self, timeout):
        """Wait until no connection is open; return False on timeout."""
        with self._active_cv:
            return self._active_cv.wait_for(lambda: self._active == 0, timeout)

    def active_connections(self):
        with self._active_cv:
            return self._active

    def grow_once(self):
        """Allocate MLM_EXAMPLE_ALLOCATE_MB the first time an /invocations is answered."""
        with self._answered_lock:
            if not self.allocate_mb or self._ballast is not None:
                return
            # Non-zero bytes, so every page is written and counts in the resident set.
            self._ballast = b"\x01" * (self.allocate_mb * 1024 * 1024)
        sys.stderr.write(f"{PROG}: holding {self.allocate_mb} MiB (MLM_EXAMPLE_ALLOCATE_MB)\n")
        sys.stderr.flush()

    def invocation_answered(self):
        """Count an answered /invocations; die if MLM_EXAMPLE_CRASH_AFTER says so."""
        if self.crash_after is None:
            return
        with self._answered_lock:
            self._answered += 1
            if self._answered >= self.crash_after:
                sys.stderr.write(
                    f"{PROG}: MLM_EXAMPLE_CRASH_AFTER={self.crash_after} reached "
                    "after answering; crashing (exit 1)\n"
                )
                sys.stderr.flush()
                # os._exit skips cleanup on purpose: it simulates a hard crash.
                # The response has already been written (wfile is unbuffered).
                os._exit(EXIT_CRASH)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


class ConfigError(Exception):
    pass


def _int_env(name, default, minimum, maximum=None):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value


def _rate_env(name):
    """A fraction 0..1 from the environment (unset or empty: 0)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be between 0 and 1, got {raw}")
    return value


def _fail(message, status):
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()
    return status


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    # The listening address is an argument, never an environment variable: the environment
    # may come from a model version (API input), the command line only from the operator.
    host = "127.0.0.1"
    if len(args) >= 2 and args[0] == "--host":
        host, args = args[1], args[2:]
    # SageMaker starts bring-your-own containers as `<entrypoint> serve`.
    if args and args[0] == "serve":
        args = args[1:]
    if args:
        return _fail(
            f"unexpected arguments {args!r} (usage: serve.py [--host ADDRESS] [serve])",
            EXIT_CONFIG,
        )

    fail_start = os.environ.get("MLM_EXAMPLE_FAIL_START")
    if fail_start is not None:
        return _fail(
            f"simulated start failure (MLM_EXAMPLE_FAIL_START): {fail_start}", EXIT_FAIL_START
        )

    model_dir = os.environ.get("SM_MODEL_DIR", "").strip() or "/opt/ml/model"
    try:
        port = _int_env("SAGEMAKER_BIND_TO_PORT", 8080, 0, 65535)
        delay_ms = _int_env("MLM_EXAMPLE_DELAY_MS", 0, 0)
        crash_after = _int_env("MLM_EXAMPLE_CRASH_AFTER", None, 1)
        error_rate = _rate_env("MLM_EXAMPLE_ERROR_RATE")
        allocate_mb = _int_env("MLM_EXAMPLE_ALLOCATE_MB", 0, 0, 65536)
    except ConfigError as e:
        return _fail(str(e), EXIT_CONFIG)

    try:
        model = NaiveBayesModel.load(model_dir)
    except ModelError as e:
        return _fail(f"cannot load model from SM_MODEL_DIR={model_dir!r}: {e}", EXIT_CONFIG)

    try:
        server = ModelServer(
            (host, port), model, delay_ms / 1000.0, crash_after, error_rate, allocate_mb
        )
    except OSError as e:
        return _fail(f"cannot listen on {host}:{port}: {e}", EXIT_CONFIG)

    stopping = threading.Event()

    def on_signal(signum, _frame):
        if stopping.is_set():
            return
        stopping.set()
        # shutdown() blocks until serve_forever() returns, and serve_forever()
        # runs in this (main) thread, so it must be called from another one.
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    bound_host, bound_port = server.server_address[:2]
    sys.stderr.write(
        f"{PROG}: loaded model from {model_dir} ({len(model.token_log_likelihoods)} tokens, "
        f"{len(model.classes)} classes); listening on {bound_host}:{bound_port}\n"
    )
    sys.stderr.flush()

    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        # Stop accepting: close the listening socket so new connections are
        # refused, then let the requests already accepted finish.
        server.server_close()
    pending = server.active_connections()
    if pending:
        sys.stderr.write(f"{PROG}: shutting down, waiting for {pending} in-flight request(s)\n")
    if not server.wait_idle(DRAIN_TIMEOUT_S):
        sys.stderr.write(
            f"{PROG}: {server.active_connections()} request(s) still running after "
            f"{DRAIN_TIMEOUT_S:.0f}s; exiting anyway\n"
        )
    sys.stderr.write(f"{PROG}: stopped\n")
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

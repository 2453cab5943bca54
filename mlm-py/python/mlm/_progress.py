"""Progress of waits: status transitions, instance counts and elapsed time.

In a notebook (an IPython kernel) the display is one output that updates in place; on a
terminal it is one stderr line rewritten in place; elsewhere (logs, CI, captured output) a
line is printed whenever the status or the instance counts change. No dependency: IPython is
used only when it is already loaded.
"""

from __future__ import annotations

import asyncio
import html
import sys
import time
from typing import Any, Callable, List, Optional, TextIO, Tuple, Union

from .types import Endpoint

#: What ``progress=`` accepts: ``True`` (the default display), ``False`` (silence), or a
#: callable receiving every :class:`~mlm.Endpoint` description read while waiting.
ProgressArg = Union[bool, Callable[[Endpoint], Any]]


def _notebook_display() -> Optional[Any]:
    """IPython's ``display`` when running in an IPython kernel, else ``None``."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
    except Exception:  # pragma: no cover - defensive
        return None
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    from IPython.display import display  # type: ignore[import-not-found]

    return display


def _bundle(line: str) -> Any:
    """One progress line as a MIME bundle: HTML for notebooks, the same words as plain text
    for every frontend that shows no HTML (consoles, nbconvert to text)."""
    return {"text/plain": line, "text/html": f"<code>{html.escape(line)}</code>"}


class ProgressDisplay:
    """Shows the progress of one wait. Call it with every description; then ``done()`` or
    ``failed()``."""

    def __init__(self, endpoint: str, action: str, stream: Optional[TextIO] = None) -> None:
        self._endpoint = endpoint
        self._action = action
        self._stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._statuses: List[str] = []
        self._counts = ""
        self._last_key: Optional[Tuple[str, ...]] = None
        notebook = _notebook_display() if stream is None else None
        self._handle: Any = None
        if notebook is not None:
            self._handle = notebook(_bundle(self._line()), raw=True, display_id=True)
        isatty = getattr(self._stream, "isatty", None)
        self._tty = self._handle is None and bool(isatty and isatty())

    @property
    def statuses(self) -> List[str]:
        """The statuses seen so far, in order, without repeats."""
        return list(self._statuses)

    def _line(self, suffix: str = "") -> str:
        elapsed = time.monotonic() - self._start
        statuses = " -> ".join(self._statuses) or "..."
        counts = f", {self._counts} instances" if self._counts else ""
        return (
            f"{self._action} endpoint '{self._endpoint}': {statuses}{counts} "
            f"[{elapsed:.1f}s]{suffix}"
        )

    def __call__(self, endpoint: Endpoint) -> None:
        status = endpoint.status.value
        if not self._statuses or self._statuses[-1] != status:
            self._statuses.append(status)
        self._counts = f"{endpoint.current_instance_count}/{endpoint.desired_instance_count}"
        self._show(final=False)

    def done(self, endpoint: Optional[Endpoint] = None) -> None:
        """The wait ended well."""
        if endpoint is not None:
            self(endpoint)
        self._show(final=True, suffix=" done")

    def failed(self, error: BaseException) -> None:
        """The wait ended with ``error``."""
        if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)):
            what = "interrupted" if isinstance(error, KeyboardInterrupt) else "cancelled"
            suffix = f" {what} (the endpoint keeps changing in the background)"
        else:
            suffix = f" failed: {error}"
        self._show(final=True, suffix=suffix)

    def _show(self, final: bool, suffix: str = "") -> None:
        line = self._line(suffix)
        if self._handle is not None:
            self._handle.update(_bundle(line), raw=True)
            return
        if self._tty:
            self._stream.write("\r\x1b[K" + line + ("\n" if final else ""))
            self._stream.flush()
            return
        key = (*self._statuses, self._counts)
        if final or key != self._last_key:
            self._last_key = key
            self._stream.write(line + "\n")
            self._stream.flush()


def make_progress(
    progress: ProgressArg, endpoint: str, action: str
) -> Tuple[Optional[Callable[[Endpoint], Any]], Optional[ProgressDisplay]]:
    """The per-poll callback for ``progress=``, and the display to finish (if it is ours)."""
    if progress is True:
        display = ProgressDisplay(endpoint, action)
        return display, display
    if progress is False or progress is None:
        return None, None
    if callable(progress):
        return progress, None
    raise TypeError("progress must be True, False or a callable taking an Endpoint")


#: What ``progress=`` of :meth:`mlm.Client.push_version` accepts: ``True`` (a line on stderr),
#: ``False`` (silence), or a callable receiving ``(sent, total)`` bytes.
UploadProgressArg = Union[bool, Callable[[int, int], Any]]


class UploadDisplay:
    """Shows an upload: one stderr line rewritten in place on a terminal, else a line per
    tenth uploaded."""

    def __init__(self, what: str, stream: Optional[TextIO] = None) -> None:
        self._what = what
        self._stream = stream if stream is not None else sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self._tty = bool(isatty and isatty())
        self._tenths = -1

    def __call__(self, event: Any) -> None:
        sent, total = int(event["sent"]), int(event["total"])
        line = f"uploading {self._what}: {_mib(sent)} of {_mib(total)}"
        if self._tty:
            self._stream.write("\r\x1b[K" + line + ("\n" if sent >= total else ""))
        else:
            tenth = sent * 10 // max(total, 1)
            if tenth <= self._tenths:
                return
            self._tenths = tenth
            self._stream.write(f"{line} ({tenth * 10}%)\n")
        self._stream.flush()


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def make_upload_progress(progress: UploadProgressArg, what: str) -> Optional[Callable[[Any], Any]]:
    """The per-event callback for ``progress=`` of an upload."""
    if progress is True:
        return UploadDisplay(what)
    if progress is False or progress is None:
        return None
    if callable(progress):
        user = progress
        return lambda event: user(int(event["sent"]), int(event["total"]))
    raise TypeError("progress must be True, False or a callable taking (sent, total)")

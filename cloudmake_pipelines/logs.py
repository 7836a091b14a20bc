"""Structured logs as JSON lines in Pino's shape, with redaction of secrets.

A line looks like ``{"level":30,"time":1732851234567,"pid":42,"hostname":"h","msg":"...","task":"..."}``.
The same :class:`PinoFormatter` formats CLI logs and Dagster runs' logs (the code location's ``console``
logger, :func:`cloudmake_pipelines.assets.pino_console`). The :data:`redactor` masks every registered
secret value and token-shaped string in the whole line, whatever field it landed in.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
import traceback
from typing import Any

PINO_LEVELS = {"trace": 10, "debug": 20, "info": 30, "warn": 40, "error": 50, "fatal": 60}
_PY_TO_PINO = {logging.DEBUG: 20, logging.INFO: 30, logging.WARNING: 40, logging.ERROR: 50, logging.CRITICAL: 60}
REDACTED = "[REDACTED]"

# Token shapes that must never be printed, even when nobody registered the value.
TOKEN_PATTERNS = [
    r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}",
    r"\bgithub_pat_[A-Za-z0-9_]{40,}",
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    r"(?<=[Bb]earer )[A-Za-z0-9._~+/-]{8,}=*",
    # user:password@ in URLs, but not the spelling that documents the format (`postgresql://user:pass@host/db`
    # in an error message is help, not a credential).
    r"(?<=://)(?!(?:user|username):(?:pass|password)@)[^/\s:@\"']+:[^/\s@\"']+(?=@)",
]


class Redactor:
    """Replaces known secret values and token-shaped strings with ``[REDACTED]``. Thread-safe."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern = re.compile("|".join(f"(?:{p})" for p in TOKEN_PATTERNS))
        self._values_pattern: re.Pattern[str] | None = None
        self._dirty = False

    def add(self, *values: str | None) -> None:
        """Register secret values (short values under 6 characters are ignored: they would mask noise).

        Cheap: the combined pattern is rebuilt once, on the next redaction, however many values arrive.
        """
        new = {v for v in values if v and len(v) >= 6} - self._values
        if new:
            with self._lock:
                self._values |= new
                self._values_pattern = None
                self._dirty = True

    def clear(self) -> None:
        """Forget every registered value (test isolation; a long-lived process never needs it)."""
        with self._lock:
            self._values = set()
            self._values_pattern = None
            self._dirty = False

    def _known_values(self) -> re.Pattern[str] | None:
        if self._dirty:
            with self._lock:
                ordered = sorted(self._values, key=len, reverse=True)
                escaped = [re.escape(v) for v in ordered]
                # A value may also reach a log JSON-escaped; match that spelling too.
                escaped += [re.escape(json.dumps(v)[1:-1]) for v in ordered if json.dumps(v)[1:-1] != v]
                self._values_pattern = re.compile("|".join(escaped)) if escaped else None
                self._dirty = False
        return self._values_pattern

    def __call__(self, text: str) -> str:
        pattern = self._known_values()
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return self._pattern.sub(REDACTED, text)


redactor = Redactor()
_HOSTNAME = os.uname().nodename  # socket.gethostname()'s value, without importing socket (CLI start-up)
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "pino_level", "dagster_meta", "dagster_event", "dagster_event_batch_metadata"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


class PinoFormatter(logging.Formatter):
    """Formats any ``logging`` record as one Pino JSON line, redacted.

    Extra fields passed with ``extra={...}`` become top-level keys. Dagster's records carry a
    ``dagster_meta`` dict; its run id, job, step and event type are lifted into ``run_id``, ``job``,
    ``step_key`` and ``event``.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": getattr(record, "pino_level", None) or _PY_TO_PINO.get(record.levelno, 30),
            "time": int(record.created * 1000),
            "pid": record.process or os.getpid(),
            "hostname": _HOSTNAME,
        }
        meta = getattr(record, "dagster_meta", None)
        if isinstance(meta, dict):
            line["msg"] = str(meta.get("orig_message") or record.getMessage())
            for src, dst in (("run_id", "run_id"), ("job_name", "job"), ("step_key", "step_key")):
                if meta.get(src):
                    line[dst] = meta[src]
            event = meta.get("dagster_event")
            if event is not None and getattr(event, "event_type_value", None):
                line["event"] = event.event_type_value
        else:
            line["msg"] = record.getMessage()
        line["logger"] = record.name
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in line:
                line[key] = _jsonable(value)
        if record.exc_info:
            exc = record.exc_info[1]
            line["err"] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "stack": "".join(traceback.format_exception(*record.exc_info)),
            }
        return redactor(json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":")))


_LEVEL_NAMES = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}
_PRETTY_SKIP = {"level", "time", "pid", "hostname", "msg", "logger", "task", "err"}


class PrettyFormatter(PinoFormatter):
    """The same line for a person at a terminal, as pino-pretty shows it:
    ``[06:20:01.123] INFO (migrations): applied migration file=0001.py duration_ms=3``.

    It renders the redacted Pino line, so it carries exactly the same fields and never more.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = json.loads(super().format(record))
        clock = time.strftime("%H:%M:%S", time.localtime(line["time"] / 1000)) + f".{line['time'] % 1000:03d}"
        context = " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                           for k, v in line.items() if k not in _PRETTY_SKIP)
        text = (f"[{clock}] {_LEVEL_NAMES.get(line['level'], line['level'])} ({line.get('task') or line['logger']}): "
                f"{line['msg']}" + (f"  {context}" if context else ""))
        if "err" in line:
            text += "\n" + line["err"]["stack"].rstrip()
        return text


_configured: tuple[Any, type] | None = None


def configure(stream: Any = None, level: int = logging.INFO, formatter: logging.Formatter | None = None) -> None:
    """Send ``cloudmake`` loggers to ``stream`` (default stderr: stdout is for results) as Pino lines, or in
    ``formatter``'s form (:class:`PrettyFormatter` for a terminal). Idempotent."""
    global _configured
    stream = stream or sys.stderr
    formatter = formatter or PinoFormatter()
    root = logging.getLogger("cloudmake")
    if _configured == (stream, type(formatter)) and root.handlers:
        return
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    _configured = (stream, type(formatter))


def get_logger(task: str) -> logging.LoggerAdapter:
    """A logger whose lines carry ``task``. Use ``log.info("msg", extra={"count": 3})`` for context."""
    return _TaskAdapter(logging.getLogger(f"cloudmake.{task}"), {"task": task})


class _TaskAdapter(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**self.extra, **(kwargs.get("extra") or {})}
        return msg, kwargs


def now_ms() -> int:
    return int(time.time() * 1000)

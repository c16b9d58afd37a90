"""structlog configuration — the one place in pcptrio that configures logging.

As in structlog's own advice for libraries, pcptrio code only *gets* loggers; the application
decides where they go.  The ``pcptrio`` command is such an application and calls
:func:`configure_logging` once, from its ``--log-format`` / ``--log-level`` options; a user
importing pcptrio keeps whatever configuration they had (``tests/test_report.py`` checks that
nothing else in the package calls ``structlog.configure``).

Two renderers:

* ``json``: one JSON object per line with sorted keys and no timestamp — the canonical form,
  byte-identical across machines for the same run, like the trace JSONL it mirrors;
* ``console``: structlog's key=value console renderer without colours (logs are pasted into
  bug reports and mailing-list threads).

Logs go to stderr, so stdout stays free for tables and ``--json`` output.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

from .._core import BadInput

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "configure_logging", "trace_logger"]

LOG_FORMATS = ("console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_NUMBERS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

#: The name of the logger that receives one event per trace record.
TRACE_LOGGER = "pcptrio.trace"


def configure_logging(fmt: Literal["console", "json"] | str, level: str) -> None:
    """Configure structlog for the ``pcptrio`` command: ``fmt`` is ``console`` or ``json``,
    ``level`` one of :data:`LOG_LEVELS` (the trace logger logs at ``debug``).

    Example::

        configure_logging("json", "debug")
        result = run_spec(spec, RandomScheduler(0), logger=trace_logger())
    """
    if fmt not in LOG_FORMATS:
        raise BadInput(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    lvl = level.lower()
    if lvl not in LOG_LEVELS:
        raise BadInput(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVEL_NUMBERS[lvl]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def trace_logger() -> Any:
    """The ``pcptrio.trace`` logger, bound once: pass it as ``logger=`` to a run and every
    trace record is also logged (at ``debug``).  Binding resolves structlog's configuration
    now, so call :func:`configure_logging` first; the engine then logs through the bound
    logger without a lazy-proxy lookup per step."""
    return structlog.get_logger(TRACE_LOGGER).bind(logger=TRACE_LOGGER)

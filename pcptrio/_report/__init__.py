"""L4 — what users see: failure reports, text tables, Perfetto export, logging setup.

Re-exports only.  ``_failure`` writes the report of a run, ``_rows`` samples per-CPU state on
each step of a replay (for the report's table and Perfetto's counters), ``_perfetto`` exports
Chrome Trace Event JSON, ``_tables`` renders plain-text tables, ``_logging`` is the only place
that configures structlog (the CLI calls it; the library never does).
"""

from ._campaign import campaign_report as campaign_report
from ._campaign import pytest_snippet as pytest_snippet
from ._describe import check_matrix_json as check_matrix_json
from ._describe import describe_design as describe_design
from ._describe import describe_hazard as describe_hazard
from ._failure import KEEP_ROWS as KEEP_ROWS
from ._failure import TableView as TableView
from ._failure import failure_report as failure_report
from ._failure import format_fields as format_fields
from ._failure import interleaving_table as interleaving_table
from ._failure import render_wait_graph as render_wait_graph
from ._ftrace import FTRACE_HEADER as FTRACE_HEADER
from ._ftrace import ftrace_text as ftrace_text
from ._html import html_report as html_report
from ._html import timeline_svg as timeline_svg
from ._logging import LOG_FORMATS as LOG_FORMATS
from ._logging import LOG_LEVELS as LOG_LEVELS
from ._logging import configure_logging as configure_logging
from ._logging import trace_logger as trace_logger
from ._perfetto import perfetto_trace as perfetto_trace
from ._perfetto import write_perfetto as write_perfetto
from ._plot import latency_plot_png as latency_plot_png
from ._plot import require_pyplot as require_pyplot
from ._rows import CpuCell as CpuCell
from ._rows import RowCollector as RowCollector
from ._rows import StepRow as StepRow
from ._rows import collect_rows as collect_rows
from ._rows import replay_with_rows as replay_with_rows
from ._tables import render_table as render_table

"""The training monitor: the layer-wise conditioning analysis inside a user's own loop, kept
as a history, with the paper's diagnoses.

- :class:`Monitor` (also ``lcsuite.Monitor``): ``with monitor.record(step, ...)`` around the
  forward and backward pass of recorded steps; :meth:`Monitor.diagnose`, ``table``,
  ``to_dataframe``, ``save`` (HDF5), ``plot`` (PNG).
- :class:`History` / :class:`Checkpoint`: the recorded statistics (one
  :class:`~lcsuite.conditioning.Analysis` per checkpoint).
- :func:`diagnose`, :class:`Finding`, :class:`Thresholds`: the rules, what they report, and
  their documented bars.
"""

from lcsuite.monitor.history import Checkpoint, History
from lcsuite.monitor.monitor import Monitor
from lcsuite.monitor.rules import Finding, diagnose, format_findings
from lcsuite.monitor.save import read_history
from lcsuite.monitor.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = [
    "Monitor",
    "History",
    "Checkpoint",
    "Finding",
    "Thresholds",
    "DEFAULT_THRESHOLDS",
    "diagnose",
    "format_findings",
    "read_history",
]

"""Which CloudWatch log group each function writes to, followed from the change feed.

On Lambda a function's group is ``/aws/lambda/<name>`` unless its LoggingConfig names
another, and the console shows the group as soon as the function exists. ``LogGroups``
keeps the name of every function's group (from its ``$LATEST`` snapshot), so CloudWatch
Logs (``services/logs/``) lists a new function's group before its first invocation and
finds a custom group's function. It reads nothing on the Logs request path but a dict.
"""

from __future__ import annotations

from lambox.logs import LogSink
from lambox.model import LATEST, FunctionVersion
from lambox.watch import Change, Removed


class LogGroups:
    """Feed subscriber: function name -> the log group it writes to. A function seen for
    the first time gets its (empty) log file, which is what makes its group exist."""

    def __init__(self, sink: LogSink) -> None:
        self._sink = sink
        self._groups: dict[str, str] = {}

    def on_change(self, change: Change) -> None:
        if isinstance(change, Removed):
            if change.qualifier is None:
                self._groups.pop(change.name, None)
        elif isinstance(change, FunctionVersion) and change.config.version == LATEST:
            if change.name not in self._groups:
                self._sink.touch(change.name)
            self._groups[change.name] = change.config.log_group_name

    def by_group(self) -> dict[str, str]:
        """Log group -> the function writing to it, for every function that exists."""
        return {group: function for function, group in self._groups.items()}

    def of(self, function: str) -> str:
        """The group of ``function`` (the default name for one that no longer exists)."""
        return self._groups.get(function) or f"/aws/lambda/{function}"

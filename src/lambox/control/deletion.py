"""DeleteFunction: the one way a function, or one of its published versions, is deleted,
whoever asks for it (the Lambda API, a stack that deletes or replaces a function or a
version).

What a delete takes with it is in two places. ``FunctionService.delete`` and
``VersionService.delete`` remove the configuration (versions, aliases, reserved and
provisioned concurrency go with it in the store) and publish ``Removed``; the change feed's
subscribers then drop what hangs off the function there: function URL configs, event invoke
configs, resource policies, the data plane's snapshots and pools, queued events, log
groups, SnapStart snapshots. What is kept outside the feed is dropped here: the settings
AWS keeps beside FunctionConfiguration (recursion config, runtime management config, code
signing binding, capacity provider attachment, scaling configs: ``FunctionSettingsService``)
and the function's log files. A new function of the same name starts from the defaults.

The API handler and the stack operations used to carry a copy of this each, and the stack's
forgot the settings; both call this one now.
"""

from __future__ import annotations

from collections.abc import Callable

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.function_settings import FunctionSettingsService
from lambox.control.functions import FunctionService
from lambox.control.versions import VersionService
from lambox.errors import InvalidParameterValue
from lambox.model import LATEST


class FunctionDeletion:
    """DeleteFunction with AWS's checks, and everything a deleted function leaves behind."""

    def __init__(
        self,
        functions: FunctionService,
        versions: VersionService,
        settings: FunctionSettingsService,
        arns: Arns,
        delete_logs: Callable[[str], None],
    ) -> None:
        self._functions = functions
        self._versions = versions
        self._settings = settings
        self._arns = arns
        # Removes a function's log files (``LogSink.delete``), as DeleteFunction always did.
        self._delete_logs = delete_logs

    def delete(self, function_name: str, qualifier: str | None = None) -> None:
        """Delete ``function_name`` (name, partial or full ARN), or only its published
        version ``qualifier``.

        Validated against the model before anything is looked up (a malformed name is a
        ValidationException, never a 404); ``$LATEST`` is refused as AWS refuses it; a
        missing function is ResourceNotFound, a missing version a no-op, a version an alias
        routes to a ResourceConflict (``VersionService.delete``).
        """
        shapes.validate("DeleteFunction", {"FunctionName": function_name, "Qualifier": qualifier})
        name, qualifier = self._arns.parse(function_name, qualifier)
        if qualifier == LATEST:
            raise InvalidParameterValue(
                "$LATEST version cannot be deleted without deleting the function."
            )
        if qualifier:
            self._versions.delete(name, qualifier)
            self._settings.forget(name, qualifier)
            return
        self._functions.delete(name)
        self._settings.forget(name)
        self._delete_logs(name)

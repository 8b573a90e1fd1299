"""The one exception tree of lambox.

Every error a client can see carries its AWS error type and HTTP status, so the API edge
serializes any of them the same way (``x-amzn-ErrorType`` + ``{"Type", "Message"}``).
Foreign exceptions are translated once, where they enter lambox, with ``raise X(...) from exc``.

    LamboxError                              (500 ServiceException)
    +-- ClientError                          (4xx, Type "User")
    |   +-- ResourceNotFound                 404 ResourceNotFoundException ("Message")
    |   |   +-- CodeSigningConfigMissing     ... of a code signing config (no "Type")
    |   +-- CodeSigningConfigNotFound        404 CodeSigningConfigNotFoundException
    |   +-- CodeVerificationFailed           400 CodeVerificationFailedException (Enforce)
    |   +-- ResourceConflict                 409 ResourceConflictException
    |   +-- DurableExecutionAlreadyStarted   409 DurableExecutionAlreadyStartedException
    |   +-- InvalidParameterValue            400 InvalidParameterValueException
    |   +-- ValidationError                  400 ValidationException
    |   +-- InvalidRequestContent            400 InvalidRequestContentException
    |   +-- RequestTooLarge                  413 RequestTooLargeException
    |   +-- RequestEntityTooLarge            413 RequestEntityTooLargeException
    |   +-- UnsupportedMediaType             415 UnsupportedMediaTypeException
    |   +-- TooManyRequests                  429 TooManyRequestsException
    |   +-- AccessDenied                     403 AccessDeniedException
    |   +-- UnknownOperation                 404 UnknownOperationException
    |   +-- UnsupportedOperation             400 UnsupportedOperationException (an operation
    |   |                                    of Lambda's model that lambox does not serve)
    |   +-- PreconditionFailed               412 PreconditionFailedException
    |   +-- ProvisionedConfigNotFound        404 ProvisionedConcurrencyConfigNotFoundException
    |   +-- BadRequest                       400 BadRequestException (unparsable HTTP)
    |   +-- RequestTimeout                   408 RequestTimeoutException (headers too slow)
    |   +-- HeaderFieldsTooLarge             431 RequestHeaderFieldsTooLargeException
    |   +-- ServiceFault                     an edge service's own error code and status
    |   |                                    (S3's NoSuchKey 404, BucketNotEmpty 409, ...)
    |   +-- InvalidPattern                   400 InvalidEventPatternException (an event
    |   |                                    pattern; SQS and SNS reword its ``reason``)
    |   +-- InvalidSchedule                  400 ValidationException (rate/cron/at)
    +-- ServiceError                         500 ServiceException
        +-- StorageError                     the data directory refused a write (disk full)
        +-- SandboxError                     a sandbox failed (never reaches a client as-is)
            +-- SandboxDead                  the sandbox process is gone
            |   +-- SandboxOutOfMemory       ... killed over its memory limit
            +-- SandboxTimeout               the invocation outlived the function's Timeout
            +-- IllegalTransition            a lifecycle state machine was driven wrongly
"""

from __future__ import annotations


class LamboxError(Exception):
    """Base of every lambox error; ``aws_type`` and ``status`` shape the HTTP answer."""

    aws_type = "ServiceException"
    status = 500
    kind: str | None = "Service"
    # AWS spells the body's message key "message" for most errors and "Message" for a few;
    # boto3 users read both, so lambox answers each error the way AWS does.
    message_key = "message"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def shown_message(self) -> str | None:
        """The message as the response body carries it (``null`` for some of AWS's errors)."""
        return self.message


class ClientError(LamboxError):
    """The caller sent something lambox will not do; AWS answers these with Type "User"."""

    kind: str | None = "User"
    status = 400


class ResourceNotFound(ClientError):
    aws_type = "ResourceNotFoundException"
    status = 404
    message_key = "Message"


class CodeSigningConfigMissing(ResourceNotFound):
    """A code signing config named by Get/Update/Delete/ListFunctionsBy...: AWS's body has no
    "Type" for it (recorded: ``test_code_signing_not_found_excs``)."""

    kind = None


class CodeSigningConfigNotFound(ClientError):
    """PutFunctionCodeSigningConfig naming a code signing config that does not exist."""

    aws_type = "CodeSigningConfigNotFoundException"
    status = 404
    message_key = "Message"


class CodeVerificationFailed(ClientError):
    """A package refused by its code signing config's ``Enforce`` policy."""

    aws_type = "CodeVerificationFailedException"
    message_key = "Message"


class InvalidCodeSignature(ClientError):
    """A package whose signature does not match its bytes: refused even under ``Warn``."""

    aws_type = "InvalidCodeSignatureException"
    message_key = "Message"


class ResourceConflict(ClientError):
    aws_type = "ResourceConflictException"
    status = 409


class DurableExecutionAlreadyStarted(ClientError):
    """An Invoke naming a durable execution that exists with a different payload."""

    aws_type = "DurableExecutionAlreadyStartedException"
    status = 409


class InvalidParameterValue(ClientError):
    aws_type = "InvalidParameterValueException"


class ValidationError(ClientError):
    aws_type = "ValidationException"
    kind = None


class InvalidRequestContent(ClientError):
    aws_type = "InvalidRequestContentException"


class RecursiveInvocation(ClientError):
    """A run of a function its own chain of events has already run 16 times (see
    ``lambox.lineage``), under the default ``RecursiveLoop: Terminate``."""

    aws_type = "RecursiveInvocationException"
    message_key = "Message"


class RequestTooLarge(ClientError):
    """An Invoke payload over the 6 MB synchronous limit."""

    aws_type = "RequestTooLargeException"
    status = 413


class RequestEntityTooLarge(ClientError):
    """A management request (a code upload) over its size limit."""

    aws_type = "RequestEntityTooLargeException"
    status = 413
    kind = None


class UnsupportedMediaType(ClientError):
    aws_type = "UnsupportedMediaTypeException"
    status = 415


class TooManyRequests(ClientError):
    aws_type = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, reason: str = "ConcurrentInvocationLimitExceeded") -> None:
        super().__init__(message)
        self.reason = reason


class AccessDenied(ClientError):
    """A resource of another account was named.

    Without a message the body says ``"Message": null``, as AWS's does for CreateFunction
    with another account's ARN (recorded in ``test_function_arns``).
    """

    aws_type = "AccessDeniedException"
    status = 403
    kind = None
    message_key = "Message"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self._shown = message

    @property
    def shown_message(self) -> str | None:
        return self._shown


class UnknownOperation(ClientError):
    aws_type = "UnknownOperationException"
    status = 404


class UnsupportedOperation(ClientError):
    """A request line that names an operation of AWS's Lambda model lambox does not serve
    yet: the caller learns which operation, rather than a bare "unknown operation"."""

    aws_type = "UnsupportedOperationException"

    def __init__(self, operation: str) -> None:
        super().__init__(f"lambox does not support the Lambda operation {operation} yet.")
        self.operation = operation


class ServiceError(LamboxError):
    """lambox itself failed; the client sees 500 ServiceException."""


class StorageError(ServiceError):
    """lambox could not write its state, code or queue (a full disk, an I/O error).

    AWS answers its own storage failures as ServiceException (500): the request was not
    carried out and may be retried later; the message says what could not be stored.
    """


class SandboxError(ServiceError):
    """A sandbox failed; the invoke layer turns these into function errors. ``log`` is what
    the function wrote before the failure, when the sandbox could still read it."""

    log: bytes = b""


class SandboxDead(SandboxError):
    """The sandbox process exited or its wire closed; the sandbox cannot be used again."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SandboxOutOfMemory(SandboxDead):
    """The sandbox was killed for going over its memory limit (MemorySize)."""

    def __init__(self, message: str, exit_code: int | None = None, peak_mb: int = 0) -> None:
        super().__init__(message, exit_code)
        self.peak_mb = peak_mb


class SandboxTimeout(SandboxError):
    """The invocation ran past the function's Timeout; the sandbox has been destroyed."""


class IllegalTransition(ServiceError):
    """A lifecycle state machine was asked for a transition it does not allow."""


class PreconditionFailed(ClientError):
    """A RevisionId (or CodeSha256) precondition did not hold."""

    aws_type = "PreconditionFailedException"
    status = 412


class CallbackTimeout(ClientError):
    """A durable execution's callback was answered after its timeout or heartbeat ran out."""

    aws_type = "CallbackTimeoutException"


class ProvisionedConfigNotFound(ClientError):
    aws_type = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


class ServiceFault(ClientError):
    """An error of a service served at the edge, in that service's words: its code, its
    status and the extra fields its error document carries (S3's ``<Key>``, ``<BucketName>``).
    The service's protocol serializes it (XML for S3)."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: str) -> None:
        super().__init__(message)
        self.aws_type = code
        self.status = status
        self.fields = fields


class BadRequest(ClientError):
    """A request the HTTP parser refused (framing, line ends, forbidden bytes).

    Answered by the connection guard (``api/connection.py``), before any operation is known.
    AWS documents no type for what its front ends refuse; the name follows its convention.
    """

    aws_type = "BadRequestException"
    kind = None


class RequestTimeout(ClientError):
    """A request whose headers did not all arrive within the header deadline."""

    aws_type = "RequestTimeoutException"
    status = 408
    kind = None


class HeaderFieldsTooLarge(ClientError):
    """A request line and headers over the size limit, or too many header fields."""

    aws_type = "RequestHeaderFieldsTooLargeException"
    status = 431
    kind = None


class InvalidPattern(ClientError):
    """An event pattern (EventBridge rule, SQS FilterCriteria, SNS filter policy) that the
    pattern language refuses. ``reason`` is the language's own words; EventBridge wraps it
    as below, the other services wrap it in theirs."""

    aws_type = "InvalidEventPatternException"
    kind = None

    def __init__(self, reason: str) -> None:
        super().__init__(f"Event pattern is not valid. Reason: {reason}")
        self.reason = reason


class InvalidSchedule(ClientError):
    """A schedule expression (``rate()``, ``cron()``, ``at()``) that does not parse, or a
    time zone that does not exist; each service words it in its own answer."""

    aws_type = "ValidationException"
    kind = None

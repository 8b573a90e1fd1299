"""When an asynchronous event is tried again, and when lambox gives up on it (AWS's rules).

- A function error is retried ``MaximumRetryAttempts`` times (default 2), the n-th retry
  ``n * retry_delay`` after the failure (AWS: about 1 minute, then 2 minutes). A retry that
  would start after ``MaximumEventAgeInSeconds`` is not waited for: the event fails at once
  with ``EventAgeExceeded`` (recorded on AWS: max age 60 s fails after the first attempt).
- A throttle or a system error (the function could not be run at all) is retried with an
  exponential backoff from ``throttle_backoff`` up to 5 minutes, until the event is
  ``MaximumEventAgeInSeconds`` old; it does not count as an attempt.

Pure functions of the time and the counts, so they are tested without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambox.store.event_configs import EventInvokeConfig

SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"
# The condition of an event a recursive loop detection stopped (lambox.lineage).
RECURSIVE_LOOP = "RecursiveInvocationException"
MAX_BACKOFF = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delays of the retry rules (settings; tests shorten them)."""

    retry_delay: float = 60.0
    throttle_backoff: float = 1.0
    max_backoff: float = MAX_BACKOFF


def after_function_error(
    policy: RetryPolicy, config: EventInvokeConfig, attempts: int, enqueued_at: float, now: float
) -> float | str:
    """When to run again after the ``attempts``-th run failed, or the condition to give up
    with (``RetriesExhausted`` / ``EventAgeExceeded``)."""
    if attempts > config.retries:
        return RETRIES_EXHAUSTED
    at = now + policy.retry_delay * attempts
    if at - enqueued_at > config.max_age:
        return EVENT_AGE_EXCEEDED
    return at


def after_throttle(
    policy: RetryPolicy, config: EventInvokeConfig, throttles: int, enqueued_at: float, now: float
) -> float | str:
    """When to try again after the ``throttles``-th delivery in a row that could not run the
    function; the last try is at the event's maximum age, then it expires."""
    deadline = enqueued_at + config.max_age
    if now >= deadline:
        return EVENT_AGE_EXCEEDED
    backoff = min(policy.max_backoff, policy.throttle_backoff * 2.0 ** max(0, throttles - 1))
    return min(now + backoff, deadline)


def expired(config: EventInvokeConfig, enqueued_at: float, now: float) -> bool:
    """Whether the event is older than the maximum age (checked before every run)."""
    return now - enqueued_at >= config.max_age

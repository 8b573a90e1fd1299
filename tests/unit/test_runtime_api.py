"""The Runtime API endpoint of one sandbox: init, long polls, answers, refusals, in-process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import pytest

from lambox.errors import SandboxDead
from lambox.sandbox.runtime_api import BODY_LIMIT, ApiState, Event, RuntimeApi
from lambox.sandbox.runtime_api_server import Request

NEXT = "/2018-06-01/runtime/invocation/next"
INIT_ERROR = "/2018-06-01/runtime/init/error"
EVENT = Event("rid-1", b'{"a":1}', (("Lambda-Runtime-Aws-Request-Id", "rid-1"),))


class FakeExchange:
    """Stands in for one HTTP request's answer side."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes, dict[str, str]]] = []
        self.open = True
        self.closed_callback: Callable[[], None] | None = None

    def on_close(self, callback: Callable[[], None] | None) -> None:
        self.closed_callback = callback

    def respond(
        self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.answers.append((status, body, dict(headers)))

    @property
    def status(self) -> int:
        assert len(self.answers) == 1, self.answers
        return self.answers[0][0]

    @property
    def json(self) -> Any:
        return json.loads(self.answers[0][1])


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def send(
    api: RuntimeApi,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    too_large: bool = False,
) -> FakeExchange:
    exchange = FakeExchange()
    api.handle(Request(method, path, headers or {}, body, too_large), exchange)  # type: ignore[arg-type]
    return exchange


def post(api: RuntimeApi, request_id: str, kind: str, body: bytes = b"", **kw: Any) -> FakeExchange:
    return send(api, "POST", f"/2018-06-01/runtime/invocation/{request_id}/{kind}", body, **kw)


async def ready() -> RuntimeApi:
    api = RuntimeApi(lambda: None)
    send(api, "GET", NEXT)  # completes init and leaves a long poll pending
    return api


def test_first_next_completes_init_and_long_polls_until_an_invocation_is_handed() -> None:
    async def main() -> None:
        api = RuntimeApi(lambda: None)
        poll = send(api, "GET", NEXT)
        assert api.init.done() and api.init.result() is None
        assert poll.answers == []
        api.hand(EVENT)
        status, body, headers = poll.answers[0]
        assert (status, body) == (200, b'{"a":1}')
        assert headers["Lambda-Runtime-Aws-Request-Id"] == "rid-1"
        assert headers["Content-Type"] == "application/json"
        assert api.state is ApiState.INVOKING

    run(main)


def test_an_invocation_handed_before_next_goes_to_the_next_poll() -> None:
    async def main() -> None:
        api = await ready()
        api._poll = None  # the pending poll's client went away
        api.hand(EVENT)
        assert send(api, "GET", NEXT).status == 200

    run(main)


def test_a_poll_whose_client_left_does_not_take_the_invocation() -> None:
    async def main() -> None:
        api = RuntimeApi(lambda: None)
        gone = send(api, "GET", NEXT)
        assert gone.closed_callback is not None
        gone.closed_callback()
        api.hand(EVENT)
        assert gone.answers == []
        assert send(api, "GET", NEXT).status == 200

    run(main)


def test_response_is_accepted_and_answers_the_invocation() -> None:
    async def main() -> None:
        api = await ready()
        answer = api.hand(EVENT)
        reply = post(api, "rid-1", "response", b'"done"')
        assert (reply.status, reply.json) == (202, {"status": "OK"})
        assert answer.result().payload == b'"done"'
        assert answer.result().error is None
        assert api.state is ApiState.READY

    run(main)


def test_posted_error_is_unhandled_with_the_posted_body() -> None:
    async def main() -> None:
        api = await ready()
        answer = api.hand(EVENT)
        body = b'{"errorMessage":"boom","errorType":"ValueError"}'
        assert post(api, "rid-1", "error", body).status == 202
        assert (answer.result().payload, answer.result().error) == (body, "Unhandled")

    run(main)


def test_error_without_a_body_is_built_from_the_error_type_header() -> None:
    async def main() -> None:
        api = await ready()
        answer = api.hand(EVENT)
        headers = {"lambda-runtime-function-error-type": "Custom.Failure"}
        post(api, "rid-1", "error", headers=headers)
        assert json.loads(answer.result().payload)["errorType"] == "Custom.Failure"

    run(main)


def test_another_invocations_id_is_400_invalid_request_id() -> None:
    async def main() -> None:
        api = await ready()
        answer = api.hand(EVENT)
        reply = post(api, "rid-other", "response", b"{}")
        assert reply.status == 400
        assert reply.json == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
        assert not answer.done()

    run(main)


@pytest.mark.parametrize("kind", ["response", "error"])
def test_a_post_with_no_invocation_in_flight_is_403(kind: str) -> None:
    async def main() -> None:
        api = await ready()
        reply = post(api, "rid-1", kind, b"{}")
        assert reply.status == 403
        assert reply.json["errorType"] == "InvalidStateTransition"

    run(main)


def test_init_error_fails_the_init_with_the_posted_error_and_only_once() -> None:
    async def main() -> None:
        api = RuntimeApi(lambda: None)
        body = b'{"errorMessage":"no config","errorType":"Custom.Init"}'
        assert send(api, "POST", INIT_ERROR, body).status == 202
        assert api.init.result() == body
        assert api.state is ApiState.INIT_FAILED
        assert send(api, "POST", INIT_ERROR, body).status == 403
        assert send(api, "GET", NEXT).status == 403

    run(main)


def test_init_error_after_init_is_403() -> None:
    async def main() -> None:
        api = await ready()
        assert send(api, "POST", INIT_ERROR, b"{}").status == 403

    run(main)


def test_an_oversized_response_is_413_and_fails_the_invocation() -> None:
    async def main() -> None:
        api = await ready()
        answer = api.hand(EVENT)
        reply = post(api, "rid-1", "response", too_large=True)
        assert reply.status == 413
        assert reply.json == {
            "errorMessage": f"Exceeded maximum allowed payload size ({BODY_LIMIT} bytes).",
            "errorType": "RequestEntityTooLarge",
        }
        payload = json.loads(answer.result().payload)
        assert payload["errorType"] == "Function.ResponseSizeTooLarge"
        assert answer.result().error == "Unhandled"
        assert api.state is ApiState.READY  # the runtime carries on with /next

    run(main)


def test_the_log_is_cut_before_init_completes_and_before_each_answer() -> None:
    async def main() -> None:
        seen: list[bool] = []
        pending: list[asyncio.Future[Any]] = []

        def drain() -> None:
            seen.append(pending[-1].done())

        api = RuntimeApi(drain)
        pending.append(api.init)
        send(api, "GET", NEXT)
        pending.append(api.hand(EVENT))
        post(api, "rid-1", "response", b"{}")
        assert pending[-1].done()
        assert seen == [False, False]

    run(main)


def test_unknown_paths_are_404_and_wrong_methods_405() -> None:
    async def main() -> None:
        api = RuntimeApi(lambda: None)
        assert send(api, "GET", "/2018-06-01/runtime/invocation/x/y/z").status == 404
        assert send(api, "GET", "/elsewhere").status == 404
        assert send(api, "POST", NEXT).status == 405
        assert send(api, "GET", INIT_ERROR).status == 405
        assert api.state is ApiState.INITIALIZING

    run(main)


def test_fail_ends_the_pending_invocation() -> None:
    async def main() -> None:
        api = await ready()
        answer = api.hand(EVENT)
        api.fail(SandboxDead("gone", exit_code=3))
        with pytest.raises(SandboxDead):
            answer.result()

    run(main)


def test_close_answers_a_pending_poll() -> None:
    async def main() -> None:
        api = RuntimeApi(lambda: None)
        poll = send(api, "GET", NEXT)
        api.close()
        assert poll.status == 500
        assert api.state is ApiState.CLOSED

    run(main)

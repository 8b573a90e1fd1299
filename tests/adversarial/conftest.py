"""Fixtures for adversarial sandbox tests: hostile functions deployed on the shared server.

Every test here runs hostile code (fork bombs, memory hogs, signals at the host), so each
is gated on the server really isolating its sandboxes: a probe function must find itself
in a pid namespace of its own, not its pid 1, and not root. On the process backend they are
skipped, because there the same code would reach the machine itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import ROLE, LamboxServer, make_zip, unique

HOSTILE = """
import ctypes, json, os, signal, socket, sys, time

def probe(event, context):
    return {"pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid()}

def echo(event, context):
    return event

def hog(event, context):
    data = b"x" * (event["mb"] << 20)
    return len(data)

def bomb(event, context):
    forks, error = 0, None
    while forks < 10_000:
        try:
            pid = os.fork()
        except OSError as exc:
            error = exc.errno
            break
        if pid == 0:
            while True:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.05)
        forks += 1
    alive = sum(name.isdigit() for name in os.listdir("/proc"))
    if os.getppid() == 0:  # in a sandbox's pid namespace: all but its init are ours
        os.kill(-1, signal.SIGKILL)
    return {"forks": forks, "error": error, "processes": alive}

def spin(event, context):
    while True:
        pass

def flood(event, context):
    chunk = "x" * 65535 + "\\n"
    for _ in range(event["mb"] * 16):
        sys.stdout.write(chunk)
    return "flooded"

def chatty(event, context):
    # Whole lines, 64 KiB at a time: as fast as a function can print.
    lines = "".join("line %05d of a chatty function\\n" % i for i in range(2048))
    deadline = time.monotonic() + event["seconds"]
    written = chunks = 0
    while written < event["mb"] << 20 and time.monotonic() < deadline:
        sys.stdout.write(lines)
        written += len(lines)
        chunks += 1
    print("last line after %d chunks" % chunks)
    return {"written": written, "chunks": chunks}

def talk_then_fail(event, context):
    print("said before the end")
    if event.get("hog"):
        held = b"x" * (512 << 20)
    time.sleep(60)

def segfault(event, context):
    ctypes.string_at(0)

def write_outside(event, context):
    out = {}
    for path in event["paths"]:
        try:
            with open(path, "w") as f:
                f.write("x")
            out[path] = "written"
        except OSError as exc:
            out[path] = exc.strerror
    st = os.statvfs("/tmp")
    out["tmp_bytes"] = st.f_blocks * st.f_frsize
    return out

def keep_secret(event, context):
    with open("/tmp/secret.txt", "w") as f:
        f.write(os.environ["SECRET"])
    return os.listdir("/tmp")

def snoop(event, context):
    secret = event["secret"].encode()
    seen = {"pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
    leaks = []
    for pid in seen["pids"]:
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                if secret in f.read():
                    leaks.append(pid)
        except OSError:
            pass
    seen["environ_leaks"] = leaks
    seen["tmp"] = os.listdir("/tmp")
    for key, path in event["paths"].items():
        try:
            if os.path.isdir(path):
                seen[key] = sorted(os.listdir(path))
            else:
                seen[key] = open(path, "rb").read(64).hex()
        except OSError as exc:
            seen[key] = exc.strerror
    return seen

def scan_memory(event, context):
    # Every string in this process's writable memory that starts with the marker, as
    # another function's secret left behind in a zygote's freed memory would.
    marker = event["marker"].encode()
    found = set()
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("rw"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, OverflowError):
                continue
            at = data.find(marker)
            while at >= 0:
                found.add(data[at:at + 80].split(b"\\0")[0].split(b'"')[0].decode("latin-1"))
                at = data.find(marker, at + 1)
    return sorted(found)

scan_memory_too = scan_memory  # another handler: its first sandbox is the base zygote's

def descriptors(event, context):
    # What each open descriptor of the runtime is (the listing's own one is gone by then).
    listing = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            listing[int(fd)] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass
    shared = [line for line in open("/proc/self/maps") if " rw-s " in line]
    return {"fds": listing, "shared_maps": len(shared)}

def steal(event, context):
    # Ask another sandbox's Runtime API for its next invocation, as its runtime would.
    import http.client
    api = http.client.HTTPConnection("127.0.0.1", event["port"], timeout=event["wait"])
    try:
        api.request("GET", "/2018-06-01/runtime/invocation/next")
        answer = api.getresponse()
        return {"status": answer.status, "body": answer.read().decode(errors="replace")}
    except (OSError, http.client.HTTPException) as exc:
        return {"status": None, "body": type(exc).__name__}

def kill_host(event, context):
    out = {"ppid": os.getppid()}
    targets = [("server", event["server_pid"])]
    if os.getppid() == 0:  # in a sandbox's pid namespace (never on the process backend)
        targets += [("init", 1), ("everyone", -1)]
    for name, pid in targets:
        try:
            os.kill(pid, signal.SIGKILL)
            out[name] = "sent"
        except OSError as exc:
            out[name] = exc.strerror
    return out

INIT_RANDOM = __import__("random").random()

def randomness(event, context):
    import random
    time.sleep(event.get("hold", 0))
    return {"init": INIT_RANDOM, "now": random.random()}

def read_config(event, context):
    # GetFunctionConfiguration of another function, sent with http.client to lambox's
    # address from the event: unsigned, signed with test/test (the open posture's root
    # key), or signed with this function's own role credentials.
    import http.client
    path = "/2015-03-31/functions/%s/configuration" % event["victim"]
    headers = {}
    if event["sign"] != "none":
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        if event["sign"] == "test":
            creds = Credentials("test", "test")
        else:
            creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"],
                                os.environ["AWS_SECRET_ACCESS_KEY"],
                                os.environ["AWS_SESSION_TOKEN"])
        url = "http://%s:%d%s" % (event["host"], event["port"], path)
        request = AWSRequest(method="GET", url=url)
        SigV4Auth(creds, "lambda", os.environ["AWS_REGION"]).add_auth(request)
        headers = dict(request.headers)
    api = http.client.HTTPConnection(event["host"], event["port"], timeout=30)
    api.request("GET", path, headers=headers)
    answer = api.getresponse()
    return {"status": answer.status, "type": answer.getheader("x-amzn-ErrorType"),
            "body": json.loads(answer.read())}

def fetch(event, context):
    # An unsigned GET to lambox's port with the given Host (a function URL's).
    import http.client
    api = http.client.HTTPConnection("127.0.0.1", event["port"], timeout=30)
    api.request("GET", event["path"], headers={"Host": event["host"]})
    answer = api.getresponse()
    return {"status": answer.status, "body": answer.read().decode(errors="replace")}

def connect(event, context):
    try:
        socket.create_connection((event["host"], event["port"]), timeout=2).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__
"""
CODE = make_zip({"app.py": HOSTILE})


class Functions:
    """Creates functions for a group of tests (active when returned) and deletes them all
    at its end."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._made: list[str] = []

    def create(self, prefix: str, **params: Any) -> str:
        name = unique(prefix)
        self._client.create_function(FunctionName=name, **{"Role": ROLE, **params})
        self._client.get_waiter("function_active_v2").wait(FunctionName=name)
        self._made.append(name)
        return name

    def delete_all(self) -> None:
        for name in self._made:
            self._client.delete_function(FunctionName=name)


@pytest.fixture(scope="session")
def deploy(lambda_client: Any) -> Iterator[Callable[..., str]]:
    """Create a function running one hostile handler; returns its name. Deleted at the end."""
    functions = Functions(lambda_client)

    def create(handler: str, **config: Any) -> str:
        return functions.create(
            f"adv-{handler}",
            Runtime="python3.11",
            Handler=f"app.{handler}",
            Code={"ZipFile": CODE},
            **config,
        )

    yield create
    functions.delete_all()


def call(client: Any, name: str, event: object = None) -> tuple[str | None, Any]:
    """(FunctionError, decoded payload) of one synchronous invocation."""
    out = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return out.get("FunctionError"), json.loads(out["Payload"].read())


def invocation_log(server: LamboxServer, name: str, request_id: str) -> str:
    """One invocation's record in the function's log file (what ``lambox logs`` prints)."""
    text = (server.data_dir / "logs" / f"{name}.log").read_text(errors="replace")
    start = text.index(f"START RequestId: {request_id}")
    return text[start : text.index(f"REPORT RequestId: {request_id}", start)]


@pytest.fixture(scope="session")
def isolated(lambda_client: Any, deploy: Callable[..., str]) -> None:
    """Skip unless sandboxes run in a pid namespace of their own (their parent, the
    zygote, is outside it), not as its pid 1 (its init), and not as root."""
    error, info = call(lambda_client, deploy("probe"))
    if error is not None or info["ppid"] != 0 or info["pid"] == 1 or info["uid"] == 0:
        pytest.skip(f"sandboxes are not isolated on this server: {info}")


@pytest.fixture(scope="session")
def bystander(deploy: Callable[..., str]) -> str:
    """An innocent function that must keep working whatever its neighbours do."""
    return deploy("echo")


@pytest.fixture
def still_serving(lambda_client: Any, bystander: str, isolated: None) -> Iterator[None]:
    """After the test: the server still answers, and another function still runs."""
    assert call(lambda_client, bystander, {"before": 1}) == (None, {"before": 1})
    yield
    assert lambda_client.list_functions()["Functions"]
    assert call(lambda_client, bystander, {"after": 1}) == (None, {"after": 1})

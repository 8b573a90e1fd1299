"""CloudWatch metrics on lambox's one endpoint: AWS/Lambda figures of real invocations read
with boto3 (json protocol; rpc-v2-cbor too) and the AWS CLI (query protocol), PutMetricData,
the Embedded
Metric Format, Prometheus' /metrics, history kept across a restart, and AWS's errors as
recorded."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    CLIENT_ENV,
    ROLE,
    LamboxServer,
    aws_client,
    make_zip,
    start_server,
    stop_server,
    unique,
)
from tests.integration.test_auth import root_keys, strict  # noqa: F401

AWS_CLI = "/usr/bin/aws"
HANDLER = """
import json

METRICS = [{"Name": "Latency", "Unit": "Milliseconds"}]
DIRECTIVE = {"Namespace": "shop", "Dimensions": [["Service"]], "Metrics": METRICS}


def handler(event, context):
    if event.get("emf"):
        line = {"_aws": {"CloudWatchMetrics": [DIRECTIVE]}, "Service": "cart"}
        print(json.dumps({**line, "Latency": event["emf"]}))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return "ok"
"""


def cbor_client(server: LamboxServer, tmp: Path) -> Any:
    """A CloudWatch client that speaks rpc-v2-cbor, as botocore versions that prefer it do
    (botocore 1.44 resolves CloudWatch to the json protocol): the same model, offered with
    only that protocol, found first on the loader's search path."""
    import gzip

    import boto3
    import botocore.session

    source = Path(botocore.__file__).parent / "data/cloudwatch/2010-08-01/service-2.json.gz"
    model = json.loads(gzip.decompress(source.read_bytes()))
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    model["metadata"]["protocol"] = "smithy-rpc-v2-cbor"
    folder = tmp / "models/cloudwatch/2010-08-01"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.insert(0, str(tmp / "models"))
    cw = boto3.Session(botocore_session=core).client(
        "cloudwatch",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )
    assert cw.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    return cw


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def window() -> dict[str, Any]:
    return {
        "StartTime": now() - dt.timedelta(minutes=10),
        "EndTime": now() + dt.timedelta(minutes=2),
    }


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


@pytest.fixture(scope="module")
def invoked(server: LamboxServer) -> str:
    """A function with a published version and an alias, invoked: 3 times unqualified
    (one failing), twice through the alias, once logging an EMF line."""
    lam = aws_client(server, "lambda")
    name = unique("metricfn")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": HANDLER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    for event in ({}, {"fail": True}, {"emf": 12}):
        lam.invoke(FunctionName=name, Payload=json.dumps(event))
    for _ in range(2):
        assert lam.invoke(FunctionName=name, Qualifier="live", Payload="{}")["StatusCode"] == 200
    return name


def stats(cw: Any, metric: str, dims: list[dict[str, str]], **extra: Any) -> list[dict[str, Any]]:
    args = {"Statistics": ["Sum", "SampleCount", "Maximum"], **extra}
    answer = cw.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, Dimensions=dims, Period=3600, **window(), **args
    )
    assert answer["Label"] == metric
    return list(answer["Datapoints"])


def total(points: list[dict[str, Any]], stat: str = "Sum") -> float:
    return sum(p[stat] for p in points)


def test_invocations_errors_and_duration_by_dimension(server: LamboxServer, invoked: str) -> None:
    cw = aws_client(server, "cloudwatch")
    function = [{"Name": "FunctionName", "Value": invoked}]
    assert total(stats(cw, "Invocations", function)) == 5
    assert total(stats(cw, "Errors", function)) == 1
    alias = [*function, {"Name": "Resource", "Value": f"{invoked}:live"}]
    assert total(stats(cw, "Invocations", alias)) == 2
    executed = [*alias, {"Name": "ExecutedVersion", "Value": "1"}]
    assert total(stats(cw, "Invocations", executed)) == 2
    duration = stats(cw, "Duration", function)
    assert total(duration, "SampleCount") == 5
    assert all(p["Unit"] == "Milliseconds" for p in duration)
    extended = cw.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=function,
        Period=3600,
        ExtendedStatistics=["p50", "p99"],
        **window(),
    )["Datapoints"]
    high = max(p["Maximum"] for p in duration)
    assert extended and all(0 < p["ExtendedStatistics"]["p99"] <= high for p in extended)
    assert total(stats(cw, "ConcurrentExecutions", function), "Maximum") >= 1


def test_list_metrics_shows_aws_dimension_sets(server: LamboxServer, invoked: str) -> None:
    cw = aws_client(server, "cloudwatch")
    found = cw.list_metrics(
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": invoked}],
    )["Metrics"]
    sets = sorted(tuple(d["Name"] for d in m["Dimensions"]) for m in found)
    assert sets == [
        ("ExecutedVersion", "FunctionName", "Resource"),
        ("FunctionName",),
        ("FunctionName", "Resource"),
    ]


def test_get_metric_data_with_math(server: LamboxServer, invoked: str) -> None:
    cw = aws_client(server, "cloudwatch")
    metric = {"Namespace": "AWS/Lambda", "Dimensions": [{"Name": "FunctionName", "Value": invoked}]}
    answer = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "inv",
                "MetricStat": {
                    "Metric": {**metric, "MetricName": "Invocations"},
                    "Period": 3600,
                    "Stat": "Sum",
                },
            },
            {
                "Id": "err",
                "MetricStat": {
                    "Metric": {**metric, "MetricName": "Errors"},
                    "Period": 3600,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "rate", "Expression": "100 * err / inv", "Label": "error rate"},
        ],
        **window(),
    )
    results = {r["Id"]: r for r in answer["MetricDataResults"]}
    assert set(results) == {"inv", "rate"}
    assert results["inv"]["Label"] == "Invocations" and results["inv"]["StatusCode"] == "Complete"
    assert sum(results["inv"]["Values"]) == 5
    assert results["rate"]["Label"] == "error rate"
    assert results["rate"]["Timestamps"] == results["inv"]["Timestamps"]
    # A 12-minute window and a one-hour period: one bucket; 1 error in 5 invocations.
    assert results["rate"]["Values"] == [20.0]


def test_put_metric_data_values_and_counts(server: LamboxServer) -> None:
    """As recorded: Values [..] with Counts [..] give SampleCount 6, Sum 42, Maximum 10."""
    cw = aws_client(server, "cloudwatch")
    ns = unique("ns")
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "m", "Values": [1.0, 10.0], "Counts": [2.0, 4.0], "Unit": "Count"}
        ],
    )
    points = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="m",
        Period=60,
        Statistics=["Maximum", "SampleCount", "Sum"],
        **window(),
    )["Datapoints"]
    # The sample set spans at most two minutes of the window; one datapoint holds it.
    assert [(p["SampleCount"], p["Sum"], p["Maximum"], p["Unit"]) for p in points] == [
        (6.0, 42.0, 10.0, "Count")
    ]


def test_put_metric_data_errors_as_recorded(server: LamboxServer) -> None:
    cw = aws_client(server, "cloudwatch")
    with pytest.raises(ClientError) as both:
        cw.put_metric_data(
            Namespace="x", MetricData=[{"MetricName": "m", "Value": 1, "Values": [1.0]}]
        )
    assert error_of(both) == (
        "InvalidParameterCombination",
        "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually"
        " exclusive and you have specified both.",
        400,
    )
    assert both.value.response["Error"]["QueryErrorCode"] == "InvalidParameterCombinationException"
    with pytest.raises(ClientError) as sizes:
        cw.put_metric_data(
            Namespace="x", MetricData=[{"MetricName": "m", "Values": [1.0, 2.0], "Counts": [1.0]}]
        )
    assert error_of(sizes) == (
        "InvalidParameterValue",
        "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of"
        " the same size.",
        400,
    )


def test_get_metric_statistics_errors_as_recorded(server: LamboxServer) -> None:
    cw = aws_client(server, "cloudwatch")
    start = now()
    with pytest.raises(ClientError) as backwards:
        cw.get_metric_statistics(
            Namespace="x",
            MetricName="m",
            StartTime=start,
            EndTime=start - dt.timedelta(hours=1),
            Period=60,
            Statistics=["Sum"],
        )
    assert error_of(backwards) == (
        "InvalidParameterValue",
        "The parameter StartTime must be less than the parameter EndTime.",
        400,
    )
    with pytest.raises(ClientError) as many:
        cw.get_metric_statistics(
            Namespace="x",
            MetricName="m",
            StartTime=start - dt.timedelta(days=1),
            EndTime=start,
            Period=1,
            Statistics=["Sum"],
        )
    assert error_of(many) == (
        "InvalidParameterCombination",
        "You have requested up to 86400 datapoints, which exceeds the limit of 1440. You may"
        " reduce the datapoints requested by increasing Period, or decreasing the time range.",
        400,
    )


def test_embedded_metric_format_lines_become_metrics(server: LamboxServer, invoked: str) -> None:
    cw = aws_client(server, "cloudwatch")
    points = cw.get_metric_statistics(
        Namespace="shop",
        MetricName="Latency",
        Dimensions=[{"Name": "Service", "Value": "cart"}],
        Period=3600,
        Statistics=["Sum", "SampleCount"],
        **window(),
    )["Datapoints"]
    assert total(points) == 12 and total(points, "SampleCount") == 1
    assert points[0]["Unit"] == "Milliseconds"


def aws(server: LamboxServer, *args: str) -> Any:
    out = subprocess.run(
        [AWS_CLI, "--endpoint-url", server.url, "--output", "json", "cloudwatch", *args],
        env={**os.environ, **CLIENT_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def test_aws_cli_reads_and_writes_metrics(server: LamboxServer, invoked: str) -> None:
    w = window()
    start, end = (w[k].strftime("%Y-%m-%dT%H:%M:%SZ") for k in ("StartTime", "EndTime"))
    answer = aws(
        server,
        "get-metric-statistics",
        "--namespace",
        "AWS/Lambda",
        "--metric-name",
        "Invocations",
        "--dimensions",
        f"Name=FunctionName,Value={invoked}",
        "--start-time",
        start,
        "--end-time",
        end,
        "--period",
        "3600",
        "--statistics",
        "Sum",
    )
    assert answer["Label"] == "Invocations"
    assert sum(p["Sum"] for p in answer["Datapoints"]) == 5
    ns = unique("cli")
    aws(
        server,
        "put-metric-data",
        "--namespace",
        ns,
        "--metric-name",
        "hits",
        "--value",
        "3",
        "--unit",
        "Count",
    )
    listed = aws(server, "list-metrics", "--namespace", ns)["Metrics"]
    assert listed == [{"Namespace": ns, "MetricName": "hits", "Dimensions": []}]
    data = aws(
        server,
        "get-metric-data",
        "--start-time",
        start,
        "--end-time",
        end,
        "--metric-data-queries",
        json.dumps(
            [
                {
                    "Id": "h",
                    "MetricStat": {
                        "Metric": {"Namespace": ns, "MetricName": "hits"},
                        "Period": 3600,
                        "Stat": "Sum",
                    },
                }
            ]
        ),
    )
    assert [r["Values"] for r in data["MetricDataResults"]] == [[3.0]]


def test_prometheus_endpoint_parses(server: LamboxServer, invoked: str) -> None:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(family: str, suffix: str, **labels: str) -> float:
        return sum(
            s.value
            for s in families[family].samples
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())
        )

    assert value("lambox_invocations", "_total", function_name=invoked) == 5
    assert value("lambox_errors", "_total", function_name=invoked) == 1
    assert (
        value(
            "lambox_invocations",
            "_total",
            function_name=invoked,
            resource=f"{invoked}:live",
            executed_version="1",
        )
        == 2
    )
    assert value("lambox_duration_milliseconds", "_count", function_name=invoked) == 5
    inf = value("lambox_duration_milliseconds", "_bucket", function_name=invoked, le="+Inf")
    assert inf == 5


def test_history_survives_a_restart(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        cw = aws_client(server, "cloudwatch")
        cw.put_metric_data(Namespace="kept", MetricData=[{"MetricName": "m", "Value": 7.0}])
    finally:
        stop_server(server)
    again = start_server(tmp_path / "data")
    try:
        points = aws_client(again, "cloudwatch").get_metric_statistics(
            Namespace="kept", MetricName="m", Period=3600, Statistics=["Sum"], **window()
        )["Datapoints"]
        assert [p["Sum"] for p in points] == [7.0]
    finally:
        stop_server(again)


def lambox(server: LamboxServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambox.cli.main", *args, "--endpoint-url", server.url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250"},
    )


def test_cost_report_per_function_version(server: LamboxServer, invoked: str) -> None:
    with urllib.request.urlopen(f"{server.url}/lambox/v1/cost?since=0", timeout=30) as answer:
        body = json.loads(answer.read())
    lines = {
        (x["function"], x["version"]): x for x in body["Functions"] if x["function"] == invoked
    }
    latest, one = lines[(invoked, "$LATEST")], lines[(invoked, "1")]
    assert (latest["requests"], one["requests"]) == (3, 2)
    assert latest["memory_mb"] == 128 and latest["architecture"] == "x86_64"
    assert latest["billed_ms"] >= 3  # every invocation is billed at least 1 ms
    assert latest["gb_seconds"] == pytest.approx(latest["billed_ms"] / 1000 * 128 / 1024)
    assert latest["total"] == pytest.approx(3 * 0.20 / 1e6 + latest["gb_seconds"] * 0.0000166667)
    assert 0 < latest["max_memory_used_mb"] < 128
    assert body["PriceList"]["as_of"] and body["Total"] >= latest["total"] + one["total"]
    out = lambox(server, "cost", "--since", "1h")
    assert out.returncode == 0, out.stderr
    row = next(x for x in out.stdout.splitlines() if invoked in x and "$LATEST" in x)
    assert "128 MB" in row and " 3 " in row


def test_top_shows_invocations_of_the_last_interval(server: LamboxServer) -> None:
    lam = aws_client(server, "lambda")
    invoked = unique("topfn")
    lam.create_function(
        FunctionName=invoked,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": HANDLER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=invoked)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambox.cli.main", "top", "--endpoint-url", server.url,
         "--interval", "3", "--frames", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    # Top shows what changed between its scrapes: invoke until it has printed its table.
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        lam.invoke(FunctionName=invoked, Payload="{}")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    row = next(x for x in out.splitlines() if invoked in x)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[0] == invoked
    assert float(cells[1]) > 0  # invocations/s
    assert cells[4] == "0"  # errors in the interval


def make_function(server: LamboxServer, prefix: str) -> str:
    lam = aws_client(server, "lambda")
    name = unique(prefix)
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": HANDLER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_throttles_are_counted_not_invocations(server: LamboxServer) -> None:
    lam = aws_client(server, "lambda")
    name = make_function(server, "throttled")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, Payload="{}")
    assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
    cw = aws_client(server, "cloudwatch")
    function = [{"Name": "FunctionName", "Value": name}]
    assert total(stats(cw, "Throttles", function)) == 1
    assert stats(cw, "Invocations", function) == []


def test_async_events_received_and_their_age(server: LamboxServer) -> None:
    lam = aws_client(server, "lambda")
    name = make_function(server, "asyncfn")
    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload="{}")["StatusCode"] == 202
    cw = aws_client(server, "cloudwatch")
    function = [{"Name": "FunctionName", "Value": name}]
    assert total(stats(cw, "AsyncEventsReceived", function)) == 1
    deadline = time.monotonic() + 60
    while not stats(cw, "AsyncEventAge", function) and time.monotonic() < deadline:
        time.sleep(0.2)
    age = stats(cw, "AsyncEventAge", function)
    assert total(age, "SampleCount") == 1 and age[0]["Unit"] == "Milliseconds"


def test_invocation_metrics_survive_kill_9(tmp_path: Path) -> None:
    """Once a flush has passed, an invocation's figures are on disk: kill -9 keeps them."""
    env = {"LAMBOX_METRICS_FLUSH_INTERVAL": "0.2"}
    server = start_server(tmp_path / "data", env)
    try:
        name = make_function(server, "killed")
        aws_client(server, "lambda").invoke(FunctionName=name, Payload="{}")
        # The Prometheus scrape shows the invocation was recorded; then wait out a flush.
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as answer:
            assert name in answer.read().decode()
        time.sleep(1.5)
    finally:
        server.proc.kill()
        server.proc.wait()
    again = start_server(tmp_path / "data", env)
    try:
        cw = aws_client(again, "cloudwatch")
        function = [{"Name": "FunctionName", "Value": name}]
        assert total(stats(cw, "Invocations", function)) == 1
    finally:
        stop_server(again)


@pytest.mark.parametrize(
    ("pairs", "labels"),
    [
        # As recorded (test_label_generation): the statistic and the period join the name
        # only when queries of the same metric differ in them.
        ((("Sum", 60), ("Minimum", 30)), ["metric1 Sum 60", "metric1 Minimum 30"]),
        ((("Sum", 60), ("Minimum", 60)), ["metric1 Sum", "metric1 Minimum"]),
        ((("Sum", 60), ("Sum", 30)), ["metric1 60", "metric1 30"]),
        ((("Sum", 60), ("Sum", 60)), ["metric1", "metric1"]),
    ],
)
def test_default_labels_as_recorded(
    server: LamboxServer, pairs: tuple[tuple[str, int], ...], labels: list[str]
) -> None:
    cw = aws_client(server, "cloudwatch")
    metric = {"Namespace": unique("labels"), "MetricName": "metric1"}
    answer = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": f"q{i}", "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}}
            for i, (stat, period) in enumerate(pairs)
        ],
        **window(),
    )
    assert [r["Label"] for r in answer["MetricDataResults"]] == labels


def test_non_finite_values_are_refused(server: LamboxServer) -> None:
    cw = aws_client(server, "cloudwatch")
    with pytest.raises(ClientError) as refused:
        cw.put_metric_data(Namespace="x", MetricData=[{"MetricName": "m", "Value": float("nan")}])
    code, _, status = error_of(refused)
    assert (code, status) == ("InvalidParameterValue", 400)


def test_json_protocol_and_its_query_compatible_errors(server: LamboxServer) -> None:
    """The json protocol (X-Amz-Target), unsigned as a tool might send it."""
    import httpx

    target = "GraniteServiceVersion20100801"
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    ns = unique("json")
    put = httpx.post(
        server.url,
        headers={**headers, "X-Amz-Target": f"{target}.PutMetricData"},
        json={"Namespace": ns, "MetricData": [{"MetricName": "m", "Value": 2.5}]},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    listed = httpx.post(
        server.url,
        headers={**headers, "X-Amz-Target": f"{target}.ListMetrics"},
        json={"Namespace": ns},
        timeout=30,
    )
    assert listed.json() == {"Metrics": [{"Namespace": ns, "MetricName": "m", "Dimensions": []}]}
    start = now().timestamp()
    wrong = httpx.post(
        server.url,
        headers={**headers, "X-Amz-Target": f"{target}.GetMetricStatistics"},
        json={
            "Namespace": ns, "MetricName": "m", "StartTime": start, "EndTime": start - 60,
            "Period": 60, "Statistics": ["Sum"],
        },
        timeout=30,
    )  # fmt: skip
    assert wrong.status_code == 400
    assert wrong.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    assert wrong.json()["__type"] == (
        "com.amazonaws.cloudwatch.v2010_08_01#InvalidParameterValueException"
    )


def test_cbor_clients_read_write_and_get_errors(
    server: LamboxServer, invoked: str, tmp_path: Path
) -> None:
    cw = cbor_client(server, tmp_path)
    function = [{"Name": "FunctionName", "Value": invoked}]
    points = cw.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=function,
        Period=3600,
        ExtendedStatistics=["p50"],
        **window(),
    )["Datapoints"]
    assert points and all(isinstance(p["Timestamp"], dt.datetime) for p in points)
    ns = unique("cbor")
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "m", "Value": 4.0}])
    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "m"},
                    "Period": 3600,
                    "Stat": "Sum",
                },
            }
        ],
        **window(),
    )["MetricDataResults"]
    assert [r["Values"] for r in data] == [[4.0]]
    with pytest.raises(ClientError) as both:
        cw.put_metric_data(
            Namespace=ns, MetricData=[{"MetricName": "m", "Value": 1, "Values": [1.0]}]
        )
    assert error_of(both)[0::2] == ("InvalidParameterCombination", 400)
    assert both.value.response["Error"]["QueryErrorCode"] == "InvalidParameterCombinationException"


def test_checkout_example_reports_emf_metrics(tmp_path: Path) -> None:
    """examples/checkout as ``make serve`` deploys it: its EMF line becomes metrics the AWS
    CLI lists and reads."""
    import shutil

    from tests.conftest import ROOT, serve_examples

    shutil.copytree(ROOT / "examples/checkout", tmp_path / "examples/checkout")
    server = serve_examples(
        tmp_path / "data",
        lambda log: "example deployed" in log and "checkout" in log,
        examples=tmp_path / "examples",
    )
    try:
        cart = {"items": [{"price": 3.5, "qty": 2}, {"price": 1, "qty": 1}], "region": "eu"}
        answer = aws_client(server, "lambda").invoke(
            FunctionName="checkout", Payload=json.dumps(cart)
        )
        assert json.loads(answer["Payload"].read()) == {"total": 8.0, "items": 2}
        listed = aws(server, "list-metrics", "--namespace", "lambox-examples/checkout")["Metrics"]
        assert sorted(m["MetricName"] for m in listed) == ["CartValue", "ItemCount"]
        assert all(m["Dimensions"] == [{"Name": "Region", "Value": "eu"}] for m in listed)
        w = window()
        start, end = (w[k].strftime("%Y-%m-%dT%H:%M:%SZ") for k in ("StartTime", "EndTime"))
        value = aws(
            server, "get-metric-statistics", "--namespace", "lambox-examples/checkout",
            "--metric-name", "CartValue", "--dimensions", "Name=Region,Value=eu",
            "--start-time", start, "--end-time", end, "--period", "3600", "--statistics", "Sum",
        )  # fmt: skip
        assert [p["Sum"] for p in value["Datapoints"]] == [8.0]
    finally:
        stop_server(server)


def test_unserved_operations_say_so(server: LamboxServer) -> None:
    with pytest.raises(ClientError) as alarms:
        aws_client(server, "cloudwatch").describe_alarms()
    assert error_of(alarms) == (
        "InvalidAction",
        "lambox does not serve the CloudWatch operation DescribeAlarms yet.",
        400,
    )


def test_event_source_mapping_figures(server: LamboxServer) -> None:
    """An SQS mapping with a filter: one message filtered out, two handed to the function,
    all three deleted, counted under the mapping's EventSourceMappingUUID."""
    from tests.integration.test_sqs import new_queue, sqs_client

    sqs = sqs_client(server)
    source = new_queue(sqs)
    arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])
    name = make_function(server, "mapped")
    uuid = aws_client(server, "lambda").create_event_source_mapping(
        EventSourceArn=arn["Attributes"]["QueueArn"],
        FunctionName=name,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"keep": [True]}})}]},
    )["UUID"]
    for keep in (True, False, True):
        sqs.send_message(QueueUrl=source, MessageBody=json.dumps({"keep": keep}))
    cw = aws_client(server, "cloudwatch")
    dims = [{"Name": "EventSourceMappingUUID", "Value": uuid}]
    deadline = time.monotonic() + 90
    while total(stats(cw, "DeletedEventCount", dims)) < 3 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert total(stats(cw, "DeletedEventCount", dims)) == 3
    assert total(stats(cw, "PolledEventCount", dims)) == 3
    assert total(stats(cw, "FilteredOutEventCount", dims)) == 1
    assert total(stats(cw, "InvokedEventCount", dims)) == 2
    assert total(stats(cw, "FailedInvokeEventCount", dims)) == 0
    function = [{"Name": "FunctionName", "Value": name}]
    assert total(stats(cw, "Invocations", function)) >= 1


def test_list_metrics_pages_by_500(server: LamboxServer) -> None:
    cw = aws_client(server, "cloudwatch")
    ns = unique("many")
    cw.put_metric_data(
        Namespace=ns, MetricData=[{"MetricName": f"m{i:04d}", "Value": 1.0} for i in range(501)]
    )
    first = cw.list_metrics(Namespace=ns)
    assert len(first["Metrics"]) == 500 and first["NextToken"]
    pages = list(cw.get_paginator("list_metrics").paginate(Namespace=ns))
    names = [m["MetricName"] for page in pages for m in page["Metrics"]]
    assert sorted(names) == [f"m{i:04d}" for i in range(501)]
    with pytest.raises(ClientError) as bad:
        cw.list_metrics(Namespace=ns, NextToken="not-a-token")
    assert error_of(bad)[0::2] == ("InvalidNextToken", 400)


def test_strict_posture_authorizes_cloudwatch_actions(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    """CloudWatch actions are authorized as ``cloudwatch:<Operation>`` on ``*``."""
    from tests.integration.test_auth import client as signed_client
    from tests.integration.test_authorization import user_with

    iam = signed_client("iam", strict.url, *root_keys)
    arn, key, secret = user_with(iam, strict.url)
    with pytest.raises(ClientError) as refused:
        signed_client("cloudwatch", strict.url, key, secret).list_metrics()
    code, message, status = error_of(refused)
    assert (code, status) == ("AccessDenied", 403)
    assert f"User: {arn} is not authorized to perform: cloudwatch:ListMetrics" in message
    allowed = {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}
    _, key, secret = user_with(iam, strict.url, allowed)
    writer = signed_client("cloudwatch", strict.url, key, secret)
    writer.put_metric_data(Namespace="auth", MetricData=[{"MetricName": "m", "Value": 1.0}])
    with pytest.raises(ClientError) as reading:
        writer.list_metrics()
    assert error_of(reading)[0] == "AccessDenied"

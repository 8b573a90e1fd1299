"""Tenant isolation mode (TenancyConfig PER_TENANT), driven by boto3 and the AWS CLI.

A function created with ``TenancyConfig={"TenantIsolationMode": "PER_TENANT"}`` is invoked
with a tenant id (``X-Amz-Tenant-Id``); each of its sandboxes serves one tenant only. The
function under test returns a token made once per sandbox (at import), so two invocations
share a sandbox exactly when their tokens are equal.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import (
    ROLE,
    make_zip,
    unique,
)

PER_TENANT = {"TenantIsolationMode": "PER_TENANT"}
APP = """
import json, os, time, uuid
TOKEN = uuid.uuid4().hex

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print("RECORD " + json.dumps({"tenant": context.tenant_id, "n": event.get("n")}))
    return {"tenant": context.tenant_id, "token": TOKEN, "pid": os.getpid()}
"""
CODE = make_zip({"app.py": APP})


def create(lam: Any, tenancy: bool = True, **kw: Any) -> str:
    name = unique("tenant")
    extra = {"TenancyConfig": PER_TENANT} if tenancy else {}
    params = {
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Code": {"ZipFile": CODE},
        "Timeout": 30,
        **extra,
        **kw,
    }
    lam.create_function(FunctionName=name, Role=ROLE, **params)
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )
    return name


# -- TenancyConfig -----------------------------------------------------------------------


def test_tenancy_config_is_kept_and_shown_in_every_view(lambda_client: Any) -> None:
    name = unique("tenant")
    made = lambda_client.create_function(
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.11",
        Handler="app.handler",
        Code={"ZipFile": CODE},
        TenancyConfig=PER_TENANT,
    )
    assert made["TenancyConfig"] == PER_TENANT
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["TenancyConfig"] == (
        PER_TENANT
    )
    assert lambda_client.get_function_configuration(FunctionName=name)["TenancyConfig"] == (
        PER_TENANT
    )
    listed = {
        f["FunctionName"]: f
        for page in lambda_client.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    }
    assert listed[name]["TenancyConfig"] == PER_TENANT
    published = lambda_client.publish_version(FunctionName=name)
    assert published["TenancyConfig"] == PER_TENANT
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v.get("TenancyConfig") for v in versions] == [PER_TENANT, PER_TENANT]
    # A function created without one shows none.
    plain = create(lambda_client, tenancy=False)
    assert "TenancyConfig" not in lambda_client.get_function_configuration(FunctionName=plain)

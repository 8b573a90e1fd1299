"""Function ARNs: building them as AWS does and reading a FunctionName parameter.

A FunctionName parameter may be a name (``my-fn``), a partial ARN
(``123456789012:function:my-fn``) or a full ARN, each optionally with ``:qualifier``.
AWS reads it with the groups of its API model's pattern (``NamespacedFunctionName``):
an optional ``arn:<partition>:lambda:`` prefix, region, account and ``function:``, then the
name and an optional qualifier. Every part is optional but the name, so an ARN that ends in
``:function`` names the function ``function`` (recorded: GetFunction of
``arn:aws:lambda:<region>:<account>:function`` answers "Function not found:
arn:...:function:function").
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from lambox.errors import InvalidParameterValue, ResourceNotFound

FUNCTION_NAME = re.compile(
    r"(arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(?P<account>\d{12}:)?(function:)?(?P<name>[a-zA-Z0-9-_\.]+)"
    r"(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
"""The model's ``NamespacedFunctionName`` pattern with its parts named (a unit test holds the
two equal), so a name is read exactly as the model's validation accepted it. The region and
account groups keep their trailing colon, as the model's groups do."""


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """The parts of a FunctionName parameter; those it leaves out are None."""

    name: str
    qualifier: str | None
    region: str | None
    account: str | None


@dataclass(frozen=True, slots=True)
class Arns:
    """ARN arithmetic for one region and account (both settings)."""

    region: str
    account_id: str

    def function(self, name: str, qualifier: str | None = None) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{base}:{qualifier}" if qualifier else base

    def runtime_version(self, runtime: str) -> str:
        """The runtime version ARN of ``runtime`` (lambox has one version per runtime;
        GetFunctionConfiguration and the INIT_START line show it)."""
        digest = hashlib.sha256(runtime.encode()).hexdigest()
        return f"arn:aws:lambda:{self.region}::runtime:{digest}"

    def read(self, function_name: str) -> FunctionRef:
        """The parts of a FunctionName parameter; one the model's pattern refuses is
        ResourceNotFound (callers that validate against the model never pass one)."""
        return _read(self.region, self.account_id, function_name)

    def parse(self, function_name: str, qualifier: str | None = None) -> tuple[str, str | None]:
        """(name, qualifier) of a FunctionName parameter plus an optional Qualifier parameter.

        A qualifier in the ARN and a different Qualifier parameter is AWS's
        InvalidParameterValueException; an ARN of another region is ResourceNotFound.
        """
        ref = _read(self.region, self.account_id, function_name)
        if ref.region and ref.region != self.region:
            raise ResourceNotFound(
                f"Functions from '{ref.region}' are not reachable in this region ('{self.region}')"
            )
        if ref.qualifier and qualifier and ref.qualifier != qualifier:
            raise InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        return ref.name, ref.qualifier or qualifier

    def foreign_account(self, function_name: str) -> bool:
        """Whether a FunctionName names an account other than lambox's."""
        account = self.read(function_name).account
        return account is not None and account != self.account_id


@functools.lru_cache(maxsize=4096)
def _read(region: str, account_id: str, function_name: str) -> FunctionRef:
    """``Arns.read``, remembered by its strings: a cache on the method would hash the
    ``Arns`` itself (a dataclass's ``__hash__``, in Python) on every invocation."""
    m = FUNCTION_NAME.fullmatch(function_name)
    if m is None:
        arn = Arns(region, account_id).function(function_name)
        raise ResourceNotFound(f"Function not found: {arn}")
    region_part, account = m["region"], m["account"]
    return FunctionRef(
        name=m["name"],
        qualifier=m["qualifier"],
        region=region_part[:-1] if region_part else None,
        account=account[:-1] if account else None,
    )

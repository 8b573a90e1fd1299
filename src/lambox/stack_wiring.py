"""How CloudFormation is wired into a server (called by ``server.py`` on first use): the
service over the stack store, with the table's resource handlers calling the services'
operations (``stack_services``; the Lambda control plane's, S3's and SQS's as
``stack_operations`` wraps them) and nested stacks deploying through the service itself.

``server.py`` builds it on CloudFormation's first request, an example stack, or at start-up
when a deployment was interrupted: the engine, its handlers and YAML were a tenth of the
time to a server's first answer, for a service most servers never use.
"""

from __future__ import annotations

from collections.abc import Mapping

from lambox.api.management import S3Code
from lambox.arns import Arns
from lambox.config import Settings
from lambox.control.aliases import AliasService
from lambox.control.code_signing import CodeSigningService
from lambox.control.concurrency import ConcurrencyService
from lambox.control.deletion import FunctionDeletion
from lambox.control.event_sources import EventSourceService
from lambox.control.function_settings import FunctionSettingsService
from lambox.control.functions import FunctionService
from lambox.control.layers import LayerService
from lambox.control.policies import PolicyService
from lambox.control.urls import UrlService
from lambox.control.versions import VersionService
from lambox.services.cloudformation.nested import NestedStackHandler
from lambox.services.cloudformation.resources import Handler
from lambox.services.cloudformation.service import CloudFormationService
from lambox.services.cloudformation.store import StackStore
from lambox.services.iam.service import IamService
from lambox.services.s3.service import S3Service
from lambox.services.s3.store import ObjectStore
from lambox.services.sqs.queues import Queues
from lambox.stack_operations import (
    function_operations,
    object_reader,
    s3_operations,
    setting_operations,
    sqs_operations,
    trigger_operations,
)
from lambox.stack_services import Operations, service_handlers


def cloudformation(
    store: StackStore,
    settings: Settings,
    *,
    functions: FunctionService,
    versions: VersionService,
    aliases: AliasService,
    layers: LayerService,
    s3: S3Service,
    objects: ObjectStore,
    deletion: FunctionDeletion,
    arns: Arns,
    iam: IamService,
    queues: Queues,
    mappings: EventSourceService,
    policies: PolicyService,
    urls: UrlService,
    concurrency: ConcurrencyService,
    function_settings: FunctionSettingsService,
    code_signing: CodeSigningService,
    s3_code: S3Code,
    operations: Mapping[str, Operations],
) -> CloudFormationService:
    """The CloudFormation service over ``store``, with every resource handler; a deployment
    a crash interrupted is marked failed on its stack (``restore``). ``s3_code``: the Lambda
    API's reader of function code in S3 (with its signature's check). ``operations``: the
    operation tables of the services whose resources a template may declare generically
    (``stack_services``)."""
    read_object = object_reader(objects)
    handlers: dict[str, Handler] = {}
    service = CloudFormationService(
        store, handlers, read_object, settings.region, settings.account_id
    )
    # Nested stacks deploy through the service itself (the handler map is the engine's).
    handlers["AWS::CloudFormation::Stack"] = NestedStackHandler(service)
    service.restore()
    services = {
        **operations,
        "lambda": {
            **function_operations(
                functions, versions, aliases, layers, deletion, arns, code_signing, s3_code
            ),
            **setting_operations(concurrency, function_settings, code_signing),
            **trigger_operations(urls, mappings, policies),
        },
        "s3": s3_operations(s3, read_object, settings.region),
        "sqs": sqs_operations(queues, settings.base_url),
    }
    handlers.update(
        service_handlers(settings.account_id, settings.region, services, iam.operations)
    )
    return service

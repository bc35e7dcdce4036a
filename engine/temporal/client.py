"""Connecting to Temporal with the one data converter every client, worker and replayer uses.

That converter encrypts every payload with the keyring (``engine.temporal.codec``): a client cannot be
built without one, so no process of the project writes a plaintext payload to Temporal.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError, TLSConfig

from engine.errors import ConfigurationError, TemporalUnavailable
from engine.keyring import Keyring
from engine.stack import TemporalAuth
from engine.temporal import TASK_QUEUE
from engine.temporal.codec import data_converter
from engine.temporal.outage import temporal_outage


def tls_config(auth: TemporalAuth | None) -> TLSConfig | bool:
    """The client's TLS setting for these credentials (files are read now, so a missing one fails early)."""
    if auth is None:
        return False
    if auth.tls_cert is None and auth.tls_ca is None:
        return auth.api_key is not None  # Temporal Cloud API keys travel over TLS with the system roots
    try:
        return TLSConfig(
            client_cert=auth.tls_cert.read_bytes() if auth.tls_cert else None,
            client_private_key=auth.tls_key.read_bytes() if auth.tls_key else None,
            server_root_ca_cert=auth.tls_ca.read_bytes() if auth.tls_ca else None,
        )
    except OSError as exc:
        raise ConfigurationError(f"cannot read a Temporal TLS file: {exc}") from exc


async def connect(
    address: str,
    namespace: str,
    *,
    keyring: Keyring,
    auth: TemporalAuth | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """Connect to Temporal with the project's encrypting converter over ``keyring``.

    An unreachable server is a ``TemporalUnavailable`` naming the address.
    """
    try:
        return await Client.connect(
            address,
            namespace=namespace,
            data_converter=data_converter(keyring),
            tls=tls_config(auth),
            api_key=auth.api_key if auth else None,
            runtime=runtime,
        )
    except (RuntimeError, RPCError) as exc:
        # Anything else from the SDK here is a bad argument: a bug to see, not an outage to explain.
        refused = f"it refused the connection ({exc.message})" if isinstance(exc, RPCError) else "the connection failed"
        raise TemporalUnavailable(address, temporal_outage(exc) or refused) from exc


def temporal_unavailable(exc: BaseException, address: str) -> TemporalUnavailable | None:
    """``TemporalUnavailable`` when ``exc`` (from an RPC or a connect) means Temporal is unreachable, else ``None``."""
    if isinstance(exc, TemporalUnavailable):
        return exc
    reason = temporal_outage(exc)
    return None if reason is None else TemporalUnavailable(address, reason)


@dataclass(frozen=True)
class Poller:
    """A worker seen polling the task queue recently."""

    identity: str
    last_access: datetime | None


POLLER_FRESHNESS = timedelta(seconds=10)
"""The one window for "a worker polls the task queue" (doctor, the studio header, the stuck diagnosis).

Twice ``LONG_POLL_EXPIRATION``: a live worker is always seen within it, and a dead one (Temporal keeps
listing a killed worker's poller for minutes, its ``last_access_time`` frozen) drops out within ~10 s."""


async def workflow_pollers(client: Client, *, seen_within: timedelta | None = POLLER_FRESHNESS) -> list[Poller]:
    """Workers that polled ``TASK_QUEUE`` for workflow tasks within ``seen_within`` (all Temporal lists if None)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=TASK_QUEUE, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    pollers = [
        Poller(
            identity=p.identity,
            last_access=p.last_access_time.ToDatetime(tzinfo=UTC) if p.HasField("last_access_time") else None,
        )
        for p in response.pollers
    ]
    if seen_within is None:
        return pollers
    cutoff = datetime.now(UTC) - seen_within
    return [p for p in pollers if p.last_access is None or p.last_access >= cutoff]

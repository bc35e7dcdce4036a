"""The ``notify.outbox`` action (version 1): one row in ``workflow_notify_outbox`` for others to deliver."""

import json
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from engine.actions.base import ActionContext, ActionSpec
from engine.actions.errors import ActionError, ErrorCategory

INSERT_OUTBOX_ROW: Final = """
WITH inserted AS (
    INSERT INTO workflow_notify_outbox (tenant, run_id, step_path, idempotency_key, topic, payload, invocation_id)
    VALUES ($1, $2::uuid, $3, $4, $5, $6::text::jsonb, $7)
    ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
)
SELECT id FROM inserted
UNION ALL
SELECT id FROM workflow_notify_outbox
 WHERE tenant = $1 AND idempotency_key = $4 AND invocation_id = $7 AND NOT EXISTS (SELECT 1 FROM inserted)
"""
"""Insert one row and return its ``id``; on a key conflict, return the existing row's id only if it is ours.

"Ours" means written by the same ledger invocation (``$7``): an earlier delivery of this attempt, or an
earlier attempt of this invocation, whose success was not recorded. A row of another invocation, or any
conflict without an invocation id, returns nothing: a duplicate. A NULL idempotency key never conflicts
(the unique index is partial). The payload is sent as text and cast in SQL, so it works whatever jsonb
codec the pool installs.
"""


class OutboxInput(BaseModel):
    """What to publish: a topic and a JSON object."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1)
    payload: dict[str, Any]


class OutboxOutput(BaseModel):
    """The row's id (also on redelivery), or ``duplicate`` (and no id) when another invocation used the key."""

    model_config = ConfigDict(validate_by_name=True)

    outbox_id: int | None = Field(alias="outboxId")
    duplicate: bool


async def _write(ctx: ActionContext, data: OutboxInput) -> OutboxOutput:
    if ctx.db is None:
        raise ActionError(ErrorCategory.INTERNAL, "notify.outbox needs a database")
    outbox_id: int | None = await ctx.db.fetchval(
        INSERT_OUTBOX_ROW,
        ctx.tenant,
        ctx.run_id,
        ctx.step_path,
        ctx.idempotency_key,
        data.topic,
        json.dumps(data.payload, separators=(",", ":")),
        ctx.invocation_id,
    )
    return OutboxOutput(outbox_id=outbox_id, duplicate=outbox_id is None)


NOTIFY_OUTBOX = ActionSpec(
    name="notify.outbox",
    version=1,
    description="Write a notification row to workflow_notify_outbox for another system to deliver.",
    input_model=OutboxInput,
    output_model=OutboxOutput,
    handler=_write,
    pure=False,
)

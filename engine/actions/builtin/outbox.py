"""The ``notify.outbox`` action (version 1): one row in ``workflow_notify_outbox`` for others to deliver."""

import json
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from engine.actions.base import ActionContext, ActionSpec
from engine.actions.errors import ActionError, ErrorCategory

INSERT_OUTBOX_ROW: Final = """
INSERT INTO workflow_notify_outbox (tenant, run_id, step_path, idempotency_key, topic, payload)
VALUES ($1, $2::uuid, $3, $4, $5, $6::text::jsonb)
ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id
"""
"""Insert one row; ``id`` comes back unless a row with the same (tenant, idempotency key) exists.

One statement serves both cases: a NULL idempotency key never conflicts (the unique index is partial).
The payload is sent as text and cast in SQL, so it works whatever jsonb codec the pool installs.
"""


class OutboxInput(BaseModel):
    """What to publish: a topic and a JSON object."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1)
    payload: dict[str, Any]


class OutboxOutput(BaseModel):
    """The new row's id, or ``duplicate`` (and no id) when the idempotency key was already used."""

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
    )
    return OutboxOutput(outbox_id=outbox_id, duplicate=outbox_id is None)


NOTIFY_OUTBOX = ActionSpec(
    name="notify.outbox",
    version=1,
    description="Write a notification row to workflow_notify_outbox for another system to deliver.",
    input_model=OutboxInput,
    output_model=OutboxOutput,
    handler=_write,
)

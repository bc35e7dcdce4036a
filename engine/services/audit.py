"""Who is acting: the operating-system user and, over SSH, the client address."""

import getpass
import os
from dataclasses import dataclass
from typing import Any

from engine.services.context import ServiceContext
from engine.store import audit


@dataclass(frozen=True)
class Actor:
    """The person (or process) behind an operator action."""

    user: str
    source: str | None
    """``ssh:<client address>`` when ``SSH_CONNECTION`` is set, else ``local``."""

    @classmethod
    def current(cls) -> "Actor":
        """The actor of this process, from the OS user and ``SSH_CONNECTION``."""
        ssh = os.environ.get("SSH_CONNECTION", "").split()
        return cls(user=getpass.getuser(), source=f"ssh:{ssh[0]}" if ssh else "local")


async def record(ctx: ServiceContext, actor: Actor, *, run_id: str, action: str, **details: Any) -> None:
    """Write an audit entry for ``action`` on ``run_id``."""
    await audit.record(
        ctx.pool,
        tenant=ctx.tenant,
        run_id=run_id,
        action=action,
        actor=actor.user,
        source=actor.source,
        details=details,
    )

"""Each run's redactor, for the writers of its projections (built once per run and process, then cached).

Everything a run writes to Postgres passes its redactor first, so the read-model holds only what the
studio may show. Building one needs the run's original input (to know the secret values copied out of
it), which is sealed: this is one of the places that open it, and what it opens never leaves memory.

A child run also masks the secrets of its parent chain: a parent that hands its ssn to a child under a
name the child does not redact must not find it in the child's rows.
"""

from collections import OrderedDict
from typing import Final

from engine.keyring import Keyring
from engine.redaction import Redactor
from engine.store.db import Conn
from engine.store.runs import open_input

# The run (depth 0) and its ancestors, each with its definition's redact paths. The depth bound only
# guards against a corrupt cycle: child depth is limited far below it.
RUN_LINEAGE_REDACTION = """
WITH RECURSIVE lineage AS (
    SELECT r.tenant, r.run_id, r.parent_run_id, r.workflow_id, r.workflow_version, r.input_json, 0 AS depth
      FROM workflow_runs r
     WHERE r.tenant = $1 AND r.run_id = $2
    UNION ALL
    SELECT p.tenant, p.run_id, p.parent_run_id, p.workflow_id, p.workflow_version, p.input_json, l.depth + 1
      FROM workflow_runs p
      JOIN lineage l ON p.tenant = l.tenant AND p.run_id = l.parent_run_id
     WHERE l.depth < 64
)
SELECT l.depth, l.input_json, coalesce(v.definition -> 'redact', '[]'::jsonb) AS redact
  FROM lineage l
  LEFT JOIN workflow_definition_versions v
    ON v.tenant = l.tenant AND v.workflow_id = l.workflow_id AND v.version = l.workflow_version
 ORDER BY l.depth
"""

CACHED_RUNS: Final = 4096
"""Redactors kept per process; a run past this is rebuilt with one query when it writes again."""


async def load_redactor(conn: Conn, *, tenant: str, run_id: str, keyring: Keyring) -> Redactor | None:
    """The run's redactor: its definition's ``redact`` paths, and the secrets of its own sealed input and of
    its ancestors' inputs; None when the run does not exist.
    """
    rows = await conn.fetch(RUN_LINEAGE_REDACTION, tenant, run_id)
    if not rows:
        return None
    own = Redactor.for_input(open_input(rows[0]["input_json"], keyring), list(rows[0]["redact"]))
    inherited = [Redactor.for_input(open_input(r["input_json"], keyring), list(r["redact"])).secrets for r in rows[1:]]
    return Redactor(paths=own.paths, secrets=own.secrets.union(*inherited))


class RunRedactors:
    """A bounded, least-recently-used cache of redactors by (tenant, run id).

    A run's input never changes, so neither does its redactor: a cached one is never stale.
    """

    def __init__(self, keyring: Keyring, *, size: int = CACHED_RUNS) -> None:
        self._keyring = keyring
        self._size = size
        self._cache: OrderedDict[tuple[str, str], Redactor] = OrderedDict()

    async def get(self, conn: Conn, *, tenant: str, run_id: str) -> Redactor:
        """The run's redactor; a run that is not there (yet) gets the sensitive-key-only one, uncached."""
        key = (tenant, run_id)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        loaded = await load_redactor(conn, tenant=tenant, run_id=run_id, keyring=self._keyring)
        if loaded is None:
            return Redactor.keys_only()
        self._put(key, loaded)
        return loaded

    def _put(self, key: tuple[str, str], redactor: Redactor) -> None:
        self._cache[key] = redactor
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)

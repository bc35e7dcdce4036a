"""Rows holding controls, bidi overrides and newlines, printed by the real CLI: JSON parses, tables stay one row each.

The values are written straight into the read-model, as data stored before today's input rules would be.
"""

import json
from typing import Any

import asyncpg
import pytest

from engine.store.db import connect
from tests.conftest import cli_env
from tests.helpers import runstudio
from tests.tui import seed

DEAD_TEMPORAL = "127.0.0.1:1"
# Every C0 control but NUL (which jsonb cannot hold), DEL, every C1 control, and the bidi controls.
CONTROLS = "".join(chr(c) for c in [*range(1, 0x20), *range(0x7F, 0xA0)])
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
SPLIT_WORKFLOW = "wf\nsecond-line\u202eevil"
HOSTILE_INPUT: dict[str, Any] = {"every": CONTROLS + BIDI, "csi": "\x9b31m"}


@pytest.fixture
async def hostile_env(migrated_database_url: str) -> dict[str, str]:
    conn: asyncpg.Connection = await connect(migrated_database_url)
    try:
        await seed.publish(conn, {"id": SPLIT_WORKFLOW, "version": 1, "name": "n", "steps": []})
        for name in ("hostile-1", "hostile-2"):
            await seed.insert_run(
                conn,
                seed.Run(
                    name,
                    SPLIT_WORKFLOW,
                    "FAILED",
                    seed.ago(60),
                    seed.ago(30),
                    input=HOSTILE_INPUT,
                    error={"category": "ActionError", "message": CONTROLS},
                ),
            )
    finally:
        await conn.close()
    return cli_env(RUNSTUDIO_DATABASE_URL=migrated_database_url, TEMPORAL_ADDRESS=DEAD_TEMPORAL)


async def test_json_output_parses_back_to_the_stored_values(hostile_env: dict[str, str]) -> None:
    listed = runstudio("--tenant", seed.TENANT, "runs", "--json", env=hostile_env)
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert [i["workflow_id"] for i in items] == [SPLIT_WORKFLOW, SPLIT_WORKFLOW]

    shown = runstudio("--tenant", seed.TENANT, "show", seed.run_id("hostile-1"), "--json", env=hostile_env)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["input"] == HOSTILE_INPUT
    assert detail["error"]["message"] == CONTROLS
    # Nothing a terminal acts on reaches it raw: only the JSON layout's own newlines.
    assert not any(ch in shown.stdout for ch in CONTROLS + BIDI if ch != "\n")


async def test_the_runs_table_keeps_one_line_per_run_and_shows_the_hidden_characters(
    hostile_env: dict[str, str],
) -> None:
    table = runstudio("--tenant", seed.TENANT, "runs", env=hostile_env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 3  # header and two runs
    for line in lines[1:]:
        assert "wf\\nsecond-line⟨U+202E⟩evil@1" in line
        assert "FAILED" in line
    assert "\u202e" not in table.stdout

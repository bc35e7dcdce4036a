"""The engine and the worker never import Textual (checked in a fresh interpreter)."""

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "studio_tui")))))
"""


@pytest.mark.parametrize(
    "modules",
    [
        ["worker.main", "engine.temporal.workflow", "engine.temporal.activities"],
        ["engine.services.launch", "engine.services.runs", "engine.services.publish", "engine.services.doctor"],
        ["runstudio.cli"],
    ],
)
def test_no_textual_module_is_imported(modules: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_the_task_queue_cannot_be_configured() -> None:
    from engine.config import Settings
    from engine.temporal import TASK_QUEUE

    assert TASK_QUEUE == "workflow-runtime-v2"
    assert not any("queue" in name.lower() for name in Settings.model_fields)
    settings = Settings.model_validate({"TASK_QUEUE": "other", "RUNSTUDIO_TASK_QUEUE": "other"})
    assert not any(v == "other" for v in settings.model_dump().values())

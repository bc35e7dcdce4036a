"""Redaction as the read-model's writers apply it: copies of secrets in any form, schemas, whole projections."""

import json
from datetime import UTC, datetime

from engine.interpreter.effects import StepRecord
from engine.redaction import PLACEHOLDER, Redactor
from engine.store.projections import redacted
from engine.temporal.contracts import NonMatch, Projection, RunPatch, TaskRecord, WaitRecord

AT = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = 'pa"ss\\wörd'
REDACTOR = Redactor.for_input({"password": SECRET, "ssn": "123-45-6789"}, ["ssn"])


def test_a_secret_quoted_inside_json_text_is_masked_too() -> None:
    message = f"payload was {json.dumps({'p': SECRET})} and {json.dumps({'p': SECRET}, ensure_ascii=False)}"
    assert REDACTOR.value(message) == f'payload was {{"p": "{PLACEHOLDER}"}} and {{"p": "{PLACEHOLDER}"}}'


def test_mask_keeps_key_names_so_a_form_schema_still_validates() -> None:
    schema = {"properties": {"password": {"type": "string", "default": "123-45-6789"}}}
    assert REDACTOR.mask(schema) == {"properties": {"password": {"type": "string", "default": PLACEHOLDER}}}
    assert REDACTOR.value(schema) == {"properties": {"password": PLACEHOLDER}}


def test_keys_only_masks_sensitive_keys_and_nothing_else() -> None:
    assert Redactor.keys_only().value({"token": "t-1234", "note": "t-1234"}) == {"token": PLACEHOLDER, "note": "t-1234"}


def test_every_value_of_a_projection_passes_the_redactor_and_the_keys_it_routes_on_do_not() -> None:
    projection = Projection(
        tenant="t",
        run_id="r",
        steps=[
            StepRecord(
                seq=1,
                attempt=1,
                path="p",
                step_id="s",
                step_type="action.call",
                iteration="123-45-6789",
                status="FAILED",
                started_at=AT,
                error={"message": f"bad {SECRET}"},
            )
        ],
        waits=[
            WaitRecord(
                seq=2,
                step_path="w",
                wait_type="event",
                status="RESOLVED",
                event_name="e",
                correlation_key="123-45-6789",
                payload={"ref": "123-45-6789"},
                non_match=NonMatch(event_id="x", reason="ssn was 123-45-6789", at=AT),
            )
        ],
        tasks=[
            TaskRecord(
                task_id="k",
                seq=3,
                step_path="t",
                status="COMPLETED",
                title="Check 123-45-6789",
                description=SECRET,
                context_data={"hint": SECRET},
                response={"note": "typed by a person"},
            )
        ],
        run=RunPatch(vars={"note": f"pw {SECRET}"}, output={"ssn": "123-45-6789"}, error={"message": SECRET}),
    )
    stored = redacted(projection, REDACTOR)
    assert stored.steps[0].error == {"message": f"bad {PLACEHOLDER}"} and stored.steps[0].iteration == PLACEHOLDER
    wait = stored.waits[0]
    assert (wait.payload, wait.correlation_key) == ({"ref": PLACEHOLDER}, "123-45-6789")
    assert wait.non_match is not None and wait.non_match.reason == f"ssn was {PLACEHOLDER}"
    task = stored.tasks[0]
    assert (task.title, task.description, task.context_data) == (
        f"Check {PLACEHOLDER}",
        PLACEHOLDER,
        {"hint": PLACEHOLDER},
    )
    assert task.response == {"note": "typed by a person"}
    assert stored.run == RunPatch(
        vars={"note": f"pw {PLACEHOLDER}"}, output={"ssn": PLACEHOLDER}, error={"message": PLACEHOLDER}
    )
    assert projection.run is not None and projection.run.vars == {"note": f"pw {SECRET}"}  # the original is untouched

"""Comparing two runs: input, outcome, steps and vars/output, all read redacted through the run detail.

Runs of the same workflow are compared whatever their versions: steps are aligned by path and step id,
and the diff names both versions when they differ. Runs of different workflows are refused (their step
paths and payloads do not correspond). Secrets are never read: whether two placeholders hide different
secrets is known only for a replay and its original, from what the replay recorded (``engine.diff.secrets``).
"""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from engine.diff.json_paths import PathSection, SecretKnowledge, diff_values
from engine.diff.steps import StepAttempt, StepComparison, align_steps
from engine.errors import RunStudioError
from engine.services.context import ServiceContext
from engine.services.runs import RunDetail, get_run_detail, resolve_run_id


class RunsNotComparable(RunStudioError):
    """The two runs cannot be compared (the same run twice, or runs of different workflows)."""


class NotAReplay(RunStudioError):
    """The run was not started by a replay, so it has no original to compare with."""


class RunRef(BaseModel):
    """Which run one side of the diff is."""

    run_id: str
    workflow_id: str
    workflow_version: int
    status: str
    trigger: str
    started_at: datetime
    completed_at: datetime | None


class Outcome(BaseModel):
    """How one run ended (or where it is): status and its error, redacted."""

    status: str
    error_category: str | None
    error_message: str | None


class OutcomeDiff(BaseModel):
    """Both outcomes and whether they differ."""

    a: Outcome
    b: Outcome
    status_changed: bool
    error_changed: bool


class DiffSummary(BaseModel):
    """Counts for a one-line headline."""

    input_changes: int
    steps_added: int
    steps_removed: int
    steps_changed: int
    state_changes: int
    outcome_changed: bool


class RunDiff(BaseModel):
    """Run A against run B; every value in it is redacted."""

    a: RunRef
    b: RunRef
    relation: str | None
    """How the runs are linked (``B replays A (edited payload)``), if they are."""
    same_version: bool
    version_note: str | None
    """Set when the versions differ: what that means for the step alignment."""
    secrets_note: str
    """How placeholders were compared: what is known about the secrets behind them, and how."""
    input: PathSection
    outcome: OutcomeDiff
    steps: list[StepComparison]
    state: PathSection
    """``vars`` and ``output``, by path."""
    summary: DiffSummary


async def diff_runs(ctx: ServiceContext, run_a: str, run_b: str) -> RunDiff:
    """Compare run ``run_a`` (the "before") with ``run_b`` for this tenant; ids may be unique prefixes.

    ``RunNotFound``/``RunIdAmbiguous`` for an id that names no single run; ``RunsNotComparable`` for the same
    run twice or runs of different workflows.
    """
    a_id = await resolve_run_id(ctx, run_a)
    b_id = await resolve_run_id(ctx, run_b)
    if a_id == b_id:
        raise RunsNotComparable(f"both ids name run {a_id}; give two different runs to compare")
    a = await get_run_detail(ctx, a_id)
    b = await get_run_detail(ctx, b_id)
    if a.workflow_id != b.workflow_id:
        raise RunsNotComparable(
            f"run {a.run_id} is {a.workflow_id}@{a.workflow_version} and run {b.run_id} is "
            f"{b.workflow_id}@{b.workflow_version}: runs of different workflows are not compared (their steps "
            "and payloads do not correspond); compare two runs of one workflow, of any versions"
        )
    return compare_details(a, b)


async def diff_against_original(ctx: ServiceContext, run_id: str) -> RunDiff:
    """Compare a replay's original (A) with the replay (B); ``NotAReplay`` if the run is not a replay."""
    replay = await get_run_detail(ctx, await resolve_run_id(ctx, run_id))
    if replay.replay_of_run_id is None:
        raise NotAReplay(
            f"run {replay.run_id} was started by trigger {replay.trigger!r}, not by a replay, so it has no original; "
            "compare it with another run instead"
        )
    return await diff_runs(ctx, replay.replay_of_run_id, replay.run_id)


def compare_details(a: RunDetail, b: RunDetail) -> RunDiff:
    """The diff of two loaded, redacted run details (A before, B after)."""
    knowledge, relation = secret_knowledge(a, b)
    input_section = diff_values(a.input, b.input, root="input", secrets=knowledge, secret_paths_apply=True)
    state_section = diff_values(
        {"vars": a.vars, "output": a.output}, {"vars": b.vars, "output": b.output}, root="$", secrets=knowledge
    )
    # The state's two roots read as ``vars.x`` and ``output.y``, not ``$.vars.x``.
    for change in state_section.changes:
        change.path = change.path.removeprefix("$.")
    steps = align_steps(_attempts(a), _attempts(b))
    outcome = _outcome_diff(a, b)
    same_version = a.workflow_version == b.workflow_version
    return RunDiff(
        a=_ref(a),
        b=_ref(b),
        relation=relation,
        same_version=same_version,
        version_note=None
        if same_version
        else (
            f"different versions: A ran {a.workflow_id}@{a.workflow_version}, B ran {b.workflow_id}@"
            f"{b.workflow_version}; steps are aligned by path and step id, so a step that moved or changed id "
            "between the versions shows as removed and added"
        ),
        secrets_note=knowledge.reason,
        input=input_section,
        outcome=outcome,
        steps=steps,
        state=state_section,
        summary=DiffSummary(
            input_changes=len(input_section.changes) + input_section.omitted,
            steps_added=sum(s.change == "added" for s in steps),
            steps_removed=sum(s.change == "removed" for s in steps),
            steps_changed=sum(s.change == "changed" for s in steps),
            state_changes=len(state_section.changes) + state_section.omitted,
            outcome_changed=outcome.status_changed or outcome.error_changed,
        ),
    )


def secret_knowledge(a: RunDetail, b: RunDetail) -> tuple[SecretKnowledge, str | None]:
    """What is known about the secrets behind the two runs' placeholders, and how the runs are linked.

    Only a replay and its original are linked: an unedited replay sent the original input, so every secret is
    the same; an edited one recorded (in the original's audit) which secret paths the operator overwrote.
    """
    if b.replay_of_run_id == a.run_id:
        original, replay, relation = a, b, "B replays A"
    elif a.replay_of_run_id == b.run_id:
        original, replay, relation = b, a, "A replays B"
    else:
        return SecretKnowledge(
            known=False,
            reason="the runs are not a replay and its original, so secrets behind equal placeholders are not "
            "compared (they are never decrypted for a diff)",
        ), None
    edited = replay.trigger_metadata.get("edited")
    if edited is False:
        return SecretKnowledge(
            known=True, reason="an unedited replay sends the original input: every secret is the same"
        ), f"{relation} (original input)"
    replaced = _replaced_secrets(original, replay.run_id)
    if replaced is None:
        return SecretKnowledge(
            known=False,
            reason="this edited replay did not record which secrets it replaced, so secrets behind equal "
            "placeholders are not compared (they are never decrypted for a diff)",
        ), f"{relation} (edited payload)"
    reason = (
        f"the edited replay replaced the secret at {', '.join(sorted(replaced))}; every other secret is the same"
        if replaced
        else "the edited replay kept every secret of the original"
    )
    return SecretKnowledge(known=True, changed=frozenset(replaced), reason=reason), f"{relation} (edited payload)"


def _replaced_secrets(original: RunDetail, replay_run_id: str) -> list[str] | None:
    """The secret paths the replay's audit entry says the edit replaced; ``None`` if it does not say."""
    for entry in original.audit:
        if entry.action != "replay" or entry.details.get("newRunId") != replay_run_id:
            continue
        replaced = entry.details.get("secretsReplaced")
        if isinstance(replaced, list) and all(isinstance(p, str) for p in replaced):
            return list(replaced)
        return None
    return None


def _attempts(detail: RunDetail) -> list[StepAttempt]:
    return [
        StepAttempt(
            path=s.path,
            step_id=s.step_id,
            type=s.type,
            status=s.status,
            attempt=s.attempt,
            iteration=s.iteration,
            started_at=s.started_at,
            duration_ms=s.duration_ms,
            error=s.error,
        )
        for s in detail.steps
    ]


def _outcome(detail: RunDetail) -> Outcome:
    error: dict[str, Any] = detail.error or {}
    category, message = error.get("category"), error.get("message")
    return Outcome(
        status=detail.status,
        error_category=category if isinstance(category, str) else None,
        error_message=message if isinstance(message, str) else None,
    )


def _outcome_diff(a: RunDetail, b: RunDetail) -> OutcomeDiff:
    left, right = _outcome(a), _outcome(b)
    return OutcomeDiff(
        a=left,
        b=right,
        status_changed=left.status != right.status,
        error_changed=(left.error_category, left.error_message) != (right.error_category, right.error_message),
    )


def _ref(detail: RunDetail) -> RunRef:
    return RunRef(
        run_id=str(uuid.UUID(detail.run_id)),
        workflow_id=detail.workflow_id,
        workflow_version=detail.workflow_version,
        status=detail.status,
        trigger=detail.trigger,
        started_at=detail.started_at,
        completed_at=detail.completed_at,
    )

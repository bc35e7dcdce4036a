"""The replay side-effect preview: which of the original run's action calls would run again.

For every ``action.call`` the original run executed (its rows in the invocation ledger, plus calls the
ledger answered from another run's key, which left only a step row), the call's idempotency key is
predicted under the replay's payload — the original input when unedited, the edited payload with its
redaction placeholders restored when edited, both read through
:func:`engine.services.replay.replay_source` — and each call gets one outcome:

``reused``
    The predicted key already SUCCEEDED in the tenant's ledger: the ledger hands back the stored
    output, the action does not run.
``runs again``
    The step has no idempotency key (its key is the run id and step number, new for every run), the
    key is new (for instance it includes the replay's own run id), or its last attempt did not succeed.
``unknown``
    The key reads what only the running workflow knows (:mod:`engine.services.preview_keys`): the
    clock, randomness, loop locals, a caught error, or vars set from action outputs, events, human
    tasks, child runs or inside branches and loops. When in doubt, a key is unknown.

Each call also says whether its action is side-effect free (``ActionSpec.pure``, judged on the input
the original call resolved).

The count rule: **side effects that will run again = impure calls whose outcome is ``runs again`` or
``unknown``**. Pure calls never count (repeating them changes nothing outside the run); an unknown
call counts because it may run again, and a preview must not promise less than the replay does.

The preview only reads: it creates no run, writes no audit row and never calls Temporal. It covers
the calls the original made; an edited payload that takes another branch may reach calls it did not.
"""

import uuid
from typing import Any, Final, Literal

from pydantic import BaseModel

from engine.actions.registry import default_registry
from engine.dsl import models as m
from engine.dsl.paths import step_index
from engine.expressions import ExpressionError
from engine.keyring import is_sealed
from engine.services import preview_keys as keys
from engine.services.context import ServiceContext
from engine.services.payloads import check_payload
from engine.services.replay import ReplaySource, replay_source
from engine.store import ledger_keys, steps
from engine.store.steps import InvocationRow

Outcome = Literal["reused", "runs again", "unknown"]
REUSED: Final = "reused"
RUNS_AGAIN: Final = "runs again"
UNKNOWN: Final = "unknown"

COUNT_RULE: Final = "side effects = impure calls that run again or are unknown"
"""The summary rule in one line (the CLI help and the studio repeat it)."""


class PreviewCall(BaseModel):
    """One action call of the original run and what the replay would do with it."""

    seq: int
    step_path: str
    step_id: str
    iteration: str | None
    action: str
    version: int
    pure: bool
    """The action declares this call side-effect free."""
    outcome: Outcome
    reason: str
    original_status: str | None
    """The status of the original's ledger row for this call (``None`` when another run's key answered it)."""

    @property
    def side_effect(self) -> bool:
        """Counted in :attr:`ReplayPreview.side_effects`: impure and not certainly reused."""
        return not self.pure and self.outcome != REUSED


class ReplayPreview(BaseModel):
    """The preview of a replay of ``run_id``; ``side_effects`` follows the module's count rule."""

    run_id: str
    workflow_id: str
    workflow_version: int
    edited: bool
    calls: list[PreviewCall]
    side_effects: int
    reused: int
    runs_again: int
    unknown: int


async def preview_replay(ctx: ServiceContext, run_id: str, *, payload: dict[str, Any] | None) -> ReplayPreview:
    """Predict, without starting anything, what a replay of ``run_id`` with ``payload`` would run again.

    ``payload`` is ``None`` for the original input, or the edited (redacted) payload; it is checked as
    the replay would check it (``PayloadRejected``, ``ReplayNotPossible``, ``RunNotFound``).
    """
    source = await replay_source(ctx, run_id, payload=payload)
    check_payload(source.version.definition, source.payload)
    definition = m.Definition.model_validate(source.version.definition)
    run_id = source.run.run_id
    ledger = await steps.invocations(ctx.pool, tenant=ctx.tenant, run_id=run_id)
    step_rows = await steps.steps(ctx.pool, tenant=ctx.tenant, run_id=run_id)
    by_seq: dict[int, InvocationRow] = {}
    for row in ledger:
        by_seq[row.seq] = row  # ordered by id: the latest row of a call (a key per attempt) wins
    iterations: dict[int, str | None] = {}
    for step_row in step_rows:
        if step_row.step_type == "action.call":
            iterations.setdefault(step_row.seq, step_row.iteration)
    calls_seq = sorted(set(by_seq) | set(iterations))
    predictor = _Predictor(definition, source, tenant=ctx.tenant)
    paths = {seq: _path_of(seq, by_seq, step_rows) for seq in calls_seq}
    # A key does not depend on the iteration (loop locals make it unknown), so each step is predicted once.
    by_path = {path: predictor.predict(path) for path in dict.fromkeys(paths.values())}
    predictions = {seq: by_path[paths[seq]] for seq in calls_seq}
    statuses = await ledger_keys.key_statuses(
        ctx.pool, tenant=ctx.tenant, keys=[p.key for p in predictions.values() if p.key is not None]
    )
    calls = [predictor.call(seq, by_seq.get(seq), iterations.get(seq), predictions[seq], statuses) for seq in calls_seq]
    return ReplayPreview(
        run_id=run_id,
        workflow_id=source.run.workflow_id,
        workflow_version=source.run.workflow_version,
        edited=source.edited,
        calls=calls,
        side_effects=sum(1 for c in calls if c.side_effect),
        reused=sum(1 for c in calls if c.outcome == REUSED),
        runs_again=sum(1 for c in calls if c.outcome == RUNS_AGAIN),
        unknown=sum(1 for c in calls if c.outcome == UNKNOWN),
    )


def side_effects_sentence(count: int) -> str:
    """``N side effect(s) will run again`` (the confirm line of the studio and the CLI summary)."""
    return f"{count} side effect{'' if count == 1 else 's'} will run again"


def _path_of(seq: int, by_seq: dict[int, InvocationRow], step_rows: list[steps.StepRow]) -> str:
    row = by_seq.get(seq)
    if row is not None:
        return row.step_path
    return next(s.path for s in step_rows if s.seq == seq)


class _Prediction(BaseModel):
    step_path: str
    key: str | None = None
    outcome: Outcome | None = None
    """Set when decided without the ledger (no key, unknown)."""
    reason: str = ""


class _Predictor:
    """Predicts keys for one replay: the definition, the payload and the replay's ``meta``."""

    def __init__(self, definition: m.Definition, source: ReplaySource, *, tenant: str) -> None:
        self.definition = definition
        self.steps = step_index(definition)
        self.payload = source.payload
        # The replay's run id does not exist yet; any fresh id stands for it, and a key containing it is new.
        self.new_run_id = str(uuid.uuid4())
        self.meta = {
            "run_id": self.new_run_id,
            "workflow_id": source.run.workflow_id,
            "workflow_version": source.run.workflow_version,
            "tenant": tenant,
            "attempt": 1,
        }
        self.registry = default_registry()

    def predict(self, path: str) -> _Prediction:
        """The replay's key for the call at ``path``, or its outcome when no key can be predicted."""
        step = self.steps.get(path)
        if not isinstance(step, m.ActionCallStep):
            return _Prediction(step_path=path, outcome=UNKNOWN, reason=f"no action.call at {path} in the definition")
        if step.idempotency_key is None:
            reason = "no idempotency key: the default key (run id and step number) is new for every run"
            return _Prediction(step_path=path, outcome=RUNS_AGAIN, reason=reason)
        try:
            locals_bound, in_loop = keys.locals_at(self.definition, path)
            known = keys.known_vars_before(self.definition, path, payload=self.payload, meta=self.meta, in_loop=in_loop)
            resolved = keys.evaluate_known(
                step.idempotency_key, known, payload=self.payload, meta=self.meta, locals_bound=locals_bound
            )
        except keys.KeyUnknowable as exc:
            return _Prediction(step_path=path, outcome=UNKNOWN, reason=f"the key {exc}")
        except ExpressionError as exc:
            return _Prediction(step_path=path, outcome=UNKNOWN, reason=f"the key does not evaluate here: {exc.reason}")
        if resolved is None or resolved == "":
            reason = "the key evaluates to nothing; the replayed step would fail"
            return _Prediction(step_path=path, outcome=UNKNOWN, reason=reason)
        return _Prediction(step_path=path, key=str(resolved))

    def call(
        self,
        seq: int,
        row: InvocationRow | None,
        iteration: str | None,
        prediction: _Prediction,
        statuses: dict[str, str],
    ) -> PreviewCall:
        """The preview line of one call, deciding the outcome of a predicted key from the ledger."""
        step = self.steps.get(prediction.step_path)
        action = row.action if row is not None else step.action if isinstance(step, m.ActionCallStep) else "?"
        version = row.action_version if row is not None else step.version if isinstance(step, m.ActionCallStep) else 0
        judged_input: Any = row.input if row is not None else step.input if isinstance(step, m.ActionCallStep) else {}
        if is_sealed(judged_input):
            judged_input = None  # an input nobody may read here cannot vouch for purity
        pure = self.registry.exists(action, version) and self.registry.get(action, version).is_pure(judged_input)
        outcome, reason = self._decide(prediction, statuses)
        return PreviewCall(
            seq=seq,
            step_path=prediction.step_path,
            step_id=step.id if step is not None else "?",
            iteration=iteration,
            action=action,
            version=version,
            pure=pure,
            outcome=outcome,
            reason=reason,
            original_status=row.status if row is not None else None,
        )

    def _decide(self, prediction: _Prediction, statuses: dict[str, str]) -> tuple[Outcome, str]:
        if prediction.outcome is not None:
            return prediction.outcome, prediction.reason
        key = prediction.key
        assert key is not None
        status = statuses.get(key)
        if status == "SUCCEEDED":
            return REUSED, "the key already succeeded: the ledger answers with its stored output"
        if status is not None:
            return RUNS_AGAIN, f"the key's last attempt is {status}, so the ledger lets it run again"
        if self.new_run_id in key:
            return RUNS_AGAIN, "a new key: it includes the replay's own run id"
        return RUNS_AGAIN, "a new key: the ledger has never seen it"

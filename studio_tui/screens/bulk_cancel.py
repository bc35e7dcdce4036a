"""Bulk cancel: which runs a filter selects, and the modal that confirms, cancels with progress and shows the outcome.

The modal goes through three phases on one screen, so the operator never loses sight of what was asked:
*confirm* (the count and what the runs are), *canceling* (``7/12`` as each run is answered) and *outcome*
(every run with canceled / refused: reason / not cancelable: reason, and the totals).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, Literal

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static

from engine.services.audit import Actor
from engine.services.cancel import CANCELABLE, CancelOutcome, cancel_runs, select_cancelable
from engine.services.context import ServiceContext
from engine.services.runs import RunSummary, list_runs
from studio_tui.failures import failure_text
from studio_tui.format import role_style, short_id
from studio_tui.sanitize import safe_text
from studio_tui.widgets.studio_footer import StudioFooter

SELECT_PAGE: Final = 500
"""Runs read per keyset page when a run-id prefix selects the runs to cancel."""

LISTED_IDS: Final = 200
"""Ids listed before confirming a filter's runs (the count is always exact)."""
OUTCOME_ORDER: Final = ("refused", "not_cancelable", "already_requested", "canceled")
"""The outcome lists what needs the operator's attention first."""

_OUTCOME_LOOK: Final[dict[str, tuple[str, str, str]]] = {
    "canceled": ("✓", "canceled", "success"),
    "refused": ("✗", "refused", "error"),
    "not_cancelable": ("○", "not cancelable", "warning"),
    "already_requested": ("…", "already requested", "warning"),
}
"""Glyph, words and colour role of each outcome."""

Phase = Literal["confirm", "canceling", "outcome"]


@dataclass(frozen=True)
class BulkSelection:
    """The runs a bulk cancel is about, and how to say what they are."""

    run_ids: tuple[str, ...]
    question: str
    """``Cancel 12 runs (status RUNNING, workflow echo-chain)?`` (our text around sanitised filter values)."""
    known: dict[str, RunSummary] = field(default_factory=dict)
    """Summaries of the runs the studio already has (the marked ones), to list them by workflow."""


def describe_filter(status: str | None, workflow_id: str | None, run_id_prefix: str | None) -> str:
    """``status RUNNING, workflow echo-chain``: the filter in words (values are untrusted: sanitise before showing)."""
    parts = [f"status {status}" if status else "status RUNNING or WAITING"]
    if workflow_id is not None:
        parts.append(f"workflow {workflow_id}")
    if run_id_prefix is not None:
        parts.append(f"run id starting {run_id_prefix}")
    return ", ".join(parts)


def plural(count: int, noun: str) -> str:
    """``1 run``, ``12 runs``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def for_marked(runs: Sequence[RunSummary]) -> BulkSelection:
    """The selection of marked runs, newest first."""
    ordered = sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)
    return BulkSelection(
        run_ids=tuple(r.run_id for r in ordered),
        question=f"Cancel {plural(len(ordered), 'marked run')}?",
        known={r.run_id: r for r in ordered},
    )


def for_filter(run_ids: Sequence[str], description: str) -> BulkSelection:
    """The selection of every run a filter matched."""
    return BulkSelection(run_ids=tuple(run_ids), question=f"Cancel {plural(len(run_ids), 'run')} ({description})?")


async def select_matching(
    ctx: ServiceContext, *, status: str | None, workflow_id: str | None, run_id_prefix: str | None
) -> list[str]:
    """Ids of the RUNNING or WAITING runs matching the runs list's filter, newest first, every page of them.

    A status that is not cancelable selects nothing (the caller says so rather than listing thousands of
    finished runs as not cancelable). A run-id prefix is searched with ``list_runs`` page by page; otherwise
    ``select_cancelable`` does the work.
    """
    if status is not None and status not in CANCELABLE:
        return []
    if run_id_prefix is None:
        return await select_cancelable(ctx, status=status, workflow_id=workflow_id)
    found: list[RunSummary] = []
    for wanted in [status] if status is not None else sorted(CANCELABLE):
        after = None
        while True:
            page = await list_runs(
                ctx, status=wanted, workflow_id=workflow_id, run_id_prefix=run_id_prefix, after=after, limit=SELECT_PAGE
            )
            found.extend(page)
            if len(page) < SELECT_PAGE:
                break
            after = (page[-1].started_at, page[-1].run_id)
    found.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
    return [r.run_id for r in found]


def totals(outcomes: Sequence[CancelOutcome]) -> str:
    """``2 canceled · 1 refused · 0 not cancelable``."""
    counts: Counter[str] = Counter(o.outcome for o in outcomes)
    kinds = ["canceled", "refused", "not_cancelable"] + (["already_requested"] if counts["already_requested"] else [])
    return " · ".join(f"{counts[kind]} {_OUTCOME_LOOK[kind][1]}" for kind in kinds)


class BulkCancelScreen(ModalScreen[list[CancelOutcome] | None]):
    """Confirm, cancel with progress, then the per-run outcome. Dismissed with the outcomes (``None``: backed out)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes, cancel them"),
        Binding("n", "back", "No", show=False),
        Binding("escape", "back", "Back"),
        # The outcome: escape and enter both close it (the list has the focus, so enter is free).
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close"),
        # While canceling, q would stop the worker and leave runs without an outcome: say so instead.
        Binding("q", "hold", "Quit", show=False),
    ]

    phase: reactive[Phase] = reactive("confirm", init=False)
    """Where the bulk cancel is: asking, canceling, or showing what happened."""
    progress: reactive[tuple[int, int]] = reactive((0, 0), init=False)
    """(runs answered, runs asked) while canceling."""

    class Finished(Message):
        """Every run of the selection has an outcome."""

        def __init__(self, outcomes: list[CancelOutcome]) -> None:
            self.outcomes = outcomes
            super().__init__()

    class Failed(Message):
        """The bulk cancel stopped before it could answer for every run."""

        def __init__(self, error: str) -> None:
            self.error = error
            super().__init__()

    def __init__(self, services: ServiceContext, selection: BulkSelection) -> None:
        super().__init__()
        self.services = services
        self.selection = selection
        self._outcomes: list[CancelOutcome] | None = None

    @property
    def outcomes(self) -> list[CancelOutcome] | None:
        """Every run's outcome once the cancel has finished (empty if it stopped early); ``None`` before."""
        return self._outcomes

    def compose(self) -> ComposeResult:
        """The question, the runs (later their outcomes), a progress bar and the two buttons."""
        count = len(self.selection.run_ids)
        with Vertical(id="bulk-body"):
            yield Static(id="bulk-question", markup=False)
            yield Static(id="bulk-note", markup=False)
            with VerticalScroll(id="bulk-list"):
                yield Static(id="bulk-runs", markup=False)
            yield ProgressBar(total=count, show_eta=False, show_percentage=False, id="bulk-progress")
            with Horizontal(id="bulk-buttons"):
                yield Button(f"Cancel {plural(count, 'run')} (y)", id="bulk-confirm", variant="error", compact=True)
                yield Button("Back (esc)", id="bulk-back", compact=True)
        yield StudioFooter()

    def on_mount(self) -> None:
        """Ask; the safe answer has the focus, so a stray enter changes nothing."""
        self.query_one("#bulk-body").border_title = "Bulk cancel"
        self.query_one("#bulk-progress").display = False
        self._show_question()
        self.query_one("#bulk-runs", Static).update(self._selection_list())
        self.query_one("#bulk-back", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Confirm or back out while asking; close once the outcome is shown; nothing while canceling."""
        if action in ("confirm", "back"):
            return self.phase == "confirm"
        if action == "close":
            return self.phase == "outcome"
        if action == "hold":
            return self.phase == "canceling"
        return True

    # -- rendering --------------------------------------------------------------------------------

    def _show_question(self) -> None:
        question = Text(style="bold")
        question.append_text(safe_text(self.selection.question))
        self.query_one("#bulk-question", Static).update(question)
        note = (
            "Each run is canceled through Temporal first; a run Temporal refuses is left as it is. "
            "You will see what happened to every run."
        )
        self.query_one("#bulk-note", Static).update(Text(note, style="dim"))

    def _selection_list(self) -> Text:
        """The runs to cancel: one a line with status and workflow when the studio has them, else their ids."""
        if self.selection.known:
            return self._run_lines(self.selection.run_ids)
        shown = self.selection.run_ids[:LISTED_IDS]
        text = Text.assemble(("Runs, newest first: ", "dim"))
        text.append_text(safe_text(", ".join(short_id(r) for r in shown)))
        if len(self.selection.run_ids) > len(shown):
            text.append(f" and {len(self.selection.run_ids) - len(shown)} more", style="dim")
        return text

    def watch_phase(self, phase: Phase) -> None:
        """Buttons while asking, the bar while canceling, a close button with the outcome."""
        self.refresh_bindings()
        self.query_one("#bulk-progress").display = phase == "canceling"
        self.query_one("#bulk-buttons").display = phase != "canceling"
        self.query_one("#bulk-confirm").display = phase == "confirm"
        if phase == "outcome":
            self.query_one("#bulk-back", Button).label = "Close (enter)"
            self.query_one("#bulk-list", VerticalScroll).focus()

    def watch_progress(self, progress: tuple[int, int]) -> None:
        """``Canceling… 7/12``."""
        done, total = progress
        self.query_one("#bulk-progress", ProgressBar).update(total=total, progress=done)
        self.query_one("#bulk-note", Static).update(Text(f"Canceling… {done}/{total}", style="bold"))

    def _show_outcome(self, outcomes: Sequence[CancelOutcome]) -> None:
        canceled = sum(1 for o in outcomes if o.outcome == "canceled")
        question = Text(f"Canceled {canceled} of {plural(len(outcomes), 'run')}", style="bold")
        self.query_one("#bulk-question", Static).update(question)
        self.query_one("#bulk-note", Static).update(Text(totals(outcomes)))
        self.query_one("#bulk-runs", Static).update(self._outcome_groups(outcomes))

    def _outcome_groups(self, outcomes: Sequence[CancelOutcome]) -> Group:
        """Every run under its outcome and reason: refused first, runs with the same reason together."""
        variables = self.app.theme_variables
        groups: dict[tuple[str, str], list[CancelOutcome]] = {}
        for outcome in sorted(outcomes, key=lambda o: OUTCOME_ORDER.index(o.outcome)):
            groups.setdefault((outcome.outcome, outcome.reason or ""), []).append(outcome)
        parts: list[RenderableType] = []
        for (kind, reason), members in groups.items():
            glyph, words, role = _OUTCOME_LOOK[kind]
            heading = Text.assemble((f"{glyph} {words}", role_style(variables, role, bold=True)))
            heading.append(f" · {plural(len(members), 'run')}", style="dim")
            parts.append(heading)
            if reason:
                parts.append(Padding(safe_text(reason, style="dim"), (0, 0, 0, 2)))
            parts.append(Padding(self._run_lines([o.run_id for o in members], members), (0, 0, 1, 2)))
        return Group(*parts)

    def _run_lines(self, run_ids: Sequence[str], outcomes: Sequence[CancelOutcome] = ()) -> Text:
        """One line a run: short id, status (when known), workflow (when known)."""
        before = {o.run_id: o.status_before for o in outcomes}
        text = Text()
        for index, run_id in enumerate(run_ids):
            run = self.selection.known.get(run_id)
            status = before.get(run_id) or (run.status if run is not None else None)
            if index:
                text.append("\n")
            text.append_text(safe_text(short_id(run_id), single_line=True))
            text.append("  ")
            text.append_text(safe_text(f"{status or '':<9}", single_line=True))
            if run is not None:
                text.append("  ")
                text.append_text(safe_text(f"{run.workflow_id}@{run.workflow_version}", single_line=True))
        return text

    # -- the cancel (worker) ----------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="bulk-cancel")
    async def _cancel(self) -> None:
        try:
            outcomes = await cancel_runs(
                self.services, list(self.selection.run_ids), actor=Actor.current(), on_progress=self._on_progress
            )
        except Exception as exc:
            self.post_message(self.Failed(failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Finished(outcomes))

    def _on_progress(self, done: int, total: int) -> None:
        # Called by cancel_runs in this app's event loop (the worker is async, not a thread).
        self.progress = (done, total)

    def on_bulk_cancel_screen_finished(self, message: Finished) -> None:
        """Show every run's outcome."""
        self._outcomes = message.outcomes
        self._show_outcome(message.outcomes)
        self.phase = "outcome"

    def on_bulk_cancel_screen_failed(self, message: Failed) -> None:
        """Say so: some runs may have been canceled before the failure (their audit entries tell)."""
        self._outcomes = []
        error = Text("The bulk cancel stopped: ", style=role_style(self.app.theme_variables, "error", bold=True))
        error.append_text(safe_text(message.error))
        self.query_one("#bulk-question", Static).update(error)
        self.query_one("#bulk-note", Static).update(
            Text("Runs canceled before it stopped show CANCELED in the runs list.", style="dim")
        )
        self.phase = "outcome"

    # -- actions ----------------------------------------------------------------------------------

    def action_confirm(self) -> None:
        """Cancel every run of the selection."""
        self.progress = (0, len(self.selection.run_ids))
        self.phase = "canceling"
        self._cancel()

    def action_back(self) -> None:
        """Back out before anything was asked of Temporal: nothing changes, the marks stay."""
        self.dismiss(None)

    def action_close(self) -> None:
        """Close the outcome."""
        self.dismiss(self._outcomes)

    def action_hold(self) -> None:
        """Not now: the outcome of every run is on its way."""
        self.notify(
            "Canceling is under way: wait for the outcome of every run, then quit.",
            title="Bulk cancel",
            severity="warning",
            markup=False,
        )

    @on(Button.Pressed, "#bulk-confirm")
    def _confirm_pressed(self) -> None:
        if self.phase == "confirm":
            self.action_confirm()

    @on(Button.Pressed, "#bulk-back")
    def _back_pressed(self) -> None:
        if self.phase == "confirm":
            self.action_back()
        elif self.phase == "outcome":
            self.action_close()

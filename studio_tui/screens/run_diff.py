"""The diff screen: two runs side by side — outcome, steps aligned by path, input and vars/output by JSON path.

Opened with ``d`` from the runs list (two marked runs, or a replay against its original) and from the run
screen of a replay. Everything it shows comes redacted from ``engine.services.run_diff``; every value,
path, step id and message is untrusted text and is shown through ``safe_text``.
"""

from collections.abc import Mapping
from typing import ClassVar, Final

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from engine.diff.json_paths import PathSection
from engine.diff.render import ABSENT, error_text, short_value, step_side
from engine.diff.steps import StepComparison, StepSide
from engine.services.context import ServiceContext
from engine.services.run_diff import RunDiff, RunRef, diff_against_original, diff_runs
from studio_tui.failures import failure_text
from studio_tui.format import role_style, short_id, status_glyph, status_role, status_text
from studio_tui.sanitize import safe_text
from studio_tui.widgets.health_header import HealthHeader
from studio_tui.widgets.studio_footer import StudioFooter
from studio_tui.widgets.tab_label import relabel

PANES: Final[tuple[tuple[str, str], ...]] = (
    ("diff-steps", "Steps"),
    ("diff-input", "Input"),
    ("diff-state", "Vars/output"),
)
"""Pane ids and tab titles, in tab order."""

VALUE_CELLS: Final = 28
"""Characters of a value in the input and vars tables (the CLI's ``--json`` has whole values)."""

CHANGE_ROLES: Final[Mapping[str, str]] = {
    "added": "success",
    "removed": "error",
    "changed": "warning",
    "not compared": "muted",
    "same": "muted",
}


class RunDiffScreen(Screen[None]):
    """Run A (before) against run B (after); ``run_a`` ``None`` means B's original, B being a replay."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("right_square_bracket", "next_pane", "Next pane", key_display="]"),
        Binding("left_square_bracket", "previous_pane", "Previous pane", key_display="[", show=False),
        Binding("r", "reload", "Refresh", show=False),
    ]
    HELP_NOTES: ClassVar[tuple[str, ...]] = (
        "A is the before (the original of a replay, or the run marked first in time), B the after. Steps are "
        "aligned by step path and step id: + ran only in B, − only in A, ~ ran in both with another status, "
        "attempt count or error. Durations are figures, never a difference.",
        "Values are redacted. A secret behind [REDACTED] is never decrypted: for a replay, the replay recorded "
        "which secrets its edit replaced ('changed'); for unrelated runs equal placeholders are 'not compared'.",
        "Runs of different versions are compared by path under a line naming both versions; runs of different "
        "workflows are not compared.",
    )
    """What the keys alone do not say (for the help overlay)."""

    diff: reactive[RunDiff | None] = reactive(None, init=False, always_update=True)
    """The comparison as last loaded."""
    problem: reactive[str | None] = reactive(None, init=False)
    """Why the comparison could not be made (refused, not found, an outage); ``None`` once it was."""

    def __init__(
        self,
        services: ServiceContext,
        *,
        run_a: str | None,
        run_b: str,
        read_only: bool,
        trail: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.services = services
        self.read_only = read_only
        self.run_a = run_a
        self.run_b = run_b
        self.trail = trail
        """Run ids on the run screens that led here, oldest first (the breadcrumb)."""

    def compose(self) -> ComposeResult:
        """Header, breadcrumb, summary, problem line, the panes, footer."""
        yield HealthHeader(tenant=self.services.tenant, read_only=self.read_only)
        yield Static(self._trail_text(), id="diff-trail", markup=False)
        yield Static(id="diff-summary", markup=False)
        yield Static(id="diff-problem", markup=False)
        with TabbedContent(id="diff-panes", initial="diff-steps"):
            for pane_id, title in PANES:
                with TabPane(title, id=pane_id):
                    yield DataTable[Text](id=f"{pane_id}-table", cursor_type="row", zebra_stripes=False)
                    yield Static(id=f"{pane_id}-note", classes="diff-note", markup=False)
        yield StudioFooter()

    def on_mount(self) -> None:
        """Load the comparison (runs that are still going can be compared again with ``r``)."""
        summary = self.query_one("#diff-summary", Static)
        summary.update(Text("Comparing runs…", style="dim"))
        self.query_one("#diff-problem", Static).display = False
        self.query_one("#diff-steps-table", DataTable).focus()
        self._load()

    @work(exclusive=True, exit_on_error=False, group="run-diff")
    async def _load(self) -> None:
        try:
            if self.run_a is None:
                diff = await diff_against_original(self.services, self.run_b)
            else:
                diff = await diff_runs(self.services, self.run_a, self.run_b)
        except Exception as exc:
            self.problem = failure_text(exc, self.services.endpoints)
            return
        self.problem = None
        self.diff = diff

    # -- rendering --------------------------------------------------------------------------------

    def _trail_text(self) -> Text:
        """``runs › 1a2b3c4d › diff 1a2b3c4d → 5e6f7a8b``, the compared runs in bold."""
        text = Text("runs", style="dim", no_wrap=True, overflow="ellipsis")
        for run_id in self.trail:
            text.append(" › ", style="dim")
            text.append_text(safe_text(short_id(run_id), single_line=True, style="dim"))
        text.append(" › diff ", style="dim")
        text.append_text(safe_text(short_id(self.run_a) if self.run_a else "original", single_line=True, style="bold"))
        text.append(" → ", style="dim")
        text.append_text(safe_text(short_id(self.run_b), single_line=True, style="bold"))
        text.append("   esc back", style="dim")
        return text

    def watch_problem(self, problem: str | None) -> None:
        """A comparison that could not be made says why above the panes."""
        line = self.query_one("#diff-problem", Static)
        line.display = problem is not None
        if problem is not None:
            text = Text("⚠ cannot compare: ", style=role_style(self.app.theme_variables, "error", bold=True))
            text.append_text(safe_text(problem))
            line.update(text)
            if self.diff is None:
                self.query_one("#diff-summary", Static).update("")

    def watch_diff(self, diff: RunDiff | None) -> None:
        """Show the comparison everywhere."""
        if diff is None:
            return
        self.query_one("#diff-trail", Static).update(self._trail_text_for(diff))
        variables = self.app.theme_variables
        self.query_one("#diff-summary", Static).update(summary_text(diff, variables))
        self._show_steps(diff.steps, variables)
        self._show_paths("diff-input", diff.input, variables, note=f"secrets: {diff.secrets_note}")
        self._show_paths("diff-state", diff.state, variables, note=None)
        tabs = self.query_one(TabbedContent)
        counts = {
            "diff-steps": sum(s.change != "same" for s in diff.steps),
            "diff-input": len(diff.input.changes) + diff.input.omitted,
            "diff-state": len(diff.state.changes) + diff.state.omitted,
        }
        for pane_id, title in PANES:
            relabel(tabs, pane_id, f"{title} {counts[pane_id]}" if counts[pane_id] else title)

    def _trail_text_for(self, diff: RunDiff) -> Text:
        if self.run_a is None:
            self.run_a = diff.a.run_id  # "original" becomes its id once known
        return self._trail_text()

    def _show_steps(self, steps: list[StepComparison], variables: Mapping[str, str]) -> None:
        table: DataTable[Text] = self.query_one("#diff-steps-table", DataTable)
        table.clear(columns=True)
        for label in ("", "STEP PATH", "STEP", "A", "B"):
            table.add_column(label)
        for index, step in enumerate(steps):
            path = step.path + (f" #{step.iteration}" if step.iteration is not None else "")
            table.add_row(
                change_mark(step.change, variables),
                safe_text(path, single_line=True),
                safe_text(step.step_id, single_line=True),
                _side_cell(step.a, variables),
                _side_cell(step.b, variables),
                key=str(index),
            )
        table.display = bool(steps)
        note = self.query_one("#diff-steps-note", Static)
        if not steps:
            note.update(Text("Neither run has a step yet.", style="dim"))
        else:
            note.update(step_detail(steps[min(table.cursor_row, len(steps) - 1)], variables))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The step under the cursor is spelled out under the table: what differs, both sides in words."""
        if event.data_table.id != "diff-steps-table" or self.diff is None or event.row_key.value is None:
            return
        step = self.diff.steps[int(event.row_key.value)]
        self.query_one("#diff-steps-note", Static).update(step_detail(step, self.app.theme_variables))

    def _show_paths(
        self, pane_id: str, section: PathSection, variables: Mapping[str, str], *, note: str | None
    ) -> None:
        table: DataTable[Text] = self.query_one(f"#{pane_id}-table", DataTable)
        table.clear(columns=True)
        table.display = bool(section.changes)
        for label in ("", "PATH", "A", "B"):
            table.add_column(label)
        for index, change in enumerate(section.changes):
            before = ABSENT if change.change == "added" else short_value(change.before, width=VALUE_CELLS)
            after = ABSENT if change.change == "removed" else short_value(change.after, width=VALUE_CELLS)
            mark = change_mark(change.change, variables)
            if change.secret:
                mark.append(" secret", style="dim")
            table.add_row(
                mark,
                safe_text(change.path, single_line=True),
                safe_text(before, single_line=True),
                safe_text(after, single_line=True),
                key=str(index),
            )
        lines = [] if section.changes else ["No differences."]
        if section.omitted:
            lines.append(f"… and {section.omitted} more, not listed (`runstudio diff --json` has the first ones).")
        if note:
            lines.append(note)
        note_widget = self.query_one(f"#{pane_id}-note", Static)
        note_widget.display = bool(lines)
        note_widget.update(safe_text("\n".join(lines), style="dim"))

    # -- actions ----------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the screen that opened the diff."""
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Compare again (runs still going have moved on)."""
        self._load()

    def action_next_pane(self) -> None:
        """The next pane (steps → input → vars/output)."""
        self._move_pane(1)

    def action_previous_pane(self) -> None:
        """The previous pane."""
        self._move_pane(-1)

    def _move_pane(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [pane_id for pane_id, _ in PANES]
        tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)]
        self.query_one(f"#{tabs.active}-table", DataTable).focus()


def change_mark(change: str, variables: Mapping[str, str]) -> Text:
    """``+ added``, ``− removed``, ``~ changed``, ``? not compared`` or ``· same``, in the change's colour."""
    glyph = {"added": "+", "removed": "−", "changed": "~", "not compared": "?"}.get(change, "·")
    return Text(f"{glyph} {change}", style=role_style(variables, CHANGE_ROLES.get(change, "muted")), no_wrap=True)


def _side_cell(side: StepSide | None, variables: Mapping[str, str]) -> Text:
    """``✓ 40 ms``, ``✗ #2 250 ms`` in the status's colour, or ``—`` (the detail line spells the status out)."""
    if side is None:
        return Text(ABSENT, style="dim")
    attempts = f" #{side.attempts}" if side.attempts > 1 else ""
    took = "…" if side.duration_ms is None else f"{side.duration_ms} ms"
    text = Text(f"{status_glyph(side.status)}{attempts} {took}", no_wrap=True)
    text.stylize(role_style(variables, status_role(side.status)))
    return text


def step_detail(step: StepComparison, variables: Mapping[str, str]) -> Text:
    """Three lines about one aligned step: which step and what differs, then run A's and run B's account."""
    # Styles go on the appended parts: a style given to the Text itself would cover everything appended after.
    text = Text()
    text.append_text(safe_text(step.path, single_line=True, style="bold"))
    text.append(" ")
    text.append_text(safe_text(step.step_id, single_line=True, style="bold"))
    text.append(" (")
    text.append_text(safe_text(step.type, single_line=True))
    if step.iteration is not None:
        text.append(", iteration ")
        text.append_text(safe_text(step.iteration, single_line=True))
    text.append("): ")
    verdicts = {
        "same": "same status, attempts and error; durations are figures, not differences",
        "added": "ran only in B",
        "removed": "ran only in A",
    }
    verdict = verdicts.get(step.change) or f"{', '.join(step.differences)} differ"
    text.append(verdict, style=role_style(variables, CHANGE_ROLES.get(step.change, "muted")))
    for label, side in (("A", step.a), ("B", step.b)):
        text.append(f"\n{label} ", style="bold")
        if side is None:
            text.append("did not run this step", style="dim")
            continue
        text.append_text(
            safe_text(step_side(side), single_line=True, style=role_style(variables, status_role(side.status)))
        )
        error = error_text(side.error_category, side.error_message, width=200)
        if error != ABSENT:
            text.append("  ")
            text.append_text(safe_text(error, single_line=True, style=role_style(variables, "error")))
    return text


def _ref_line(label: str, ref: RunRef, error: str, variables: Mapping[str, str]) -> Text:
    text = Text()
    text.append(f"{label} ", style="bold")
    text.append_text(safe_text(short_id(ref.run_id), single_line=True, style="bold"))
    text.append("  ")
    text.append_text(safe_text(f"{ref.workflow_id}@{ref.workflow_version}", single_line=True))
    text.append("  ")
    text.append_text(status_text(ref.status, variables))
    text.append("  ")
    text.append_text(safe_text(ref.trigger, single_line=True, style="dim"))
    if error != ABSENT:
        text.append("  ")
        text.append_text(safe_text(error, single_line=True, style=role_style(variables, "error")))
    return text


def summary_text(diff: RunDiff, variables: Mapping[str, str]) -> Text:
    """Both runs (status, trigger, error), how they are linked, the versions, and the counts of differences."""
    outcome = diff.outcome
    text = Text(no_wrap=False)
    text.append_text(_ref_line("A", diff.a, error_text(outcome.a.error_category, outcome.a.error_message), variables))
    text.append("\n")
    text.append_text(_ref_line("B", diff.b, error_text(outcome.b.error_category, outcome.b.error_message), variables))
    if diff.relation:
        text.append("\n")
        text.append_text(safe_text(diff.relation, single_line=True))
    if diff.version_note:
        text.append("\n")
        text.append_text(safe_text(diff.version_note, style=role_style(variables, "warning")))
    s = diff.summary
    text.append("\noutcome ")
    text.append(
        "differs" if s.outcome_changed else "same",
        style=role_style(variables, "warning" if s.outcome_changed else "muted", bold=s.outcome_changed),
    )
    text.append(
        f" · steps +{s.steps_added} −{s.steps_removed} ~{s.steps_changed} · input {s.input_changes} · "
        f"vars/output {s.state_changes}",
        style="dim",
    )
    return text

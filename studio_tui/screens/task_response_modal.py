"""The response modal: a human task's title, description, context and form, and a JSON editor to answer it.

The JSON is checked as it is typed (a syntax error says its line and column); the form schema is checked by
``complete_task`` itself, and every problem it finds is listed with its JSON path while the modal stays open.
Dismissed with ``True`` once the task is completed.
"""

import json
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.tasks import (
    TaskCompletionFailed,
    TaskNotFound,
    TaskNotOpen,
    TaskResponseInvalid,
    TaskView,
    complete_task,
)
from studio_tui.failures import failure_text
from studio_tui.format import role_style, short_id
from studio_tui.sanitize import safe_text
from studio_tui.widgets.json_view import json_text
from studio_tui.widgets.studio_footer import StudioFooter


def skeleton(form_schema: Any) -> str:
    """A response to start from: the form's required properties, each ``null`` so none is answered by accident.

    Optional properties are left out (``null`` would not satisfy most of them); the form is shown above the
    editor. A form that is not an object with properties starts from ``{}``.
    """
    if not isinstance(form_schema, dict) or not isinstance(form_schema.get("properties"), dict):
        return "{}"
    required = form_schema.get("required")
    keys = [k for k in required if isinstance(k, str)] if isinstance(required, list) else []
    return json.dumps(dict.fromkeys(keys), indent=2)


def form_fields(form_schema: Any) -> str:
    """The form's fields in words, ``approved (boolean, required) · comment (string)``; empty without fields.

    Values come from the definition: sanitise the result before showing it.
    """
    if not isinstance(form_schema, dict) or not isinstance(form_schema.get("properties"), dict):
        return ""
    required = form_schema.get("required")
    needed = {k for k in required if isinstance(k, str)} if isinstance(required, list) else set()
    parts = []
    for name, spec in form_schema["properties"].items():
        facts: list[str] = []
        if isinstance(spec, dict):
            if isinstance(spec.get("enum"), list):
                facts.append("one of " + ", ".join(json.dumps(v) for v in spec["enum"]))
            elif isinstance(spec.get("type"), str):
                facts.append(spec["type"])
            elif isinstance(spec.get("type"), list):
                facts.append(" or ".join(str(t) for t in spec["type"]))
        if name in needed:
            facts.append("required")
        parts.append(f"{name} ({', '.join(facts)})" if facts else str(name))
    return " · ".join(parts)


def parse_response(text: str) -> tuple[Any, str | None]:
    """(the JSON value, ``None``) or (``None``, ``line 2, column 14: Expecting ',' delimiter``)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"line {exc.lineno}, column {exc.colno}: {exc.msg}"


class TaskResponseModal(ModalScreen[bool]):
    """Answer one open task; ctrl+s submits, escape closes without answering."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: the editor has the focus and must not take these keys.
        Binding("ctrl+s", "submit", "Submit", priority=True),
        Binding("escape", "close", "Back", priority=True),
    ]

    submitting: reactive[bool] = reactive(False, init=False)
    """A completion is on its way to the service (submitting again waits for its answer)."""

    class Completed(Message):
        """The service accepted the response (``pending``: why its delivery to the run is still to come)."""

        def __init__(self, pending: str | None = None) -> None:
            self.pending = pending
            super().__init__()

    class Rejected(Message):
        """The form schema rejected the response: every problem, each with its JSON path."""

        def __init__(self, problems: list[str]) -> None:
            self.problems = problems
            super().__init__()

    class Failed(Message):
        """The task could not be completed (no longer open, unknown, or Temporal refused)."""

        def __init__(self, error: str) -> None:
            self.error = error
            super().__init__()

    def __init__(self, services: ServiceContext, task: TaskView) -> None:
        super().__init__()
        self.services = services
        self.human_task = task

    def compose(self) -> ComposeResult:
        """Title, what the task says and needs, the editor, and the state of the response."""
        with Vertical(id="task-body"):
            yield Static(id="task-title", markup=False)
            with VerticalScroll(id="task-info"):
                yield Static(id="task-about", markup=False)
            yield Static(Text("Response (JSON)", style="bold"), id="task-response-label", markup=False)
            yield TextArea(skeleton(self.human_task.form_schema), id="task-response", show_line_numbers=True)
            yield Static(id="task-state", markup=False)
        yield StudioFooter()

    def on_mount(self) -> None:
        """Show the task; the editor has the focus."""
        body = self.query_one("#task-body")
        body.border_title = "Respond to task"
        body.border_subtitle = f"run {short_id(safe_text(self.human_task.run_id, single_line=True).plain)}"
        title = Text(style="bold")
        title.append_text(safe_text(self.human_task.title, single_line=True))
        title.append("  ")
        title.append_text(safe_text(self.human_task.task_type, single_line=True, style="dim"))
        self.query_one("#task-title", Static).update(title)
        self.query_one("#task-about", Static).update(self._about())
        self._show_syntax()
        self.query_one(TextArea).focus()

    def _about(self) -> Text:
        text = Text()
        if self.human_task.description:
            text.append_text(safe_text(self.human_task.description))
            text.append("\n")
        fields = form_fields(self.human_task.form_schema)
        if fields:
            text.append("answer with: ", style="bold")
            text.append_text(safe_text(fields))
            text.append("\n")
        text.append("\ncontext\n", style="bold")
        text.append_text(json_text(self.human_task.context_data))
        text.append("\n\nform\n", style="bold")
        text.append_text(json_text(self.human_task.form_schema))
        return text

    # -- the response's state ---------------------------------------------------------------------

    @on(TextArea.Changed, "#task-response")
    def _edited(self) -> None:
        self._show_syntax()

    def _show_syntax(self) -> None:
        """Whether the editor holds JSON, and where it stops being JSON."""
        _, error = parse_response(self.query_one(TextArea).text)
        variables = self.app.theme_variables
        if error is None:
            state = Text.assemble(("✓ valid JSON", role_style(variables, "success")))
            state.append(" · ctrl+s submits, the form is checked then", style="dim")
        else:
            state = Text(f"✗ invalid JSON at {error}", style=role_style(variables, "error", bold=True))
        self.query_one("#task-state", Static).update(state)

    def _show_problems(self, heading: str, problems: list[str]) -> None:
        variables = self.app.theme_variables
        text = Text(f"✗ {heading}", style=role_style(variables, "error", bold=True))
        for problem in problems:
            text.append("\n  ")
            text.append_text(safe_text(problem, single_line=True))
        self.query_one("#task-state", Static).update(text)

    # -- submitting (worker) ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """One submission at a time, and no closing while it is on its way (both keys show as disabled)."""
        if action in ("submit", "close"):
            return None if self.submitting else True
        return True

    def watch_submitting(self) -> None:
        """The footer shows submit as unavailable while a completion is on its way."""
        self.refresh_bindings()

    def action_submit(self) -> None:
        """Send the response if it is JSON; otherwise say where it is not."""
        value, error = parse_response(self.query_one(TextArea).text)
        if error is not None:
            self._show_problems("invalid JSON, nothing was sent:", [f"at {error}"])
            return
        self.submitting = True
        self.query_one("#task-state", Static).update(Text("Submitting…", style="bold"))
        self._complete(value)

    @work(exclusive=True, exit_on_error=False, group="task-complete")
    async def _complete(self, response: Any) -> None:
        try:
            task = await complete_task(self.services, self.human_task.task_id, response, actor=Actor.current())
        except TaskResponseInvalid as exc:
            self.post_message(self.Rejected(exc.problems))
            return
        except (TaskNotOpen, TaskNotFound, TaskCompletionFailed) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        except Exception as exc:
            self.post_message(self.Failed(failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Completed(task.delivery_problem if task.delivery == "pending" else None))

    def on_task_response_modal_completed(self, message: Completed) -> None:
        """Done: back to the inbox, which says so (and, if Temporal did not take it yet, that delivery is pending)."""
        self.submitting = False
        if message.pending is not None:
            self.app.notify(
                safe_text(
                    f"The decision is recorded and final, but its delivery to the run is pending ({message.pending}); "
                    "the worker's reconciler retries it.",
                    single_line=True,
                ).plain,
                title="Delivery pending",
                severity="warning",
                timeout=30,
                markup=False,
            )
        self.dismiss(True)

    def on_task_response_modal_rejected(self, message: Rejected) -> None:
        """List every problem the form found; the response stays in the editor to be fixed."""
        self.submitting = False
        self._show_problems("the form rejected the response, nothing was sent:", message.problems)

    def on_task_response_modal_failed(self, message: Failed) -> None:
        """Say why the task was not completed."""
        self.submitting = False
        self._show_problems("the task was not completed:", [message.error])

    def action_close(self) -> None:
        """Back to the inbox without answering (a submission already sent is not taken back)."""
        self.dismiss(False)

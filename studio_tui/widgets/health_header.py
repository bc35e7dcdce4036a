"""The one-line header: studio name, tenant, read-only badge, and database/Temporal/worker health."""

from typing import Final

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from studio_tui.format import role_style
from studio_tui.health import Health
from studio_tui.sanitize import safe_text

LAST_POLL_MIN_WIDTH: Final = 100
"""Narrower, a dead worker's last poll time would push the stuck count off the line."""


class HealthHeader(Horizontal):
    """Shows ``RunStudioApp.health`` (it watches the app's reactive) beside the tenant."""

    def __init__(self, *, tenant: str, read_only: bool) -> None:
        super().__init__(id="health-header")
        self._tenant = tenant
        self._read_only = read_only
        self._health: Health | None = None

    def compose(self) -> ComposeResult:
        """The identity on the left, the health on the right."""
        # Most important first: at 80 columns the end of this line is cut to make room for the health.
        title = Text.assemble((" READ-ONLY ", "reverse bold"), " ") if self._read_only else Text()
        title.append("tenant ")
        title.append_text(safe_text(self._tenant, single_line=True, style="bold"))
        title.append(" · Run Studio", style="dim")
        yield Static(title, id="header-title", markup=False)
        yield Static(id="header-health", markup=False)

    def on_mount(self) -> None:
        """Show the app's health now and whenever it changes."""
        self.watch(self.app, "health", self._show_health)

    def on_resize(self) -> None:
        """What fits depends on the width (the last poll time only where the stuck count still fits)."""
        if self._health is not None:
            self._show_health(self._health)

    def _show_health(self, health: Health) -> None:
        self._health = health
        self.query_one("#header-health", Static).update(self._render_health(health))

    def _render_health(self, health: Health) -> Text:
        variables = self.app.theme_variables
        ok = role_style(variables, "success")
        bad = role_style(variables, "error", bold=True)
        warn = role_style(variables, "warning", bold=True)
        muted = role_style(variables, "muted")
        if not health.checked:
            return Text("checking health…", style=muted)
        if health.problem is not None:
            text = Text("? health unknown: ", style=warn)
            text.append_text(safe_text(health.problem, single_line=True))
            return text
        parts: list[Text] = [
            _flag(health.database, "database", ok, bad),
            _flag(health.temporal, "Temporal", ok, bad),
        ]
        if health.workers is None:
            parts.append(Text("? workers", style=muted))
        elif health.workers == 0:
            gone = Text("✗ 0 workers", style=bad)
            if health.workers_last_seen is not None and self.size.width >= LAST_POLL_MIN_WIDTH:
                # A clock time, not "12s ago": the header redraws only when the health changes, and a dead
                # worker's last poll does not change.
                gone.append(f" (last poll {health.workers_last_seen:%H:%M:%S}Z)", style=muted)
            parts.append(gone)
        else:
            parts.append(Text(f"✓ {health.workers} worker{'s' if health.workers > 1 else ''}", style=ok))
        if health.stuck:
            parts.append(Text(f"⚠ {health.stuck} stuck", style=warn))
        return Text("  ").join(parts)


def _flag(value: bool | None, name: str, ok: Style, bad: Style) -> Text:
    if value is None:
        return Text(f"? {name}")
    if value:
        return Text(f"✓ {name}", style=ok)
    return Text(f"✗ {name} down", style=bad)

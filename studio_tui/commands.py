"""The studio's command palette entries (ctrl+p): app actions; mutating ones are hidden in read-only mode."""

from dataclasses import dataclass
from functools import partial
from typing import Final

from textual.command import DiscoveryHit, Hit, Hits, Provider

from studio_tui.format import RUN_STATUSES


@dataclass(frozen=True)
class StudioCommand:
    """A palette entry: what it says, what it runs (an app action string), and whether it changes anything."""

    title: str
    help: str
    action: str
    mutating: bool = False
    """Mutating commands (cancel, replay, …) are never offered in read-only mode."""


COMMANDS: Final[tuple[StudioCommand, ...]] = (
    StudioCommand("Go to runs", "The list of runs, newest first", "go_runs"),
    StudioCommand("Filter runs: all statuses", "Show runs in every status", "filter(None)"),
    *(
        StudioCommand(f"Filter runs: {status.lower()}", f"Show only {status} runs", f"filter({status!r})")
        for status in RUN_STATUSES
    ),
    StudioCommand("Search runs", "By run-id prefix or workflow id", "search"),
    StudioCommand("Open inbox", "Open human tasks and waiting runs", "open_inbox"),
    StudioCommand(
        "Bulk cancel",
        "Cancel the marked runs, or every RUNNING/WAITING run matching the filter",
        "bulk_cancel",
        mutating=True,
    ),
    StudioCommand("Help: keys and symbols", "What every key does on this screen", "help"),
)


def available(read_only: bool, commands: tuple[StudioCommand, ...] = COMMANDS) -> list[StudioCommand]:
    """The commands to offer: all of ``commands``, minus the mutating ones in read-only mode."""
    return [command for command in commands if not (read_only and command.mutating)]


class StudioCommands(Provider):
    """Offers ``available`` commands; runs one by its app action."""

    def _commands(self) -> list[StudioCommand]:
        from studio_tui.app import RunStudioApp  # the app module imports this one

        app = self.app
        return available(app.read_only if isinstance(app, RunStudioApp) else True)

    async def discover(self) -> Hits:
        """Everything, before the operator types."""
        for command in self._commands():
            yield DiscoveryHit(command.title, partial(self.app.run_action, command.action), help=command.help)

    async def search(self, query: str) -> Hits:
        """Commands whose title matches what was typed, best first."""
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    partial(self.app.run_action, command.action),
                    help=command.help,
                )

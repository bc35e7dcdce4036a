"""A screen's periodic reload, paused while another screen covers it and caught up when it comes back."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.screen import Screen
from textual.timer import Timer


@dataclass
class PeriodicLoad:
    """Call ``load`` now and every ``seconds`` while ``screen`` is the one shown."""

    screen: Screen[Any]
    load: Callable[[], object]
    seconds: float
    _timer: Timer | None = field(default=None, init=False)

    def start(self) -> None:
        """Load at once, then on the timer (call from ``on_mount``)."""
        self.load()
        self._timer = self.screen.set_interval(self.seconds, self.load)

    def pause(self) -> None:
        """Stop reloading while another screen or a modal covers this one (``on_screen_suspend``)."""
        if self._timer is not None:
            self._timer.pause()

    def resume(self, *, catch_up: bool) -> None:
        """Reload on the timer again (``on_screen_resume``); ``catch_up`` loads at once too.

        Without ``catch_up`` (the first load is still in flight) the timer alone picks it up.
        """
        if self._timer is None:
            return
        if catch_up:
            self.load()
        self._timer.resume()

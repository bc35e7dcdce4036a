"""The studio's footer: Textual's, except that Help and Quit never fall off the end of a narrow terminal."""

from typing import Final

from textual import events
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

ALWAYS_SHOWN: Final = frozenset({"help", "quit"})
"""Actions whose keys stay in the footer at any width (the way out, and the way to learn the other keys)."""


class StudioFooter(Footer):
    """A ``Footer`` that, when the keys do not fit, hides the screen's last keys (the least important: screens
    list their bindings most important first) until Help and Quit fit beside the palette key. Every hidden key
    is still listed by ``?``. When everything fits it looks exactly like Textual's footer."""

    async def recompose(self) -> None:
        """Rebuild the keys (the bindings changed), then fit them once they are laid out."""
        await super().recompose()
        self.call_after_refresh(self._fit)

    def on_resize(self, _: events.Resize) -> None:
        """A new width: start again from every key, then fit."""
        self.call_after_refresh(self.recompose)

    def _fit(self) -> None:
        keys = [key for key in self.query(FooterKey) if key.display]
        palette = [key for key in keys if key.has_class("-command-palette")]
        inline = [key for key in keys if key not in palette]
        if not any(key.action in ALWAYS_SHOWN for key in inline):
            return
        width = self.size.width or self.app.size.width
        available = width - sum(_outer_width(key) for key in palette)
        used = sum(_outer_width(key) for key in inline)
        droppable = [key for key in inline if key.action not in ALWAYS_SHOWN]
        while used > available and droppable:
            dropped = droppable.pop()
            dropped.display = False
            used -= _outer_width(dropped)


class SteadyFooter(StudioFooter):
    """The studio's footer, rebuilt only when its keys (or the width) changed.

    Textual rebuilds and restyles every key whenever a screen's bindings are refreshed: opening a run does that
    several times (the first focus, the pane focus, the run's state deciding cancel and send event), which was a
    fifth of the time to open a run; and a screen covered by another one does it on every push and pop, which made
    the covered screen dirty and so redrew the whole screen on top. The same keys at the same width stay as they are.
    """

    _shown: object = None

    async def recompose(self) -> None:
        """Rebuild the keys only if they, or the width, differ from the ones shown."""
        if not self.is_attached:  # left (its screen removed): nothing to rebuild
            return
        shown = (
            self.size.width,
            self.compact,
            self.show_command_palette,
            tuple(
                (binding.key, binding.action, binding.description, binding.show, enabled, tooltip)
                for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            ),
        )
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()


def _outer_width(key: FooterKey) -> int:
    # From the key's text and styles rather than its laid-out region: a footer rebuilt under a modal (or
    # before its first layout) has no regions yet, and the fit must not depend on that timing.
    size = key.app.size
    return key.get_content_width(size, size) + key.styles.gutter.width + key.styles.margin.width

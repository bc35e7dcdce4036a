"""Screen updates that are skipped when nothing would change: each ``Static.update`` lays the screen out again."""

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


def same_text(a: object, b: Text) -> bool:
    """Whether ``a`` is a ``Text`` that looks exactly like ``b`` (``Text ==`` ignores the base style)."""
    return isinstance(a, Text) and a.plain == b.plain and a.style == b.style and a.spans == b.spans


def same_cells(a: Sequence[Text], b: Sequence[Text]) -> bool:
    """Whether two rows of cells look exactly alike."""
    return len(a) == len(b) and all(same_text(x, y) for x, y in zip(a, b, strict=True))


def show_text(static: Static, text: Text) -> None:
    """Show ``text`` in ``static`` unless it already shows exactly that (a refresh every 2 s stays cheap)."""
    if not same_text(static.content, text):
        static.update(text)

"""A scrollable, read-only view of a JSON value (pretty-printed, highlighted, sanitised)."""

import json
from typing import Any

from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from studio_tui.sanitize import safe_text

_HIGHLIGHTER = JSONHighlighter()


def json_text(value: Any) -> Text:
    """``value`` as indented JSON, sanitised, then coloured by a highlighter (styles only, never markup).

    ``json.dumps`` escapes C0 controls itself (``\\u001b``); DEL, C1 and bidi characters are left raw by it,
    so the result still goes through ``safe_text``.
    """
    rendered = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    text = safe_text(rendered)
    _HIGHLIGHTER.highlight(text)
    return text


class JsonView(VerticalScroll):
    """A titled JSON document that scrolls with the keyboard when focused."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="json-view")

    def compose(self) -> ComposeResult:
        """One static holding the document."""
        yield Static(markup=False)

    def show(self, *sections: tuple[str, Any]) -> None:
        """Show titled values one after another (titles are our own constant text, e.g. vars, then output)."""
        text = Text()
        for index, (title, value) in enumerate(sections):
            if index:
                text.append("\n\n")
            text.append(title + "\n", style="bold")
            text.append_text(json_text(value))
        self.query_one(Static).update(text)

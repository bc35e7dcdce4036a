"""A table of records (waits, invocations, events…) with the highlighted record's full JSON underneath."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from studio_tui.widgets.json_view import JsonView
from studio_tui.widgets.keyed_table import ColumnSpec, KeyedTable, Row


@dataclass(frozen=True)
class Columns:
    """Fixed-width columns, then one last column that takes the remaining width (at least its own)."""

    fixed: tuple[ColumnSpec, ...]
    last: ColumnSpec

    def fit(self, width: int) -> list[ColumnSpec]:
        """The columns for a table ``width`` cells wide (2 cells of padding per column, 1 for the scrollbar)."""
        used = sum(c.width + 2 for c in self.fixed) + 2 + 1
        last = ColumnSpec(self.last.key, self.last.label, max(self.last.width, width - used))
        return [*self.fixed, last]


@dataclass(frozen=True)
class Records:
    """What a record pane shows: columns, rows, and the JSON document of each row by key."""

    columns: Columns
    rows: Sequence[Row]
    documents: Mapping[str, Any]
    """The JSON shown under the table for the highlighted row; empty when rows need no detail."""
    empty: str
    """What to say when there are no rows (our own text)."""


class RecordPane(Vertical):
    """Table on top, the highlighted record's JSON below."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="record-pane")
        self._records: Records | None = None

    def compose(self) -> ComposeResult:
        """The table, an empty-state line, and the detail view."""
        yield KeyedTable()
        yield Static(classes="empty-note", markup=False)
        yield JsonView()

    def show(self, records: Records) -> None:
        """Show ``records``, keeping the cursor on the same record."""
        self._records = records
        self._render_records()

    def on_resize(self) -> None:
        """The last column follows the pane's width."""
        if self._records is not None:
            self._render_records()

    def _render_records(self) -> None:
        assert self._records is not None
        records = self._records
        table = self.query_one(KeyedTable)
        table.sync(records.columns.fit(max(self.size.width, 40)), records.rows)
        note = self.query_one(".empty-note", Static)
        note.update(Text(records.empty, style="dim"))
        note.display = not records.rows
        table.display = bool(records.rows)
        self.query_one(JsonView).display = bool(records.rows) and bool(records.documents)
        self._show_document()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the JSON of the record under the cursor."""
        event.stop()
        self._show_document()

    def _show_document(self) -> None:
        key = self.query_one(KeyedTable).highlighted_key
        if self._records is None or key is None or not self._records.documents:
            return
        self.query_one(JsonView).show(("selected", self._records.documents.get(key)))

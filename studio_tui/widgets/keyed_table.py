"""A DataTable that is given its whole content by key and keeps the cursor on the same key across updates."""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable


@dataclass(frozen=True)
class ColumnSpec:
    """A column: its key, header label (our own constant text) and fixed width in cells."""

    key: str
    label: str
    width: int


Row = tuple[str, Sequence[Text]]
"""A row: its key and one ``Text`` cell per column (cells are always ``Text``, so nothing is parsed as markup)."""


class KeyedTable(DataTable[Text]):
    """Rows are replaced wholesale with ``sync``; unchanged rows are updated in place, so a refresh does not
    flicker or move the view, and when rows are inserted above the cursor it follows its row (by key, not by
    index) and stays at the same place on the screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Columns always fit the width, so home/end go to the first/last row rather than scroll sideways.
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    class ViewportMoved(Message):
        """The table scrolled: other rows are on screen now."""

    class EdgeWanted(Message):
        """Home or End on a ``windowed`` table: its owner brings the first or last row of the whole list."""

        def __init__(self, edge: Literal["first", "last"]) -> None:
            self.edge: Literal["first", "last"] = edge
            super().__init__()

    windowed: bool = False
    """The rows are a window of a longer list (the owner loads more as the cursor moves): Home and End ask the
    owner (``EdgeWanted``) instead of going to the first or last row held."""

    def __init__(self, *, id: str | None = None, cell_padding: int = 1) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=cell_padding)

    def action_scroll_top(self) -> None:
        """The first row (of the whole list, when the table is a window of it)."""
        if self.windowed:
            self.post_message(self.EdgeWanted("first"))
        else:
            super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        """The last row (of the whole list, when the table is a window of it)."""
        if self.windowed:
            self.post_message(self.EdgeWanted("last"))
        else:
            super().action_scroll_bottom()

    def go_to_edge(self, edge: Literal["first", "last"]) -> None:
        """Move the cursor to the first or the last row held (what Home and End do on a table that is not a window)."""
        if edge == "first":
            super().action_scroll_top()
        else:
            super().action_scroll_bottom()

    def _update_dimensions(self, new_rows: Iterable[object]) -> None:
        # DataTable measures every cell of every new row (~90 µs a row) to size auto-width columns. Every column
        # here has a fixed width and every row one line, so the measure changes nothing: skip it, and a page of
        # rows costs what storing them costs (the cells on screen are still rendered when drawn).
        fixed = all(not column.auto_width for column in self.columns.values())
        super()._update_dimensions(() if fixed else new_rows)  # type: ignore[arg-type]

    @property
    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor, or ``None`` when the table is empty."""
        if self.row_count == 0:
            return None
        value = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return value

    def row_keys(self) -> list[str]:
        """Keys of the rows, top to bottom."""
        return [str(row.key.value) for row in self.ordered_rows]

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Tell the owner which rows are on screen now, so it can draw them fresh."""
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.post_message(self.ViewportMoved())

    def sync(
        self, columns: Sequence[ColumnSpec], rows: Sequence[Row], *, changed: Collection[str] | None = None
    ) -> None:
        """Show exactly ``rows`` under ``columns``.

        ``changed`` names the rows whose cells may differ from what the table holds (``None``: any row); the
        others are left alone, so a refresh of thousands of rows costs what the few that changed cost.
        """
        same_columns = [(str(c.key.value), c.width) for c in self.ordered_columns] == [
            (c.key, c.width) for c in columns
        ]
        old_keys = self.row_keys()
        new_keys = [key for key, _ in rows]
        if same_columns and new_keys[: len(old_keys)] == old_keys:
            # Same rows (perhaps more at the end, as when a page is appended): update cells in place.
            for key, cells in rows[: len(old_keys)]:
                if changed is not None and key not in changed:
                    continue
                for spec, cell in zip(columns, cells, strict=True):
                    if self.get_cell(key, spec.key) != cell:
                        self.update_cell(key, spec.key, cell)
            for key, cells in rows[len(old_keys) :]:
                self.add_row(*cells, key=key)
            return
        self._rebuild(columns, rows, same_columns=same_columns)

    def _rebuild(self, columns: Sequence[ColumnSpec], rows: Sequence[Row], *, same_columns: bool) -> None:
        keep = self.highlighted_key
        old_row = self.cursor_row
        offset_on_screen = old_row - round(self.scroll_y)
        self.clear(columns=not same_columns)
        if not same_columns:
            for spec in columns:
                self.add_column(Text(spec.label), key=spec.key, width=spec.width)
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if not rows:
            return
        new_keys = [key for key, _ in rows]
        row = new_keys.index(keep) if keep in new_keys else min(old_row, len(rows) - 1)
        self.move_cursor(row=row, scroll=False)
        # Once the new height is known, put the cursor's row back where it was on the screen.
        self.call_after_refresh(self.scroll_to, y=max(0, row - offset_on_screen), animate=False)

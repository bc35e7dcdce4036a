"""A DataTable that is given its whole content by key and keeps the cursor on the same key across updates."""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._types import SegmentLines
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.message import Message
from textual.widgets import DataTable


@dataclass(frozen=True)
class ColumnSpec:
    """A column: its key, header label (our own constant text) and fixed width in cells."""

    key: str
    label: str
    width: int


CELL_CACHE_SIZE = 4000
"""Rendered cells kept: more than a screenful of any table here (a frame redraws at most ~60 rows × 10 cells)."""

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

    class PagedPast(Message):
        """A page key on a ``windowed`` table stopped at the last row held (``rows`` > 0) or the first
        (``rows`` < 0) with ``rows`` of its move left over: the owner moves the cursor on by them once it holds
        the rows that way (``move_cursor_by``), so page keys pressed faster than pages arrive are not lost."""

        def __init__(self, rows: int) -> None:
            self.rows = rows
            super().__init__()

    windowed: bool = False
    """The rows are a window of a longer list (the owner loads more as the cursor moves): Home and End ask the
    owner (``EdgeWanted``) instead of going to the first or last row held."""

    def __init__(self, *, id: str | None = None, cell_padding: int = 1) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=cell_padding)
        self._cells: LRUCache[tuple[object, ...], tuple[Text, SegmentLines]] = LRUCache(CELL_CACHE_SIZE)
        """Rendered body cells, kept across updates of other cells (see ``_render_cell``)."""

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

    def action_page_down(self) -> None:
        """A page down; on a ``windowed`` table, what the last row held cut short is posted (``PagedPast``)."""
        left = self.cursor_row + self.page_rows() - (self.row_count - 1)
        super().action_page_down()
        if self.windowed and self.row_count and left > 0:
            self.post_message(self.PagedPast(left))

    def action_page_up(self) -> None:
        """A page up; on a ``windowed`` table, what the first row held cut short is posted (``PagedPast``)."""
        left = self.page_rows() - self.cursor_row
        super().action_page_up()
        if self.windowed and self.row_count and left > 0:
            self.post_message(self.PagedPast(-left))

    def page_rows(self) -> int:
        """Rows a page key moves the cursor by (``DataTable``'s own page: the body's height; rows are one line)."""
        return self.scrollable_content_region.height - (self.header_height if self.show_header else 0)

    def move_cursor_by(self, rows: int) -> None:
        """Move the cursor ``rows`` down (up if negative), as far as the rows held go, scrolling it into view."""
        if self.row_count:
            self.move_cursor(row=max(0, min(self.row_count - 1, self.cursor_row + rows)))

    def go_to_edge(self, edge: Literal["first", "last"]) -> None:
        """Move the cursor to the first or the last row held (what Home and End do on a table that is not a window)."""
        if edge == "first":
            super().action_scroll_top()
        else:
            super().action_scroll_bottom()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        # DataTable caches a rendered cell only until the next change anywhere in the table (its key holds a
        # counter of updates), so a page of rows appended below, or one cell updated, renders every cell on
        # screen again, each through Rich's Padding and Styled (~0.1 ms a cell). Here a one-line Text cell is
        # rendered directly (the same segments; ``test_keyed_table`` compares them) and kept for as long as the
        # cell object itself is the one in the table: cells are never changed in place, only replaced.
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._data[row_key].get(column_key)
        row = self.rows[row_key]
        if not isinstance(cell, Text) or row.height != 1 or row.label is not None or not _one_line(cell):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            row_index,
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.cell_padding,
        )
        cached = self._cells.get(key)
        if cached is not None and cached[0] is cell:
            return cached[1]
        lines = self._render_text_cell(cell, row_index, column_index, base_style, width, cursor, hover)
        self._cells[key] = (cell, lines)
        return lines

    def _render_text_cell(
        self,
        cell: Text,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> SegmentLines:
        """What ``DataTable._render_cell`` renders for a one-line ``Text`` in a one-line row, without Rich's
        Padding/Styled machinery: the text cut to the column (with its own overflow), padded, then the table's
        styles before and after the text's own."""
        base_style += Style.from_meta({"row": row_index, "column": column_index})
        is_fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            is_fixed,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        console = self.app.console
        pre = base_style + component_style
        post = console.get_style(post_style) if isinstance(post_style, str) else post_style
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        text = cell
        if cell.cell_len > inner:
            text = cell.copy()
            text.truncate(inner, overflow=cell.overflow or "fold")
        segments: list[Segment] = []
        if pad:
            segments.append(Segment(" " * pad))
        if text.style and not text.spans:
            # Text.render drops the text's own style when it has no spans (Rich applies it as a span when it
            # lays the text out in lines).
            segments.append(Segment(text.plain, console.get_style(text.style, default=Style.null())))
        else:
            segments.extend(text.render(console, end=""))
        used = text.cell_len
        if used < inner:
            segments.append(Segment(" " * (inner - used)))
        if pad:
            segments.append(Segment(" " * pad))
        line = [Segment(t, _styled(pre, style, post)) for t, style, _ in segments if t]
        return [line]

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


def _one_line(cell: Text) -> bool:
    """A cell the direct rendering handles: one line, no tabs, no justification."""
    return "\n" not in cell.plain and "\t" not in cell.plain and cell.justify in (None, "default", "left")


def _styled(pre: Style, style: Style | None, post: Style | None) -> Style:
    """The table's style before, the segment's own, then the table's style after (as Rich's ``Styled`` does)."""
    combined = pre + style
    return combined + post if post else combined

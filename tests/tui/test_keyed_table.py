"""KeyedTable renders a one-line Text cell directly, not through Rich's Padding and Styled: the segments must
be the ones DataTable itself renders, and a cell is rendered again only when it (not the table) changed."""

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from studio_tui.widgets.keyed_table import ColumnSpec, KeyedTable

CELLS = [
    Text(""),
    Text("plain"),
    Text("a cell far too long for its column", no_wrap=True, overflow="ellipsis"),
    Text("folded, too long for the column", overflow="fold"),
    Text.assemble(("● ", "bold red"), ("RUNNING", "green on black"), " tail"),
    Text("dim whole", style="dim"),
    Text("宽字符宽字符宽字符", no_wrap=True, overflow="ellipsis"),
    Text.assemble(" ", ("⚠ stuck: no step for 5m", Style(color="yellow", bold=True))),
]


class TableApp(App[None]):
    def __init__(self, padding: int) -> None:
        super().__init__()
        self.padding = padding

    def compose(self) -> ComposeResult:
        yield KeyedTable(id="t", cell_padding=self.padding)


def chars(lines: list[list[Segment]]) -> list[tuple[str, Style]]:
    """Each cell of the rendered lines with its style (segment boundaries do not matter on screen)."""
    return [(ch, style or Style.null()) for line in lines for text, style, _ in line for ch in text]


async def test_direct_rendering_matches_datatable_for_every_cell_and_state() -> None:
    for padding in (0, 1):
        app = TableApp(padding)
        async with app.run_test(size=(80, 20)) as pilot:
            table = app.query_one(KeyedTable)
            columns = [ColumnSpec("a", "A", 12), ColumnSpec("b", "B", 3), ColumnSpec("c", "C", 30)]
            table.sync(columns, [(f"r{n}", [cell, cell, cell]) for n, cell in enumerate(CELLS)])
            await pilot.pause()
            base = Style(color="white", bgcolor="blue")
            for row in range(len(CELLS)):
                for column, spec in enumerate(columns):
                    for cursor in (False, True):
                        for hover in (False, True):
                            width = spec.width + 2 * padding
                            ours = table._render_cell(row, column, base, width, cursor, hover)
                            theirs = DataTable._render_cell(table, row, column, base, width, cursor, hover)
                            assert chars(ours) == chars(theirs), (padding, row, column, cursor, hover)


async def test_a_cell_is_rendered_again_only_when_it_is_replaced() -> None:
    app = TableApp(0)
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(KeyedTable)
        columns = [ColumnSpec("a", "A", 12)]
        table.sync(columns, [("r0", [Text("one")]), ("r1", [Text("two")])])
        await pilot.pause()
        rendered: list[str] = []
        real = KeyedTable._render_text_cell

        def counting(self: KeyedTable, cell: Text, *args: object) -> object:
            rendered.append(cell.plain)
            return real(self, cell, *args)  # type: ignore[arg-type]

        KeyedTable._render_text_cell = counting  # type: ignore[assignment,method-assign]
        try:
            style = Style()
            first = table._render_cell(0, 0, style, 12)
            assert table._render_cell(0, 0, style, 12) is first and rendered == ["one"]
            # Rows appended and another cell replaced: DataTable's own cache forgets everything; this one does not.
            table.sync(columns, [("r0", [Text("one")]), ("r1", [Text("2")]), ("r2", [Text("three")])], changed={"r1"})
            assert table._render_cell(0, 0, style, 12) is first and rendered == ["one"]
            table._render_cell(1, 0, style, 12)
            assert rendered == ["one", "2"]
        finally:
            KeyedTable._render_text_cell = real  # type: ignore[method-assign]

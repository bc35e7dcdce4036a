"""studio_tui.steady: what counts as "the same text" when a refresh decides to skip an update."""

from rich.text import Text

from studio_tui.steady import same_cells, same_text


def test_a_different_base_style_is_a_different_text() -> None:
    # rich's own Text == ignores the base style: a row that only turned from dim to bold would not be redrawn.
    assert Text("a", style="dim") == Text("a", style="bold")
    assert not same_text(Text("a", style="dim"), Text("a", style="bold"))


def test_spans_plain_and_type_count() -> None:
    assert same_text(Text.assemble(("a", "bold"), "b"), Text.assemble(("a", "bold"), "b"))
    assert not same_text(Text.assemble(("a", "bold"), "b"), Text.assemble("a", ("b", "bold")))
    assert not same_text(Text("ab"), Text("abc"))
    assert not same_text("ab", Text("ab"))


def test_rows_compare_cell_by_cell() -> None:
    row = [Text("x"), Text("y", style="red")]
    assert same_cells(row, [Text("x"), Text("y", style="red")])
    assert not same_cells(row, [Text("x"), Text("y", style="green")])
    assert not same_cells(row, [Text("x")])

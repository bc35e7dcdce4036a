"""Relabelling a tab so that its underline follows the new width."""

from rich.text import Text
from textual.widgets import Tab, TabbedContent


def relabel(tabs: TabbedContent, pane_id: str, label: str) -> None:
    """Set the tab of ``pane_id`` to ``label`` (plain text, never markup) and move the underline under it.

    Textual moves the active tab's underline after the next refresh, which under load can come before the
    tab's new width has been laid out: the underline then stays as wide as the old label (CI caught
    "Steps 4" underlined as "Steps"). So the tab is announced as relabelled once more, two refreshes
    later, when its width is laid out.
    """
    tab = tabs.get_tab(pane_id)
    tab.label = Text(label)

    def again() -> None:
        if tab.is_mounted:
            tab.post_message(Tab.Relabelled(tab))

    tabs.call_after_refresh(tabs.call_after_refresh, again)

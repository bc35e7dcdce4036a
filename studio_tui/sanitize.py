"""The one render boundary for untrusted strings: ``safe_text`` turns any value into inert ``rich.text.Text``.

Everything the studio shows that came from a run, an event, a definition or an operator (payloads, errors,
names, ids, step ids) passes through ``safe_text``. It guarantees two things:

* **No markup.** The result is a ``Text`` built from the plain string, so ``[bold]`` or
  ``[@click=app.quit]`` in a payload is shown literally and never becomes a style or an action.
* **No terminal control.** Characters a terminal would act on are replaced by visible stand-ins, so an
  ESC/CSI/OSC sequence (screen clear, OSC 52 clipboard write, title change) never reaches the operator's
  terminal and the operator can still see that something was there:

  - C0 controls U+0000–U+001F (except ``\\n`` and ``\\t`` in multi-line text) become their Unicode
    *Control Pictures* U+2400–U+241F: ESC shows as ``␛``, CR as ``␍``, BEL as ``␇``.
  - DEL (U+007F) becomes ``␡`` (U+2421).
  - C1 controls U+0080–U+009F (CSI is U+009B) have no control pictures and become U+FFFD ``�``.
  - Bidirectional formatting characters (U+202A–U+202E, U+2066–U+2069, the marks U+200E/U+200F/U+061C) and
    the line/paragraph separators U+2028/U+2029 become U+FFFD too: terminals that implement bidi would
    otherwise reorder the text around them and make one id look like another.

  With ``single_line=True`` (table cells, one-line labels) ``\\n`` and ``\\t`` are replaced as well
  (``␊``, ``␉``), so a multi-line value cannot push other rows around.
"""

import json
from typing import Any, Final

from rich.style import Style
from rich.text import Text

REPLACEMENT: Final = "\ufffd"
"""Stand-in for controls that have no Unicode control picture (C1, bidi formatting)."""

_KEPT_MULTI_LINE: Final = frozenset({"\n", "\t"})
_BIDI_CONTROLS: Final = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029)
"""Bidi marks, embeddings, overrides and isolates, and the line/paragraph separators some terminals break on."""


def _build_table(*, keep: frozenset[str]) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        if chr(code) not in keep:
            table[code] = chr(0x2400 + code)
    table[0x7F] = "\u2421"
    for code in range(0x80, 0xA0):
        table[code] = REPLACEMENT
    for code in _BIDI_CONTROLS:
        table[code] = REPLACEMENT
    return table


_MULTI_LINE: Final = _build_table(keep=_KEPT_MULTI_LINE)
_SINGLE_LINE: Final = _build_table(keep=frozenset())


def safe_text(value: Any, *, single_line: bool = False, style: Style | str = "") -> Text:
    """``value`` as inert text: never parsed as markup, with terminal controls replaced by visible stand-ins.

    Strings are used as they are; ``None`` is an empty text; anything else is shown as compact JSON when it
    is JSON-serialisable (so a dict reads the same everywhere) and ``str()`` otherwise.
    """
    if value is None:
        raw = ""
    elif isinstance(value, str):
        raw = value
    else:
        try:
            raw = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            raw = str(value)
    cleaned = raw.translate(_SINGLE_LINE if single_line else _MULTI_LINE)
    if single_line:
        return Text(cleaned, style=style, no_wrap=True, overflow="ellipsis")
    return Text(cleaned, style=style)

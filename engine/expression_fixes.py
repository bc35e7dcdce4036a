"""Make jsonata-python 0.7.1 compute what the JSONata reference (jsonata-js 2.x) computes.

A differential test (``tests/conformance``) evaluates a corpus through the contract and through the
reference; every divergence it found is fixed here, in one place, each fix pinned by a unit test
(``tests/unit/test_expression_fixes.py``). Two mechanisms:

Function overrides (:func:`register`, called for every compiled program)
    Built-ins are re-bound in the program's own environment through the library's registration
    (``Jsonata.register_function``), keeping each signature as the library declares it. Every built-in
    is bound through :class:`ConformingNative`, which turns a Python exception escaping a built-in
    (``ValueError: could not convert string to float``...) into a JSONata error code: an author never
    sees a Python exception's text. Rewritten built-ins follow the reference's own code:
    ``$string`` (numbers printed as JavaScript prints them, 15 significant digits for fractions;
    Unicode unescaped), ``$number`` (the reference's strict grammar, ``0x``/``0o``/``0b`` accepted),
    ``$lowercase`` (Greek final sigma), ``$base64encode``/``$base64decode`` (one byte per character,
    Latin-1), ``$sort`` (the reference's stable merge sort), ``$match``/``$replace``/``$split`` (the
    reference's match iteration: indexes in UTF-16 code units and error D1004 for a regex that matches
    the empty string where it would loop; the regex itself runs on RE2, see
    :mod:`engine.expression_guards`), ``$toMillis`` (the reference's ISO 8601 grammar and its date
    arithmetic), ``$fromMillis`` (exact milliseconds), ``$power`` (D3061 when the result is not a
    number), ``$formatNumber`` (round half to even on the shortest decimal, as the reference does).

Evaluator patches (:func:`install`, once per process, at class level)
    * JSON ``null`` in the input is the library's ``NULL_VALUE`` (it otherwise reads as *undefined*,
      so ``$count(xs[$ = null])`` was 0 and ``$map`` dropped nulls): the input and the bindings are
      converted on entry to ``Jsonata.evaluate``, reusing every container that holds no null.
    * ``%`` keeps the fraction (``7.5 % 2`` is 1.5); a division or remainder that is not a finite
      number is error D1001 (the reference yields ``Infinity``/``NaN``, which are not JSON).
    * ``?:`` no longer processes its shared left side twice (``-1 ?: 2`` was 1, ``tags[-1] ?: 'x'`` lost
      its index).
    * ``&`` prints its operands with the conforming ``$string``; ``^(...)`` sorts with the conforming
      stable sort; fractional array indexes round down (``[-1.5]`` is ``[-2]``); higher-order functions
      pass a built-in as many arguments as the reference does (``$map(xs, $round)``); strings order
      by UTF-16 code units in ``<``, ``$sort`` and ``^(...)``, as JavaScript orders them.
    * A JSONata error raised inside a built-in without a position gets the position of the call.
    * Signatures read JSON ``null`` as null, not as a missing argument (``$number(null)`` is T0410).

The null conversion costs a walk of the context per interpreted evaluation (about 20 µs for a 2.4 KB
context); the fast path (:mod:`engine.expression_fast`) declines on nulls it meets and does not pay it.

Where the contract refuses instead of matching the reference (listed with reasons in
``tests/conformance/differences.py``): ``$base64encode`` of a character above U+00FF (the reference
silently keeps only its low byte) and results that are not finite numbers.
"""

import base64
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from jsonata import Functions, JException, Jsonata, Parser, Utils
from jsonata.datetimeutils import DateTimeUtils
from jsonata.signature import Signature

from engine import expression_guards

NULL: Final = Utils.NULL_VALUE

FIX_ERROR_CODES: Final[Mapping[str, str]] = {
    "RS1101": "a built-in function could not handle its arguments (the reference has no code for it)",
    "RS1102": "$base64encode was given a character above U+00FF, which has no single byte",
}
"""Codes of the errors this module raises that JSONata itself does not define."""

_BUILTIN_FAILED: Final = "RS1101"
_NOT_LATIN1: Final = "RS1102"
# JSONata's code for a message-only error; the code is replaced after construction.
_MESSAGE_CODE: Final = "D3137"

# The code a Python exception escaping a built-in becomes: the reference's code for the same failure.
_FAILURE_CODES: Final[Mapping[str, str]] = {
    "number": "D3030",
    "toMillis": "D3110",
    "fromMillis": "D3132",
    "now": "D3132",
    "formatInteger": "D3130",
    "parseInteger": "D3130",
    "formatNumber": "D3080",
    "formatBase": "D3100",
    "power": "D3061",
    "sqrt": "D3060",
    "sort": "D3070",
}

# Built-ins that call functions given to them: an error may come from that function, already placed.
_CALLS_FUNCTIONS: Final = frozenset({"map", "filter", "reduce", "sort", "each", "sift", "single", "replace"})

# The number of arguments the reference passes a built-in from $map/$filter/$each/$sift/$single
# (its implementation's declared parameter count).
_JS_ARITY: Final[Mapping[str, int]] = {
    "sum": 1, "count": 1, "max": 1, "min": 1, "average": 1, "string": 1, "substring": 3,
    "substringBefore": 2, "substringAfter": 2, "lowercase": 1, "uppercase": 1, "length": 1, "trim": 1,
    "pad": 3, "match": 3, "contains": 2, "replace": 4, "split": 3, "join": 2, "formatNumber": 3,
    "formatBase": 2, "formatInteger": 2, "parseInteger": 2, "number": 1, "floor": 1, "ceil": 1,
    "round": 2, "abs": 1, "sqrt": 1, "power": 2, "random": 0, "boolean": 1, "not": 1, "map": 2,
    "zip": 0, "filter": 2, "single": 2, "reduce": 3, "sift": 2, "keys": 1, "lookup": 2, "append": 2,
    "exists": 1, "spread": 1, "merge": 1, "reverse": 1, "each": 2, "error": 1, "assert": 2, "type": 1,
    "sort": 2, "shuffle": 1, "distinct": 1, "base64encode": 1, "base64decode": 1,
    "encodeUrlComponent": 1, "encodeUrl": 1, "decodeUrlComponent": 1, "decodeUrl": 1, "eval": 2,
    "toMillis": 2, "fromMillis": 3, "clone": 1,
}  # fmt: skip


def jsonata_error(code: str, message: str, position: int = -1) -> JException:
    """A JSONata error with ``code`` and exactly ``message`` (no Python text)."""
    error = JException(_MESSAGE_CODE, position, message)
    error.error = code
    return error


# -- numbers and strings as JavaScript prints them ------------------------------------------------------


def js_number_text(value: float | int) -> str:
    """``value`` as JavaScript's ``Number.prototype.toString`` prints it (``1e+21``, ``1.5e-7``, ``100``)."""
    number = float(value)
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    digits_tuple, exponent = _shortest_digits(abs(number))
    digits = "".join(map(str, digits_tuple))
    k = len(digits)
    n = k + exponent  # position of the decimal point relative to the digits
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def _shortest_digits(number: float) -> tuple[tuple[int, ...], int]:
    # repr() is the shortest text that reads back as the same double, which is also JavaScript's choice.
    decimal = Decimal(repr(number)).normalize()
    _sign, digits, exponent = decimal.as_tuple()
    assert isinstance(exponent, int)
    return tuple(digits), exponent


def _to_precision_15(number: float) -> float:
    """JavaScript's ``Number(x.toPrecision(15))``: round to 15 significant digits, ties away from zero."""
    if number == 0 or not math.isfinite(number):
        return number
    exact = Decimal(number)
    quantum = Decimal(1).scaleb(exact.adjusted() - 14)
    return float(exact.quantize(quantum, rounding=ROUND_HALF_UP))


def _json_number(value: int | float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return js_number_text(_to_precision_15(value))
    return js_number_text(value)


def _is_function(value: Any) -> bool:
    return isinstance(value, Jsonata.JFunction | Parser.Symbol | Jsonata.JLambda) or Functions.is_lambda(value)


def js_stringify(value: Any, indent: bool = False) -> str:
    """``JSON.stringify`` as ``$string`` uses it: numbers as JavaScript prints them (15 significant
    digits for fractions), Unicode unescaped, functions as ``""``, two-space indentation if ``indent``.
    """
    out: list[str] = []
    _stringify_into(out, value, "\n" if indent else "")
    return "".join(out)


def _stringify_into(out: list[str], value: Any, newline: str) -> None:
    guard = expression_guards.active()
    if guard is not None:
        guard.tick()
    if value is None or value is NULL:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            out.append("null")
        else:
            out.append(_json_number(value))
    elif _is_function(value):
        out.append('""')
    elif isinstance(value, dict):
        # A None here is JSON null: evaluation drops undefined members, but the fast path
        # (engine.expression_fast) hands built-ins the context's containers as they are.
        items = list(value.items())
        if not items:
            out.append("{}")
            return
        inner = newline + "  " if newline else ""
        out.append("{")
        for index, (key, item) in enumerate(items):
            if index:
                out.append(",")
            out.append(inner)
            out.append(_quote(str(key)))
            out.append(": " if newline else ":")
            _stringify_into(out, item, inner)
        out.append(newline + "}")
    elif isinstance(value, list):
        if not value:
            out.append("[]")
            return
        inner = newline + "  " if newline else ""
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            out.append(inner)
            _stringify_into(out, item, inner)
        out.append(newline + "]")
    else:
        out.append("null")


_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE: Final = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def _quote(text: str) -> str:
    # JSON.stringify escapes quotes, backslashes and control characters only (and lone surrogates).
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


def string(arg: Any, prettify: Any = None) -> str | None:
    """``$string``: the reference's conversion (see :func:`js_stringify`); D3001 for a non-finite number."""
    if isinstance(arg, Utils.JList) and arg.outer_wrapper:
        arg = arg[0]
    if arg is None:
        return None
    if isinstance(arg, str):
        return arg
    if _is_function(arg):
        return ""
    if isinstance(arg, float) and not math.isfinite(arg):
        raise jsonata_error("D3001", "Attempting to invoke string function on Infinity or NaN")
    guard = expression_guards.active()
    if guard is not None and expression_guards.json_length_exceeds(arg, expression_guards.MAX_STRING_LENGTH, guard):
        raise guard.fail("$string would build a string over the length limit", expression_guards.SIZE_CODE)
    return js_stringify(arg, bool(prettify) and prettify is not NULL)


# -- $number --------------------------------------------------------------------------------------------

_DECIMAL_NUMBER: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?([Ee][-+]?[0-9]+)?", re.ASCII)
# The reference's regex is /^(0[xX]…)|(0[oO]…)|(0[bB]…)$/: only the whole-string forms give a number.
_PREFIXED_NUMBER: Final = re.compile(r"0[xX][0-9A-Fa-f]+|0[oO][0-7]+|0[bB][01]+", re.ASCII)


def number(arg: Any) -> int | float | None:
    """``$number``: the reference's grammar — optional ``-``, digits, optional fraction and exponent,
    or a ``0x``/``0o``/``0b`` integer; no spaces, ``+``, ``.5``, ``5.``, ``_`` or non-ASCII digits.
    """
    if arg is None:
        return None
    if isinstance(arg, bool):
        return 1 if arg else 0
    if isinstance(arg, int | float):
        return arg
    if isinstance(arg, str):
        if _DECIMAL_NUMBER.fullmatch(arg):
            value = float(arg)
            if math.isfinite(value):
                return value
        elif _PREFIXED_NUMBER.fullmatch(arg):
            return int(arg, 0)
    raise jsonata_error("D3030", f"Unable to cast value to a number: {_show(arg)}")


def _show(value: Any) -> str:
    try:
        return js_stringify(value)
    except Exception:  # pragma: no cover - js_stringify handles every JSON value
        return "(value)"


# -- $lowercase -----------------------------------------------------------------------------------------

_CASE_IGNORABLE_CATEGORIES: Final = frozenset({"Mn", "Me", "Cf", "Lm", "Sk"})
_CASE_IGNORABLE_CHARS: Final = frozenset("'.:^`\u00b7\u2018\u2019\u2024\u2027")


def _is_case_ignorable(char: str) -> bool:
    return char in _CASE_IGNORABLE_CHARS or unicodedata.category(char) in _CASE_IGNORABLE_CATEGORIES


def _is_cased(char: str) -> bool:
    return unicodedata.category(char) in ("Lu", "Ll", "Lt") or char.lower() != char.upper()


def _is_final_sigma(text: str, index: int) -> bool:
    """Unicode's Final_Sigma condition, as JavaScript's ``toLowerCase`` applies it."""
    before = index - 1
    while before >= 0 and _is_case_ignorable(text[before]):
        before -= 1
    if before < 0 or not _is_cased(text[before]):
        return False
    after = index + 1
    while after < len(text) and _is_case_ignorable(text[after]):
        after += 1
    return after >= len(text) or not _is_cased(text[after])


def lowercase(text: Any) -> str | None:
    """``$lowercase``: Python's mapping plus the Greek final sigma (``ΟΔΟΣ`` → ``οδος``)."""
    if text is None:
        return None
    if text is NULL:
        raise jsonata_error("T0410", "Argument 1 of function lowercase does not match function signature")
    lowered: str = text.lower()
    if "Σ" not in text:
        return lowered
    return "".join(
        ("ς" if _is_final_sigma(text, index) else "σ") if char == "Σ" else char.lower()
        for index, char in enumerate(text)
    )


# -- $base64encode / $base64decode ----------------------------------------------------------------------


def base64encode(text: Any) -> str | None:
    """``$base64encode``: each character is one byte (Latin-1), as the reference encodes.

    A character above U+00FF has no such byte: the reference keeps its low byte silently; this refuses.
    """
    if text is None:
        return None
    if text is NULL:
        raise jsonata_error("T0410", "Argument 1 of function base64encode does not match function signature")
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise jsonata_error(
            _NOT_LATIN1,
            f"$base64encode encodes each character as one byte (Latin-1), as JSONata does; "
            f"{char!r} (U+{ord(char):04X}) has none",
        ) from None
    return base64.b64encode(data).decode("ascii")


_NOT_BASE64: Final = re.compile(r"[^A-Za-z0-9+/]")


def base64decode(text: Any) -> str | None:
    """``$base64decode``: bytes read as Latin-1 characters; like the reference, padding is optional,
    URL-safe letters are read and other characters are skipped.
    """
    if text is None:
        return None
    if text is NULL:
        raise jsonata_error("T0410", "Argument 1 of function base64decode does not match function signature")
    cleaned = _NOT_BASE64.sub("", text.split("=", 1)[0].replace("-", "+").replace("_", "/"))
    cleaned = cleaned[: len(cleaned) - (len(cleaned) % 4 == 1)]
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4)).decode("latin-1")


# -- $sort ----------------------------------------------------------------------------------------------


def _js_truthy(value: Any) -> bool:
    if value is None or value is NULL or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


class _Utf16Str(str):
    """A string that orders as JavaScript orders strings: by UTF-16 code units, not code points.

    They differ only when a character above U+FFFF meets one in U+E000..U+FFFF (``'😀' < 'ａ'`` in
    JavaScript, the opposite in Python).
    """

    __slots__ = ()

    def _units(self) -> bytes:
        return self.encode("utf-16-be", "surrogatepass")

    def __lt__(self, other: str) -> bool:
        return self._units() < _Utf16Str(other)._units()

    def __le__(self, other: str) -> bool:
        return self._units() <= _Utf16Str(other)._units()

    def __gt__(self, other: str) -> bool:
        return self._units() > _Utf16Str(other)._units()

    def __ge__(self, other: str) -> bool:
        return self._units() >= _Utf16Str(other)._units()


def _js_order(value: Any) -> Any:
    """``value`` ready for JavaScript's ordering (strings by UTF-16 code units); ASCII stays as it is."""
    if isinstance(value, str) and not value.isascii() and type(value) is str:
        return _Utf16Str(value)
    return value


def sort(arr: Any, comparator: Any = None) -> Any:
    """``$sort`` and ``^(...)``: the reference's top-down merge sort, stable for a consistent comparator.

    A JSONata comparator answers "should ``a`` come after ``b``"; the order-by operator passes a Python
    comparison returning a negative, zero or positive number.
    """
    if arr is None:
        return None
    if not isinstance(arr, list) or len(arr) <= 1:
        return arr
    swap: Callable[[Any, Any], bool]
    if comparator is None:
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in arr)
        if not numbers and not all(isinstance(x, str) for x in arr):
            raise jsonata_error(
                "D3070",
                "The single argument form of the sort function can only be applied to an array of strings "
                "or an array of numbers.  Use the second argument to specify a comparison function",
            )

        def swap(a: Any, b: Any) -> bool:
            return bool(_js_order(a) > _js_order(b))

    elif isinstance(comparator, Jsonata.JFunctionCallable) or Functions.is_lambda(comparator):

        def swap(a: Any, b: Any) -> bool:
            return _js_truthy(Functions.func_apply(comparator, [a, b]))

    else:

        def swap(a: Any, b: Any) -> bool:
            return bool(comparator(a, b) > 0)

    guard = expression_guards.active()
    if guard is not None:
        # Every comparison is a tick, so a long sort stops at the time limit like any other loop.
        compare = swap

        def swap(a: Any, b: Any) -> bool:
            guard.tick()
            return compare(a, b)

    return _merge_sort(list(arr), swap)


def _merge_sort(items: list[Any], swap: Callable[[Any, Any], bool]) -> list[Any]:
    if len(items) <= 1:
        return items
    middle = len(items) // 2
    left = _merge_sort(items[:middle], swap)
    right = _merge_sort(items[middle:], swap)
    merged: list[Any] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if swap(left[i], right[j]):
            merged.append(right[j])
            j += 1
        else:
            merged.append(left[i])
            i += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    return merged


# -- regular expression functions -----------------------------------------------------------------------


def _utf16_index(text: str, index: int) -> int:
    """The UTF-16 code unit offset of code point ``index``: JavaScript's string positions."""
    if text.isascii():
        return index
    return index + sum(1 for char in text[:index] if ord(char) > 0xFFFF)


def js_matches(pattern: Any, text: str) -> Iterator[Any]:
    """The matches of ``pattern`` in ``text`` as the reference iterates them.

    The reference searches again from where the previous match ended; a match of the empty string
    there (other than the first match) would repeat forever, so it is error D1004 — as is any search
    after a first match of the empty string before the end of the text.
    """
    previous_end: int | None = None
    previous_empty = False
    for match in pattern.finditer(text):
        if previous_end is not None:
            if previous_end >= len(text):
                return
            if previous_empty or match.end() == match.start():
                raise _zero_length(pattern)
        yield match
        previous_end = match.end()
        previous_empty = match.end() == match.start()
    if previous_empty and previous_end is not None and previous_end < len(text):
        raise _zero_length(pattern)


def _zero_length(pattern: Any) -> JException:
    return jsonata_error("D1004", "Regular expression matches zero length string")


def _groups(match: Any) -> list[Any]:
    return [match.group(index) for index in range(1, _group_count(match) + 1)]


def _group_count(match: Any) -> int:
    count = getattr(match.re, "groups", None) if hasattr(match, "re") else None
    return int(count) if count is not None else len(match.groups())


def match_(text: Any, regex: Any, limit: Any = None) -> Any:
    """``$match``: ``{match, index, groups}`` for each match; ``index`` counts UTF-16 code units."""
    if text is None:
        return None
    if text is NULL:
        raise jsonata_error("T0410", "Argument 1 of function match does not match function signature")
    if limit is not None and limit < 0:
        raise jsonata_error("D3040", "Third argument of match function must evaluate to a positive number")
    result = Utils.create_sequence()
    if limit is not None and limit == 0:
        return result
    for match in js_matches(regex, text):
        result.append({"match": match.group(), "index": _utf16_index(text, match.start()), "groups": _groups(match)})
        if limit is not None and len(result) >= limit:
            break
    return result


def contains(text: Any, token: Any) -> bool | None:
    """``$contains``: a substring, or a regex with at least one match."""
    if text is None or text is NULL:
        return None
    if isinstance(token, str):
        return token in text
    return next(iter(token.finditer(text)), None) is not None


def _substitute(replacement: str, match: Any) -> str:
    """The reference's ``$n`` expansion: ``$$`` is ``$``, ``$0`` the match, ``$n`` a group (longest
    number not above the group count), a group that did not take part is empty, other ``$`` literal.
    """
    groups = _groups(match)
    out: list[str] = []
    position = 0
    index = replacement.find("$", position)
    while index != -1 and position < len(replacement):
        out.append(replacement[position:index])
        position = index + 1
        dollar = replacement[position : position + 1]
        if dollar == "$":
            out.append("$")
            position += 1
        elif dollar == "0":
            out.append(match.group())
            position += 1
        else:
            max_digits = 1 if not groups else math.floor(math.log10(len(groups))) + 1
            number_text = _leading_int(replacement[position : position + max_digits])
            if max_digits > 1 and number_text is not None and int(number_text) > len(groups):
                number_text = _leading_int(replacement[position : position + max_digits - 1])
            if number_text is not None:
                group_number = int(number_text)
                if groups and 0 < group_number <= len(groups) and groups[group_number - 1] is not None:
                    out.append(groups[group_number - 1])
                position += len(str(group_number))
            else:
                out.append("$")
        index = replacement.find("$", position)
    out.append(replacement[position:])
    return "".join(out)


def _leading_int(text: str) -> str | None:
    # JavaScript's parseInt: the leading ASCII digits, if any.
    digits = re.match(r"[0-9]+", text, re.ASCII)
    return digits.group() if digits else None


def replace(text: Any, pattern: Any, replacement: Any, limit: Any = None) -> str | None:
    """``$replace``: the reference's algorithm (string patterns replace literally; regex replacements
    expand ``$n``; a function replacement gets ``{match, start, end, groups}`` and must return a string).
    """
    if text is None:
        return None
    if text is NULL:
        raise jsonata_error("T0410", "Argument 1 of function replace does not match function signature")
    if pattern == "":
        raise jsonata_error("D3010", "Second argument of replace function cannot be an empty string")
    if limit is not None and limit < 0:
        raise jsonata_error("D3011", "Fourth argument of replace function must evaluate to a positive number")
    if limit is not None and limit == 0:
        return str(text)
    if isinstance(pattern, str):
        if not isinstance(replacement, str):
            raise jsonata_error("D3012", "Attempted to replace a matched string with a non-string value")
        # A literal pattern replaces left to right without overlaps, exactly what str.replace does in one
        # native call; its size is checked before it is built, since that call cannot be interrupted.
        times = text.count(pattern) if limit is None else min(text.count(pattern), math.ceil(limit))
        guard = expression_guards.active()
        if guard is not None:
            guard.check_text_length(len(text) + times * (len(replacement) - len(pattern)), "$replace's result")
        return str(text).replace(pattern, replacement, times)
    pieces: list[str] = []
    position = 0
    for count, match in enumerate(js_matches(pattern, text)):
        if limit is not None and count >= limit:
            break
        pieces.append(text[position : match.start()])
        if isinstance(replacement, str):
            replaced: Any = _substitute(replacement, match)
        else:
            replaced = Functions.func_apply(
                replacement,
                [{"match": match.group(), "start": _utf16_index(text, match.start()),
                  "end": _utf16_index(text, match.end()), "groups": _groups(match)}],
            )  # fmt: skip
        if not isinstance(replaced, str):
            raise jsonata_error("D3012", "Attempted to replace a matched string with a non-string value")
        pieces.append(replaced)
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces)


def split(text: Any, separator: Any, limit: Any = None) -> list[str] | None:
    """``$split``: the reference's algorithm (a regex separator iterates as :func:`js_matches`)."""
    if text is None:
        return None
    if text is NULL:
        raise jsonata_error("T0410", "Argument 1 of function split does not match function signature")
    if limit is not None and limit < 0:
        raise jsonata_error("D3020", "Third argument of split function must evaluate to a positive number")
    result: list[str] = []
    if limit is not None and limit == 0:
        return result
    guard = expression_guards.active()
    if guard is not None and separator == "" and len(text) > expression_guards.MAX_ELEMENTS:
        # Checked before building: one element per character could exhaust memory first.
        raise guard.fail(
            f"$split into characters would build {len(text):,} elements, "
            f"over the limit of {expression_guards.MAX_ELEMENTS:,}",
            expression_guards.SIZE_CODE,
        )
    if isinstance(separator, str):
        result = list(text) if separator == "" else text.split(separator)
        if limit is not None:
            result = result[: math.floor(limit)]
    else:
        start = 0
        count = 0
        for match in js_matches(separator, text):
            if limit is not None and count >= limit:
                break
            result.append(text[start : match.start()])
            start = match.end()
            count += 1
        if limit is None or count < limit:
            result.append(text[start:])
    if guard is not None:
        guard.check_built(result)
    return result


# -- dates ----------------------------------------------------------------------------------------------

_ISO_8601: Final = re.compile(
    r"(\d{4})(-[01]\d)?(-[0-3]\d)?(T[0-2]\d:[0-5]\d:[0-5]\d)?(\.\d+)?([+-][0-2]\d:?[0-5]\d|Z)?", re.ASCII
)
_DAY_MS: Final = 86_400_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (day may run past the month's end)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def iso_to_millis(timestamp: str) -> int:
    """Milliseconds of an ISO 8601 timestamp as the reference reads it (its grammar, then JavaScript's
    ``Date.parse``: a day past the month's end rolls over, no zone means UTC).

    Raises D3110 for text outside the grammar and for what ``Date.parse`` cannot read (``NaN``).
    """
    shape = _ISO_8601.fullmatch(timestamp)
    if shape is None:
        raise _not_iso(timestamp)
    year_text, month_text, day_text, time_text, fraction, zone = shape.groups()
    if day_text is not None and month_text is None:
        raise _not_iso(timestamp)
    if time_text is None and (fraction is not None or (zone is not None and zone != "Z")):
        raise _not_iso(timestamp)
    month = int(month_text[1:]) if month_text else 1
    day = int(day_text[1:]) if day_text else 1
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise _not_iso(timestamp)
    hour = minute = second = millis = 0
    if time_text is not None:
        hour, minute, second = int(time_text[1:3]), int(time_text[4:6]), int(time_text[7:9])
        millis = int((fraction[1:] + "00")[:3]) if fraction else 0
        if hour > 24 or (hour == 24 and (minute or second or millis)):
            raise _not_iso(timestamp)
    offset = 0
    if zone is not None and zone != "Z":
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[-2:])
        if zone_hours > 23:
            raise _not_iso(timestamp)
        offset = (zone_hours * 60 + zone_minutes) * 60_000 * (1 if zone[0] == "+" else -1)
    days = _days_from_civil(int(year_text), month, day)
    return days * _DAY_MS + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offset


def _not_iso(timestamp: str) -> JException:
    return jsonata_error(
        "D3110",
        f"The argument of the toMillis function must be an ISO 8601 formatted timestamp. Given {_show(timestamp)}",
    )


def to_millis(timestamp: Any, picture: Any = None) -> int | None:
    """``$toMillis``: the reference's ISO 8601 reading without a picture (see :func:`iso_to_millis`)."""
    if timestamp is None:
        return None
    if picture is None:
        return iso_to_millis(timestamp)
    try:
        result: int | None = Functions.datetime_to_millis(timestamp, picture)
    except JException:
        raise
    except Exception:
        # The reference's code when the picture cannot read the timestamp.
        raise jsonata_error(
            "D3136", "The date/time picture string is missing specifiers required to parse the timestamp"
        ) from None
    return result


def from_millis(millis: Any, picture: Any = None, timezone: Any = None) -> str | None:
    """``$fromMillis``: the library's formatting, with the instant computed exactly (no float seconds)."""
    if millis is None:
        return None
    result: str = DateTimeUtils.format_datetime(math.floor(millis), picture, timezone)
    return result


def _format_datetime(millis: int, picture: str | None, timezone: str | None) -> str:
    """``DateTimeUtils.format_datetime`` with integer arithmetic: ``fromtimestamp(ms / 1000.0)`` lost a
    millisecond on large instants (``253402300799999`` printed ``.998``).
    """
    offset_hours = offset_minutes = 0
    if timezone is not None:
        offset = int(timezone)
        offset_hours = math.trunc(offset / 100)
        offset_minutes = int(math.fmod(offset, 100))
    if picture is None:
        if DateTimeUtils._iso8601_spec is None:
            DateTimeUtils._iso8601_spec = DateTimeUtils._analyse_datetime_picture(
                "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]"
            )
        spec = DateTimeUtils._iso8601_spec
    else:
        spec = DateTimeUtils._analyse_datetime_picture(picture)
    offset_millis = (60 * offset_hours + offset_minutes) * 60 * 1000
    moment = _EPOCH + timedelta(milliseconds=millis + offset_millis)
    parts = [
        part.value
        if part.type == "literal"
        else DateTimeUtils._format_component(moment, part, offset_hours, offset_minutes)
        for part in spec.parts
    ]
    return "".join(parts)


# -- numbers --------------------------------------------------------------------------------------------


def power(base: Any, exponent: Any) -> float | None:
    """``$power``: D3061 when the result is not a finite real number (``$power(-8, 1/3)``, ``$power(10, 400)``)."""
    if base is None:
        return None
    try:
        result = math.pow(float(base), float(exponent))
    except (OverflowError, ValueError):
        result = math.nan
    if not math.isfinite(result):
        raise jsonata_error(
            "D3061",
            "The power function has resulted in a value that cannot be represented as a JSON number: "
            f"base={js_number_text(base)}, exponent={js_number_text(exponent)}",
        )
    return result


_SIMPLE_PICTURE_DIGITS: Final = re.compile(r"[0-9#]")


def format_number(value: Any, picture: Any, options: Any = None) -> str | None:
    """``$formatNumber``: rounds half to even on the shortest decimal form of ``value``, as the reference
    does (``0.125`` with ``0.00`` is ``0.12``); the library rounds half up on the binary value.
    """
    if value is None:
        return None
    rounded = _round_for_picture(value, picture, options)
    result: str | None = Functions.format_number(rounded, picture, options)
    return result


def _round_for_picture(value: Any, picture: Any, options: Any) -> Any:
    """``value`` rounded half to even to the picture's fraction digits, as a ``Decimal`` (so the library's
    own rounding has nothing left to do), or ``value`` unchanged where the picture is not a plain one.
    """
    if not isinstance(value, int | float) or isinstance(value, bool) or not isinstance(picture, str):
        return value
    if not math.isfinite(value):
        return value
    settings = options if isinstance(options, dict) else {}
    separator = settings.get("pattern-separator", ";")
    point = settings.get("decimal-separator", ".")
    pictures = picture.split(separator)
    active = pictures[1] if value < 0 and len(pictures) > 1 else pictures[0]
    if "e" in active.lower().replace(point, "") and re.search(r"[0-9#][eE][0-9]", active):
        return value
    scale = 100 if active.endswith(settings.get("percent", "%")) else 1
    scale = 1000 if active.endswith(settings.get("per-mille", "‰")) else scale
    fraction = active.split(point, 1)[1] if point in active else ""
    digits = len(_SIMPLE_PICTURE_DIGITS.findall(fraction))
    try:
        exact = Decimal(repr(float(value))) * scale
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN) / scale
    except InvalidOperation:
        return value
    return rounded


# -- the native wrapper ---------------------------------------------------------------------------------


class ConformingNative(Jsonata.JNativeFunction):  # type: ignore[misc]
    """A built-in bound with the library's own signature, optionally a conforming implementation, and
    no Python exception text: an exception escaping it becomes the reference's code for that function.
    """

    def __init__(self, base: Any, name: str, method: Callable[..., Any] | None) -> None:
        # The library's constructor looks the method up by name on its Functions class; copy instead.
        self.__dict__.update(vars(base))
        self.function_name = name
        if method is not None:
            self.method = method
            self.nargs = base.nargs

    def call(self, input: Any, args: Any) -> Any:
        """Run the built-in; a Python exception becomes a JSONata error without Python text."""
        try:
            return super().call(input, args)
        except JException as exc:
            if self.function_name not in _CALLS_FUNCTIONS:
                # The library gives its own errors arbitrary locations (-1, 0, 1, an argument's value);
                # the reference reports the call's position, which the evaluator fills in.
                exc.location = -1
            raise
        except RecursionError:
            raise
        except Exception:
            code = _FAILURE_CODES.get(self.function_name, _BUILTIN_FAILED)
            raise jsonata_error(code, f"${self.function_name}() cannot handle these arguments") from None


_OVERRIDES: Final[Mapping[str, Callable[..., Any]]] = {
    "string": string,
    "number": number,
    "lowercase": lowercase,
    "base64encode": base64encode,
    "base64decode": base64decode,
    "sort": sort,
    "match": match_,
    "contains": contains,
    "replace": replace,
    "split": split,
    "toMillis": to_millis,
    "fromMillis": from_millis,
    "power": power,
    "formatNumber": format_number,
}

_natives: dict[str, ConformingNative] = {}
_natives_lock = threading.Lock()


def _conforming_natives() -> dict[str, ConformingNative]:
    with _natives_lock:
        if not _natives:
            for name, base in Jsonata.static_frame.bindings.items():
                if isinstance(base, Jsonata.JNativeFunction):
                    override = _OVERRIDES.get(name)
                    # Keep a guard's replacement of the method (engine.expression_guards) when not overridden.
                    _natives[name] = ConformingNative(base, name, override)
        return _natives


def register(program: Any) -> None:
    """Bind the conforming built-ins in ``program``'s environment (the library's registration API)."""
    install()
    for name, native in _conforming_natives().items():
        program.register_function(name, native)


# -- evaluator patches ----------------------------------------------------------------------------------

_INSTALLED_MARK: Final = "_runstudio_fixes_installed"
_install_lock = threading.Lock()


def install() -> None:
    """Patch the evaluator-level divergences (see the module docstring); idempotent per process."""
    with _install_lock:
        if getattr(Jsonata, _INSTALLED_MARK, False):
            return
        expression_guards.install()
        _patch_input_nulls()
        _patch_numeric()
        _patch_elvis()
        _patch_internal_functions()
        _patch_filter_index()
        _patch_positions()
        _patch_null_symbol()
        _patch_string_order()
        setattr(Jsonata, _INSTALLED_MARK, True)


def with_json_nulls(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``value`` with every JSON ``null`` as the library's ``NULL_VALUE``; containers without one are
    returned as they are (no copy), shared containers are converted once.
    """
    if value is None:
        return NULL
    if type(value) is dict or type(value) is list:
        return _convert_container(value, {} if memo is None else memo)
    return value


def _convert_container(value: Any, memo: dict[int, Any]) -> Any:
    # Exact type checks: the library's own sequences (list subclasses) are built during evaluation,
    # never read from JSON input. This walk runs for every interpreted evaluation, hence its shape.
    key = id(value)
    done = memo.get(key)
    if done is not None:
        return done
    copied: Any = None
    pairs = value.items() if type(value) is dict else enumerate(value)
    for name, item in pairs:
        if item is None:
            new = NULL
        elif type(item) is dict or type(item) is list:
            new = _convert_container(item, memo)
            if new is item:
                continue
        else:
            continue
        if copied is None:
            copied = dict(value) if type(value) is dict else list(value)
        copied[name] = new
    result = value if copied is None else copied
    memo[key] = result
    return result


def _patch_input_nulls() -> None:
    original = Jsonata.evaluate

    def evaluate(self: Any, input: Any, bindings: Any = None) -> Any:
        memo: dict[int, Any] = {}
        if input is not None:
            input = with_json_nulls(input, memo)
        if isinstance(bindings, dict):
            bindings = {
                name: (with_json_nulls(value, memo) if value is None or type(value) in (dict, list) else value)
                for name, value in bindings.items()
            }
        return original(self, input, bindings)

    Jsonata.evaluate = evaluate


def _patch_numeric() -> None:
    original = Jsonata.evaluate_numeric_expression

    def evaluate_numeric_expression(self: Any, lhs: Any, rhs: Any, op: Any) -> Any:
        if op not in ("%", "/") or lhs is None or rhs is None:
            return original(self, lhs, rhs, op)
        if not Utils.is_numeric(lhs):
            raise JException("T2001", -1, op, lhs)
        if not Utils.is_numeric(rhs):
            raise JException("T2002", -1, op, rhs)
        try:
            # JavaScript's % is fmod (the sign of the dividend), with the fraction kept.
            result = math.fmod(float(lhs), float(rhs)) if op == "%" else float(lhs) / float(rhs)
        except (ZeroDivisionError, ValueError):
            result = math.nan
        if not math.isfinite(result):
            raise jsonata_error("D1001", f"Number out of range: {_describe_non_finite(lhs, op, rhs)}")
        return Utils.convert_number(result)

    Jsonata.evaluate_numeric_expression = evaluate_numeric_expression


def _describe_non_finite(lhs: Any, op: str, rhs: Any) -> str:
    return f"{js_number_text(lhs)} {op} {js_number_text(rhs)} is not a finite number"


def _patch_elvis() -> None:
    original = Parser.process_ast

    def process_ast(self: Any, expr: Any) -> Any:
        if expr is not None and getattr(expr, "type", None) == "condition" and expr.then is expr.condition:
            # `a ?: b` parses with one node as both condition and result; processing rewrites nodes in
            # place (negation, predicates), so processing it twice changed it.
            result = Parser.Symbol(self)
            result.type = expr.type
            result.position = expr.position
            result.condition = original(self, expr.condition)
            self.push_ancestry(result, result.condition)
            result.then = result.condition
            if expr._else is not None:
                result._else = original(self, expr._else)
                self.push_ancestry(result, result._else)
            return result
        return original(self, expr)

    Parser.process_ast = process_ast


def _patch_internal_functions() -> None:
    # `&` calls Functions.string and `^(...)` calls Functions.sort directly, not through the bindings.
    Functions.string = staticmethod(string)
    Functions.sort = staticmethod(sort)
    DateTimeUtils.format_datetime = staticmethod(_format_datetime)
    original_arity = Functions.get_function_arity

    def get_function_arity(func: Any) -> int:
        if isinstance(func, Jsonata.JNativeFunction) and func.function_name in _JS_ARITY:
            return _JS_ARITY[func.function_name]
        arity: int = original_arity(func)
        return arity

    Functions.get_function_arity = staticmethod(get_function_arity)


def _patch_filter_index() -> None:
    original = Jsonata.evaluate_filter

    def evaluate_filter(self: Any, predicate: Any, input: Any, environment: Any) -> Any:
        # The library truncates a literal index toward zero; the reference floors it ([-1.5] is [-2]).
        if predicate.type == "number" and isinstance(predicate.value, float) and not predicate.value.is_integer():
            floored = Parser.Symbol.__new__(Parser.Symbol)
            floored.__dict__.update(vars(predicate))
            floored.value = math.floor(predicate.value)
            return original(self, floored, input, environment)
        return original(self, predicate, input, environment)

    Jsonata.evaluate_filter = evaluate_filter


def _patch_positions() -> None:
    for name in ("evaluate_binary", "evaluate_unary"):
        _place_errors_at_the_node(name)
    original = Jsonata.evaluate_function

    def evaluate_function(self: Any, expr: Any, input: Any, environment: Any, applyto_context: Any) -> Any:
        try:
            return original(self, expr, input, environment, applyto_context)
        except JException as exc:
            if not isinstance(exc.location, int) or exc.location < 0:
                position = getattr(expr, "position", None)
                if isinstance(position, int):
                    exc.location = position
            raise

    Jsonata.evaluate_function = evaluate_function


def _place_errors_at_the_node(method_name: str) -> None:
    """Operators raise with location -1 or 0; the reference reports the operator's position.

    A position is the offset just after a token, so it is never below 1: an error already placed by an
    inner node keeps its position.
    """
    original = getattr(Jsonata, method_name)

    def evaluate(self: Any, expr: Any, input: Any, environment: Any) -> Any:
        try:
            return original(self, expr, input, environment)
        except JException as exc:
            position = getattr(expr, "position", None)
            if (not isinstance(exc.location, int) or exc.location < 1) and isinstance(position, int):
                exc.location = position
            raise

    setattr(Jsonata, method_name, evaluate)


def _patch_null_symbol() -> None:
    # The library's signatures read JSON null as "missing", so $number(null) ran instead of failing T0410
    # and $count(null) was 0; the reference reads it as null ("l").
    original = Signature.get_symbol

    def get_symbol(self: Any, value: Any) -> str:
        if value is NULL:
            return "l"
        symbol: str = original(self, value)
        return symbol

    Signature.get_symbol = get_symbol


def _patch_string_order() -> None:
    original = Jsonata.evaluate_comparison_expression

    def evaluate_comparison_expression(self: Any, lhs: Any, rhs: Any, op: Any) -> Any:
        if isinstance(lhs, str) and isinstance(rhs, str):
            lhs, rhs = _js_order(lhs), _js_order(rhs)
            if type(lhs) is not type(rhs):
                lhs, rhs = _Utf16Str(lhs), _Utf16Str(rhs)
        return original(self, lhs, rhs, op)

    Jsonata.evaluate_comparison_expression = evaluate_comparison_expression
    Jsonata.ComparatorWrapper.compare = _order_by_compare


def _order_by_compare(self: Any, a: Any, b: Any) -> int:
    """The library's ``^(...)`` comparison (``ComparatorWrapper.compare``), with strings ordered by UTF-16
    code units as the reference orders them.
    """
    comp = 0
    for term in self._expr.terms:
        if comp != 0:
            break
        values = []
        for item in (a, b):
            context, env = item, self._environment
            if self._is_tuple_sort:
                context = item["@"]
                env = self._outer_instance.create_frame_from_tuple(self._environment, item)
            values.append(self._outer_instance.eval(term.expression, context, env))
        aa, bb = values
        if aa is None or bb is None:
            comp = 0 if aa is None and bb is None else (1 if aa is None else -1)
            continue
        numeric_a = isinstance(aa, int | float) and not isinstance(aa, bool)
        numeric_b = isinstance(bb, int | float) and not isinstance(bb, bool)
        if not (numeric_a or isinstance(aa, str)) or not (numeric_b or isinstance(bb, str)):
            raise JException("T2008", self._expr.position, aa, bb)
        if numeric_a != numeric_b:
            raise JException("T2007", self._expr.position, aa, bb)
        if not numeric_a:
            aa, bb = _Utf16Str(aa), _Utf16Str(bb)
        if aa == bb:
            continue
        comp = -1 if aa < bb else 1
        if term.descending:
            comp = -comp
    return comp


def describe_python_error(exc: BaseException) -> tuple[str, str]:
    """The message and code an author sees for a Python exception escaping the evaluator: never its text."""
    if isinstance(exc, ZeroDivisionError | OverflowError):
        return "Number out of range", "D1001"
    return "the expression could not be evaluated on this input", _BUILTIN_FAILED

"""Pre-emptive guardrails for JSONata evaluation: linear-time regexes, a time limit checked during
evaluation, and element and length limits on what an evaluation builds.

Documented limits
    :data:`MAX_ELEMENTS` (100,000): the most elements a range (``[1..n]``), an array or an object an
    evaluation step builds (or reads from its context) may hold. JSONata's own range limit is
    10,000,000. The limit is what makes the time limit hold within 10 %: a built-in that walks an array
    in one native call (``$zip``, ``$reverse``, ``$string``, ``=``) cannot be interrupted, and over
    100,000 elements the slowest of them takes ~75 ms on the 2-core reference machine (~740 ms over a
    million), under a tenth of the default 1,000 ms limit. Anything over that many elements would not
    finish within the default time limit anyway.
    :data:`MAX_STRING_LENGTH` (8,000,000 characters): the longest string an evaluation step may build
    (``&``, ``$join``, ``$pad``, ``$string``...); four times the 2 MB payload limit: any payload string
    fits, and so does ``$string(payload)`` unless the payload is mostly control characters (which JSON
    escapes as six characters each).

Regular expressions
    Regex literals compile with :func:`re2_engine` on RE2 (``google-re2``), whose matching time is linear
    in the text: ``/^(a+)+$/`` over 40 a's takes microseconds instead of 2^40 steps. JSONata's regex
    dialect is JavaScript's; the translation keeps its meaning where RE2 differs (``\\uXXXX``, ``\\s``
    with JavaScript's whitespace set, ``\\cX``, ``[^]``), flag ``i`` ignores case and ``m`` makes ``^``
    and ``$`` match at line breaks. The features RE2 cannot run in linear time — backreferences
    (``\\1``, ``\\k<name>``) and lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``) — make the
    expression fail to compile with the reason, so publish refuses it.

Time
    The evaluator's entry and exit of every node already call the guard (see ``engine.expressions``);
    the loops inside built-ins that do not re-enter the evaluator for each element also tick it here:
    argument validation (once per element of an array argument), higher-order callbacks (``$map``,
    ``$filter``, ``$reduce``, ``$sort`` comparators... with native or lambda functions), ``**``,
    ``$distinct``, regex matches and the size walk before a serialisation. A tick reads the monotonic
    clock every :data:`_TICKS_PER_CLOCK_READ` calls. The clock is read only as this module's
    ``time.monotonic()``: tests swap the module's ``time`` for a clock that counts calls
    (``tests/work_meter.py``), so the time limit is checked as a budget of work, never timed.

How it is wired
    :func:`install` patches a few jsonata-python 0.7.1 methods at class level, once per process (the
    library is shared with workflow sandboxes, which pass it through). Each patch looks up the guard of
    the evaluation running in this thread (:func:`active`) and does nothing when there is none, so the
    library behaves as upstream outside the contract. A violation raises what the guard's ``fail``
    callback returns, which the contract turns into an ``ExpressionError`` naming the expression, the
    step path and the limit.
"""

import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, Final

import re2  # type: ignore[import-untyped]
from jsonata import Functions, JException, Jsonata, Utils
from jsonata.regex_engine import RegexFlags
from jsonata.signature import Signature

MAX_ELEMENTS: Final = 100_000
"""Largest range, array or object one evaluation step may build."""

MAX_STRING_LENGTH: Final = 8_000_000
"""Longest string (in characters) one evaluation step may build."""

RANGE_CODE: Final = "D2014"
"""JSONata's own code for a range that is too large (its limit is 10,000,000; ours is lower)."""
SIZE_CODE: Final = "RS2002"
"""Code of a built array, object or string over its limit."""
REGEX_CODE: Final = "RS2001"
"""Code of a regular expression RE2 cannot run (compile time)."""
TIME_CODE: Final = "D1012"
"""JSONata's own code for running past the time limit."""

_TICKS_PER_CLOCK_READ: Final = 64
# JSONata uses this code for $error(); its message is the text given, so a guard reason reads as written.
_MESSAGE_CODE: Final = "D3137"
# JavaScript's \s: ASCII whitespace plus the Unicode space separators, line terminators and the BOM.
_JS_SPACE_CHARS: Final = r"\t\n\x0B\f\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}"
_LOOKAROUND: Final = {
    "(?=": "a lookahead",
    "(?!": "a negative lookahead",
    "(?<=": "a lookbehind",
    "(?<!": "a negative lookbehind",
}


class Guard:
    """The limits of one evaluation and the means to stop it; one per evaluation, used by one thread."""

    __slots__ = ("_countdown", "_deadline", "_fail", "timeout_ms", "violated")

    def __init__(self, timeout_ms: int, fail: Callable[[str, str], Exception]) -> None:
        self.timeout_ms = timeout_ms
        # Started per evaluation: jsonata-python's own timeout clock starts at compile time.
        self._deadline = time.monotonic() + timeout_ms / 1000
        self._fail = fail
        self._countdown = _TICKS_PER_CLOCK_READ
        self.violated = False

    def fail(self, reason: str, code: str) -> Exception:
        """Record a violation and return the exception to raise (from the contract's ``fail``)."""
        self.violated = True
        return self._fail(reason, code)

    def check_time(self) -> None:
        """Raise if the time limit has passed (or a limit was already broken and the error swallowed)."""
        if self.violated or time.monotonic() > self._deadline:
            raise self.fail(f"ran longer than the time limit of {self.timeout_ms} ms", TIME_CODE)

    def tick(self) -> None:
        """Count one unit of work inside a loop; read the clock every few ticks."""
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = _TICKS_PER_CLOCK_READ
            self.check_time()

    def check_built(self, value: Any) -> None:
        """Raise if ``value``, just built by an evaluation step, is over an element or length limit."""
        if isinstance(value, str):
            if len(value) > MAX_STRING_LENGTH:
                raise self.fail(_too_long(len(value)), SIZE_CODE)
        elif isinstance(value, list | dict) and len(value) > MAX_ELEMENTS:
            # jsonata-python's lazy range reports one element more than it yields.
            size = value.b - value.a if isinstance(value, Utils.RangeList) else len(value)
            if size > MAX_ELEMENTS:
                kind = "an object of" if isinstance(value, dict) else "an array of"
                raise self.fail(
                    f"built {kind} {size:,} elements, over the limit of {MAX_ELEMENTS:,} elements", SIZE_CODE
                )

    def check_text_length(self, length: int, what: str) -> None:
        """Raise before building a string of ``length`` characters if that is over the limit."""
        if length > MAX_STRING_LENGTH:
            raise self.fail(f"{what} would be {_too_long(length)[6:]}", SIZE_CODE)


_local = threading.local()


def active() -> Guard | None:
    """The guard of the evaluation running in this thread, if any."""
    guard: Guard | None = getattr(_local, "guard", None)
    return guard


class guarding:  # lower case: it reads as a function, ``with guarding(guard):``
    """Make ``guard`` the active guard of this thread for the block (nesting restores the outer one)."""

    __slots__ = ("_guard", "_outer")

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._outer: Guard | None = None

    def __enter__(self) -> Guard:
        self._outer = getattr(_local, "guard", None)
        _local.guard = self._guard
        return self._guard

    def __exit__(self, *_exc: object) -> None:
        _local.guard = self._outer


def json_length_exceeds(value: Any, limit: int, guard: Guard | None = None) -> bool:
    """Whether ``value`` as compact JSON surely has more than ``limit`` characters.

    Counts a lower bound (no escapes, one character per number) and stops as soon as it passes
    ``limit``, so a huge value built from shared references costs at most ``limit`` steps, never its size.
    """
    total = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if guard is not None:
            guard.tick()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 1 + max(len(item), 1)
            for key, child in item.items():
                total += len(key) + 3 if isinstance(key, str) else 3
                stack.append(child)
        elif isinstance(item, list):
            total += 1 + max(len(item), 1)
            stack.extend(item)
        else:
            total += 1
        if total > limit:
            return True
    return False


# -- regular expressions on RE2 --------------------------------------------------------------------------


class RegexRefused(JException):  # type: ignore[misc]
    """A regex literal RE2 cannot run; raised while compiling, so publish refuses the expression."""

    def __init__(self, pattern: str, reason: str) -> None:
        message = f"the regular expression /{pattern}/ {reason}"
        RuntimeError.__init__(self, message)
        self.error = REGEX_CODE
        self.location = -1
        self.current = message
        self.expected = None
        self.extra = None
        self.type = None
        self.remaining = None


class Pattern:
    """A compiled RE2 regex with the interface jsonata-python uses (``search``, ``finditer``, ``sub``,
    ``split``), ticking the active guard for each match.
    """

    __slots__ = ("_regex", "flags", "pattern")

    def __init__(self, regex: Any, pattern: str, flags: str) -> None:
        self._regex = regex
        self.pattern = pattern
        self.flags = flags

    def __repr__(self) -> str:
        return f"/{self.pattern}/{self.flags}"

    @property
    def groups(self) -> int:
        """The number of capturing groups."""
        count: int = self._regex.groups
        return count

    def search(self, string: str) -> Any:
        """The first match in ``string``, or ``None``."""
        return next(self.finditer(string), None)

    def finditer(self, string: str) -> Iterator[Any]:
        """Every non-overlapping match in ``string``, left to right."""
        guard = active()
        if guard is not None:
            # One call may scan millions of characters: read the clock on every call, not every few.
            guard.check_time()
        try:
            for match in self._regex.finditer(string):
                if guard is not None:
                    guard.tick()
                yield match
        except UnicodeEncodeError:
            # Only a string with a lone surrogate fails to encode; JSON text never has one.
            raise JException(_MESSAGE_CODE, -1, "a regex cannot match text with a lone surrogate") from None

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        """``string`` with matches replaced by ``repl`` (a function of the match, or a template whose
        only references are ``\\g<N>``, as jsonata-python writes ``$N``) — at most ``count`` if positive.
        """
        pieces: list[str] = []
        end = 0
        for number, match in enumerate(self.finditer(string), start=1):
            pieces.append(string[end : match.start()])
            pieces.append(repl(match) if callable(repl) else _expand(repl, match, self.groups))
            end = match.end()
            if number == count:
                break
        pieces.append(string[end:])
        return "".join(pieces)

    def split(self, string: str, maxsplit: int = 0) -> list[str]:
        """``string`` split at each match, as ``re.split`` does (captured groups included)."""
        pieces: list[str] = []
        end = 0
        for number, match in enumerate(self.finditer(string), start=1):
            pieces.append(string[end : match.start()])
            pieces.extend(match.group(group) for group in range(1, self.groups + 1))
            end = match.end()
            if number == maxsplit:
                break
        pieces.append(string[end:])
        return pieces


def re2_engine(pattern: str, flags: RegexFlags) -> Pattern:
    """jsonata-python's ``regex_engine``: compile a JSONata (JavaScript) regex literal on RE2."""
    return _compile_re2(pattern, flags.case_insensitive, flags.multiline)


def regex_problem(pattern: str) -> str | None:
    """Why RE2 cannot run the JavaScript regex ``pattern`` (``None`` if it can)."""
    try:
        _compile_re2(pattern, False, False)
    except RegexRefused as exc:
        return str(exc)
    return None


@lru_cache(maxsize=1024)
def _compile_re2(pattern: str, case_insensitive: bool, multiline: bool) -> Pattern:
    translated = ("(?m)" if multiline else "") + _translate(pattern)
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not case_insensitive
    try:
        regex = re2.compile(translated, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexRefused(pattern, f"cannot be compiled for RE2, the linear-time regex engine: {detail}") from None
    return Pattern(regex, pattern, ("i" if case_insensitive else "") + ("m" if multiline else ""))


def _translate(pattern: str) -> str:
    """Rewrite a JavaScript regex into RE2 syntax with the same meaning, refusing what RE2 cannot run."""
    out: list[str] = []
    in_class = False
    i = 0
    n = len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            escape, i = _translate_escape(pattern, i, in_class)
            out.append(escape)
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            if pattern.startswith("[^]", i):
                out.append(r"[\x{0}-\x{10FFFF}]")
                i += 3
                continue
            # JavaScript's [] matches nothing; RE2 would read its ']' as a literal and the class as open.
            if pattern.startswith("[]", i):
                out.append(r"[^\x{0}-\x{10FFFF}]")
                i += 2
                continue
            in_class = True
            out.append(char)
        elif char == "(" and pattern.startswith("(?", i):
            for opener, name in _LOOKAROUND.items():
                if pattern.startswith(opener, i):
                    raise RegexRefused(
                        pattern, f"uses {name} ({opener}...), which RE2, the linear-time regex engine, cannot run"
                    )
            out.append(char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _translate_escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape at ``pattern[i]`` (a backslash); return the RE2 text and the next index."""
    code = pattern[i + 1]
    if code in "123456789" or pattern.startswith("k<", i + 1):
        end = i + 2
        while code != "k" and end < len(pattern) and pattern[end].isdigit():
            end += 1
        reference = pattern[i:end] if code != "k" else pattern[i : pattern.find(">", i) + 1 or len(pattern)]
        raise RegexRefused(
            pattern,
            f"uses a backreference ({reference}), which RE2, the linear-time regex engine, cannot run",
        )
    hex4 = pattern[i + 2 : i + 6]
    if code == "u" and len(hex4) == 4 and all(c in "0123456789abcdefABCDEF" for c in hex4):
        return f"\\x{{{hex4}}}", i + 6
    if code == "c" and i + 2 < len(pattern) and pattern[i + 2].isascii() and pattern[i + 2].isalpha():
        return f"\\x{{{ord(pattern[i + 2]) % 32:X}}}", i + 3
    if code == "0" and not (i + 2 < len(pattern) and pattern[i + 2].isdigit()):
        return r"\x{0}", i + 2
    if code == "s":
        return (_JS_SPACE_CHARS if in_class else f"[{_JS_SPACE_CHARS}]"), i + 2
    if code == "S" and not in_class:
        return f"[^{_JS_SPACE_CHARS}]", i + 2
    if code == "/":
        return "/", i + 2
    return pattern[i : i + 2], i + 2


def _expand(template: str, match: Any, groups: int) -> str:
    """Expand a ``\\g<N>`` template (everything else literal); a group that did not take part is empty.

    A reference to a group past the last one drops its last digit, which becomes literal text (``$12``
    with one group is group 1 then ``2``), and vanishes when no digit is left — jsonata-python's rule.
    """
    pieces: list[str] = []
    position = 0
    while True:
        start = template.find("\\g<", position)
        if start < 0:
            pieces.append(template[position:])
            return "".join(pieces)
        close = template.find(">", start)
        digits = template[start + 3 : close] if close > 0 else ""
        if not digits.isdigit():
            pieces.append(template[position : start + 3])
            position = start + 3
            continue
        pieces.append(template[position:start])
        suffix = ""
        while digits and int(digits) > groups:
            digits, suffix = digits[:-1], digits[-1] + suffix
        if digits:
            pieces.append(match.group(int(digits)) or "")
        pieces.append(suffix)
        position = close + 1


def _too_long(length: int) -> str:
    return f"built a string of {length:,} characters, over the limit of {MAX_STRING_LENGTH:,} characters"


# -- patches of jsonata-python 0.7.1 ---------------------------------------------------------------------

_INSTALLED_MARK = "_runstudio_guards_installed"
_install_lock = threading.Lock()


def install() -> None:
    """Patch jsonata-python so evaluations under a guard (:func:`guarding`) are checked from inside.

    Idempotent per process; without an active guard every patched function behaves as upstream.
    """
    with _install_lock:
        if getattr(Jsonata, _INSTALLED_MARK, False):
            return
        _patch_range()
        _patch_ticks()
        _patch_natives()
        setattr(Jsonata, _INSTALLED_MARK, True)


def _patch_range() -> None:
    original = Jsonata.evaluate_range_expression

    def evaluate_range_expression(self: Any, lhs: Any, rhs: Any) -> Any:
        guard = active()
        if guard is not None and isinstance(lhs, int) and isinstance(rhs, int) and rhs - lhs + 1 > MAX_ELEMENTS:
            raise guard.fail(
                f"the range [{lhs}..{rhs}] has {rhs - lhs + 1:,} elements, over the limit of {MAX_ELEMENTS:,}",
                RANGE_CODE,
            )
        return original(self, lhs, rhs)

    Jsonata.evaluate_range_expression = evaluate_range_expression


def _patch_ticks() -> None:
    """Tick the guard in the library's loops that run per element without re-entering ``eval``."""
    get_symbol = Signature.get_symbol
    # Values of these exact types are never functions, so upstream's answer (after its costly function
    # checks) is known: answering directly keeps the tick from making validation slower than before.
    plain_symbols = {str: "s", bool: "b", int: "n", float: "n", dict: "o"}

    def ticking_get_symbol(self: Any, value: Any) -> str:
        guard = getattr(_local, "guard", None)
        if guard is not None:
            guard.tick()
        plain = plain_symbols.get(type(value))
        if plain is not None:
            return plain
        symbol: str = get_symbol(self, value)
        return symbol

    Signature.get_symbol = ticking_get_symbol

    func_apply = Functions.func_apply

    def ticking_func_apply(func: Any, func_args: Any) -> Any:
        guard = getattr(_local, "guard", None)
        if guard is not None:
            guard.tick()
        return func_apply(func, func_args)

    Functions.func_apply = staticmethod(ticking_func_apply)

    recurse = Jsonata.recurse_descendants

    def ticking_recurse_descendants(self: Any, input: Any, results: Any) -> None:
        guard = active()
        if guard is not None:
            guard.tick()
        recurse(self, input, results)

    Jsonata.recurse_descendants = ticking_recurse_descendants

    serialise = Functions._string

    def bounded_string(arg: Any, prettify: bool) -> str:
        guard = active()
        if guard is not None and json_length_exceeds(arg, MAX_STRING_LENGTH, guard):
            raise guard.fail(f"$string would be {_too_long(MAX_STRING_LENGTH + 1)[6:]}", SIZE_CODE)
        result: str = serialise(arg, prettify)
        return result

    Functions._string = staticmethod(bounded_string)


def _patch_natives() -> None:
    """Guard the built-ins whose one native call could outrun any tick: ``$distinct``, ``$pad``, ``$join``.

    Registered natives hold the method they were defined with, so the registration's method is replaced
    (``engine.expression_fixes`` copies it into its conforming natives; its own ``$string``, ``$split`` and
    ``$replace`` check the same limits through :func:`active`).
    """
    _replace_native("distinct", _distinct)
    _replace_native("pad", _guarded(Functions.pad, _check_pad))
    _replace_native("join", _guarded(Functions.join, _check_join))


def _replace_native(name: str, method: Callable[..., Any]) -> None:
    native = Jsonata.static_frame.lookup(name)
    if not isinstance(native, Jsonata.JNativeFunction):
        raise RuntimeError(f"jsonata has no native ${name} to guard")
    native.method = method


def _guarded(method: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    # wraps() keeps the method's signature, from which jsonata counts the arguments to pass.
    @functools.wraps(method)
    def guarded(*args: Any) -> Any:
        guard = active()
        if guard is not None:
            check(guard, *args)
        return method(*args)

    return guarded


def _check_pad(guard: Guard, string: Any, width: Any, _char: Any) -> None:
    if isinstance(width, int | float) and not isinstance(width, bool) and math.isfinite(width):
        guard.check_text_length(abs(int(width)), "$pad's result")
    elif isinstance(width, float):
        raise guard.fail(f"$pad's width {width} is not a finite number", SIZE_CODE)


def _check_join(guard: Guard, strings: Any, separator: Any) -> None:
    if not isinstance(strings, list):
        return
    total = len(separator) * max(len(strings) - 1, 0) if isinstance(separator, str) else 0
    for item in strings:
        guard.tick()
        total += len(item) if isinstance(item, str) else 0
        if total > MAX_STRING_LENGTH:
            guard.check_text_length(total, "$join's result")


def _distinct(arr: Any) -> Any:
    """``$distinct`` in linear time (upstream compares each element with every kept one: quadratic).

    Equality is JSONata's deep equality: ``1`` and ``1.0`` are the same value, ``true`` and ``1`` are not,
    objects are equal whatever their key order.
    """
    if arr is None or not isinstance(arr, list) or len(arr) <= 1:
        return arr
    guard = active()
    results = Utils.create_sequence() if isinstance(arr, Utils.JList) else []
    seen: set[Any] = set()
    for element in arr:
        if guard is not None:
            guard.tick()
        key = _identity(element)
        if key not in seen:
            seen.add(key)
            results.append(element)
    return results


def _identity(value: Any) -> Any:
    """A hashable key equal for deep-equal JSON values and different otherwise."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if value is None or value is Utils.NULL_VALUE:
        return ("z",)
    if isinstance(value, dict):
        return ("o", frozenset((key, _identity(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("a", tuple(_identity(item) for item in value))
    return ("f", id(value))

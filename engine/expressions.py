"""The one canonical JSONata contract: compile (cached), evaluate under guardrails, resolve, check.

Every expression in a definition is a JSON object with exactly one key, ``{"$expr": "<jsonata>"}``,
and is evaluated here, in workflow code and in activities alike (jsonata-python).

Context
    The JSONata input document is the context object the engine builds, so paths start at its keys:
    ``payload.ticket.id``, ``vars.lookup.status``, ``meta.run_id``. Its keys are ``payload``, ``vars``,
    ``meta`` (``run_id``, ``workflow_id``, ``workflow_version``, ``tenant``, ``attempt``), inside a
    ``control.forEach`` body the loop locals (``item`` or the step's ``itemVar``, ``index``, ``length``,
    ``isFirst``, ``isLast``) and inside a ``catch`` branch ``error``. Each key is also bound as a
    variable (``$payload``, ``$vars``, ``$item``, ...) so it stays reachable inside nested paths and
    lambdas; a key named like a function is not, so ``$length()`` and ``$error()`` stay functions —
    use the paths ``length`` and ``error`` for the loop length and the caught error. The context must
    be plain JSON (dict, list, str, int, float, bool, None): jsonata-python's per-evaluation input
    check is switched off because the engine builds the context itself, and it cost ~350 µs per call.

Functions
    Allowed (:data:`ALLOWED_FUNCTIONS`): every JSONata built-in except those below, including
    ``$now()`` and ``$millis()``, which are rebound to :attr:`EvalEnv.now` (the workflow's
    deterministic clock), plus ``$nowIso()``, which may also be written bare as the SPEC does,
    ``nowIso()`` (compiling rebinds that one bare call to ``$nowIso``), giving ``env.now()`` as
    ISO-8601 UTC with milliseconds (``2024-05-01T12:00:00.000Z``, the same text as ``$now()``).
    All three truncate to whole milliseconds, so ``$toMillis($nowIso()) = $millis()``.
    A naive ``env.now()`` counts as UTC.
    Forbidden (:data:`FORBIDDEN_FUNCTIONS`): ``$eval`` (runs text as code, so publish checks cannot
    see into it), ``$shuffle`` (random order) and ``$random`` — rejected at publish; at run time
    ``$random()`` works only when :attr:`EvalEnv.random` is bound (to ``workflow.random().random`` in
    workflows). Calls to any function that is neither allowed nor defined inside the expression itself
    are rejected at publish, as is a call of anything that cannot be a function: a bare name such as
    ``sum([1, 2])`` (a field of the input, never a function; JSONata reports T1005 only at run time) or
    a literal. Names starting with ``__`` (the evaluator's own hooks) never compile.

Guardrails
    A time limit, a recursion depth limit (runaway recursion fails in milliseconds instead of raising
    Python's ``RecursionError``) and a result that must be JSON — JSONata ``undefined`` becomes
    ``None`` — of at most ``max_output_bytes`` as compact UTF-8 JSON. The time limit reads the host's
    monotonic clock, which only decides *whether* an evaluation is allowed to finish, never its result.
    The guardrails are pre-emptive (:mod:`engine.expression_guards`, which documents the limits): the
    time is checked on entry to and exit from every evaluation step and inside the built-ins' own loops,
    regular expressions run on RE2 in linear time (publish refuses backreferences and lookaround), and
    ranges, built arrays, objects and strings have element and length limits. Every failure is an
    :class:`ExpressionError` naming the expression, the step path and the reason, with the JSONata
    error code and position when JSONata reported them (:data:`ERROR_CODES` lists the contract's own).

Speed
    Compiling is cached, and compiling also builds closures for the common shapes (paths, filters,
    operators, pure built-ins, ``$map`` over a lambda; :mod:`engine.expression_fast`), which evaluate
    them without the interpreter's per-node overhead and without copying the context; anything else, and
    every error, goes through the interpreter. ``bench/expressions.py`` compares both with the JSONata
    reference (BENCHMARKS.md).

Three jsonata-python 0.7.1 flaws are designed around: its own timeout clock starts when an expression
is compiled (cached expressions would time out at once), so the guard here is built per evaluation;
its ``$now()``/``$millis()`` read a timestamp of whichever expression the thread compiled last, so
they are replaced; and compiling makes the new program the thread's scratch object, which later
evaluations overwrite, so compiling here puts the previous one back and cached programs stay safe to
share between threads. Results are fresh containers: they never alias the context.
"""

import copy
import difflib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from jsonata import Functions, JException, Jsonata, Parser, Utils

from engine import expression_fixes, expression_guards
from engine.errors import RunStudioError
from engine.expression_fast import Declined, FastProgram, compile_fast

expression_guards.install()

EXPR_KEY = "$expr"
"""The single key of an expression object."""

CONTEXT_NAMES = frozenset({"payload", "vars", "meta", "index", "length", "isFirst", "isLast", "error"})
"""Context keys with a fixed meaning; a forEach ``itemVar`` must not reuse one."""

FORBIDDEN_FUNCTIONS: Mapping[str, str] = {
    "eval": "it evaluates text as an expression, which publish-time checks cannot see into",
    "random": "it is not deterministic, so a replayed run could take another path",
    "shuffle": "it is not deterministic, so a replayed run could see another order",
}
"""Built-ins rejected at publish, with the reason shown to the author."""

ALLOWED_FUNCTIONS = frozenset(
    {
        # Aggregation and numbers
        "sum", "count", "max", "min", "average", "number", "floor", "ceil", "round", "abs", "sqrt",
        "power", "formatNumber", "formatBase", "formatInteger", "parseInteger",
        # Strings
        "string", "substring", "substringBefore", "substringAfter", "lowercase", "uppercase", "length",
        "trim", "pad", "match", "contains", "replace", "split", "join", "base64encode", "base64decode",
        "encodeUrlComponent", "encodeUrl", "decodeUrlComponent", "decodeUrl",
        # Booleans, arrays, objects, higher-order
        "boolean", "not", "exists", "map", "zip", "filter", "single", "reduce", "sift", "keys", "lookup",
        "append", "spread", "merge", "reverse", "each", "sort", "distinct", "clone", "type", "error",
        "assert",
        # Time: bound to EvalEnv.now
        "now", "millis", "nowIso", "toMillis", "fromMillis",
    }
)  # fmt: skip
"""Every function an expression may call (without its ``$``)."""

_FUNCTION_NAMES = ALLOWED_FUNCTIONS | FORBIDDEN_FUNCTIONS.keys()
_BARE_ALIASES = frozenset({"nowIso"})
"""Functions the SPEC writes without ``$``; a bare call of one compiles as the ``$`` call."""
_LITERAL_TYPES = frozenset({"string", "number", "value", "regex"})
_RESERVED_PREFIX = "__"
_SYMBOL: type[Any] = Parser.Symbol
# jsonata-python raises this code for $error(); the evaluation records its own reason beside it.
_RAISE_CODE = "D3137"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ERROR_CODES: Mapping[str, str] = {
    "D1011": "recursion deeper than the depth limit (JSONata's own code for its stack limit)",
    "D1012": "ran longer than the time limit (JSONata's own code for its timeout)",
    "RS1001": "a name starting with __ is reserved for the evaluator",
    "RS1002": "a forbidden function was called",
    "RS1003": "the result is not JSON",
    "RS1004": "the result is larger than the output limit",
    "RS1005": "the expression nests too deeply to compile or evaluate",
    "RS1006": "the value of $expr is not a string",
    "RS1007": "publish would refuse the expression (runstudio expr checks it as publish does)",
    "RS1008": "the input to evaluate against is refused (runstudio expr: payload, vars, clock or case line)",
    "D2014": "a range is over the element limit (JSONata's own code; engine.expression_guards.MAX_ELEMENTS)",
    "RS2001": "a regular expression uses what RE2 cannot run in linear time (a backreference or lookaround)",
    "RS2002": "a built array, object or string is over its limit (engine.expression_guards)",
}
"""The codes :class:`ExpressionError` carries for the contract's own rules (JSONata's codes otherwise)."""
_MILLISECOND = timedelta(milliseconds=1)


class ExpressionError(RunStudioError):
    """An expression failed to compile, failed while running, or broke a guardrail.

    ``code`` is the JSONata error code (``S0201``, ``T2001``, ``D1012``...) when JSONata reported the
    failure, or one of this module's ``RS1xxx`` codes (:data:`ERROR_CODES`) for the contract's own rules;
    ``position`` is the character offset in the expression JSONata reported, when it did.
    """

    def __init__(
        self,
        expression: str,
        step_path: str | None,
        reason: str,
        code: str | None = None,
        position: int | None = None,
    ) -> None:
        # Every field goes to Exception so the error pickles (args round-trip to __init__).
        super().__init__(expression, step_path, reason, code, position)
        self.expression = expression
        self.step_path = step_path
        self.reason = reason
        self.code = code
        self.position = position

    def __str__(self) -> str:
        where = self.step_path if self.step_path is not None else "(no step)"
        return f"expression {self.expression!r} at {where}: {self.reason}"


@dataclass(frozen=True)
class EvalEnv:
    """What an evaluation may use besides its context: the clock, the random source and the limits.

    In workflow code ``now`` is ``workflow.now`` and ``random`` is ``workflow.random().random``;
    ``random=None`` makes ``$random()`` fail.
    """

    now: Callable[[], datetime]
    random: Callable[[], float] | None = None
    timeout_ms: int = 1000
    max_depth: int = 200
    max_output_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        if self.timeout_ms <= 0 or self.max_depth <= 0 or self.max_output_bytes <= 0:
            raise ValueError("EvalEnv limits must be positive")


@dataclass(frozen=True)
class Compiled:
    """A parsed expression, ready to evaluate any number of times (and from several threads)."""

    source: str
    program: Any
    """The ``jsonata.Jsonata`` instance; treat it as opaque."""
    fast: FastProgram | None = None
    """The same expression as closures (:mod:`engine.expression_fast`), when its shape allows."""


def is_expression(value: object) -> bool:
    """Whether ``value`` is an expression object: a dict whose only key is ``$expr``."""
    return isinstance(value, dict) and len(value) == 1 and EXPR_KEY in value


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Compiled:
    """Parse ``source`` once (cached); raise :class:`ExpressionError`, without a step path, if it fails."""
    program = _parse(source)
    # Built-ins that compute what the JSONata reference computes (tests/conformance).
    expression_fixes.register(program)
    _bind_bare_aliases(program.ast)
    for name in (*_variable_names(program.ast), *_locally_bound_names(program.ast)):
        if name.startswith(_RESERVED_PREFIX):
            raise ExpressionError(source, None, f"${name}: names starting with __ are reserved", "RS1001")
    program.set_validate_input(False)
    # The engine converts results itself; jsonata's in-place null conversion would mutate values that
    # alias the context.
    program.set_output_convert_nulls(False)
    fast = compile_fast(program, frozenset(_locally_bound_names(program.ast)), _FUNCTION_NAMES)
    return Compiled(source=source, program=program, fast=fast)


def evaluate(source: str, context: Mapping[str, Any], env: EvalEnv, *, step_path: str | None = None) -> Any:
    """Evaluate ``source`` against ``context`` (see the module docstring) and return a JSON value.

    Raises :class:`ExpressionError` for every failure, carrying ``step_path``.
    """
    try:
        compiled = compile_expression(source)
    except ExpressionError as exc:
        raise ExpressionError(source, step_path, exc.reason, exc.code, exc.position) from None
    run = _Evaluation(env)
    document = context if isinstance(context, dict) else dict(context)
    try:
        with expression_guards.guarding(run.guard):
            raw = _evaluate_raw(compiled, document, run)
    except RecursionError:
        raise ExpressionError(source, step_path, "nests too deeply for the evaluator", "RS1005") from None
    except Exception as exc:
        if run.violation is not None:
            raise ExpressionError(source, step_path, run.violation, run.violation_code) from None
        raise ExpressionError(source, step_path, _describe(exc), *_code_and_position(exc)) from None
    # A result built from shared references can be far larger as JSON than in memory: measure it
    # with a walk that stops at the limit before serialising it.
    if expression_guards.json_length_exceeds(raw, env.max_output_bytes):
        raise ExpressionError(
            source, step_path, f"the result is over the limit of {env.max_output_bytes} bytes of JSON", "RS1004"
        )
    try:
        result = _to_json(raw)
        size = _json_size(result, env.max_output_bytes)
    except ValueError as exc:
        raise ExpressionError(source, step_path, f"the result is not JSON: {exc}", "RS1003") from None
    if size > env.max_output_bytes:
        raise ExpressionError(
            source,
            step_path,
            f"the result is {size} bytes of JSON, over the limit of {env.max_output_bytes}",
            "RS1004",
        )
    return result


def _evaluate_raw(compiled: Compiled, document: dict[str, Any], run: "_Evaluation") -> Any:
    """The library's raw result: from the fast path when it takes the expression, else the interpreter."""
    if compiled.fast is not None:
        try:
            # The context's keys are the variables as they are: nothing is copied for the fast path.
            return compiled.fast.run(document, document, run.guard)
        except Declined:
            pass  # evaluated from the start by the interpreter, which also gives every error
    bindings = {key: value for key, value in document.items() if key not in _FUNCTION_NAMES}
    bindings.update(run.bindings())
    return compiled.program.evaluate(document, bindings)


def resolve(value: Any, context: Mapping[str, Any], env: EvalEnv, *, step_path: str | None = None) -> Any:
    """Return a copy of the JSON ``value`` with every ``{"$expr": ...}`` inside replaced by its result."""
    if isinstance(value, dict):
        if is_expression(value):
            source = value[EXPR_KEY]
            if not isinstance(source, str):
                raise ExpressionError(repr(source), step_path, "the value of $expr must be a string", "RS1006")
            return evaluate(source, context, env, step_path=step_path)
        return {key: resolve(item, context, env, step_path=step_path) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, context, env, step_path=step_path) for item in value]
    return value


def check_expression(source: str) -> list[str]:
    """Return the publish-time problems of ``source``; an empty list means it may be published.

    Reports a compile error, any use of a forbidden function (even passed as a value, as in
    ``$map(xs, $random)``) and calls of functions that are neither allowed nor defined in the expression.
    """
    try:
        compiled = compile_expression(source)
    except ExpressionError as exc:
        return [f"does not compile: {exc.reason}"]
    local_names = set(_locally_bound_names(compiled.program.ast))
    problems: list[str] = []
    for name in _variable_names(compiled.program.ast):
        if name in FORBIDDEN_FUNCTIONS:
            problems.append(f"${name} is not allowed: {FORBIDDEN_FUNCTIONS[name]}")
    for name in _called_names(compiled.program.ast):
        if name not in _FUNCTION_NAMES and name not in local_names:
            problems.append(f"${name}() is not a known function{_suggestion(name, local_names)}")
    for message, near in _uncallable_callees(compiled.program.ast):
        problems.append(message + (_suggestion(near, local_names) if near is not None else ""))
    return list(dict.fromkeys(problems))


class _Evaluation:
    """The per-evaluation state: guard counters, clock functions and the first guardrail broken."""

    def __init__(self, env: EvalEnv) -> None:
        self.env = env
        self.violation: str | None = None
        self.violation_code: str | None = None
        self._depth = 0
        self.guard = expression_guards.Guard(env.timeout_ms, self.fail)

    def bindings(self) -> dict[str, Any]:
        """The variables to bind for this evaluation: clock functions, $random and guard hooks."""
        bindings: dict[str, Any] = {name: self._forbidden(name) for name in FORBIDDEN_FUNCTIONS}
        if self.env.random is not None:
            bindings["random"] = Jsonata.JLambda(self.env.random)
        bindings.update(
            now=Jsonata.JLambda(self._now),
            millis=Jsonata.JLambda(self._millis),
            nowIso=Jsonata.JLambda(self._now_iso),
            __evaluate_entry=self._enter,
            __evaluate_exit=self._exit,
        )
        return bindings

    def fail(self, reason: str, code: str | None = None) -> JException:
        """Record ``reason`` (with its ``code``) as this evaluation's failure; return a jsonata error to raise."""
        if self.violation is None:
            self.violation = reason
            self.violation_code = code
        # A JException passes unchanged through jsonata's handlers (others may be rewrapped).
        return JException(_RAISE_CODE, -1, reason)

    def _forbidden(self, name: str) -> Any:
        def reject(*_args: Any) -> None:
            raise self.fail(f"${name}() is not available: {FORBIDDEN_FUNCTIONS[name]}", "RS1002")

        return Jsonata.JLambda(reject)

    def _enter(self, _node: Any, _input: Any, _frame: Any) -> None:
        self._depth += 1
        self._check()

    def _exit(self, _node: Any, _input: Any, _frame: Any, result: Any) -> None:
        self._depth -= 1
        self._check()
        self.guard.check_built(result)

    def _check(self) -> None:
        if self._depth > self.env.max_depth:
            raise self.fail(f"recursion deeper than the limit of {self.env.max_depth}", "D1011")
        self.guard.check_time()

    def _millis(self) -> int:
        return _epoch_millis(self.env.now())

    def _now(self, picture: str | None = None, timezone: str | None = None) -> str:
        result: str = Functions.datetime_from_millis(self._millis(), picture, timezone)
        return result

    def _now_iso(self) -> str:
        return _iso_millis(self.env.now())


def _parse(source: str) -> Any:
    holder = Jsonata.CURRENT
    previous = getattr(holder, "jsonata", None)
    try:
        return Jsonata(source, expression_guards.re2_engine)
    except RecursionError:
        raise ExpressionError(source, None, "nests too deeply to compile", "RS1005") from None
    except Exception as exc:
        raise ExpressionError(source, None, _describe(exc), *_code_and_position(exc)) from None
    finally:
        # Jsonata() makes the new program the thread's scratch instance, whose attributes every later
        # evaluation in the thread overwrites; restoring the previous one (or none, so jsonata makes a
        # private copy) keeps cached programs untouched while other threads evaluate them.
        if previous is not None:
            holder.jsonata = previous
        elif hasattr(holder, "jsonata"):
            del holder.jsonata


def _describe(exc: Exception) -> str:
    if isinstance(exc, JException):
        where = f" at position {exc.location}" if isinstance(exc.location, int) and exc.location >= 0 else ""
        return f"{exc}{where} (JSONata {exc.error})"
    # A Python exception's text means nothing to an author (expression_fixes maps it to a code).
    return expression_fixes.describe_python_error(exc)[0]


def _json_size(result: Any, limit: int) -> int:
    """The size of ``result`` as compact UTF-8 JSON, or a bound of it no larger than ``limit`` when one
    is evident without serialising (most results are one short string or number)."""
    if result is None or isinstance(result, bool | int | float):
        if limit >= 32:  # the longest number JSON text Python writes is 24 bytes
            return 0
    elif isinstance(result, str) and 6 * len(result) + 2 <= limit:
        # Each character is at most 6 bytes as JSON (\uXXXX), or 4 bytes of UTF-8.
        return 6 * len(result) + 2
    return len(json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _code_and_position(exc: Exception) -> tuple[str | None, int | None]:
    """The JSONata error code and character position of ``exc``, when JSONata raised it."""
    if not isinstance(exc, JException):
        return expression_fixes.describe_python_error(exc)[1], None
    location = exc.location if isinstance(exc.location, int) and exc.location >= 0 else None
    return exc.error, location


def _to_json(value: Any) -> Any:
    if value is None or value is Utils.NULL_VALUE:
        return None
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return value
    if isinstance(value, dict):
        return {_json_key(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    raise ValueError(f"it contains a {_kind(value)}")


def _json_key(key: object) -> str:
    if not isinstance(key, str):
        raise ValueError(f"it has a non-string object key {key!r}")
    return key


def _kind(value: object) -> str:
    if Utils.is_function(value) or Functions.is_lambda(value):
        return "function"
    return type(value).__name__


def _epoch_millis(moment: datetime) -> int:
    return (_as_utc(moment) - _EPOCH) // _MILLISECOND


def _iso_millis(moment: datetime) -> str:
    m = _as_utc(moment)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime must not be read in the host's time zone: that would make results host-dependent.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _suggestion(name: str, local_names: set[str]) -> str:
    known = sorted(ALLOWED_FUNCTIONS | local_names)
    close = [name] if name in known else difflib.get_close_matches(name, known, n=1)
    return f"; did you mean ${close[0]}?" if close else " (see ALLOWED_FUNCTIONS in engine.expressions)"


def _iter_nodes(root: Any) -> Iterator[Any]:
    """Every AST node under ``root``; jsonata-python keeps children in varying attributes and lists."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, _SYMBOL) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        children = [value for key, value in vars(node).items() if key != "_outer_instance"]
        stack.extend(reversed(children))


def _variable_names(root: Any) -> Iterator[str]:
    for node in _iter_nodes(root):
        if node.type == "variable" and isinstance(node.value, str) and node.value not in ("", "$"):
            yield node.value


def _called_names(root: Any) -> Iterator[str]:
    for node in _iter_nodes(root):
        procedure = getattr(node, "procedure", None) if node.type in ("function", "partial") else None
        if procedure is not None and procedure.type == "variable":
            yield str(procedure.value)


def _uncallable_callees(root: Any) -> Iterator[tuple[str, str | None]]:
    """Describe each call whose procedure can never be a function, with the name to suggest from.

    A bare path of plain names reads fields of the input, which is JSON and so holds no functions.
    """
    for node in _iter_nodes(root):
        procedure = getattr(node, "procedure", None) if node.type in ("function", "partial") else None
        if procedure is None:
            continue
        if _is_bare_path(procedure):
            dotted = ".".join(str(step.value) for step in procedure.steps)
            yield (
                f"{dotted}() is not a function: a name without $ reads a field of the input",
                str(procedure.steps[-1].value),
            )
        elif procedure.type in _LITERAL_TYPES:
            kind = {"value": "true/false/null"}.get(procedure.type, procedure.type)
            yield f"a {kind} literal is called as a function; only functions can be called", None


def _is_bare_path(node: Any) -> bool:
    steps: list[Any] = (getattr(node, "steps", None) or []) if node.type == "path" else []
    return bool(steps) and all(getattr(step, "type", None) == "name" for step in steps)


def _bind_bare_aliases(root: Any) -> None:
    """Rewrite each call of a bare alias (``nowIso()``) in place into the call of its ``$`` function.

    Done on the parsed tree rather than the text so strings and comments that mention it stay as written.
    """
    for node in _iter_nodes(root):
        procedure = getattr(node, "procedure", None) if node.type in ("function", "partial") else None
        if procedure is None or not _is_bare_path(procedure) or len(procedure.steps) != 1:
            continue
        step = procedure.steps[0]
        if step.value in _BARE_ALIASES:
            variable = copy.copy(step)
            variable.type = "variable"
            node.procedure = variable


def _locally_bound_names(root: Any) -> Iterator[str]:
    """Names the expression binds itself: ``$x := ...``, lambda parameters, ``@$x`` and ``#$i``."""
    for node in _iter_nodes(root):
        if node.type == "bind" and getattr(node.lhs, "type", None) == "variable":
            yield str(node.lhs.value)
        elif node.type == "lambda":
            yield from (str(arg.value) for arg in node.arguments or () if arg.type == "variable")
        for attribute in ("focus", "index"):
            name = getattr(node, attribute, None)
            if isinstance(name, str):
                yield name

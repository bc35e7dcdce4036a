"""A fast path for the common shapes of expression: closures compiled once from the parsed tree.

jsonata-python walks the tree for every evaluation, and each node costs a frame lookup of the guard
hooks, two hook calls, a dispatch chain and a sequence wrapper: a 3-step path took ~30 µs, ten times the
JavaScript reference. :func:`compile_fast` turns a tree made only of the shapes below into nested Python
closures that do the same work with none of that overhead:

* paths of field names (``payload.ticket.id``), optionally starting at a variable (``$i.price``), with
  filter predicates on their steps (``items[price > 50].sku``), never an index predicate;
* string, number and boolean literals; variables bound by the context or by an enclosing lambda;
* the operators ``+ - * / = != < <= > >= & and or`` and ``? :``;
* calls of the pure built-ins in :data:`FAST_FUNCTIONS`, and ``$map`` over a lambda written in place.

Semantics stay the library's own by construction: each shape repeats the interpreter's algorithm
(``evaluate_path``, ``evaluate_step``, ``evaluate_filter``, the sequence unwrapping of ``_eval``) and
calls the library for every value operation — operators, truthiness, argument validation and the
built-ins themselves, looked up in the program's environment at run time, so overrides registered there
apply here too. Anything outside the happy path makes it decline with :class:`Declined`, and the
interpreter evaluates the expression from the start instead (expressions have no side effects): a JSON
null met anywhere, an array inside an array, a missing variable, a numeric predicate, or any error —
so every error, with its code and position, still comes from the interpreter. A unit test checks the
two agree on generated documents.

Guardrails keep their meaning: the evaluation's guard ticks at every node and loop iteration (the time
limit), and each built sequence passes the guard's size check, as the interpreter's exit hook does.
Recursion cannot happen here (no user function is ever called), and trees deeper than
:data:`MAX_FAST_DEPTH` are left to the interpreter.
"""

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jsonata import Functions, Jsonata, Utils

MAX_FAST_DEPTH: Final = 48
"""Trees nested deeper than this are evaluated by the interpreter (which guards its recursion depth)."""

FAST_FUNCTIONS: Final = frozenset(
    {
        "sum", "count", "max", "min", "average", "abs", "floor", "ceil", "round", "number", "string",
        "length", "uppercase", "lowercase", "trim", "substring", "substringBefore", "substringAfter",
        "exists", "boolean", "not", "join",
    }
)  # fmt: skip
"""Built-ins the fast path calls: pure, no function arguments, no clock, no regex."""

_OPERATORS: Final = frozenset({"+", "-", "*", "/", "=", "!=", "<", "<=", ">", ">=", "&", "and", "or"})
# Attributes that give a node a meaning the fast path does not implement; any of them set declines.
_SPECIAL: Final = (
    "predicate", "group", "keep_array", "keep_singleton_array", "consarray", "focus", "index", "tuple",
    "ancestor", "seeking_parent", "slot", "signature", "thunk", "update", "delete", "stages",
)  # fmt: skip
_MISSING: Final = object()
_JList: Final[Any] = Utils.JList


class Declined(Exception):
    """The fast path does not handle this evaluation; the interpreter must evaluate it."""


class _Unsupported(Exception):
    """A node outside the fast shapes (compile time)."""


@dataclass(frozen=True)
class _Names:
    """Compile-time facts about names: bound by the expression itself, or never bound by the context."""

    local: frozenset[str]
    unbound: frozenset[str]


class _Scope:
    """What closures read at run time: the program (for library helpers), variables and the guard."""

    __slots__ = ("bindings", "guard", "params", "program")

    def __init__(self, program: Any, bindings: Mapping[str, Any], params: dict[str, Any], guard: Any) -> None:
        self.program = program
        self.bindings = bindings
        self.params = params
        self.guard = guard

    def variable(self, name: str) -> Any:
        value = self.params.get(name, _MISSING)
        if value is _MISSING:
            value = self.bindings.get(name, _MISSING)
        if value is _MISSING or value is None:
            raise Declined
        return value


_Fn = Callable[[Any, _Scope], Any]
_Stage = Callable[[Any, _Scope], Any]
"""A filter stage of a path step: the step's value in, the filtered sequence out."""


class FastProgram:
    """An expression compiled to closures; :meth:`run` evaluates it or raises :class:`Declined`."""

    __slots__ = ("_fn", "_program")

    def __init__(self, fn: _Fn, program: Any) -> None:
        self._fn = fn
        self._program = program

    def run(self, document: Any, bindings: Mapping[str, Any], guard: Any) -> Any:
        """The raw result the interpreter would give for ``document`` and ``bindings``.

        Raises :class:`Declined` when the interpreter must evaluate instead, and lets a guard violation
        (``guard.violated``) through as the error the guard raised.
        """
        try:
            return self._fn(document, _Scope(self._program, bindings, {}, guard))
        except Declined:
            raise
        except Exception:
            if guard.violated:
                raise
            raise Declined from None


def compile_fast(program: Any, local_names: frozenset[str], unbound: frozenset[str]) -> FastProgram | None:
    """Closures for ``program``'s tree, or None when it holds a shape the fast path does not cover.

    ``local_names`` are the names the expression binds itself (a built-in shadowed by one is left to the
    interpreter); ``unbound`` are names the context never binds as variables (function names), so a
    variable of that name is left to the interpreter too.
    """
    try:
        fn = _compile(program.ast, _Names(local_names, unbound), frozenset(), 0)
    except (_Unsupported, RecursionError):
        return None
    return FastProgram(fn, program)


def _compile(node: Any, names: _Names, params: frozenset[str], depth: int) -> _Fn:
    if depth > MAX_FAST_DEPTH:
        raise _Unsupported
    _require_plain(node, allow_stages=False)
    kind = node.type
    if kind == "path":
        return _compile_path(node, names, params, depth)
    if kind in ("string", "number") or (kind == "value" and isinstance(node.value, bool)):
        value = node.value
        return lambda _input, scope: _tick(scope, value)
    if kind == "variable":
        return _compile_variable(node, names, params)
    if kind == "binary" and node.value in _OPERATORS:
        return _compile_binary(node, names, params, depth)
    if kind == "condition":
        return _compile_condition(node, names, params, depth)
    if kind == "function":
        return _compile_call(node, names, params, depth)
    raise _Unsupported


def _require_plain(node: Any, *, allow_stages: bool) -> None:
    for attribute in _SPECIAL:
        if attribute == "stages" and allow_stages:
            continue
        if getattr(node, attribute, None):
            raise _Unsupported


def _tick(scope: _Scope, value: Any) -> Any:
    scope.guard.tick()
    return value


def _unwrap(result: Any) -> Any:
    """The sequence unwrapping ``_eval`` applies to every node's result."""
    if type(result) is _JList and result.sequence and not result.tuple_stream:
        if not result:
            return None
        if len(result) == 1 and not result.keep_singleton:
            return result[0]
    return result


def _compile_variable(node: Any, names: _Names, params: frozenset[str]) -> _Fn:
    name = node.value
    # "$" (the context), "$$" and the names the context never binds (functions) are the interpreter's.
    if not isinstance(name, str) or name in ("", "$") or (name in names.unbound and name not in params):
        raise _Unsupported

    def variable(_input: Any, scope: _Scope) -> Any:
        scope.guard.tick()
        return _unwrap(scope.variable(name))

    return variable


def _compile_path(node: Any, names: _Names, params: frozenset[str], depth: int) -> _Fn:
    steps = node.steps or []
    if not steps:
        raise _Unsupported
    compiled: list[tuple[_Fn, tuple[_Stage, ...], bool]] = []
    for position, step in enumerate(steps):
        _require_plain(step, allow_stages=True)
        if step.type == "name" and isinstance(step.value, str):
            value_fn = _name_step(step.value)
        elif step.type == "variable" and position == 0:
            value_fn = _compile_variable(step, names, params)
        else:
            raise _Unsupported
        stages: list[_Stage] = []
        for stage in step.stages or ():
            predicate = getattr(stage, "expr", None)
            if stage.type != "filter" or predicate is None:
                raise _Unsupported
            if predicate.type == "number":
                # A whole-number index; a fractional one is rounded by a fix the interpreter applies.
                if type(predicate.value) is not int:
                    raise _Unsupported
                stages.append(_index_stage(predicate.value))
            else:
                stages.append(functools.partial(_filter, _compile(predicate, names, params, depth + 1)))
        compiled.append((value_fn, tuple(stages), position == len(steps) - 1))
    starts_at_variable = steps[0].type == "variable"

    def path(input: Any, scope: _Scope) -> Any:
        # evaluate_path: a list input is the sequence to map over, anything else a sequence of one; a
        # path starting at a variable ignores its input.
        if not starts_at_variable and (input is None or isinstance(input, list)):
            raise Declined
        sequence: list[Any] = [input]
        result: Any = None
        guard = scope.guard
        for value_fn, stages, last in compiled:
            collected = []
            for item in sequence:
                guard.tick()
                value = value_fn(item, scope)
                for stage in stages:
                    value = stage(value, scope)
                if value is not None:
                    collected.append(value)
            # evaluate_step: a last step giving one array gives that array; otherwise flatten one level.
            if last and len(collected) == 1 and isinstance(collected[0], list) and not Utils.is_sequence(collected[0]):
                result = collected[0]
            else:
                result = _JList()
                result.sequence = True
                for value in collected:
                    if not isinstance(value, list) or (type(value) is _JList and getattr(value, "cons", False)):
                        result.append(value)
                    else:
                        result.extend(value)
            guard.check_built(result)
            if not result:
                break
            sequence = result
        return _unwrap(result)

    if any(stages for _, stages, _ in compiled):
        return path
    return _walk(steps, compiled[0][0] if starts_at_variable else None, path)


def _walk(steps: list[Any], variable: _Fn | None, general: _Fn) -> _Fn:
    """A path of plain field names (after an optional variable), walked through objects directly.

    Along objects only, ``evaluate_path`` keeps a sequence of one value per step and gives the last
    value as it is (an array included), or undefined at the first missing field. An array on the way
    means mapping and flattening: that is left to the general algorithm (``general``).
    """
    fields = [str(step.value) for step in steps[1 if variable is not None else 0 :]]

    def walk(input: Any, scope: _Scope) -> Any:
        scope.guard.tick()
        if variable is not None:
            value = variable(input, scope)
        elif input is None or isinstance(input, list):
            raise Declined
        else:
            value = input
        for field in fields:
            kind = type(value)
            if kind is not dict:
                if kind is str or kind is int or kind is float or kind is bool:
                    return None
                if isinstance(value, list):
                    return general(input, scope)
                raise Declined
            value = value.get(field, _MISSING)
            if value is _MISSING:
                return None
            if value is None:
                raise Declined  # JSON null: the interpreter's handling of it is left to the interpreter
        if type(value) is _JList:
            return general(input, scope)
        scope.guard.check_built(value)
        return value

    return walk


def _name_step(name: str) -> _Fn:
    def lookup(item: Any, _scope: _Scope) -> Any:
        kind = type(item)
        if kind is dict:
            value = item.get(name, _MISSING)
            if value is _MISSING:
                return None
            if value is None:
                raise Declined  # JSON null: the interpreter's handling of it is left to the interpreter
            return value
        if kind is str or kind is int or kind is float or kind is bool:
            return None
        raise Declined  # an array inside the sequence (arrays of arrays), or anything unusual

    return lookup


def _index_stage(position: int) -> _Stage:
    """evaluate_filter for a literal index (``[0]``, ``[-1]``): one item, counted from the end if negative."""

    def pick(value: Any, scope: _Scope) -> Any:
        scope.guard.tick()
        results = _JList()
        results.sequence = True
        if value is None:
            return results
        items: Any = value if isinstance(value, list) else (value,)
        if type(items) is _JList and items.tuple_stream:
            raise Declined
        index = len(items) + position if position < 0 else position
        if 0 <= index < len(items):
            item = items[index]
            if item is None:
                raise Declined  # JSON null at that index is the interpreter's
            if isinstance(item, list):
                return item  # the library gives an array item as it is, to be flattened by the step
            results.append(item)
        return results

    return pick


def _filter(predicate: _Fn, value: Any, scope: _Scope) -> Any:
    """evaluate_filter for a predicate that is not an index."""
    results = _JList()
    results.sequence = True
    if value is None:
        return results
    items: Any = value if isinstance(value, list) else (value,)
    if type(items) is _JList and items.tuple_stream:
        raise Declined
    for item in items:
        scope.guard.tick()
        if item is None:
            raise Declined
        outcome = predicate(item, scope)
        # A number (or numbers) selects by position, a rule the fast path leaves to the interpreter.
        if Utils.is_numeric(outcome) or Utils.is_array_of_numbers(outcome):
            raise Declined
        if Jsonata.boolize(_null_free(outcome)):
            results.append(item)
    return results


def _null_free(value: Any) -> Any:
    """``value``, unless it is an array or object holding a JSON null somewhere: then decline.

    The interpreter hands the library null as ``NULL_VALUE`` (:mod:`engine.expression_fixes`), the fast
    path reads the context as it is; so a value that reaches the library (an operand, a truth value, a
    function argument) must hold no null for the two to agree.
    """
    kind = type(value)
    if (kind is dict or kind is list or kind is _JList) and _has_null(value):
        raise Declined
    return value


def _null_free_result(fn: _Fn, input: Any, scope: _Scope) -> Any:
    return _null_free(fn(input, scope))


def _has_null(value: Any) -> bool:
    for item in value.values() if type(value) is dict else value:
        if item is None:
            return True
        kind = type(item)
        if (kind is dict or kind is list or kind is _JList) and _has_null(item):
            return True
    return False


def _compile_binary(node: Any, names: _Names, params: frozenset[str], depth: int) -> _Fn:
    op = node.value
    lhs = _compile(node.lhs, names, params, depth + 1)
    rhs = _compile(node.rhs, names, params, depth + 1)
    if op in ("and", "or"):

        def boolean(input: Any, scope: _Scope) -> Any:
            scope.guard.tick()
            left = lhs(input, scope)
            evaluate_right = functools.partial(_null_free_result, rhs, input, scope)
            return scope.program.evaluate_boolean_expression(_null_free(left), evaluate_right, op)

        return boolean
    method = {
        "+": "evaluate_numeric_expression",
        "-": "evaluate_numeric_expression",
        "*": "evaluate_numeric_expression",
        "/": "evaluate_numeric_expression",
        "=": "evaluate_equality_expression",
        "!=": "evaluate_equality_expression",
        "<": "evaluate_comparison_expression",
        "<=": "evaluate_comparison_expression",
        ">": "evaluate_comparison_expression",
        ">=": "evaluate_comparison_expression",
    }.get(op)

    if method is None:  # "&"

        def concat(input: Any, scope: _Scope) -> Any:
            scope.guard.tick()
            left = lhs(input, scope)
            right = _null_free(rhs(input, scope))
            return _unwrap(scope.program.evaluate_string_concat(_null_free(left), right))

        return concat

    def binary(input: Any, scope: _Scope) -> Any:
        scope.guard.tick()
        left = lhs(input, scope)
        # Looked up per call, so a fix patched onto the class later applies here as well.
        right = _null_free(rhs(input, scope))
        return _unwrap(getattr(scope.program, method)(_null_free(left), right, op))

    return binary


def _compile_condition(node: Any, names: _Names, params: frozenset[str], depth: int) -> _Fn:
    condition = _compile(node.condition, names, params, depth + 1)
    then = _compile(node.then, names, params, depth + 1)
    otherwise = _compile(node._else, names, params, depth + 1) if node._else is not None else None

    def choose(input: Any, scope: _Scope) -> Any:
        scope.guard.tick()
        if Jsonata.boolize(_null_free(condition(input, scope))):
            return then(input, scope)
        return otherwise(input, scope) if otherwise is not None else None

    return choose


def _compile_call(node: Any, names: _Names, params: frozenset[str], depth: int) -> _Fn:
    procedure = node.procedure
    if procedure is None or procedure.type != "variable" or not isinstance(procedure.value, str):
        raise _Unsupported
    name = procedure.value
    if name in names.local or name in params:
        raise _Unsupported
    arguments = list(node.arguments or ())
    if name == "map" and len(arguments) == 2 and arguments[1].type == "lambda":
        return _compile_map(arguments[0], arguments[1], names, params, depth)
    if name not in FAST_FUNCTIONS:
        raise _Unsupported
    compiled = [_compile(argument, names, params, depth + 1) for argument in arguments]

    def call(input: Any, scope: _Scope) -> Any:
        scope.guard.tick()
        # Whatever the program binds the name to (the conforming built-ins are registered per program).
        function = scope.program.environment.lookup(name)
        if not isinstance(function, Jsonata.JFunction | Jsonata.JLambda) or Functions.is_lambda(function):
            raise Declined
        values = [_null_free(argument(input, scope)) for argument in compiled]
        validated = _validate(scope, function, values, input)
        result = _unwrap(function.call(input, validated))
        scope.guard.check_built(result)
        return result

    return call


def _validate(scope: _Scope, function: Any, values: list[Any], input: Any) -> Any:
    """The library's argument validation, short-cut where its outcome is known without running it.

    The one short cut: a single array parameter (``$count``'s ``<a:n>``, ``$sum``'s ``<a<n>:n>``)
    given an array — for ``<n>`` an array of finite numbers — validates to that array unchanged, and
    the library would otherwise classify every element (the bulk of ``$sum``'s time).
    """
    params = getattr(getattr(function, "signature", None), "_params", None)
    if params is not None and len(params) == 1 and len(values) == 1 and isinstance(values[0], list):
        param = params[0]
        if param.type == "a" and not param.context:
            array = values[0]
            if param.subtype is None or (param.subtype == "n" and _all_finite_numbers(array)):
                scope.guard.check_time()
                return [array]
    return scope.program.validate_arguments(function, values, input)


def _all_finite_numbers(values: list[Any]) -> bool:
    # x - x is 0.0 for every finite float and NaN for infinities and NaN; booleans are not numbers.
    return all(type(x) is int or (type(x) is float and x - x == 0.0) for x in values)


def _compile_map(source: Any, function: Any, names: _Names, params: frozenset[str], depth: int) -> _Fn:
    """``$map(array, function($v[, $i[, $a]]) { body })``, as Functions.map applies a lambda."""
    _require_plain(function, allow_stages=False)
    parameters = [getattr(argument, "value", None) for argument in function.arguments or ()]
    if not 1 <= len(parameters) <= 3 or not all(isinstance(p, str) and p for p in parameters):
        raise _Unsupported
    array_fn = _compile(source, names, params, depth + 1)
    body = _compile(function.body, names, params | frozenset(str(p) for p in parameters), depth + 1)

    def map_lambda(input: Any, scope: _Scope) -> Any:
        scope.guard.tick()
        if not isinstance(scope.program.environment.lookup("map"), Jsonata.JFunction | Jsonata.JLambda):
            raise Declined
        array = array_fn(input, scope)
        if array is None:
            return None
        # The signature <af> makes a single value an array of one.
        items: Any = array if isinstance(array, list) else [array]
        if type(items) is _JList and items.tuple_stream:
            raise Declined
        results = _JList()
        results.sequence = True
        inner = _Scope(scope.program, scope.bindings, dict(scope.params), scope.guard)
        for index, item in enumerate(items):
            scope.guard.tick()
            if item is None:
                raise Declined
            bound = (item, index, items)
            for position, parameter in enumerate(parameters):
                inner.params[str(parameter)] = bound[position]
            # The body sees the input the lambda was written in, as apply_procedure does.
            value = body(input, inner)
            if value is not None:
                results.append(value)
        scope.guard.check_built(results)
        return _unwrap(results)

    return map_lambda

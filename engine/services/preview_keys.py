"""Predicting an ``action.call``'s idempotency key before a replay runs: static reads, then evaluation.

The key of a replayed call can be known in advance only when everything it reads is known before the
run starts: the payload, ``meta`` (the replay's own run id is new but certainly fresh) and ``vars`` set
by plain assignments from those. Anything only the running workflow knows makes it ``unknown``: the
clock (``$now()``, ``$millis()``, ``nowIso()``), randomness, loop locals and caught errors, and vars set
from action outputs, events, human tasks, child runs or inside branches and loops. The analysis is
deliberately conservative: when in doubt, the key is unknown, never guessed.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from jsonata import Parser

from engine import expressions
from engine.dsl import models as m
from engine.dsl.paths import PathError, set_path

CLOCK_FUNCTIONS: Final = frozenset({"now", "millis", "nowIso"})
RANDOM_FUNCTIONS: Final = frozenset({"random", "shuffle"})
_LOOP_LOCALS: Final = ("index", "length", "isFirst", "isLast")
_SYMBOL: type[Any] = Parser.Symbol


class KeyUnknowable(Exception):
    """The value depends on what only the running workflow has; ``str()`` says what it reads (``reads the clock``)."""


@dataclass(frozen=True)
class Reads:
    """What the expressions in a value read from the evaluation context."""

    roots: frozenset[str] = frozenset()
    """Context keys read at the top of a path or as ``$name`` (``payload``, ``vars``, ``meta``, locals…)."""
    var_names: frozenset[str] | None = frozenset()
    """Top-level names under ``vars`` that are read; ``None`` when all of ``vars`` may be read."""
    clock: bool = False
    random: bool = False
    whole_context: bool = False
    """``$`` or ``$$`` appears: any context key may be read."""


def reads_of(value: Any) -> Reads:
    """Collect what every ``{"$expr": …}`` inside ``value`` reads (``ExpressionError`` if one does not compile)."""
    roots: set[str] = set()
    var_names: set[str] | None = set()
    clock = random = whole = False
    for source in _sources(value):
        ast = expressions.compile_expression(source).program.ast
        first_steps: set[int] = set()
        for node in _nodes(ast):
            if node.type == "path" and getattr(node, "steps", None):
                steps = node.steps
                first_steps.add(id(steps[0]))
                root = _root_name(steps[0])
                if root is None:
                    continue
                roots.add(root)
                if root == "vars" and var_names is not None:
                    second = steps[1] if len(steps) > 1 else None
                    if second is not None and second.type == "name" and isinstance(second.value, str):
                        var_names.add(second.value)
                    else:
                        var_names = None
        for node in _nodes(ast):
            if node.type != "variable" or not isinstance(node.value, str):
                continue
            name = node.value
            if name in ("", "$"):
                whole = True
            elif name in CLOCK_FUNCTIONS:
                clock = True
            elif name in RANDOM_FUNCTIONS:
                random = True
            elif id(node) not in first_steps and name not in expressions.ALLOWED_FUNCTIONS:
                # ``$vars`` passed whole (``$lookup($vars, …)``) reads every var.
                roots.add(name)
                if name == "vars":
                    var_names = None
    frozen_vars = None if var_names is None else frozenset(var_names)
    return Reads(frozenset(roots), frozen_vars, clock, random, whole)


def _root_name(step: Any) -> str | None:
    if step.type in ("name", "variable") and isinstance(step.value, str) and step.value not in ("", "$"):
        return step.value
    return None


def _sources(value: Any) -> Iterator[str]:
    if expressions.is_expression(value):
        source = value[expressions.EXPR_KEY]
        if not isinstance(source, str):
            raise expressions.ExpressionError(repr(source), None, "the value of $expr must be a string", "RS1006")
        yield source
    elif isinstance(value, dict):
        for item in value.values():
            yield from _sources(item)
    elif isinstance(value, list):
        for item in value:
            yield from _sources(item)


def _nodes(root: Any) -> Iterator[Any]:
    """Every node of a jsonata-python AST (its children sit in varying attributes and lists)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if not isinstance(node, _SYMBOL) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(value for key, value in vars(node).items() if key != "_outer_instance")


# -- vars known before a step ------------------------------------------------------------------------


@dataclass
class KnownVars:
    """``vars`` as far as they are known before a step: values, and the names that cannot be known."""

    values: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    """Top-level var name → why its value is only known at run time."""


def _top_name(target: str) -> str:
    rest = target.removeprefix("vars.")
    return rest.split(".", 1)[0]


def _run_time_assignments(step: m.Step, path: str) -> Iterator[tuple[str, str, str]]:
    """``(var name, step path, why)`` for each var ``step`` (and the steps inside it) may set."""
    if isinstance(step, m.ActionCallStep):
        if step.save_as:
            yield _top_name(step.save_as), path, f"set from the output of {step.action} v{step.version} at {path}"
        if step.on_error.policy == "continue":
            name = _top_name(step.save_as) if step.save_as else "errors"
            yield name, path, f"set from the error of {step.action} v{step.version} at {path}"
    elif isinstance(step, m.AssignStep):
        for target in step.assign:
            yield _top_name(target), path, f"assigned at {path}, inside a branch or loop"
    elif isinstance(step, m.TimeWaitStep):
        for target in step.assign:
            yield _top_name(target), path, f"assigned after the wait at {path}"
    elif isinstance(step, m.EventWaitStep) and step.save_as:
        yield _top_name(step.save_as), path, f"set from the event received at {path}"
    elif isinstance(step, m.HumanTaskStep) and step.save_as:
        yield _top_name(step.save_as), path, f"set from the human task answered at {path}"
    elif isinstance(step, m.CallWorkflowStep):
        for target in step.output_mapping:
            yield _top_name(target), path, f"set from the child run's output at {path}"
    elif isinstance(step, m.TryCatchStep) and step.capture_error_as:
        yield step.capture_error_as, path, f"set from the error caught at {path}"
    for branch, children in step.branches():
        for index, child in enumerate(children):
            yield from _run_time_assignments(child, f"{path}.{branch}[{index}]")


def _root_index(step_path: str) -> int:
    head = step_path.split("]", 1)[0]
    return int(head.removeprefix("root.steps["))


def known_vars_before(
    definition: m.Definition, step_path: str, *, payload: dict[str, Any], meta: Mapping[str, Any], in_loop: bool
) -> KnownVars:
    """Simulate the top-level ``state.assign`` steps before ``step_path``; everything else taints the names it sets.

    Top-level steps run once, in order, so their assignments can be replayed exactly when what they read
    is known. The top-level step holding ``step_path`` taints every name set anywhere inside it (a loop
    may run it before the call), except the call's own ``saveAs`` when no loop repeats it.
    """
    known = KnownVars()
    target_root = _root_index(step_path)
    for index, step in enumerate(definition.steps[: target_root + 1]):
        path = f"root.steps[{index}]"
        if index < target_root and isinstance(step, m.AssignStep):
            for target, source in step.assign.items():
                _simulate_assign(known, target, source, path, payload=payload, meta=meta)
            continue
        for name, where, why in _run_time_assignments(step, path):
            if where == step_path and not in_loop:
                continue  # the call's own result is saved after its key is computed
            known.unknown[name] = why
            known.values.pop(name, None)
    return known


def _simulate_assign(
    known: KnownVars, target: str, source: Any, path: str, *, payload: dict[str, Any], meta: Mapping[str, Any]
) -> None:
    name = _top_name(target)
    try:
        value = evaluate_known(source, known, payload=payload, meta=meta, locals_bound=frozenset())
        known.values = set_path(known.values, target, value)
    except KeyUnknowable as exc:
        known.unknown[name] = f"assigned at {path} from a value that {exc}"
        known.values.pop(name, None)
        return
    except (expressions.ExpressionError, PathError) as exc:
        known.unknown[name] = f"assigned at {path} by an expression that fails here ({_reason(exc)})"
        known.values.pop(name, None)
        return
    known.unknown.pop(name, None)


def evaluate_known(
    value: Any,
    known: KnownVars,
    *,
    payload: dict[str, Any],
    meta: Mapping[str, Any],
    locals_bound: frozenset[str],
) -> Any:
    """Resolve ``value`` when all it reads is known; ``KeyUnknowable`` saying what is not, else its result.

    ``locals_bound`` are the loop locals and ``error`` bound where the value is evaluated: values only the
    running loop or handler has. Evaluation errors leave as ``ExpressionError``.
    """
    reads = reads_of(value)
    if reads.clock:
        raise KeyUnknowable("reads the clock")
    if reads.random:
        raise KeyUnknowable("uses randomness")
    if reads.whole_context:
        raise KeyUnknowable("reads the whole context through $ or $$")
    bound = sorted(reads.roots & locals_bound)
    if bound:
        raise KeyUnknowable(f"reads {bound[0]}, known only inside the running loop or handler")
    if "vars" in reads.roots:
        needed = known.unknown.keys() if reads.var_names is None else reads.var_names & known.unknown.keys()
        for name in sorted(needed):
            raise KeyUnknowable(f"reads vars.{name}, {known.unknown[name]}")
    context = {"payload": payload, "vars": known.values, "meta": dict(meta)}
    return expressions.resolve(value, context, expressions.EvalEnv(now=_no_clock))


def locals_at(definition: m.Definition, step_path: str) -> tuple[frozenset[str], bool]:
    """The loop locals and ``error`` bound at ``step_path``, and whether a loop encloses it."""
    names: set[str] = set()
    in_loop = False
    steps: tuple[m.Step, ...] = definition.steps
    rest = step_path.removeprefix("root.steps")
    while rest:
        index_text, _, rest = rest.removeprefix("[").partition("]")
        step = steps[int(index_text)]
        if not rest:
            break
        branch, _, rest = rest.removeprefix(".").partition("[")
        rest = "[" + rest
        if isinstance(step, m.ForEachStep):
            names.update((step.item_var, *_LOOP_LOCALS))
            in_loop = True
        if isinstance(step, m.TryCatchStep) and branch == "catch":
            names.add("error")
        steps = dict(step.branches())[branch]
    return frozenset(names), in_loop


def _no_clock() -> datetime:
    # The static check refuses the clock first; this only guards a read that slipped past it.
    raise KeyUnknowable("reads the clock")


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, expressions.ExpressionError) else str(exc)

"""Publish-time validation of a definition: every problem at once, each with its ``$``-rooted JSON path.

Problem paths point into the submitted JSON: ``$.steps[2].then[0].input.x``; keys that are not
identifiers are quoted, ``$.steps[0].input["a-b"]``. An expression problem points at the expression
object itself, not at its ``$expr`` key.

Beyond the shape the models check, the rules are: step ids are unique across the whole tree; each
``action.call`` names a known action version; each ``control.callWorkflow`` names an existing child
(``workflow_exists(id, None)`` for ``"latest"``; a definition may call itself, which exists once it
is published; publish warns when it can reach itself); every ``$expr`` compiles, uses only allowed
functions and calls only functions — ``sum(x)`` without ``$`` is refused with a suggestion, bare
``nowIso()`` is the SPEC's alias of ``$nowIso()`` (:func:`engine.expressions.check_expression`) — outside
``payloadSchema`` and ``formSchema``, which are schemas, not values; ``saveAs`` values and the keys of ``assign`` and
``outputMapping`` are assignable ``vars.`` paths; ``captureErrorAs`` is a single name under ``vars``
(``"err"``, not ``"vars.err"``); ``itemVar`` is an identifier that is not a fixed context name
(``payload``, ``vars``, ``index``, ...); forEach ``concurrency`` is 1; ``payloadSchema`` and
``formSchema`` are valid JSON Schemas (draft 2020-12); and ``time.wait`` has exactly one of
``durationMs`` and ``until``; a schedule trigger's ``cron`` is an accepted expression
(:mod:`engine.dsl.cron`), its ``timezone`` an IANA name and ``startAt``/``endAt`` ISO-8601 timestamps
with an offset, ``endAt`` after ``startAt``. These rules run on the raw JSON, so they are reported even where another
part of the definition has the wrong shape. Shape problems are listed first, then rule problems in
document order.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from engine.dsl.cron import cron_problem
from engine.dsl.models import STEP_BRANCHES, Definition, is_json_int
from engine.dsl.paths import PathError, is_identifier, parse_assign_path
from engine.errors import RunStudioError
from engine.expressions import CONTEXT_NAMES, EXPR_KEY, check_expression
from engine.inbound import MAX_VERSION, InboundRejected, check_name, check_text, check_version

Loc = tuple[str | int, ...]
ActionExists = Callable[[str, int], bool]
WorkflowExists = Callable[[str, int | None], bool]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, and where."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DefinitionInvalid(RunStudioError):
    """A definition failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def validate_definition(raw: Any, *, action_exists: ActionExists, workflow_exists: WorkflowExists) -> Definition:
    """Return the parsed definition, or raise :class:`DefinitionInvalid` listing every problem.

    ``action_exists(name, version)`` and ``workflow_exists(id, version or None for latest)`` answer
    for the registry and the store.
    """
    problems: list[Problem] = []
    definition: Definition | None = None
    try:
        definition = Definition.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_structural_problems(exc, raw))
    if isinstance(raw, dict):
        problems.extend(_Rules(raw, action_exists, workflow_exists).check())
    problems = list(dict.fromkeys(problems))
    if problems or definition is None:
        raise DefinitionInvalid(problems)
    return definition


def json_path(loc: Loc) -> str:
    """``("steps", 2, "input", "a-b")`` → ``$.steps[2].input["a-b"]``."""
    path = "$"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif is_identifier(part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part, ensure_ascii=False)}]"
    return path


def _structural_problems(exc: ValidationError, raw: Any) -> Iterator[Problem]:
    for error in exc.errors(include_url=False, include_input=False):
        yield Problem(json_path(_raw_loc(raw, error["loc"])), _pydantic_message(error))


def _raw_loc(raw: Any, loc: tuple[int | str, ...]) -> Loc:
    """Drop the union member names pydantic inserts (``steps.0.action.call.input``) from ``loc``."""
    result: list[str | int] = []
    current = raw
    for part in loc:
        if isinstance(current, dict) and part not in current and part == current.get("type"):
            continue
        result.append(part)
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(result)


def _pydantic_message(error: ErrorDetails) -> str:
    kind = error["type"]
    context = error.get("ctx", {})
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this object"
    if kind == "union_tag_not_found":
        return 'needs a "type"'
    if kind == "union_tag_invalid":
        return f"unknown type {context.get('tag')!r}; expected one of {context.get('expected_tags')}"
    return error["msg"].removeprefix("Value error, ")


class _Rules:
    """The semantic rules, run over the raw JSON of one definition."""

    def __init__(self, raw: dict[str, Any], action_exists: ActionExists, workflow_exists: WorkflowExists):
        self.raw = raw
        self.action_exists = action_exists
        self.workflow_exists = workflow_exists
        self.problems: list[Problem] = []
        self.step_ids: dict[str, Loc] = {}

    def check(self) -> list[Problem]:
        """Run every rule and return the problems found."""
        self._schema(self.raw.get("payloadSchema"), ("payloadSchema",))
        self._inbound_fields(self.raw, (), _DEFINITION_FIELDS)
        for key, value in self.raw.items():
            if key not in ("payloadSchema", "steps"):
                self._expressions(value, (key,))
        for loc, step in _raw_steps(self.raw.get("steps"), ("steps",)):
            self._step(loc, step)
        trigger = self.raw.get("trigger")
        if isinstance(trigger, dict) and trigger.get("type") == "schedule":
            for key, message in schedule_problems(trigger):
                self._add(("trigger", key), message)
        return self.problems

    def _add(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(json_path(loc), message))

    def _inbound_fields(self, container: dict[str, Any], loc: Loc, fields: dict[tuple[str, ...], "_Check"]) -> None:
        for field_path, check in fields.items():
            value: Any = container
            for part in field_path:
                value = value.get(part) if isinstance(value, dict) else None
            problem = _inbound_problem(check, value)
            if problem is not None:
                self._add((*loc, *field_path), problem)

    def _step(self, loc: Loc, step: dict[str, Any]) -> None:
        kind = step.get("type")
        self._inbound_fields(step, loc, _STEP_FIELDS.get(str(kind), _STEP_FIELDS[""]))
        for key, value in step.items():
            if key not in STEP_BRANCHES.get(str(kind), ()) and not (kind == "human.task" and key == "formSchema"):
                self._expressions(value, (*loc, key))
        self._unique_id(loc, step.get("id"))
        if kind in ("action.call", "event.wait", "human.task"):
            self._assignable(step.get("saveAs"), (*loc, "saveAs"))
        if kind in ("state.assign", "time.wait"):
            self._assignable_keys(step.get("assign"), (*loc, "assign"))
        if kind == "action.call":
            self._action(loc, step.get("action"), step.get("version"))
        elif kind == "control.forEach":
            self._for_each(loc, step)
        elif kind == "control.tryCatch":
            self._capture_name(step.get("captureErrorAs"), (*loc, "captureErrorAs"))
        elif kind == "control.callWorkflow":
            self._child(loc, step.get("workflowId"), step.get("workflowVersion", "latest"))
            self._assignable_keys(step.get("outputMapping"), (*loc, "outputMapping"))
        elif kind == "time.wait":
            if (step.get("durationMs") is None) == (step.get("until") is None):
                self._add(loc, "time.wait needs exactly one of durationMs and until")
        elif kind == "human.task":
            self._schema(step.get("formSchema"), (*loc, "formSchema"))

    def _unique_id(self, loc: Loc, step_id: Any) -> None:
        if not isinstance(step_id, str):
            return
        first = self.step_ids.setdefault(step_id, loc)
        if first != loc:
            self._add((*loc, "id"), f"duplicate step id {step_id!r}; it is also the id of {json_path(first)}")

    def _action(self, loc: Loc, name: Any, version: Any) -> None:
        if isinstance(name, str) and is_json_int(version) and not self.action_exists(name, version):
            self._add((*loc, "action"), f"unknown action {name!r} version {version}")

    def _child(self, loc: Loc, workflow_id: Any, version: Any) -> None:
        if not isinstance(workflow_id, str) or not (version == "latest" or is_json_int(version)):
            return
        pinned = None if version == "latest" else int(version)
        calls_itself = workflow_id == self.raw.get("id") and pinned in (None, self.raw.get("version"))
        if not calls_itself and not self.workflow_exists(workflow_id, pinned):
            which = "any version" if pinned is None else f"version {pinned}"
            self._add((*loc, "workflowId"), f"child workflow {workflow_id!r} ({which}) does not exist")

    def _for_each(self, loc: Loc, step: dict[str, Any]) -> None:
        concurrency = step.get("concurrency", 1)
        if is_json_int(concurrency) and concurrency != 1:
            self._add(
                (*loc, "concurrency"),
                "parallel forEach is not supported in this version; set concurrency to 1",
            )
        item_var = step.get("itemVar")
        if not isinstance(item_var, str) or not item_var:
            return
        if not is_identifier(item_var):
            self._add((*loc, "itemVar"), f"{item_var!r} is not a name (letters, digits and _)")
        elif item_var in CONTEXT_NAMES:
            self._add((*loc, "itemVar"), f"{item_var!r} is already a context name; choose another")

    def _capture_name(self, name: Any, loc: Loc) -> None:
        if not isinstance(name, str) or is_identifier(name):
            return
        hint = f'; write "{name.removeprefix("vars.")}" for {name}' if name.startswith("vars.") else ""
        self._add(loc, f"{name!r} is not a name under vars (letters, digits and _){hint}")

    def _assignable(self, path: Any, loc: Loc) -> None:
        if isinstance(path, str):
            try:
                parse_assign_path(path)
            except PathError as exc:
                self._add(loc, str(exc))

    def _assignable_keys(self, mapping: Any, loc: Loc) -> None:
        if isinstance(mapping, dict):
            for key in mapping:
                self._assignable(key, (*loc, key))

    def _schema(self, schema: Any, loc: Loc) -> None:
        if not isinstance(schema, dict):
            return
        # What Draft202012Validator.check_schema does, but collecting every error instead of the first.
        meta = Draft202012Validator(
            Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for error in meta.iter_errors(schema):
            self._add((*loc, *error.absolute_path), f"not a valid JSON Schema: {error.message}")

    def _expressions(self, value: Any, loc: Loc) -> None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                self._expressions(item, (*loc, index))
            return
        if not isinstance(value, dict):
            return
        if EXPR_KEY in value:
            source = value[EXPR_KEY]
            if len(value) != 1:
                self._add(loc, f'an expression object must have only the key "{EXPR_KEY}"')
            elif not isinstance(source, str):
                self._add(loc, f"the value of {EXPR_KEY} must be a string")
            else:
                for message in check_expression(source):
                    self._add(loc, f"expression {source!r}: {message}")
            return
        for key, item in value.items():
            self._expressions(item, (*loc, key))


# -- schedule triggers -------------------------------------------------------------------------------


def schedule_problems(trigger: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(field, reason)`` for each value of a raw schedule trigger Temporal could not run as meant.

    Wrong types are shape problems of the models; this reads only values of the right type.
    """
    cron = trigger.get("cron")
    if isinstance(cron, str) and cron:
        problem = cron_problem(cron)
        if problem is not None:
            yield "cron", problem
    zone = trigger.get("timezone")
    if isinstance(zone, str) and zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield "timezone", f"{zone!r} is not an IANA time zone name (e.g. Europe/Paris, UTC)"
    bounds: dict[str, datetime] = {}
    for key in ("startAt", "endAt"):
        value = trigger.get(key)
        if not isinstance(value, str) or not value:
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            yield key, f"{value!r} is not an ISO-8601 timestamp (e.g. 2027-01-01T09:00:00+01:00)"
            continue
        if moment.tzinfo is None:
            yield key, f"{value!r} has no UTC offset; add one (e.g. +00:00 or Z)"
            continue
        bounds[key] = moment
    if "startAt" in bounds and "endAt" in bounds and bounds["endAt"] <= bounds["startAt"]:
        yield "endAt", "must be later than startAt"


# -- inbound rules on ids, names and versions -------------------------------------------------------
# Checked here, at publish, and not in the models: the workflow parses stored definitions with the models,
# and one published before these rules must still load. The rules themselves are in engine.inbound.

_Check = Callable[[Any], object]


# Each check looks only at values of its type: a wrong type is already a shape problem of the models.
def _name(kind: str) -> _Check:
    return lambda value: check_name(value, kind=kind) if isinstance(value, str) else value


def _text(what: str, max_length: int, *, multiline: bool = False) -> _Check:
    return lambda value: (
        check_text(value, what=what, max_length=max_length, multiline=multiline) if isinstance(value, str) else value
    )


def _version(value: Any) -> object:
    # Only the upper bound: values below 1 are already shape problems of the models.
    return check_version(value) if is_json_int(value) and value > MAX_VERSION else value


_DEFINITION_FIELDS: dict[tuple[str, ...], _Check] = {
    ("id",): _name("workflow id"),
    ("version",): _version,
    ("name",): _text("name", 200),
    ("description",): _text("description", 10_000, multiline=True),
    ("trigger", "eventName"): _name("event name"),
}
_STEP_FIELDS: dict[str, dict[tuple[str, ...], _Check]] = {
    "": {("id",): _name("step id")},
    "action.call": {("id",): _name("step id"), ("action",): _name("action name"), ("version",): _version},
    "event.wait": {("id",): _name("step id"), ("eventName",): _name("event name")},
    "human.task": {("id",): _name("step id"), ("taskType",): _name("task type")},
    "control.callWorkflow": {
        ("id",): _name("step id"),
        ("workflowId",): _name("workflow id"),
        ("workflowVersion",): _version,
    },
}


def _inbound_problem(check: _Check, value: Any) -> str | None:
    """The broken rule, if any (a missing or empty value is a shape problem of the models)."""
    if value is None or value == "":
        return None
    try:
        check(value)
    except InboundRejected as exc:
        return exc.rule
    return None


def _raw_steps(steps: Any, loc: Loc) -> Iterator[tuple[Loc, dict[str, Any]]]:
    """Every step object in a raw step list and its nested lists, depth first, with its location."""
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        step_loc = (*loc, index)
        yield step_loc, step
        for branch in STEP_BRANCHES.get(str(step.get("type")), ()):
            yield from _raw_steps(step.get(branch), (*step_loc, branch))

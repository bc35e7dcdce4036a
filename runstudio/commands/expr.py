"""``runstudio expr``: evaluate JSONata exactly as a workflow step would, without any service.

The expression is checked as publish checks it, then evaluated by :mod:`engine.expressions` (the same
functions, guardrails and limits as in workflow code) against the context a run would have::

    {"payload": <--payload>, "vars": <--vars>,
     "meta": {"run_id": "expr", "workflow_id": "expr", "workflow_version": 1, "tenant": <--tenant>,
              "attempt": 1}}

The clock (``$now()``, ``$millis()``, ``nowIso()``) is fixed, as ``workflow.now()`` is within a workflow
task: ``--now`` (ISO-8601; without a zone it counts as UTC), or else the current time truncated to
whole milliseconds, read once per process, so every case of a ``--cases`` file sees the same clock
(a case line may carry its own ``"now"``).

It starts nothing (no database, no Temporal): it is the author's loop for trying expressions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from engine.inbound import InboundRejected, check_json
from runstudio.context import options
from runstudio.errors import USAGE_EXIT, UsageProblem, error_line
from runstudio.options import AlwaysJsonFlag, json_type, read_object_option
from runstudio.output import json_text, print_json

if TYPE_CHECKING:
    # JSONata (with re2) and jsonschema load when an expression is evaluated, not when the CLI is built.
    from engine.expressions import EvalEnv

REFUSED_AT_PUBLISH = "RS1007"
"""Error code when publish would refuse the expression (see ``engine.expressions.ERROR_CODES``)."""
BAD_INPUT = "RS1008"
"""Error code when the payload, vars, clock or a case line cannot be used."""

EXAMPLES = (
    """Examples:

  runstudio expr 'payload.ticket.id' --payload '{"ticket": {"id": "T-1"}}'
    {"value": "T-1"}

  runstudio expr '$sum(payload.items.price)' --payload @order.json

  runstudio expr 'vars.count + 1' --vars '{"count": 2}'

  runstudio expr 'nowIso()' --now 2024-05-01T12:00:00Z
    {"value": "2024-05-01T12:00:00.000Z"}

  runstudio expr 'payload.('     (exit 1)
    {"error": {"code": "S0203", "message": "Expected ) ...", "position": 9}}

  runstudio expr --cases cases.jsonl > results.jsonl
    in:  {"id": "c1", "expr": "payload.a * 2", "payload": {"a": 21}}
    out: {"id": "c1", "value": 42}

"""
    "Error codes are JSONata's (S0xxx syntax, T0xxx types, D3xxx evaluation, D1011 depth limit, D1012 time "
    "limit) or the contract's own RS1xxx (ERROR_CODES in engine/expressions.py): RS1007 means publish would "
    "refuse the expression, RS1008 that the payload, vars, --now or a case line is unusable."
)


@dataclass(frozen=True)
class Outcome:
    """The result of one evaluation: ``value`` when ``error`` is None, else the error object."""

    value: Any = None
    error: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """``{"value": …}`` or ``{"error": {"code", "message", "position"}}`` (SPEC §10)."""
        return {"value": self.value} if self.error is None else {"error": self.error}


def register(app: typer.Typer) -> None:
    """Add ``expr`` to the root app."""
    app.command("expr", epilog=EXAMPLES)(expr_command)


def expr_command(
    ctx: typer.Context,
    expression: Annotated[
        str | None,
        typer.Argument(metavar="EXPRESSION", help="The JSONata expression (omit it with --cases).", show_default=False),
    ] = None,
    payload: Annotated[
        str | None, typer.Option("--payload", help="The run's payload: a JSON object, or @FILE. Default {}.")
    ] = None,
    variables: Annotated[
        str | None, typer.Option("--vars", help="The run's vars: a JSON object, or @FILE. Default {}.")
    ] = None,
    now: Annotated[
        str | None,
        typer.Option("--now", help="The fixed clock, ISO-8601 (no zone = UTC). Default: now, to the millisecond."),
    ] = None,
    cases: Annotated[
        Path | None,
        typer.Option(
            "--cases",
            help="Evaluate every JSON line {id, expr, payload, vars} of FILE ('-' for stdin; a line may also "
            'give its own "now"); one JSON line per case, {id, value} or {id, error}. Exit 1 only if a '
            "line is unusable.",
        ),
    ] = None,
    as_json: AlwaysJsonFlag = False,
) -> None:
    """Evaluate EXPRESSION as a workflow step would and print {"value": …}, or {"error": …} with exit 1.

    An unusable --payload, --vars or --now is a usage error: the {"error": …} object (code RS1008) is still
    printed, and the exit code is 2.
    """
    from engine.services.payloads import PayloadRejected

    del as_json  # output is JSON either way; the flag exists because every command accepts it
    tenant = options(ctx).tenant
    if cases is not None:
        if expression is not None:
            raise UsageProblem("give either EXPRESSION or --cases, not both")
        raise typer.Exit(_run_cases(cases, tenant=tenant, now=now))
    if expression is None:
        raise UsageProblem("give an EXPRESSION to evaluate, or --cases FILE")

    exit_code = 1
    try:
        env = clock_env(now)
        context = build_context(
            read_object_option(payload, "--payload"), read_object_option(variables, "--vars"), tenant=tenant
        )
        outcome = evaluate_for_author(expression, context, env)
    except (UsageProblem, ValueError) as exc:  # ValueError: --now is not a date-time
        outcome = Outcome(error={"code": BAD_INPUT, "message": str(exc), "position": None})
        exit_code = USAGE_EXIT
    except (PayloadRejected, InboundRejected) as exc:
        outcome = Outcome(error={"code": BAD_INPUT, "message": str(exc), "position": None})
    print_json(outcome.as_json())
    if outcome.error is not None:
        typer.echo(error_line(outcome.error["message"]), err=True)
        raise typer.Exit(exit_code)


def evaluate_for_author(expression: str, context: dict[str, Any], env: EvalEnv) -> Outcome:
    """Check ``expression`` as publish does, then evaluate it under the workflow contract."""
    from engine.expressions import ExpressionError, evaluate

    try:
        check_json(expression, what="expression")
    except InboundRejected as exc:
        return Outcome(error={"code": BAD_INPUT, "message": str(exc), "position": None})
    problems = _publish_problems(expression)
    # A compile error is reported by evaluating, which gives its JSONata code and position.
    if problems and not problems[0].startswith("does not compile"):
        return Outcome(error={"code": REFUSED_AT_PUBLISH, "message": "; ".join(problems), "position": None})
    try:
        return Outcome(value=evaluate(expression, context, env, step_path="expr"))
    except ExpressionError as exc:
        return Outcome(error={"code": exc.code, "message": exc.reason, "position": exc.position})


def build_context(payload: dict[str, Any], variables: dict[str, Any], *, tenant: str) -> dict[str, Any]:
    """The context a run of a one-step workflow would evaluate against (see the module docstring)."""
    meta = {"run_id": "expr", "workflow_id": "expr", "workflow_version": 1, "tenant": tenant, "attempt": 1}
    return {"payload": payload, "vars": variables, "meta": meta}


def clock_env(now: str | None) -> EvalEnv:
    """An :class:`EvalEnv` whose clock is fixed at ``now`` (ISO-8601) or at the current millisecond.

    Raises ``ValueError`` naming ``--now`` when the text is not an ISO-8601 date-time.
    """
    from engine.expressions import EvalEnv

    if now is None:
        moment = _current_millisecond()
    else:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError:
            raise ValueError(f"--now {now!r} is not an ISO-8601 date-time such as 2024-05-01T12:00:00Z") from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return EvalEnv(now=lambda: moment)


def run_case_lines(lines: Iterable[str], *, tenant: str, env: EvalEnv) -> Iterator[tuple[dict[str, Any], bool]]:
    """Evaluate each non-blank JSON line; yield ``({"id", "value"} | {"id", "error"}, line_was_usable)``."""
    from engine.services.payloads import PayloadRejected, parse_json_text

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        case_id: Any = None
        try:
            case = parse_json_text(line, what=f"case line {number}")
            if not isinstance(case, dict):
                raise ValueError(f"case line {number} must be a JSON object, got {type(case).__name__}")
            case_id = case.get("id")
            expression = case.get("expr")
            if not isinstance(expression, str):
                raise ValueError(f"case line {number}: expr must be a string")
            context = build_context(
                _object_field(case, "payload", number), _object_field(case, "vars", number), tenant=tenant
            )
            case_env = clock_env(case["now"]) if isinstance(case.get("now"), str) else env
        except (PayloadRejected, ValueError) as exc:
            yield {"id": case_id, "error": {"code": BAD_INPUT, "message": str(exc), "position": None}}, False
            continue
        yield {"id": case_id, **evaluate_for_author(expression, context, case_env).as_json()}, True


def _run_cases(path: Path, *, tenant: str, now: str | None) -> int:
    try:
        env = clock_env(now)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if str(path) == "-":
        return _write_results(sys.stdin, tenant=tenant, env=env)
    try:
        with path.open(encoding="utf-8") as stream:
            return _write_results(stream, tenant=tenant, env=env)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 ({exc.reason})"
        raise UsageProblem(f"cannot read the --cases file {path}: {reason}") from None


def _write_results(stream: TextIO, *, tenant: str, env: EvalEnv) -> int:
    out = sys.stdout
    all_usable = True
    for record, usable in run_case_lines(stream, tenant=tenant, env=env):
        all_usable = all_usable and usable
        out.write(json_text(record, indent=None) + "\n")
    out.flush()
    return 0 if all_usable else 1


def _object_field(case: dict[str, Any], field: str, number: int) -> dict[str, Any]:
    value = case.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"case line {number}: {field} must be a JSON object, got {json_type(value)}")
    return value


@lru_cache(maxsize=1024)
def _publish_problems(expression: str) -> list[str]:
    # Cached: a cases file often repeats an expression over many documents.
    from engine.expressions import check_expression

    return check_expression(expression)


@lru_cache(maxsize=1)
def _current_millisecond() -> datetime:
    # Read once per process: every evaluation of one invocation sees one clock, as a workflow task does.
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

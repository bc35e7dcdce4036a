"""Pydantic models of workflow definitions, publish-time validation and canonical hashing.

The models, step paths and hashing are re-exported here. Import validation from
:mod:`engine.dsl.validate` directly: it pulls in jsonschema, which workflow code does not need.
"""

from engine.dsl.hashing import canonical_json, definition_hash
from engine.dsl.models import Definition, Step
from engine.dsl.paths import PathError, get_path, iter_steps, parse_assign_path, set_path, step_index

__all__ = [
    "Definition",
    "PathError",
    "Step",
    "canonical_json",
    "definition_hash",
    "get_path",
    "iter_steps",
    "parse_assign_path",
    "set_path",
    "step_index",
]

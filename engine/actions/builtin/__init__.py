"""The built-in actions (all version 1), one module per family."""

from typing import Final

from engine.actions.base import ActionSpec
from engine.actions.builtin.core import ECHO, FAIL, LOG
from engine.actions.builtin.http import HTTP_REQUEST
from engine.actions.builtin.outbox import NOTIFY_OUTBOX

BUILTIN_SPECS: Final[tuple[ActionSpec, ...]] = (ECHO, LOG, FAIL, HTTP_REQUEST, NOTIFY_OUTBOX)
"""Every built-in action, in the order ``runstudio`` lists them."""

"""A run's memo as plaintext payloads, so Temporal's own tools can read it.

The client's data converter encrypts every payload it encodes (``engine.temporal.codec``), memo values
included, which would leave ``temporal workflow describe`` and the Web UI showing ciphertext. The memo
holds only what the run's search attributes already show in plaintext (tenant, workflow id, version,
trigger), so it is encoded here, without the codec; the client passes ready ``Payload`` values through.
"""

from collections.abc import Mapping
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter


def plain_memo(memo: Mapping[str, Any]) -> dict[str, Payload]:
    """Each memo value as a JSON payload (``json/plain``), not encrypted."""
    converter = PayloadConverter.default
    return {key: converter.to_payloads([value])[0] for key, value in memo.items()}

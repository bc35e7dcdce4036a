"""Is this exception "Temporal is not there"? The SDK reports it as a transport dump; this finds the reason.

``Client.connect`` raises ``RuntimeError("Failed client connect: … tonic::transport::Error(…
ConnectError(\"tcp connect error\", …, Os { … message: \"Connection refused\" }))")``; an RPC on a client
whose server went away raises ``RPCError`` with status ``UNAVAILABLE``. Neither is shown to a user.
"""

import re

from temporalio.service import RPCError, RPCStatusCode

_CONNECT_FAILED = "Failed client connect"
_OS_MESSAGE = re.compile(r'message: "([^"]{1,120})"')
_KNOWN_CAUSES = (
    ("connection refused", "connection refused"),
    ("connection reset", "the connection was reset"),
    ("broken pipe", "the connection was reset"),
    ("dns error", "its host name does not resolve"),
    ("failed to lookup address", "its host name does not resolve"),
    ("no route to host", "no route to host"),
    ("timed out", "no answer before the timeout"),
    ("deadline", "no answer before the timeout"),
    ("tls", "the TLS handshake failed"),
    ("certificate", "the TLS handshake failed"),
)


def temporal_outage(exc: BaseException) -> str | None:
    """A short reason when ``exc`` means the Temporal frontend cannot be reached, else ``None``."""
    if isinstance(exc, RPCError):
        if exc.status != RPCStatusCode.UNAVAILABLE:
            return None
        return _reason(exc.message or str(exc))
    if isinstance(exc, RuntimeError) and str(exc).startswith(_CONNECT_FAILED):
        return _reason(str(exc))
    return None


def _reason(dump: str) -> str:
    os_message = _OS_MESSAGE.search(dump)
    if os_message:
        return os_message.group(1).lower()
    lowered = dump.lower()
    for needle, reason in _KNOWN_CAUSES:
        if needle in lowered:
            return reason
    return "the server did not answer"

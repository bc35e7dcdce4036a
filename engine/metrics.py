"""Prometheus counters the engine increments; the worker serves them (worker/observability.py).

Projections can be delivered more than once, so the counters can overcount by the rare redelivery;
they are for rates and alerts, the read-model is the record.
"""

from typing import Final

from prometheus_client import CollectorRegistry, Counter

REGISTRY: Final = CollectorRegistry(auto_describe=True)

RUNS_STARTED: Final = Counter(
    "runstudio_runs_started", "Runs whose workflow started executing on this worker.", registry=REGISTRY
)
RUNS_FINISHED: Final = Counter(
    "runstudio_runs_finished", "Runs that reached a terminal status.", ["status"], registry=REGISTRY
)
STEPS: Final = Counter("runstudio_steps", "Step attempts that ended, by status.", ["status"], registry=REGISTRY)
INGRESS_EVENTS: Final = Counter(
    "runstudio_ingress_events", "Events routed by ingress, by outcome.", ["outcome", "source"], registry=REGISTRY
)
RECONCILER_FIXES: Final = Counter(
    "runstudio_reconciler_fixes", "Runs the reconciler brought in line with Temporal.", ["status"], registry=REGISTRY
)

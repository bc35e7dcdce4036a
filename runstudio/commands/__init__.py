"""One module per command group; ``register_all`` mounts them on the root app."""

import typer


def register_all(app: typer.Typer) -> None:
    """Attach every command group to ``app``."""
    from runstudio.commands import admin, cancel, controls, events, expr, runs, services, tui, up, worker

    up.register(app)
    services.register(app)
    admin.register(app)
    worker.register(app)
    runs.register(app)
    controls.register(app)
    cancel.register(app)
    events.register(app)
    expr.register(app)
    tui.register(app)

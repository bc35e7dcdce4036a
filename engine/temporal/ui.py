"""Links into Temporal's Web UI for a run (``show``, the run screen)."""

from urllib.parse import quote

from engine.temporal import workflow_id_for_run


def run_page_url(ui_url: str | None, namespace: str, run_id: str) -> str | None:
    """The run's page in Temporal's Web UI, or ``None`` when no UI is known.

    ``{ui}/namespaces/{ns}/workflows/{workflow id}``: the UI (checked on the bundled 2.x) looks up the
    latest Temporal run of that workflow id and redirects to its timeline, so no Temporal run id is needed.
    """
    if not ui_url:
        return None
    workflow_id = quote(workflow_id_for_run(run_id), safe="")
    return f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows/{workflow_id}"

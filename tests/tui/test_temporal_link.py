"""The run screen links the run's page in Temporal's Web UI (a terminal hyperlink) and ``u`` copies it."""

import dataclasses
from collections.abc import Callable

import asyncpg
from rich.text import Text

from studio_tui.app import RunStudioApp
from studio_tui.widgets.run_summary import RunSummary
from tests.tui import seed
from tests.tui.conftest import loaded, quiet, run_screen, settle, studio_services

UI = "http://127.0.0.1:8233"


def with_ui(pool: asyncpg.Pool, url: str) -> RunStudioApp:
    services = studio_services(pool, url)
    endpoints = dataclasses.replace(services.endpoints, temporal_ui_url=UI)
    return quiet(RunStudioApp(dataclasses.replace(services, endpoints=endpoints)))


def summary(app: RunStudioApp) -> Text:
    content = run_screen(app).query_one(RunSummary).content
    assert isinstance(content, Text)
    return content


def links(text: Text) -> dict[str, str]:
    """Each linked piece of ``text`` and where it links to."""
    found = {}
    for span in text.spans:
        style = span.style
        if not isinstance(style, str) and style.link:
            found[text.plain[span.start : span.end]] = style.link
    return found


async def test_the_summary_links_the_run_in_temporals_ui_and_u_copies_it(
    seeded_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    app = with_ui(seeded_pool, migrated_database_url)
    run_id = seed.run_id("nested")
    page = f"{UI}/namespaces/default/workflows/workflow-runtime-v2%3Arun%3A{run_id}"
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_run(run_id)
        await settle(pilot, until=loaded(app, run_id))
        text = summary(app)
        assert "temporal open in Temporal's Web UI (u copies the link)" in text.plain.splitlines()
        assert links(text) == {"open in Temporal's Web UI": page}

        await pilot.press("u")
        await settle(pilot)
        assert app.clipboard == page
        assert [str(n.message) for n in app._notifications] == [f"Copied the Temporal UI link: {page}"]


async def test_without_a_known_ui_there_is_no_link_and_u_says_how_to_get_one(
    studio_app: Callable[..., RunStudioApp],
) -> None:
    app = studio_app()
    run_id = seed.run_id("nested")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_run(run_id)
        await settle(pilot, until=loaded(app, run_id))
        text = summary(app)
        assert links(text) == {}
        assert "Temporal's Web UI" not in text.plain

        await pilot.press("u")
        await settle(pilot)
        assert app.clipboard == ""
        [note] = app._notifications
        assert note.severity == "warning" and "TEMPORAL_UI_URL" in str(note.message)

"""An event that reaches a waiting run but fails its filter is projected with the reason, while the run waits."""

from typing import Any

from engine.services.context import ServiceContext
from engine.services.ingress import submit_event
from engine.services.launch import launch_run
from engine.services.runs import RunDetail, get_run_detail
from tests.helpers import publish_examples, wait_for_run, wait_until


async def test_a_non_matching_event_says_which_condition_failed_while_the_run_waits(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await launch_run(services, workflow_id="event-wait", payload={"ticketId": "T-77", "minAmount": 100})
    waiting = await wait_for_run(services, run_id, frozenset({"WAITING"}))
    assert waiting.waits[0].filters == [{"path": "amount", "op": ">", "value": 100}]

    low = await submit_event(services, "ticket.approved", {"amount": 50}, correlation_key="T-77")
    assert low.signaled_run_ids == [run_id]

    async def non_match_projected() -> RunDetail | None:
        detail = await get_run_detail(services, run_id)
        return detail if detail.waits[0].non_match else None

    seen: RunDetail = await wait_until(non_match_projected, what="the non-match on the wait")
    assert seen.status == "WAITING"
    wait = seen.waits[0]
    assert wait.status == "WAITING"
    assert wait.non_match is not None
    assert wait.non_match["event_id"] == low.event_id
    assert wait.non_match["reason"] == "amount > 100 was 50"
    assert [(e.event_id, e.delivery) for e in seen.events] == [(low.event_id, "did not match: amount > 100 was 50")]

    missing = await submit_event(services, "ticket.approved", {"by": "ana"}, correlation_key="T-77")

    async def reason_of_latest() -> Any:
        detail = await get_run_detail(services, run_id)
        latest = detail.waits[0].non_match or {}
        return latest.get("reason") if latest.get("event_id") == missing.event_id else None

    assert await wait_until(reason_of_latest, what="the second non-match") == "amount > 100 was missing"

    high = await submit_event(services, "ticket.approved", {"amount": 150, "by": "ana"}, correlation_key="T-77")
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED"
    assert done.vars["approval"] == {"amount": 150, "by": "ana"}
    closed = done.waits[0]
    assert (closed.status, closed.matched_event_id) == ("RESOLVED", high.event_id)
    # The closed wait keeps the latest non-match: why the run waited longer than the first event.
    assert closed.non_match is not None and closed.non_match["event_id"] == missing.event_id
    deliveries = {e.event_id: e.delivery for e in done.events}
    assert deliveries == {
        low.event_id: None,  # only the latest non-match is kept on the wait
        missing.event_id: "did not match: amount > 100 was missing",
        high.event_id: "matched",
    }


async def test_a_timed_out_wait_keeps_the_reason_its_last_event_failed(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await launch_run(
        services, workflow_id="event-wait", payload={"ticketId": "T-78", "minAmount": 10, "timeoutMs": 3000}
    )
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    sent = await submit_event(services, "ticket.approved", {"amount": "lots"}, correlation_key="T-78")
    done = await wait_for_run(services, run_id)
    assert done.status == "FAILED"
    assert done.error is not None and done.error["category"] == "TimeoutError"
    wait = done.waits[0]
    assert wait.status == "TIMED_OUT" and wait.matched_event_id is None
    assert wait.non_match == {"event_id": sent.event_id, "reason": 'amount > 10 was "lots"', "at": wait.non_match["at"]}

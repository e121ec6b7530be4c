"""The embedded moto's fair-queue order (jobqueue.local.fair_sqs): who is a noisy neighbour, and what comes first."""

from __future__ import annotations

from types import SimpleNamespace

from jobqueue.local.fair_sqs import NOISY_MIN_IN_FLIGHT, fair_order


def _messages(group: str | None, count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(group_id=group, body=f"{group}-{i}") for i in range(count)]


def _bodies(messages: list[SimpleNamespace]) -> list[str]:
    return [m.body for m in messages]


def test_without_a_noisy_neighbour_the_queue_order_holds() -> None:
    visible = _messages("a", 3) + _messages("b", 2)
    in_flight = _messages("a", NOISY_MIN_IN_FLIGHT - 1)
    assert fair_order(visible, in_flight, {}) == visible
    assert fair_order(visible, in_flight, {"a": 50.0, "b": 50.0, **{f"t{i}": 50.0 for i in range(9)}}) == visible


def test_a_tenant_with_30_in_flight_and_over_a_tenth_of_them_goes_last() -> None:
    visible = _messages("a", 2) + _messages(None, 1) + _messages("b", 1)
    in_flight = _messages("a", NOISY_MIN_IN_FLIGHT) + _messages("c", 200)
    assert _bodies(fair_order(visible, in_flight, {})) == ["None-0", "b-0", "a-0", "a-1"]
    # 30 of 330 in flight is under a tenth: a is quiet, however many it holds (c is noisy, with none visible).
    assert fair_order(visible, in_flight + _messages("c", 100), {}) == visible


def test_a_tenant_with_over_a_tenth_of_the_processing_time_goes_last() -> None:
    visible = _messages("a", 2) + _messages("b", 2)
    assert _bodies(fair_order(visible, [], {"a": 950.0, "b": 50.0})) == ["b-0", "b-1", "a-0", "a-1"]


def test_noisy_tenants_come_fewest_in_flight_first() -> None:
    visible = _messages("a", 1) + _messages("b", 1) + _messages("q", 1)
    in_flight = _messages("a", 40) + _messages("b", 35)
    assert _bodies(fair_order(visible, in_flight, {})) == ["q-0", "b-0", "a-0"]

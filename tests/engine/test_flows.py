"""Issue 16, point 3: flows. Parents run after all their children completed, read their return values, and are
failed (or continue) when a child dies; children live in other queues; the state is BullMQ's."""

from __future__ import annotations

from typing import Any

import pytest

from jobqueue import Queue, QueueAdmin
from jobqueue.errors import JobQueueError
from jobqueue.flow_producer import MAX_FLOW_DEPTH, MAX_FLOW_JOBS, FlowProducer
from tests.conftest import Namespace
from tests.support.delivery import runs
from tests.support.flow_jobs import STEP, read_flow_node
from tests.support.functions import LocalFunctions, messages_in

QUEUES = ["email", "lead-processing"]


def node(label: str, queue: str, *children: dict[str, Any], fail: bool = False, **opts: Any) -> dict[str, Any]:
    """A flow job of the traced processor: `fail` makes it die on its first attempt."""
    return {"name": STEP, "queueName": queue, "data": {"label": label, "fail": fail}, "opts": opts,
            "children": list(children)}


def three_levels() -> dict[str, Any]:
    """A report (email) over two sections (lead-processing, email); the first over two pages, one in each queue."""
    return node("report", "email",
                node("section-a", "lead-processing", node("page-1", "email"), node("page-2", "lead-processing")),
                node("section-b", "email"))


_functions: dict[int, LocalFunctions] = {}


def drain(ns: Namespace) -> None:
    """Run both queues' workers until SQS holds no message of either (the workers built once per test)."""
    if id(ns) not in _functions:
        _functions.clear()
        _functions[id(ns)] = LocalFunctions(ns, QUEUES)
    _functions[id(ns)].pump(lambda: sum(messages_in(ns, q) for q in QUEUES) == 0, timeout=30)


def job(ns: Namespace, queue: str, job_id: str) -> Any:
    found = Queue(queue).get_job(job_id)
    assert found is not None
    return found


def test_a_three_level_flow_across_two_queues_completes_in_order_with_values_passed_up(ns: Namespace) -> None:
    flow = FlowProducer().add(three_levels())
    section_a, section_b = flow.children
    page_1, page_2 = section_a.children
    assert job(ns, "email", flow.id).state == "waiting-children"
    assert job(ns, "lead-processing", section_a.id).state == "waiting-children"
    drain(ns)
    report = job(ns, "email", flow.id)
    assert report.state == "completed"
    leads, email = ns.settings.queue_keys("lead-processing"), ns.settings.queue_keys("email")
    a_key, b_key = leads.job(section_a.id), email.job(section_b.id)
    assert set(report.returnvalue["children"]) == {a_key, b_key}
    section = report.returnvalue["children"][a_key]
    assert section["label"] == "section-a"
    assert {v["label"] for v in section["children"].values()} == {"page-1", "page-2"}
    for queue, added in (("email", flow), ("lead-processing", section_a), ("email", section_b),
                         ("email", page_1), ("lead-processing", page_2)):
        assert runs(added.id) == [1], f"{queue} job {added.id} ran exactly once"
    started = {a.id: job(ns, q, a.id).processedOn for q, a in (("email", flow), ("lead-processing", section_a),
                                                                 ("email", page_1), ("lead-processing", page_2))}
    finished = {a.id: job(ns, q, a.id).finishedOn for q, a in (("lead-processing", section_a), ("email", page_1),
                                                                  ("lead-processing", page_2), ("email", section_b))}
    assert started[section_a.id] >= max(finished[page_1.id], finished[page_2.id])
    assert started[flow.id] >= max(finished[section_a.id], finished[section_b.id])
    assert report.children["processed"][a_key]["label"] == "section-a"
    assert job(ns, "email", page_1.id).parent == {"id": section_a.id, "queueKey": leads.queue_key,
                                                  "fpof": True}


def test_npm_bullmq_get_flow_reads_the_tree(ns: Namespace) -> None:
    flow = FlowProducer().add(three_levels())
    section_a, section_b = flow.children
    waiting = read_flow_node(ns.settings, "email", flow.id)
    assert waiting["state"] == "waiting-children"
    assert sorted(c["id"] for c in waiting["children"]) == sorted([section_a.id, section_b.id])
    assert len(waiting["dependencies"]["unprocessed"]) == 2
    drain(ns)
    done = read_flow_node(ns.settings, "email", flow.id)
    assert done["state"] == "completed"
    by_id = {c["id"]: c for c in done["children"]}
    a = by_id[section_a.id]
    assert (a["queue"], a["state"], a["parentKey"]) == (ns.settings.queue_keys("lead-processing").name, "completed",
                                                         ns.settings.queue_keys("email").job(flow.id))
    assert sorted(c["returnvalue"]["label"] for c in a["children"]) == ["page-1", "page-2"]
    assert done["dependencies"]["unprocessed"] == []
    assert done["dependencies"]["processed"][ns.settings.queue_keys("lead-processing").job(section_a.id)]["label"] \
        == "section-a"


def test_a_dead_child_fails_its_parent_and_grandparent_without_running_them(ns: Namespace) -> None:
    flow = FlowProducer().add(node("report", "email",
                                   node("section", "lead-processing", node("page", "email", fail=True)),
                                   node("other", "email")))
    drain(ns)
    section, other = flow.children
    page = section.children[0]
    assert job(ns, "email", page.id).state == "failed"
    assert job(ns, "lead-processing", section.id).state == "failed"
    assert job(ns, "lead-processing", section.id).failedReason == \
        f"child {ns.settings.queue_keys('email').job(page.id)} failed"
    assert job(ns, "email", flow.id).state == "failed"
    assert runs(section.id) == runs(flow.id) == [], "a failed parent never runs"
    assert runs(page.id) == [1] and runs(other.id) == [1]
    assert job(ns, "lead-processing", section.id).children["failed"] == [ns.settings.queue_keys("email").job(page.id)]


@pytest.mark.parametrize("option", ["continueParentOnFailure", "ignoreDependencyOnFailure"])
def test_a_dead_child_lets_its_parent_run_per_the_option(ns: Namespace, option: str) -> None:
    flow = FlowProducer().add(node("report", "email", node("bad", "lead-processing", fail=True, **{option: True}),
                                   node("good", "email")))
    drain(ns)
    bad, good = flow.children
    report = job(ns, "email", flow.id)
    assert report.state == "completed" and runs(flow.id) == [1]
    bad_key = ns.settings.queue_keys("lead-processing").job(bad.id)
    assert report.returnvalue["ignored"] == {bad_key: "bad cannot be done"}
    if option == "ignoreDependencyOnFailure":  # it waits for every other child; continue may start before them
        assert list(report.returnvalue["children"]) == [ns.settings.queue_keys("email").job(good.id)]
    assert runs(good.id) == [1]


def test_bad_flows_are_refused_naming_the_problem_with_nothing_written(ns: Namespace) -> None:
    deep: dict[str, Any] = node("leaf", "email")
    for level in range(MAX_FLOW_DEPTH):
        deep = node(f"level-{level}", "email", deep)
    cases = [
        (deep, "deeper than"),
        (node("root", "email", *[node(f"c{i}", "email") for i in range(MAX_FLOW_JOBS)]), "more than"),
        (node("root", "nowhere"), "nowhere"),
        (node("root", "email", node("child", "email", failParentOnFailure=True, ignoreDependencyOnFailure=True)),
         "at most one of"),
        ({"name": STEP, "queueName": "email", "children": [{"queueName": "email"}]}, "children.0.name"),
        (node("root", "email", node("child", "email", attempts=0)), "attempts"),
        (node("root", "email", parent={"id": "x", "queue": "bull:email"}), "set by the flow's shape"),
        (node("root", "webhooks", node("child", "email")), "add 'webhooks' to 'email''s sends_to"),
    ]
    for flow, problem in cases:
        with pytest.raises(JobQueueError, match=problem):
            FlowProducer().add(flow)
    assert [k for k in ns.redis.scan_iter(match=f"{ns.settings.prefix}:*")] == []


def test_a_parent_leaves_no_flow_keys_behind_when_retention_or_an_operator_removes_it(ns: Namespace) -> None:
    kept_none = FlowProducer().add(node("report", "email", node("page", "lead-processing"), removeOnComplete=True))
    removed = FlowProducer().add(node("report", "email", node("page", "lead-processing")))
    assert QueueAdmin("email").remove(removed.id)
    assert Queue("email").get_job_counts()["waiting-children"] == 1
    drain(ns)
    assert Queue("email").get_job(kept_none.id) is None and runs(kept_none.id) == [1]
    assert runs(removed.id) == [] and runs(removed.children[0].id) == [1], "its child ran; the parent is gone"
    left = [k for k in ns.redis.scan_iter(match=f"{ns.settings.queue_keys('email').base}*")
            if kept_none.id in k or removed.id in k]
    assert left == [], "no `:dependencies` or `:processed` of a parent that is gone"
    assert Queue("email").get_job_counts()["waiting-children"] == 0

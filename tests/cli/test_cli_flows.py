"""Issue 16, point 3: flows through the CLI, directly and through the HTTP API (`POST /flows`), and the job
status of a parent and of a child."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobqueue import Queue
from tests.cli.test_cli import cli, run
from tests.conftest import Namespace
from tests.engine.test_flows import drain, node

__all__ = ["cli"]


@pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)
def test_add_flow_then_status_shows_parent_and_children(ns: Namespace, cli: list[str], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(node("report", "email", node("page", "lead-processing"))))
    code, out, err = run(capsys, *cli, "add-flow", str(flow))
    assert code == 0, err
    (root_queue, root_id), (child_queue, child_id) = (line.split() for line in out.splitlines())
    assert (root_queue, child_queue) == ("email", "lead-processing")
    assert Queue("email").get_state(root_id) == "waiting-children"
    drain(ns)
    code, out, _ = run(capsys, *cli, "--json", "status", "email", root_id)
    status = json.loads(out)
    child_key = ns.settings.queue_keys("lead-processing").job(child_id)
    assert status["state"] == "completed" and status["parent"] is None
    assert status["children"]["processed"][child_key]["label"] == "page"
    assert status["returnvalue"]["children"][child_key]["label"] == "page"
    code, out, _ = run(capsys, *cli, "--json", "status", "lead-processing", child_id)
    assert json.loads(out)["parent"] == {"id": root_id, "queueKey": ns.settings.queue_keys("email").queue_key,
                                         "fpof": True}
    code, out, _ = run(capsys, *cli, "status", "email", root_id)
    assert "children:      1 completed" in out
    code, out, _ = run(capsys, *cli, "status", "lead-processing", child_id)
    assert f"parent:        {ns.settings.queue_keys('email').job(root_id)}" in out


@pytest.mark.parametrize("case", [
    (node("report", "email", node("page", "email", removeDependencyOnFailure=True, continueParentOnFailure=True)),
     "at most one of"),
    ({"name": "x", "queueName": "email", "children": [{"name": "y"}]}, "queueName"),
    (node("report", "email", node("page", "nowhere")), "nowhere"),
])
def test_a_bad_flow_is_refused_naming_the_problem(ns: Namespace, cli: list[str], tmp_path: Path,
                                                 case: tuple[object, str], capsys: pytest.CaptureFixture[str]) -> None:
    flow, problem = case
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow))
    code, _, err = run(capsys, *cli, "add-flow", str(path))
    assert code != 0 and problem in err
    assert list(ns.redis.scan_iter(match=f"{ns.settings.prefix}:*")) == []

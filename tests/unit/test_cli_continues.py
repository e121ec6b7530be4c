"""The CLI over the API: a redrive, a retry or a promote that the API stopped at its invocation's deadline is
continued by further requests until done (`remaining` in the answer says how much is left)."""

from __future__ import annotations

from typing import Any

import pytest

from jobqueue.cli.backends import ApiBackend, CommandError


class ScriptedApi(ApiBackend):
    """An ApiBackend whose requests get the scripted answers, in order, and are recorded."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        super().__init__("http://api.invalid", "token")
        self.answers = answers
        self.sent: list[Any] = []

    def call(self, method: str, path: str, body: Any = None, query: Any = None, answers: Any = ()) -> Any:
        self.sent.append(body)
        return self.answers.pop(0)


def test_a_redrive_the_api_stopped_early_is_continued_with_the_records_it_did_not_reach() -> None:
    api = ScriptedApi([{"redriven": ["1", "2"], "remaining": 3}, {"redriven": ["3", "4", "5"], "remaining": 0}])
    progress: list[tuple[int, int]] = []
    answer = api.redrive("q", ["q-1", "q-2", "q-3", "q-4", "q-5"], lambda done, total: progress.append((done, total)))
    assert answer == {"queue": "q", "redriven": ["1", "2", "3", "4", "5"], "remaining": 0}
    assert api.sent == [{"recordIds": ["q-1", "q-2", "q-3", "q-4", "q-5"]}, {"recordIds": ["q-3", "q-4", "q-5"]}]
    assert progress == [(5, 5)]


def test_a_redrive_that_makes_no_progress_stops_with_an_error() -> None:
    api = ScriptedApi([{"redriven": [], "remaining": 2}])
    with pytest.raises(CommandError, match="redrove none of 2 records"):
        api.redrive("q", ["q-1", "q-2"], lambda done, total: None)


def test_a_retry_the_api_stopped_early_is_continued_up_to_the_limit() -> None:
    api = ScriptedApi([{"queue": "q", "retried": ["1", "2"], "remaining": 5},
                       {"queue": "q", "retried": ["3"], "remaining": 4}])
    assert api.retry_failed("q", 3) == {"queue": "q", "retried": ["1", "2", "3"], "remaining": 4}
    assert api.sent == [{"limit": 3}, {"limit": 1}]


def test_a_promote_the_api_stopped_early_is_continued_up_to_the_limit() -> None:
    api = ScriptedApi([{"queue": "q", "promoted": ["1"], "remaining": 2},
                       {"queue": "q", "promoted": ["2", "3"], "remaining": 0}])
    assert api.promote("q", None, 10) == {"queue": "q", "promoted": ["1", "2", "3"], "remaining": 0}
    assert api.sent == [{"limit": 10}, {"limit": 9}]

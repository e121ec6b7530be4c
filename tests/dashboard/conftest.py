"""The browser tests drive the same `jobqueue dev` the README's test does: its `runtime` fixture (one per module,
started as `make run` starts it, on free ports with a state folder of its own)."""

from tests.local.test_readme import runtime  # noqa: F401

"""Benchmark commands (`python -m bench.<name>`): reports of measured budgets, never tests."""

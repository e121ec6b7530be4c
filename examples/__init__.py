"""Runnable examples of users' own processor modules (not part of the deployed layer)."""

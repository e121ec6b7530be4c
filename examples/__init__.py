"""Example processor modules of users' own (not part of the deployed layer): `processors` for seed 003's
generic queues, `walkthrough` for the README's `make run` walkthrough."""

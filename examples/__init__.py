"""Example processor modules of users' own (not part of the deployed layer): `processors` for seed 003's
generic queues, which `make run` loads beside `workloads.processors.ALL`."""

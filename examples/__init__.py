"""Example processor modules, loaded by `make run` through JOBQUEUE_PROCESSORS."""

"""Benchmarks of the recovery path (issue #6): run by `make bench` through bench/run.py."""

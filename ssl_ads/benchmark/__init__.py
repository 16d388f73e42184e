"""Benchmark suites: load and validate a suite, run its cases, aggregate over seeds, check expectations."""

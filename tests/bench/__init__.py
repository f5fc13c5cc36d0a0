"""Benchmarks: scripts that print one markdown table each, not collected by pytest.

Run one from the repo root as ``python -m tests.bench <name> [its options]``; with no name
the list is printed. Each module of this package whose ``main()`` takes no argument (it
parses ``sys.argv`` itself) is a benchmark.
"""

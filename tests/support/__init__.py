"""Helpers shared by the tests and benchmarks, one idea per module.

``seaweed`` (a real S3 server on loopback), ``waiting`` (wait for a condition with a
deadline), ``sources`` (the real intake behind the capture-source tests, a test clock,
tmpfs mounts), ``architecture`` (the layout's rules, checked with ``ast``) and ``data``
(the shipped data files, read at the edge as the workers read them).
"""

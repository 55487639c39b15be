"""The performance benchmark: a synthetic portfolio at scale and the harness that measures the
nightly scan and the Structure read on it (see docs/performance.md).

Not an app and not imported by the product: `python -m bench` (or `make bench`).
"""

"""Speed and memory of lendsim, against a plain per-agent Mesa reference (``python -m benchmarks``)."""

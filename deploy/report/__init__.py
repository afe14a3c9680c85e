"""The report: per-layer statistics, memory figures, report.json and report.md."""

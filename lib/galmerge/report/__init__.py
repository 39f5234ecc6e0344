"""Output for readers: every figure, every caption, and REPORT.md."""

"""Scheduled work: pulling contracts' metrics, evaluating them and queueing alerts."""

"""Prometheus metrics for one app (``metrics``) and their start/stop hooks (``runtime``)."""

"""Prometheus metrics, Bisheng business-event rows and the audit log."""

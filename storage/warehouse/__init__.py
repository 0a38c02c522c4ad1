"""Warehouse connectors: read-only query running and push-down aggregation."""

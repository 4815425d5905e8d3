"""Latency: measuring blocks and networks, per-device lookup tables, building and validating them."""

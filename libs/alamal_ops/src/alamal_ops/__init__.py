"""Operator tooling for the Al Amal platform (no personal data is ever shown)."""

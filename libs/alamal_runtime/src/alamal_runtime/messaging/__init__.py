"""Kafka plumbing: topics, broker factory, outbox relay, inbox-backed consumers, dead letters."""

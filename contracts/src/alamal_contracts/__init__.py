"""Al Amal shared event contracts: data only.

Modules: `topics` (topic names), `codes` (domain codes), `events` (thin event models and their
registries), `envelope` (CloudEvents over Kafka), `schemas` (JSON Schema export and check),
`compat` (schema compatibility), `privacy` and `introspect` (guards that keep events thin).
"""

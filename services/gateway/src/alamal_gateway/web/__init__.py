"""The staff web UI: server-rendered pages, one module per area."""

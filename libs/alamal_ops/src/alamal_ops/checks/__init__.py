"""Checks of the production shape that run without a Docker engine (compose file, Dockerfiles)."""

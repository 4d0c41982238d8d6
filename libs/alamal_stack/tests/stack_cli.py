"""Runs the real CLI (`alamal_stack.cli.main`) with the fake service as the only registry entry."""

from alamal_stack.cli import main
from alamal_stack.services import ServiceSpec

FAKE = ServiceSpec("fake", "fake_service", "FAKE_", 8199)

if __name__ == "__main__":
    raise SystemExit(main(registry=[FAKE]))

"""Run the intake service: `python -m alamal_intake` (configured by INTAKE_* variables)."""

from alamal_intake.app import create_app
from alamal_intake.settings import IntakeSettings
from alamal_runtime.main import serve

if __name__ == "__main__":
    serve(IntakeSettings, create_app)

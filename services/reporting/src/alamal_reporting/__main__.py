"""Run the reporting service: `python -m alamal_reporting` (configured by REPORTING_* variables)."""

from alamal_reporting.app import create_app
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.main import serve

if __name__ == "__main__":
    serve(ReportingSettings, create_app)

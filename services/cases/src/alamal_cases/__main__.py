"""Run the cases service: `python -m alamal_cases` (configured by CASES_* variables)."""

from alamal_cases.app import create_app
from alamal_cases.settings import CasesSettings
from alamal_runtime.main import serve

if __name__ == "__main__":
    serve(CasesSettings, create_app)

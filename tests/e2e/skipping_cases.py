"""A cases service that confirms erasures WITHOUT erasing anything.

Run only by `test_erasure.py` (`python -m skipping_cases` with this folder on PYTHONPATH) to
show that the planted-values scan catches a service that skips its part while claiming it
was done. Never part of the platform.
"""

from __future__ import annotations

from typing import Any

from alamal_cases import privacy
from alamal_cases.app import create_app
from alamal_cases.handlers import SOURCE
from alamal_cases.settings import CasesSettings
from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import CasesFamilyErased
from alamal_runtime.events import emit
from alamal_runtime.main import serve
from alamal_runtime.store import UnitOfWork


async def _confirm_only(self: privacy.Eraser, event: CloudEvent[Any], uow: UnitOfWork) -> None:
    requested = event.data
    emit(
        uow,
        CasesFamilyErased(family_id=requested.family_id, request_id=requested.request_id),
        source=SOURCE,
    )


privacy.Eraser.__call__ = _confirm_only  # type: ignore[method-assign]

if __name__ == "__main__":
    serve(CasesSettings, create_app)

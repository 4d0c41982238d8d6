"""Cases' repository for the strengths-based plan: the strengths list and the goals."""

from __future__ import annotations

from datetime import datetime

from alamal_cases.domain.plan import Goal, ProgressNote, Strengths
from alamal_contracts.codes import GoalStatus, TopicCode
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

STRENGTHS = "plan_strengths"
GOALS = "plan_goals"
MAX_GOALS_READ = 1000


def goal_to_doc(goal: Goal) -> Doc:
    """Serialise a goal (description and notes stay in cases' store)."""
    return {
        "case_id": goal.case_id,
        "family_id": goal.family_id,
        "area": goal.area.value,
        "description": goal.description,
        "status": goal.status.value,
        "revision": goal.revision,
        "created_by": goal.created_by,
        "created_at": goal.created_at.isoformat(),
        "updated_at": goal.updated_at.isoformat(),
        "progress_notes": [
            {"text": n.text, "by": n.by, "at": n.at.isoformat()} for n in goal.progress_notes
        ],
    }


def goal_from_record(record: Record) -> Goal:
    """Rebuild a goal from its document."""
    d = record.data
    return Goal(
        id=record.id,
        case_id=d["case_id"],
        family_id=d["family_id"],
        area=TopicCode(d["area"]),
        description=d["description"],
        status=GoalStatus(d["status"]),
        revision=d["revision"],
        created_by=d["created_by"],
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        progress_notes=tuple(
            ProgressNote(n["text"], n["by"], datetime.fromisoformat(n["at"]))
            for n in d["progress_notes"]
        ),
    )


async def goals_of_case(store: Store, case_id: str) -> list[Goal]:
    """A case's goals, oldest first."""
    records = await store.find(
        GOALS, {"case_id": case_id}, order_by="created_at", limit=MAX_GOALS_READ
    )
    return [goal_from_record(r) for r in records]


async def count_goals(store: Store, case_id: str) -> int:
    """How many goals the case has (read before adding one)."""
    return len(await store.find(GOALS, {"case_id": case_id}, limit=MAX_GOALS_READ))


async def add_goal(uow: UnitOfWork, goal: Goal) -> None:
    """Store a new goal."""
    await uow.insert(GOALS, goal.id, goal_to_doc(goal))


async def get_goal_in(uow: UnitOfWork, goal_id: str) -> tuple[Goal, int] | None:
    """One goal and its version, read inside a unit of work."""
    record = await uow.get(GOALS, goal_id)
    return None if record is None else (goal_from_record(record), record.version)


async def replace_goal(uow: UnitOfWork, goal: Goal, *, version: int) -> None:
    """Store a goal's new state; StaleWriteError if it changed since it was read."""
    await uow.replace(GOALS, goal.id, goal_to_doc(goal), expected_version=version)


async def get_strengths(store: Store, case_id: str) -> Strengths | None:
    """The case's strengths list, or None if none was written yet."""
    record = await store.get(STRENGTHS, case_id)
    if record is None:
        return None
    d = record.data
    return Strengths(
        case_id=case_id,
        items=tuple(d["items"]),
        updated_by=d["updated_by"],
        updated_at=datetime.fromisoformat(d["updated_at"]),
    )


async def put_strengths(uow: UnitOfWork, strengths: Strengths) -> None:
    """Write the case's strengths list (replacing the previous one)."""
    data = {
        "items": list(strengths.items),
        "updated_by": strengths.updated_by,
        "updated_at": strengths.updated_at.isoformat(),
    }
    record = await uow.get(STRENGTHS, strengths.case_id)
    if record is None:
        await uow.insert(STRENGTHS, strengths.case_id, data)
    else:
        await uow.replace(STRENGTHS, strengths.case_id, data, expected_version=record.version)


async def prepare(store: Store) -> None:
    """Indexes the plan queries need."""
    await store.ensure_index(GOALS, ["case_id", "created_at"])

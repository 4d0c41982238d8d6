"""Cases' HTTP API for the strengths-based plan: strengths, goals, status and progress notes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alamal_cases import access, plan_store, store
from alamal_cases.audit import AuditedWrite, CasesAction, readable_case
from alamal_cases.deps import StoreDep
from alamal_cases.domain import Case, CaseNotOpenError
from alamal_cases.domain.plan import (
    MAX_NOTE_CHARS,
    MAX_PLAN_STRENGTHS,
    MAX_TEXT_CHARS,
    GoalTransitionError,
    PlanRejectedError,
    add_goal,
    set_strengths,
    update_goal,
)
from alamal_cases.handlers import SOURCE
from alamal_contracts.codes import GoalStatus, TopicCode
from alamal_runtime.audit import DEFAULT_REASON, AccessReason
from alamal_runtime.auth import Principal
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, DomainView, HTTPProblem, field_error
from alamal_runtime.store import StaleWriteError, UnitOfWork

router = APIRouter(tags=["plan"])
log = structlog.get_logger(__name__)

NOT_FOUND = "case not found"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class StrengthsIn(BaseModel):
    """The whole list of the family's strengths."""

    model_config = ConfigDict(extra="forbid")

    items: list[Annotated[Text, StringConstraints(max_length=MAX_TEXT_CHARS)]] = Field(
        max_length=MAX_PLAN_STRENGTHS
    )


class GoalIn(BaseModel):
    """A new goal, set with the family."""

    model_config = ConfigDict(extra="forbid")

    area: TopicCode
    description: Annotated[Text, StringConstraints(max_length=MAX_TEXT_CHARS)]


class GoalChangeIn(BaseModel):
    """A goal's new status, a progress note, or both."""

    model_config = ConfigDict(extra="forbid")

    status: GoalStatus | None = None
    note: Annotated[Text, StringConstraints(max_length=MAX_NOTE_CHARS)] | None = None


class StrengthsOut(DomainView):
    """The family's strengths as written down with it."""

    items: list[str]
    updated_by: str
    updated_at: datetime


class ProgressNoteOut(DomainView):
    """A dated remark on a goal."""

    text: str
    by: str
    at: datetime


class GoalOut(DomainView):
    """A goal of the plan, with its progress notes."""

    id: str
    case_id: str
    area: TopicCode
    description: str
    status: GoalStatus
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    progress_notes: list[ProgressNoteOut]


class PlanOut(BaseModel):
    """The case's plan: strengths (null until written) and goals, oldest first."""

    case_id: str
    strengths: StrengthsOut | None
    goals: list[GoalOut]


async def _case_for(
    uow: UnitOfWork, case_id: uuid.UUID, principal: Principal, write: AuditedWrite
) -> Case:
    case = await store.get_case_in(uow, str(case_id))
    write.about(case)
    if case is None or not access.may_edit_plan(principal, case):
        raise HTTPProblem(404, NOT_FOUND)
    return case


@router.get("/cases/{case_id}/plan", response_model=PlanOut)
async def read_plan(
    case_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> PlanOut:
    """The plan of a case in scope (audited); 404 otherwise."""
    case = await readable_case(store_, case_id, principal, CasesAction.READ_PLAN, reason)
    strengths = await plan_store.get_strengths(store_, case.id)
    return PlanOut(
        case_id=case.id,
        strengths=None if strengths is None else StrengthsOut.of(strengths),
        goals=[GoalOut.of(g) for g in await plan_store.goals_of_case(store_, case.id)],
    )


@router.put("/cases/{case_id}/plan/strengths", response_model=StrengthsOut)
async def write_strengths(
    case_id: uuid.UUID,
    body: StrengthsIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> StrengthsOut:
    """Replace the family's strengths list; 409 on a closed case. Audited, refusals too."""
    write = AuditedWrite(store_, principal, CasesAction.WRITE_STRENGTHS, reason)
    async with write.refusals():
        try:
            async with store_.transaction() as uow:
                case = await _case_for(uow, case_id, principal, write)
                strengths = set_strengths(
                    case, tuple(body.items), by=principal.user_id, now=datetime.now(UTC)
                )
                await plan_store.put_strengths(uow, strengths)
                await write.done(uow)
        except CaseNotOpenError as exc:
            raise HTTPProblem(409, str(exc)) from None
        except PlanRejectedError as exc:
            raise field_error(exc.field, exc.message) from None
        except StaleWriteError:
            raise HTTPProblem(409, "the plan changed meanwhile; reload and retry") from None
    return StrengthsOut.of(strengths)


@router.post("/cases/{case_id}/plan/goals", status_code=201, response_model=GoalOut)
async def create_goal(
    case_id: uuid.UUID,
    body: GoalIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    response: Response,
    reason: AccessReason = DEFAULT_REASON,
) -> GoalOut:
    """Set a new goal (emits `cases.goal-updated.v1`); 409 on a closed case. Audited."""
    existing = await plan_store.count_goals(store_, str(case_id))
    write = AuditedWrite(store_, principal, CasesAction.SET_GOAL, reason)
    async with write.refusals():
        try:
            async with store_.transaction() as uow:
                case = await _case_for(uow, case_id, principal, write)
                goal, event = add_goal(
                    case,
                    goal_id=str(uuid.uuid4()),
                    area=body.area,
                    description=body.description,
                    existing_goals=existing,
                    by=principal.user_id,
                    now=datetime.now(UTC),
                )
                await plan_store.add_goal(uow, goal)
                emit(uow, event, source=SOURCE)
                await write.done(uow)
        except CaseNotOpenError as exc:
            raise HTTPProblem(409, str(exc)) from None
        except PlanRejectedError as exc:
            raise field_error(exc.field, exc.message) from None
    log.info("goal_set", case_id=goal.case_id, goal_id=goal.id)
    response.headers["Location"] = f"/cases/{goal.case_id}/plan/goals/{goal.id}"
    return GoalOut.of(goal)


@router.patch("/cases/{case_id}/plan/goals/{goal_id}", response_model=GoalOut)
async def change_goal(
    case_id: uuid.UUID,
    goal_id: uuid.UUID,
    body: GoalChangeIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> GoalOut:
    """Change a goal's status and/or add a progress note (emits `cases.goal-updated.v1`).
    Audited, refusals too."""
    write = AuditedWrite(store_, principal, CasesAction.CHANGE_GOAL, reason)
    async with write.refusals():
        try:
            async with store_.transaction() as uow:
                case = await _case_for(uow, case_id, principal, write)
                found = await plan_store.get_goal_in(uow, str(goal_id))
                if found is None or found[0].case_id != case.id:
                    raise HTTPProblem(404, "goal not found")
                goal, version = found
                changed, event = update_goal(
                    case,
                    goal,
                    status=body.status,
                    note=body.note,
                    by=principal.user_id,
                    now=datetime.now(UTC),
                )
                await plan_store.replace_goal(uow, changed, version=version)
                emit(uow, event, source=SOURCE)
                await write.done(uow)
        except (CaseNotOpenError, GoalTransitionError) as exc:
            raise HTTPProblem(409, str(exc)) from None
        except PlanRejectedError as exc:
            raise field_error(exc.field, exc.message) from None
        except StaleWriteError:
            raise HTTPProblem(409, "the goal changed meanwhile; reload and retry") from None
    log.info("goal_changed", goal_id=changed.id, status=changed.status.value)
    return GoalOut.of(changed)

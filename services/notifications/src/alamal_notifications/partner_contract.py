"""The partner API's own OpenAPI 3.1 document, `/partner/v1/openapi.json`, with its `webhooks`.

The paths are the partner API's routes as the service serves them (error answers included);
the `webhooks` section describes each payload a partner's endpoint receives and the Standard
Webhooks signature headers on it. Tests check every webhook body and partner answer against
this document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from alamal_runtime.openapi import api_routes

PREFIX = "/partner/v1"
TITLE = "Al Amal partner API"
VERSION = "1.0.0"
DESCRIPTION = (
    "For partner institutions: read the referrals addressed to you and report their status "
    "with your own credential (HTTP Basic). Details are shown only as the family's consent "
    "for your registered kind allows (or, for Veilig Thuis, under a Meldcode override). "
    "Webhooks (see `webhooks`) follow the Standard Webhooks specification: verify the "
    "signature on the raw body before anything else. Partner guide: "
    "services/notifications/README.md."
)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReferralWebhookData(_Payload):
    """Ids, status and where to read the rest; nothing the consent gate guards."""

    referral_id: str = Field(
        description="Id of the referral.", json_schema_extra={"format": "uuid"}
    )
    partner_id: str = Field(
        description="Your organisation's id.", json_schema_extra={"format": "uuid"}
    )
    status: str = Field(description="The referral's status now.")
    url: str = Field(description="Where to read the referral through the partner API.")


class EscalatedData(ReferralWebhookData):
    """A referral sent to you."""

    status: Literal["sent"] = Field(description="Always `sent`.")


class UpdatedData(ReferralWebhookData):
    """A referral's status changed (normally your own report, confirmed)."""

    status: Literal["accepted", "declined", "closed"] = Field(description="The new status.")


class ReferralEscalatedWebhook(_Payload):
    """`referral.escalated`: a referral to your organisation was approved and sent."""

    type: Literal["referral.escalated"]
    timestamp: datetime = Field(description="When the message was made (UTC, `Z`).")
    data: EscalatedData


class ReferralUpdatedWebhook(_Payload):
    """`referral.updated`: the referral's status changed."""

    type: Literal["referral.updated"]
    timestamp: datetime = Field(description="When the message was made (UTC, `Z`).")
    data: UpdatedData


class ErasureData(_Payload):
    """Which referral to erase, and where the partner API now answers 410 Gone for it."""

    referral_id: str = Field(
        description="Id of the referral.", json_schema_extra={"format": "uuid"}
    )
    partner_id: str = Field(
        description="Your organisation's id.", json_schema_extra={"format": "uuid"}
    )
    url: str = Field(description="The referral's partner-API address (it answers 410 Gone).")


class ReferralErasureRequestedWebhook(_Payload):
    """`referral.erasure-requested`: the family had its data erased (AVG art. 17); erase what
    you hold about this referral. Sent to every enabled endpoint of yours (AVG art. 19)."""

    type: Literal["referral.erasure-requested"]
    timestamp: datetime = Field(description="When the message was made (UTC, `Z`).")
    data: ErasureData


class TestData(_Payload):
    """Which endpoint is being verified."""

    endpoint_id: str = Field(
        description="Id of your endpoint.", json_schema_extra={"format": "uuid"}
    )
    partner_id: str = Field(
        description="Your organisation's id.", json_schema_extra={"format": "uuid"}
    )


class WebhookTest(_Payload):
    """`webhook.test`: sent when Al Amal's admin verifies your endpoint; answer 2xx."""

    type: Literal["webhook.test"]
    timestamp: datetime = Field(description="When the message was made (UTC, `Z`).")
    data: TestData


WebhookId = Annotated[
    str,
    Header(
        alias="webhook-id",
        description="The message id (`msg_...`), the same on every retry: de-duplicate on it.",
    ),
]
WebhookTimestamp = Annotated[
    str,
    Header(
        alias="webhook-timestamp",
        description="Unix seconds when this attempt was signed; refuse if too far from now.",
        pattern=r"^[0-9]+$",
    ),
]
WebhookSignature = Annotated[
    str,
    Header(
        alias="webhook-signature",
        description=(
            "`v1,<base64 HMAC-SHA256 of '<webhook-id>.<webhook-timestamp>.<body>'>` with your "
            "endpoint secret; during a secret rotation two, separated by a space."
        ),
    ),
]
webhooks = APIRouter()
ANSWER = {"description": "Any 2xx within the timeout: received. Anything else is retried."}


@webhooks.post("referral.escalated", status_code=204, responses={204: ANSWER})
def referral_escalated(
    body: ReferralEscalatedWebhook,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """A referral was sent to your organisation: read it at `data.url`."""


@webhooks.post("referral.updated", status_code=204, responses={204: ANSWER})
def referral_updated(
    body: ReferralUpdatedWebhook,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """A referral's status changed."""


@webhooks.post("referral.erasure-requested", status_code=204, responses={204: ANSWER})
def referral_erasure_requested(
    body: ReferralErasureRequestedWebhook,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """The family's data was erased at its request: erase what you hold about the referral.
    Sent whatever your endpoint subscribed to; the partner API answers 410 Gone for it."""


@webhooks.post("webhook.test", status_code=204, responses={204: ANSWER})
def webhook_test(
    body: WebhookTest,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """Your endpoint is being verified: only a 2xx (after checking the signature) enables it."""


WEBHOOK_MODELS: dict[str, type[BaseModel]] = {
    "referral.escalated": ReferralEscalatedWebhook,
    "referral.updated": ReferralUpdatedWebhook,
    "referral.erasure-requested": ReferralErasureRequestedWebhook,
    "webhook.test": WebhookTest,
}


def partner_openapi(app: FastAPI, *, server: str) -> dict[str, Any]:
    """The partner API's document: its routes as served, and the webhooks."""
    routes = [
        r for r in api_routes(app) if str(r.path_format).startswith(PREFIX) and r.include_in_schema
    ]
    return get_openapi(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=routes,
        webhooks=webhooks.routes,
        servers=[{"url": server.rstrip("/")}],
    )


def install(router: APIRouter) -> None:
    """Serve `openapi.json` on the partner router (no credential needed to read a contract)."""

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request) -> dict[str, Any]:
        cached: dict[str, Any] | None = getattr(request.app.state, "partner_openapi", None)
        if cached is None:
            base = request.app.state.notifications.settings.public_base_url
            cached = partner_openapi(request.app, server=base)
            request.app.state.partner_openapi = cached
        return cached

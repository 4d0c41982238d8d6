"""What every page carries for the offline layer, and which pages a device may keep.

The offline layer is for trusted persons (their own caseload is small and theirs). Every page
carries an `#offline` region the page script fills in: the count of visits waiting to send, and
the words it needs, translated here (the script has no catalogue of its own). Pages a device may
keep are marked `X-Offline: keep`; the service worker stores nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from fastapi import Response

from alamal_gateway.i18n import N_, Translator
from alamal_gateway.offline_keys import OfflineKeys
from alamal_runtime.auth import Role

KEEP_HEADER: Final = "X-Offline"

WAITING: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "one": "1 bezoek wacht op verzending",
        "other": "{n} bezoeken wachten op verzending",
    },
    "en": {"one": "1 visit waiting to send", "other": "{n} visits waiting to send"},
    "ar": {
        "zero": "لا زيارات بانتظار الإرسال",
        "one": "زيارة واحدة بانتظار الإرسال",
        "two": "زيارتان بانتظار الإرسال",
        "few": "{n} زيارات بانتظار الإرسال",
        "many": "{n} زيارة بانتظار الإرسال",
        "other": "{n} زيارة بانتظار الإرسال",
    },
}
"""The count in each language's plural categories (CLDR, as `Intl.PluralRules` names them)."""

MESSAGES: Final = {
    "offline": N_("No connection. Visits you save are kept on this device and sent later."),
    "queued": N_("Saved on this device. It is sent as soon as there is a connection."),
    "sent": N_("The saved visits are sent."),
    "login": N_("Log in again to send the visits saved on this device."),
    "invalid": N_("Not sent: please correct it."),
    "correct": N_("Correct"),
    "remove": N_("Remove"),
    "remove_confirm": N_("Remove this visit from this device? It has not been sent."),
    "held_link": N_("See the visits waiting for a decision"),
    "dismiss": N_("OK"),
    "logout_confirm": N_(
        "Some visits on this device have not been sent. If you log out now, they are deleted "
        "from this device. Log out anyway?"
    ),
    "others": N_("Visits saved on this device wait until the person who saved them logs in again."),
    "delete_others": N_("Delete them from this device"),
    "delete_others_confirm": N_(
        "Delete the visits saved on this device? They cannot be sent afterwards."
    ),
    "kept_note": N_(
        "The note and strength you wrote are kept. Type them again only to change them."
    ),
    "no_key": N_("This visit cannot be saved on this device now. Save it when you are online."),
}
"""Words the page script shows (keys are the script's)."""

HOLD_REASONS: Final = {
    "case-closed": N_(
        "Not added to the case: it was closed meanwhile. Your coordinator decides what happens."
    ),
    "reassigned": N_(
        "Not added to the case: the family was given to another trusted person meanwhile. "
        "Your coordinator decides what happens."
    ),
}
OFFLINE_NOTICE: Final = {
    "title": N_("No connection"),
    "text": N_(
        "This page is not saved on this device. Your caseload and the visit forms are; visits "
        "you save are sent when there is a connection."
    ),
    "back": N_("My caseload"),
}
"""The page a device shows for a page it did not keep (in every language at once)."""

SYNC_MESSAGES: Final = {
    "not-found": N_("Not sent: this family is no longer on your caseload."),
    "unreadable": N_("This visit was saved by another account and cannot be sent from this one."),
    "forbidden": N_("Not sent: your account may not log visits."),
}


@dataclass(frozen=True, slots=True)
class OfflinePage:
    """The `#offline` region of one page: whose queue it shows and the words for it."""

    owner: str
    """The device's tag for the user's queue; empty when the page has no offline layer."""
    key_id: str
    text: dict[str, Any]


def offline_page(
    keys: OfflineKeys, t: Translator, *, user_id: str | None, role: Role | None, session_key: str
) -> OfflinePage:
    """The region for a page: with a queue for a trusted person, else only the words the
    login page needs (to wipe the device and say that visits of someone else wait)."""
    text: dict[str, Any] = {key: t.gettext(message) for key, message in MESSAGES.items()}
    text["waiting"] = WAITING[t.language]
    if user_id is None or role is not Role.TRUSTED_PERSON:
        return OfflinePage(owner="", key_id="", text=text)
    return OfflinePage(owner=keys.owner(user_id), key_id=keys.key_id(session_key), text=text)


def keep_offline(response: Response, role: Role) -> None:
    """Let the device keep this page for offline use (a trusted person's own pages only)."""
    if role is Role.TRUSTED_PERSON:
        response.headers[KEEP_HEADER] = "keep"


def pages_to_keep(entries: list[dict[str, Any]]) -> list[str]:
    """What a device keeps from a caseload: the caseload itself and, per open case, the visit
    form and the family's summary without private notes (the service worker stores only
    answers marked `X-Offline: keep`)."""
    kept = ["/caseload"]
    for entry in entries:
        kept.append(f"/cases/{entry['case_id']}/visits/new")
        kept.append(f"/families/{entry['family_id']}/summary")
    return kept

"""Plain-language labels of the platform's codes (translated where they are shown)."""

from __future__ import annotations

from typing import Final

from alamal_gateway.i18n import N_

WIJK: Final = {
    "west": N_("West (Lombok)"),
    "noordwest": N_("Noordwest (Zuilen)"),
    "overvecht": N_("Overvecht"),
    "noordoost": N_("Noordoost"),
    "oost": N_("Oost"),
    "binnenstad": N_("Binnenstad"),
    "zuid": N_("Zuid (Hoograven)"),
    "zuidwest": N_("Zuidwest (Kanaleneiland)"),
    "leidsche-rijn": N_("Leidsche Rijn"),
    "vleuten-de-meern": N_("Vleuten-De Meern"),
}
MEMBER_ROLE: Final = {
    "mother": N_("Mother"),
    "father": N_("Father"),
    "child": N_("Child"),
    "youth": N_("Young person"),
    "other": N_("Other household member"),
}
INTAKE_SOURCE: Final = {
    "self": N_("The family itself"),
    "school": N_("School"),
    "gp": N_("GP"),
    "wijkteam": N_("Wijkteam"),
    "police": N_("Police"),
    "youth-care": N_("Youth care"),
    "ggd": N_("GG&GD"),
    "welfare": N_("Welfare organisation"),
    "veilig-thuis": N_("Veilig Thuis"),
    "community": N_("Community"),
    "other": N_("Other"),
}
PROJECT: Final = {
    "tussen-in": N_("Tussen In"),
    "opvoedondersteuning": N_("Parenting support"),
    "jongeren": N_("Young people"),
    "vrouwen-empowerment": N_("Women's empowerment"),
}
CONSENT: Final = {
    "care": N_("Support from Al Amal"),
    "reporting": N_("Counted (anonymously) in reports to funders"),
    "share-police": N_("Sharing with the police"),
    "share-youth-care": N_("Sharing with youth care"),
    "share-ggd": N_("Sharing with the GG&GD"),
    "share-welfare": N_("Sharing with welfare organisations"),
    "share-veilig-thuis": N_("Sharing with Veilig Thuis"),
    "share-school": N_("Sharing with the school"),
    "share-wijkteam": N_("Sharing with the wijkteam"),
}
CONSENT_EXPLAINED: Final = {
    "care": N_("We may keep your family's details so that we can support you."),
    "reporting": N_("Your family is counted in figures without names; small groups are hidden."),
    "share-police": N_("We may tell the police what is needed when we ask them for help."),
    "share-youth-care": N_("We may tell youth care what is needed when we ask them for help."),
    "share-ggd": N_("We may tell the GG&GD what is needed when we ask them for help."),
    "share-welfare": N_("We may tell a welfare organisation what is needed for help."),
    "share-veilig-thuis": N_("We may contact Veilig Thuis with you when someone is unsafe."),
    "share-school": N_("We may talk with the school about what the child needs."),
    "share-wijkteam": N_("We may tell the wijkteam what is needed when we ask them for help."),
}
VISIT_KIND: Final = {
    "home-visit": N_("Home visit"),
    "phone": N_("Phone call"),
    "office": N_("Visit at the office"),
    "group-meeting": N_("Group meeting"),
    "accompany": N_("Went along to an institution"),
}
TOPIC: Final = {
    "parenting": N_("Parenting"),
    "school": N_("School"),
    "money": N_("Money"),
    "health": N_("Health"),
    "housing": N_("Housing"),
    "safety": N_("Safety"),
    "language": N_("Language"),
    "work": N_("Work"),
}
PARTNER_KIND: Final = {
    "police": N_("Police"),
    "youth-care": N_("Youth care"),
    "ggd": N_("GG&GD"),
    "welfare": N_("Welfare organisation"),
    "veilig-thuis": N_("Veilig Thuis"),
    "school": N_("School"),
    "wijkteam": N_("Wijkteam"),
    "other": N_("Other"),
}
URGENCY: Final = {
    "routine": N_("Routine"),
    "urgent": N_("Urgent"),
    "acute": N_("Acute"),
}
REFERRAL_STATE: Final = {
    "proposed": N_("Proposed"),
    "approved": N_("Approved"),
    "sent": N_("Sent"),
    "accepted": N_("Accepted by the partner"),
    "declined": N_("Declined by the partner"),
    "closed": N_("Closed"),
}
ROLE: Final = {
    "trusted_person": N_("Trusted person"),
    "coordinator": N_("Coordinator"),
    "admin": N_("Administrator"),
    "operator": N_("Operator"),
    "funder": N_("Funder"),
    "privacy_officer": N_("Privacy officer"),
}
LEGAL_BASIS: Final = {
    "consent": N_("The family's consent"),
    "meldcode-override": N_("Meldcode safety override"),
}
REASON: Final = {
    "safety-child": N_("A child's safety"),
    "domestic-violence": N_("Domestic violence"),
    "parenting-support": N_("Parenting support"),
    "school-absence": N_("School absence"),
    "debts": N_("Debts"),
    "housing": N_("Housing"),
    "health": N_("Health"),
    "other": N_("Other"),
}
OVERRIDE_REASON: Final = {
    "child-unsafe": N_("A child is unsafe"),
    "domestic-violence": N_("Domestic violence"),
    "acute-danger": N_("Acute danger"),
}
ALL: Final = {
    "wijk": WIJK,
    "member_role": MEMBER_ROLE,
    "intake_source": INTAKE_SOURCE,
    "project": PROJECT,
    "consent": CONSENT,
    "consent_explained": CONSENT_EXPLAINED,
    "visit_kind": VISIT_KIND,
    "topic": TOPIC,
    "partner_kind": PARTNER_KIND,
    "urgency": URGENCY,
    "referral_state": REFERRAL_STATE,
    "role": ROLE,
    "legal_basis": LEGAL_BASIS,
    "reason": REASON,
    "override_reason": OVERRIDE_REASON,
}

NOTICES: Final = {
    "registered": N_("The family is registered. Its case opens in a moment."),
    "visit-logged": N_("The visit is saved."),
    "referral-proposed": N_("The referral is proposed."),
    "referral-approved": N_("The referral is approved and can be sent."),
    "referral-sent": N_("The referral is sent to the partner."),
    "override-recorded": N_("The Meldcode override is recorded. The referral can be sent."),
    "override-reason": N_("Choose the reason for the Meldcode override."),
    "consent-missing": N_(
        "Not sent: the family has not consented to sharing with this partner. Only for Veilig"
        " Thuis a coordinator may record a Meldcode override."
    ),
    "needs-approval": N_("A routine referral is sent after a coordinator approved it."),
    "step-not-possible": N_("This step is not possible in the referral's current state."),
    "coordinator-only": N_("Only a coordinator of the wijk may do this."),
    "unavailable": N_("The service is temporarily unavailable. Nothing was changed; try again."),
    "user-created": N_("The user is created."),
    "user-changed": N_("The user is changed."),
    "password-reset": N_("The password is reset. Hand it over in person."),
    "password-too-short": N_("The password needs at least 12 characters."),
    "not-yourself": N_("You cannot take away your own access."),
    "invalid": N_("Please check the values."),
}

REPORT: Final = {
    "families": N_("Families"),
    "contacts": N_("Contacts"),
    "referrals": N_("Referrals"),
    "outcomes": N_("Outcomes"),
    "caseload": N_("Caseload"),
    "follow-up": N_("Follow-up"),
}
BREAKDOWN: Final = {
    "wijk": N_("Wijk"),
    "project": N_("Project"),
    "intake-source": N_("How the family came in"),
    "household": N_("Household"),
    "kind": N_("Kind of contact"),
    "topic": N_("Topic"),
    "month": N_("Month"),
    "trusted-person": N_("Trusted person"),
    "partner-kind": N_("Kind of partner"),
    "urgency": N_("Urgency"),
    "status": N_("Status"),
    "first-contact": N_("Time to first contact"),
    "partner-response": N_("Time to the partner's answer"),
}
CHART: Final = {
    "families-per-wijk": N_("Families per wijk"),
    "contacts-per-month": N_("Contacts per month"),
    "referrals-per-partner-kind": N_("Referrals per kind of partner"),
}
ALL["report"] = REPORT
ALL["breakdown"] = BREAKDOWN
ALL["chart"] = CHART
ALL["column"] = {**REPORT, "cases": N_("Cases")}
ALL["row"] = {**WIJK, **PROJECT, **INTAKE_SOURCE, **VISIT_KIND, **TOPIC, **PARTNER_KIND, **URGENCY}
NOTICES.update(
    {
        "partner-created": N_("The partner is registered."),
        "endpoint-created": N_("The endpoint is added. Copy its secret now: it is shown once."),
        "endpoint-changed": N_("The endpoint is changed."),
        "endpoint-disabled": N_("The endpoint is disabled; enable it first."),
        "endpoint-verified": N_("The endpoint accepted the signed test and is active."),
        "verification-failed": N_(
            "The endpoint did not accept the signed test, so it stays disabled. Check that the "
            "partner's receiver uses the secret it was given, then try again."
        ),
        "resent": N_("The message is sent again."),
    }
)

GOAL_STATUS: Final = {
    "open": N_("Not started"),
    "in-progress": N_("Working on it"),
    "reached": N_("Reached"),
    "stopped": N_("Stopped"),
}
OUTCOME: Final = {
    "goals-reached": N_("Goals reached"),
    "referred-on": N_("Continued with a partner"),
    "family-moved": N_("The family moved"),
    "no-longer-needed": N_("Support no longer needed"),
    "contact-lost": N_("Contact lost"),
    "family-declined": N_("The family stopped the support"),
}
ALL["goal_status"] = GOAL_STATUS
ALL["outcome"] = OUTCOME
NOTICES.update(
    {
        "plan-saved": N_("The plan is saved."),
        "case-closed": N_("The case is closed."),
        "choose-outcome": N_("Choose at least one outcome to close the case."),
    }
)
NOTICES.update(
    {
        "family-saved": N_("The family's details are saved."),
        "consent-recorded": N_("The new answer is recorded; the earlier one stays in the history."),
        "reassigned": N_("The family has a new trusted person."),
        "father-needs-tussen-in": N_(
            "A trusted person for the father needs a father in the project Tussen In."
        ),
        "changed-meanwhile": N_("Someone else changed this meanwhile. Reload and try again."),
        "credential-revoked": N_("The credential is revoked: it no longer works."),
        "credential-created": N_("The credential is made. Copy its secret now: it is shown once."),
    }
)
TIMELINE: Final = {
    "case-opened": N_("Support started"),
    "case-closed": N_("Case closed"),
    "visit": N_("Contact"),
    "strengths": N_("Strengths written down"),
    "goal-set": N_("Goal set"),
    "goal-progress": N_("Progress on a goal"),
    "referral-proposed": N_("Referral proposed"),
    "referral-approved": N_("Referral approved"),
    "meldcode-override": N_("Meldcode override recorded"),
    "referral-sent": N_("Referral sent"),
    "referral-answered": N_("The partner answered"),
    "consent": N_("Consent recorded"),
    "consent-registration": N_("Consent given at registration"),
}
ALL["timeline"] = TIMELINE

SERVICE: Final = {
    "intake": N_("Registration of families"),
    "cases": N_("Casework"),
    "notifications": N_("Messages to partners"),
    "reporting": N_("Reports"),
}
EVENT_TYPE: Final = {
    "referral.escalated": N_("A referral is sent to the partner"),
    "referral.updated": N_("A referral changed"),
    "webhook.test": N_("Test message"),
}
DELIVERY_STATE: Final = {
    "pending": N_("Waiting to be delivered"),
    "delivered": N_("Delivered"),
    "failed": N_("Failed"),
}
LOGIN_OUTCOME: Final = {
    "success": N_("Logged in"),
    "bad-credentials": N_("Wrong username or password"),
    "locked": N_("Refused: account locked for a while"),
    "rate-limited": N_("Refused: too many attempts from one address"),
    "disabled": N_("Refused: account disabled"),
    "logout": N_("Logged out"),
}
DEAD_LETTER_REASON: Final = {
    "invalid_event": N_("The message does not follow the agreed format"),
    "handler_failed": N_("Handling the message failed"),
    "other": N_("Another problem"),
}
DELIVERY_ERROR: Final = {
    "timeout": N_("The partner's server did not answer in time."),
    "connect_error": N_("No connection could be made to the partner's server."),
    "connection_error": N_("The connection to the partner's server broke off."),
    "http_error": N_("The partner's server gave an answer that could not be read."),
    "redirect": N_("The partner's server answered with a redirect; use the final address."),
    "http_4xx": N_("The partner's server refused the message (answer %(status)s)."),
    "http_5xx": N_("The partner's server had an error (answer %(status)s)."),
}
URL_PROBLEM: Final = {
    "URL too long": N_("The address is too long."),
    "not a valid URL": N_("This is not a valid web address."),
    "the URL must use https": N_("The address must start with https://."),
    "http(s) only": N_("The address must start with https:// or http://."),
    "the URL needs a host": N_("The address needs a server name."),
    "the URL may not carry credentials": N_("The address may not contain a username or password."),
    "the URL may not have a fragment": N_("The address may not contain a # part."),
    "the host does not resolve": N_("The server name of this address cannot be found."),
    "the host resolves to a private or reserved address": N_(
        "This address points into a private network; only public addresses are allowed."
    ),
}
ALL["service"] = SERVICE
ALL["event_type"] = EVENT_TYPE
ALL["delivery_state"] = DELIVERY_STATE
ALL["login_outcome"] = LOGIN_OUTCOME
ALL["dead_letter_reason"] = DEAD_LETTER_REASON


def delivery_problem(message: str) -> tuple[str, dict[str, str]]:
    """The label (msgid) and values for a service's words about a failed endpoint check."""
    text = message.removeprefix("Value error, ")
    if text in URL_PROBLEM:
        return URL_PROBLEM[text], {}
    cause = text.removeprefix("the signed test delivery failed: ")
    if cause.startswith("http_") and cause[5:].isdigit():
        status = cause[5:]
        key = "http_4xx" if status.startswith("4") else "http_5xx"
        return DELIVERY_ERROR[key], {"status": status}
    if cause in DELIVERY_ERROR:
        return DELIVERY_ERROR[cause], {}
    return N_("Enter a public https address."), {}


NOTICES.update(
    {
        "held-logged": N_("The visit is added to its case."),
        "held-discarded": N_("The visit is discarded."),
    }
)

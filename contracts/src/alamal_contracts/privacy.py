"""Guards that keep events thin: find fields that look like personal data or free text.

Used by the contract tests; services may run them over their own outbound models too.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from alamal_contracts.introspect import walk_fields

# Tokens that mark a field as personal data wherever they occur in its name.
_NAME_TOKENS: Final = frozenset(
    {
        # names
        "name", "names", "firstname", "lastname", "surname", "fullname", "givenname",
        "nickname", "username", "initials", "naam", "voornaam", "achternaam",
        # addresses
        "address", "addresses", "adres", "street", "straat", "postcode", "postal",
        "zipcode", "zip", "housenumber", "huisnummer",
        # birth dates
        "birth", "birthdate", "birthday", "dob", "born", "geboortedatum", "geboren",
        # phone numbers and e-mail
        "phone", "telephone", "mobile", "tel", "telefoon", "gsm", "email", "mail",
        # national identifiers
        "bsn", "ssn", "passport", "iban",
        # free text
        "note", "notes", "comment", "comments", "remark", "remarks", "memo", "freetext",
        "narrative", "opmerking", "opmerkingen", "toelichting", "notitie", "notities",
        "story",
    }
)  # fmt: skip
# Tokens that mark free text only as the last word: `description` is text, `text_version` is not.
_HEAD_TOKENS: Final = frozenset({"text", "description", "message", "details", "body", "content"})

_DESCRIPTION_PATTERNS: Final = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bnames?\b",
        r"\baddress(?:es)?\b|\bpostcode\b|\bzip ?code\b|\bstreet\b",
        r"\bbirth|\bborn\b",
        r"\b(?:tele)?phone\b|\bmobile number\b",
        r"\be-?mail\b",
        r"\bfree[- ]?(?:text|form)\b|\bnotes?\b|\bcomments?\b|\bremarks?\b|\bnarrative\b",
        r"\bBSN\b|\bcitizen service number\b|\bpassport\b|\bIBAN\b",
    )
)

_SAFE_STRING_FORMATS: Final = frozenset({"date", "date-time", "uuid"})


def personal_data_fields(model: type[BaseModel]) -> list[str]:
    """Return paths of fields, nested ones too, whose name or description marks personal data."""
    return [path for path, info in walk_fields(model) if _looks_personal(path, info)]


def free_text_fields(model: type[BaseModel]) -> list[str]:
    """Return the JSON Schema paths of strings constrained by no enum, pattern or known format."""
    schema = model.model_json_schema()
    return list(_free_strings(schema, schema.get("$defs", {}), model.__name__, set()))


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^a-zA-Z0-9]+", spaced.lower()) if t]


def _looks_personal(path: str, info: FieldInfo) -> bool:
    field_names = [path.rsplit(".", 1)[-1]]
    field_names += [
        a
        for a in (info.alias, info.validation_alias, info.serialization_alias)
        if isinstance(a, str)
    ]
    for field_name in field_names:
        tokens = _tokens(field_name)
        if _NAME_TOKENS.intersection(tokens) or (tokens and tokens[-1] in _HEAD_TOKENS):
            return True
    texts = [t for t in (info.description, info.title) if t]
    return any(p.search(text) for p in _DESCRIPTION_PATTERNS for text in texts)


def _free_strings(
    schema: Mapping[str, Any], defs: Mapping[str, Any], path: str, refs: set[str]
) -> Iterator[str]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref not in refs:  # a recursive definition is checked once
            target = defs.get(ref.rsplit("/", 1)[-1], {})
            yield from _free_strings(target, defs, path, refs | {ref})
        return
    if _is_free_string(schema):
        yield path
    for name, sub in schema.get("properties", {}).items():
        yield from _free_strings(sub, defs, f"{path}.{name}", refs)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key, []):
            yield from _free_strings(sub, defs, path, refs)
    if isinstance(schema.get("items"), Mapping):
        yield from _free_strings(schema["items"], defs, f"{path}[]", refs)
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield f"{path}{{key}}"  # free-form keys can carry anything
        yield from _free_strings(schema["additionalProperties"], defs, f"{path}{{}}", refs)


def _is_free_string(schema: Mapping[str, Any]) -> bool:
    types = schema.get("type")
    is_string = types == "string" or (isinstance(types, list) and "string" in types)
    constrained = (
        "enum" in schema
        or "const" in schema
        or "pattern" in schema
        or schema.get("format") in _SAFE_STRING_FORMATS
    )
    return is_string and not constrained

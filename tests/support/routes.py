"""Every URL pattern of the project, listed from the resolver in this process, and the
path to request for each on the live server."""

import re
import uuid

from django.urls import URLResolver, get_resolver

PARAM_RE = re.compile(r"<(?:(\w+):)?(\w+)>")
REGEX_GROUP_RE = re.compile(r"\(\?P<(\w+)>[^)]*\)")
API_PREFIX = "api/v1/"
PATIENT_PREFIX = "r/"


def discover(patterns=None, prefix=""):
    """(route, callback) for every pattern, nested includes included."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from discover(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def routes() -> dict:
    return dict(discover())


def id_names(route: str) -> list[str]:
    return [
        name
        for converter, name in PARAM_RE.findall(route)
        if converter in ("uuid", "uuidstr", "int") or name.endswith("_id")
    ]


def fill(route: str, ids: dict[str, str]) -> str:
    """The path for `route`, each id parameter taken from `ids` (a random UUID when
    missing), any other parameter a harmless word."""

    def value(match):
        name = match.group(2)
        if name in id_names(match.group(0)):
            return ids.get(name) or str(uuid.uuid4())
        return "probe"

    path = PARAM_RE.sub(value, route)
    return "/" + REGEX_GROUP_RE.sub("probe", path).replace("^", "").replace("$", "")


def is_api(route: str) -> bool:
    return route.startswith(API_PREFIX)


def is_patient_page(route: str) -> bool:
    return route.startswith(PATIENT_PREFIX)

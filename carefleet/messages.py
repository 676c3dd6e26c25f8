"""Staff messages: keys in code, text per language in ``strings/<lang>.json``.

The core names a message by key and fills in parameters (robot, place, reason ...);
whoever shows it to a person renders it in that person's language, so a night nurse
in Shanghai and a visiting engineer read the same alert in their own words.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from carefleet.errors import InputError

STRINGS = Path(__file__).resolve().parent / "strings"
LANGUAGES = tuple(sorted(p.stem for p in STRINGS.glob("*.json")))
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(language: str) -> dict[str, str]:
    """Templates of one language; an unknown language is a caller's mistake."""
    if language not in LANGUAGES:
        raise InputError("language", f"'{language}' is not one of: {', '.join(LANGUAGES)}")
    return json.loads((STRINGS / f"{language}.json").read_text(encoding="utf-8"))


def render(key: str, params: dict[str, str], language: str = DEFAULT_LANGUAGE) -> str:
    """The message ``key`` in ``language``, falling back to English for a missing key."""
    template = catalogue(language).get(key) or catalogue(DEFAULT_LANGUAGE)[key]
    return template.format(**params)

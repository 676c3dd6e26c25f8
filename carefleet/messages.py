"""Staff messages: keys in code, text per language in ``strings/<lang>.json``.

The core names a message by key and fills in parameters (robot, place, reason ...);
whoever shows it to a person renders it in that person's language, so a night nurse
in Shanghai and a visiting engineer read the same alert in their own words.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from carefleet.errors import InputError

STRINGS = Path(__file__).resolve().parent / "strings"
LANGUAGES = tuple(sorted(p.stem for p in STRINGS.glob("*.json")))
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(language: str, book: str = "") -> dict[str, str]:
    """Templates of one language: the staff messages, or another ``book`` of texts
    (``strings/<book>/<language>.json``: ``report`` for the simulation's report); an
    unknown language is a caller's mistake."""
    if language not in LANGUAGES:
        raise InputError("language", f"'{language}' is not one of: {', '.join(LANGUAGES)}")
    return json.loads((STRINGS / book / f"{language}.json").read_text(encoding="utf-8"))


def render(key: str, params: dict[str, Any], language: str = DEFAULT_LANGUAGE,
           book: str = "") -> str:
    """The text ``key`` in ``language``, falling back to English for a missing key."""
    template = catalogue(language, book).get(key) or catalogue(DEFAULT_LANGUAGE, book)[key]
    return template.format(**params)

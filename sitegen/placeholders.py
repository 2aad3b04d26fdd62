"""Placeholders in the site owner's texts (--title, --description): `{model_id}` stands for the
model's id (on a site of several models, their names), `{{` and `}}` for a literal brace, as in
Python's str.format. Anything else in braces, and a brace left open or never opened, is a mistake
(`check` says which), never text shown as written.
"""

import re

# placeholder -> what it stands for (said in the error that lists them)
PLACEHOLDERS = {"model_id": "the model's id; on a site of several models, their names"}

# An escaped brace, a placeholder (anything between one brace and the next), or a lone brace.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def check(text: str) -> None:
    """ValueError saying what is wrong with `text`'s braces: an unknown placeholder (a typo such as
    {modle}), a '{' never closed or a '}' never opened. The message starts lower case, after a label."""
    for match in _TOKEN.finditer(text):
        token, name = match.group(0), match.group(1)
        if name is not None and name not in PLACEHOLDERS:
            raise ValueError(f"has an unknown placeholder {token}")
        if token == "{":
            raise ValueError(f"has a '{{' that is never closed ({text[match.start():match.start() + 20]!r})")
        if token == "}":
            raise ValueError(f"has a '}}' that no '{{' opens ({text[max(0, match.start() - 19):match.end()]!r})")


def listed() -> str:
    """The placeholders and what they stand for, for an error message."""
    return "; ".join(f"{{{name}}} ({what})" for name, what in PLACEHOLDERS.items())


def fill(text: str, **values: str) -> str:
    """`text` with each placeholder replaced by its value and `{{`/`}}` by one brace. `text` must
    pass `check` (BuildConfig's checks ensure it); a lone brace is kept as it is."""
    def replace(match):
        token, name = match.group(0), match.group(1)
        if name is not None:
            return values[name]
        return {"{{": "{", "}}": "}"}.get(token, token)
    return _TOKEN.sub(replace, text)

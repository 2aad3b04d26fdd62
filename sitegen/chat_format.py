"""A model's jinja chat template turned into plain data that a runtime without jinja can apply.

The site's JavaScript runtime cannot run jinja. So at build time we render the template (the way
transformers does) on probe conversations whose contents are unique sentinels, cut the renderings
at those sentinels, and keep the pieces: the text around each role's message, the generation
prompt, the text a conversation without a system message starts with. Nothing is known per model.
Then `verify_chat_format` renders random conversations both ways and fails the build on the first
difference, so every site ships a format known to reproduce its model's template.

Derived data (JSON-serialisable; all texts are plain strings, special tokens as their text):

    {
      "version": 1,
      "preamble": str,             # starts every prompt, e.g. the BOS text "<|begin_of_text|>"
      "default_system": str,       # follows the preamble when there is no system message
                                   # (SmolLM2/Qwen2.5 default prompt, Llama 3.1 date header, often "")
      "roles": {
        "system": null | {"mode": "turn" | "first_user", "prefix": str, "suffix": str, "trim": bool},
        "user":      {"prefix": str, "suffix": str, "trim": bool},
        "assistant": {"prefix": str, "suffix": str, "trim": bool}
      },
      "generation_prompt": str,    # appended when the model is to reply
      "stop_strings": [str, ...],  # end-of-turn texts: generation stops when the model emits one
      "bos_in_prompt": bool        # prompts already start with the BOS token's text
    }

Applying it (`format_conversation`; the runtime implements the same steps):
  1. text = preamble.
  2. A system message may only come first. If there is one and roles.system is null, the model
     takes none: error. Otherwise s = system.prefix + content + system.suffix; mode "turn" appends
     s to text; mode "first_user" (Llama 2, Mistral) prepends s to the first user message's
     content instead. Without a system message, text += default_system.
  3. For every other message (user or assistant, in order): text += prefix + content + suffix.
  4. If a reply is wanted, text += generation_prompt.
Wherever a role has "trim": true its content (in "first_user" mode the combined content) first
loses leading and trailing characters from TRIM_WHITESPACE, like jinja's `|trim` (Python's
str.strip()). That set differs from JavaScript's String.prototype.trim: use the listed characters.
Tokenize the result without adding special tokens, as transformers' apply_chat_template does: any
BOS is already in the text (bos_in_prompt says whether the prompt starts with it).

A model without a chat template (a base model) has no conversation format to derive: we raise a
SitegenError that suggests an instruct model or `--chat-template FILE`, rather than invent a
format the model was never trained on and let the site chat in garbage.
"""

import datetime
import functools
import itertools
import json
import random

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox

from sitegen.errors import SitegenError

FORMAT_VERSION = 1

# Python's str.isspace() characters, which jinja's |trim (str.strip()) removes.
TRIM_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                   "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

# transformers gives templates the real clock through strftime_now(). We give a fixed date so the
# same template always derives the same data (a build's output must not depend on the day it
# runs). It is the date Llama 3.1's own template falls back to, so Llama 3.1 and 3.2 sites say
# "Today Date: 26 Jul 2024" alike; the runtime does not update it.
FIXED_DATE = datetime.datetime(2024, 7, 26)

REMEDY = ("Pass --chat-template FILE with a jinja chat template that wraps each role's message in a "
          "fixed prefix and suffix (ChatML, for example), or choose another model.")

# Probe contents: unique, mixed case (so case changes show), no whitespace (so trimming cannot
# hide them). PAD surrounds them where we test what the template does with whitespace.
_SYSTEM, _USER_1, _ASSISTANT_1, _USER_2 = "SystemProbeSg0", "UserProbeSg1", "AssistantProbeSg1", "UserProbeSg2"
_PAD = " \t\n "


def render_template(template: str, messages: list[dict], *, add_generation_prompt: bool,
                    bos_token: str, eos_token: str) -> str:
    """Render an HF chat template as transformers' apply_chat_template(tokenize=False) does.

    Raises jinja2.TemplateError when the template is invalid or rejects the conversation.
    """
    return _compile(template).render(messages=messages, tools=None, documents=None,
                                     add_generation_prompt=add_generation_prompt,
                                     bos_token=bos_token, eos_token=eos_token)


@functools.lru_cache(maxsize=8)
def _compile(template: str) -> jinja2.Template:
    # The environment transformers builds: sandboxed and immutable, block tags eat their newline
    # and indentation, {% break %}/{% continue %} and {% generation %}, its tojson and its two
    # global functions.
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols, _GenerationBlock])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = FIXED_DATE.strftime
    return env.from_string(template)


class _GenerationBlock(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %}: transformers uses it to find assistant text for training
    masks; rendering, it is its body in a scope of its own."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body).set_lineno(lineno)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    # transformers' override: jinja's own tojson escapes HTML characters and sorts keys.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str):
    raise jinja2.TemplateError(message)


def format_conversation(fmt: dict, messages: list[dict], *, add_generation_prompt: bool) -> str:
    """The prompt text for `messages` according to derived data `fmt` (see the module docstring)."""
    roles = fmt["roles"]
    turns = list(messages)
    text = fmt["preamble"]
    if turns and turns[0]["role"] == "system":
        system = roles["system"]
        if system is None:
            raise SitegenError("This model's chat template does not accept a system message; leave it out.")
        wrapped = system["prefix"] + _content(system, turns.pop(0)["content"]) + system["suffix"]
        if system["mode"] == "turn":
            text += wrapped
        elif turns and turns[0]["role"] == "user":
            turns[0] = {"role": "user", "content": wrapped + turns[0]["content"]}
        else:
            raise SitegenError("This model's chat template puts the system message into the first user "
                               "message, so a user message must follow it.")
    else:
        text += fmt["default_system"]
    for message in turns:
        if message["role"] not in ("user", "assistant"):
            raise SitegenError(f"Unsupported message role {message['role']!r}: a conversation is an optional "
                               "first system message, then user and assistant messages.")
        role = roles[message["role"]]
        text += role["prefix"] + _content(role, message["content"]) + role["suffix"]
    return text + (fmt["generation_prompt"] if add_generation_prompt else "")


def _content(role: dict, content: str) -> str:
    return content.strip(TRIM_WHITESPACE) if role["trim"] else content


def derive_chat_format(template: str | None, *, bos_token: str, eos_token: str) -> dict:
    """Derive the conversation format data of `template` by rendering probe conversations.

    `bos_token`/`eos_token` are the tokenizer's texts ("" when it has none). Raises SitegenError
    when there is no template or it formats conversations in a way the data cannot express.
    """
    _check_template(template)
    render = functools.partial(_render, template, bos_token=bos_token, eos_token=eos_token)
    first = [_message("user", _USER_1)]
    second = first + [_message("assistant", _ASSISTANT_1)]
    third = second + [_message("user", _USER_2)]
    one, two, three = render(first), render(second), render(third)
    head, user_suffix = _around(one, _USER_1)
    assistant_prefix, assistant_suffix = _around(_appended(one, two, _roles(first), _roles(second)), _ASSISTANT_1)
    user_prefix, later_user_suffix = _around(_appended(two, three, _roles(second), _roles(third)), _USER_2)
    if later_user_suffix != user_suffix or not head.endswith(user_prefix):
        raise SitegenError("The chat template formats the first user message differently from later ones "
                           f"({head!r} ... {user_suffix!r} versus {user_prefix!r} ... {later_user_suffix!r}). "
                           + REMEDY)
    start = head[:len(head) - len(user_prefix)]
    generation_prompt = _appended(one, render(first, add_generation_prompt=True), _roles(first),
                                  _roles(first) + " with the generation prompt")
    system, preamble = _derive_system(template, start, user_prefix, user_suffix, bos_token, eos_token)
    fmt = {
        "version": FORMAT_VERSION,
        "preamble": preamble,
        "default_system": start[len(preamble):],
        "roles": {"system": system,
                  "user": {"prefix": user_prefix, "suffix": user_suffix, "trim": False},
                  "assistant": {"prefix": assistant_prefix, "suffix": assistant_suffix, "trim": False}},
        "generation_prompt": generation_prompt,
        "stop_strings": _stop_strings(assistant_suffix, user_prefix, eos_token),
    }
    fmt = _with_trim(fmt, render)
    prompt = format_conversation(fmt, first, add_generation_prompt=True)
    return {**fmt, "bos_in_prompt": bool(bos_token) and prompt.startswith(bos_token)}


def _check_template(template: str | None) -> None:
    if not template or not template.strip():
        raise SitegenError("This model has no chat template, so it is probably a base model rather than a "
                           "chat/instruct one, and a chat site would have to guess its conversation format. "
                           "Choose the model's instruct/chat variant, or pass --chat-template FILE with the jinja "
                           "chat template it was trained with.")
    try:
        _compile(template)
    except jinja2.TemplateSyntaxError as err:
        raise SitegenError(f"The chat template is not valid jinja (line {err.lineno}: {err.message}). "
                           + REMEDY) from err


def _render(template: str, messages: list[dict], *, bos_token: str, eos_token: str,
            add_generation_prompt: bool = False) -> str:
    try:
        return render_template(template, messages, add_generation_prompt=add_generation_prompt,
                               bos_token=bos_token, eos_token=eos_token)
    except jinja2.TemplateError as err:
        raise SitegenError(f"The chat template fails on this conversation (add_generation_prompt="
                           f"{add_generation_prompt}): {err}\n{_describe(messages)}\n" + REMEDY) from err


def _message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def _around(text: str, sentinel: str) -> tuple[str, str]:
    """The text before and after the one occurrence of `sentinel`."""
    if text.count(sentinel) != 1:
        raise SitegenError(f"The chat template does not copy message content verbatim: the probe content "
                           f"{sentinel!r} appears {text.count(sentinel)} times in {_short(text, 300)}. It "
                           "transforms, drops or repeats messages, which sitegen's runtime cannot mirror. "
                           + REMEDY)
    before, _, after = text.partition(sentinel)
    return before, after


def _appended(shorter: str, longer: str, shorter_name: str, longer_name: str) -> str:
    """What the rendering `longer` adds after the rendering `shorter` (named for the error message)."""
    if not longer.startswith(shorter):
        at = _first_difference(shorter, longer)
        raise SitegenError(
            "The chat template rewrites earlier text when the conversation grows, so a prompt cannot be "
            f"built turn by turn: {shorter_name} renders {_window(shorter, at)} at character {at} "
            f"but {longer_name} renders {_window(longer, at)} there. The template formats the "
            "end of a conversation differently from its middle (for example it always appends the assistant "
            "header, or gives the last assistant turn a special form). " + REMEDY)
    return longer[len(shorter):]


def _derive_system(template: str, start: str, user_prefix: str, user_suffix: str,
                   bos_token: str, eos_token: str) -> tuple[dict | None, str]:
    """The system role's data (None: the template takes no system message) and the preamble."""
    try:
        text = render_template(template, [_message("system", _SYSTEM), _message("user", _USER_1)],
                               add_generation_prompt=False, bos_token=bos_token, eos_token=eos_token)
    except jinja2.TemplateError:  # e.g. raise_exception('Only user and assistant roles are supported!')
        text = ""
    if _SYSTEM not in text:
        return None, _preamble(bos_token, user_prefix, start)
    head, rest = _around(text, _SYSTEM)
    middle, tail = _around(rest, _USER_1)
    preamble = _preamble(bos_token, user_prefix, start, head)
    if tail == user_suffix and middle.endswith(user_prefix):
        return {"mode": "turn", "prefix": head[len(preamble):], "suffix": middle[:len(middle) - len(user_prefix)],
                "trim": False}, preamble
    if tail == user_suffix and head.startswith(preamble + user_prefix):
        return {"mode": "first_user", "prefix": head[len(preamble + user_prefix):], "suffix": middle,
                "trim": False}, preamble
    raise SitegenError("The chat template places the system message neither as a turn of its own before the "
                       "first user message nor at the start of that message's content: "
                       f"{_short(text, 300)}. " + REMEDY)


def _preamble(bos_token: str, user_prefix: str, *heads: str) -> str:
    # BOS text that opens every prompt once is the preamble. When the BOS text is also what opens
    # every user turn (SmolLM2's bos_token is "<|im_start|>"), it belongs to the turns instead.
    if bos_token and not user_prefix.startswith(bos_token) and all(h.startswith(bos_token) for h in heads):
        return bos_token
    return ""


def _with_trim(fmt: dict, render) -> dict:
    """`fmt` with the trim flags under which it reproduces whitespace-padded probe contents."""
    padded = [_message("user", _PAD + _USER_1 + _PAD), _message("assistant", _PAD + _ASSISTANT_1 + _PAD),
              _message("user", _PAD + _USER_2 + _PAD)]
    names = [name for name, role in fmt["roles"].items() if role]
    probes = [padded] + ([[_message("system", _PAD + _SYSTEM + _PAD)] + padded] if "system" in names else [])
    expected = [render(probe) for probe in probes]
    for flags in itertools.product((False, True), repeat=len(names)):
        trims = dict(zip(names, flags))
        candidate = {**fmt, "roles": {name: role and {**role, "trim": trims[name]}
                                      for name, role in fmt["roles"].items()}}
        if all(format_conversation(candidate, probe, add_generation_prompt=False) == text
               for probe, text in zip(probes, expected)):
            return candidate
    raise SitegenError("The chat template changes the whitespace around message content in a way sitegen "
                       "cannot mirror (it neither keeps it nor trims both ends): "
                       f"{_short(expected[-1], 300)}. " + REMEDY)


def _stop_strings(assistant_suffix: str, user_prefix: str, eos_token: str) -> list[str]:
    # The model ends its turn by emitting the assistant suffix (whitespace after it is template
    # glue it does not generate); a template without one ends turns with the next user prefix.
    end_of_turn = assistant_suffix.strip(TRIM_WHITESPACE) or user_prefix.strip(TRIM_WHITESPACE)
    return list(dict.fromkeys(text for text in (end_of_turn, eos_token) if text))


def verify_chat_format(template: str, fmt: dict, *, bos_token: str, eos_token: str, seed: int = 0,
                       trials: int = 200) -> None:
    """Render `trials` random conversations with the template and with `fmt`, with and without the
    generation prompt; raise SitegenError showing the first conversation where they differ."""
    rng = random.Random(seed)
    for _ in range(trials):
        messages = _random_conversation(rng, system=fmt["roles"]["system"] is not None)
        for add_generation_prompt in (False, True):
            expected = _render(template, messages, bos_token=bos_token, eos_token=eos_token,
                               add_generation_prompt=add_generation_prompt)
            actual = format_conversation(fmt, messages, add_generation_prompt=add_generation_prompt)
            if actual != expected:
                at = _first_difference(expected, actual)
                raise SitegenError(
                    "The chat format derived from this model's chat template does not reproduce the template "
                    f"on this conversation (add_generation_prompt={add_generation_prompt}):\n"
                    f"{_describe(messages)}\nAt character {at} the template renders {_window(expected, at)} "
                    f"but the derived format gives {_window(actual, at)}.\nThe template formats a message by "
                    "more than its role (by its position or its content), which sitegen's runtime cannot mirror "
                    "without jinja. " + REMEDY)


# Conversation material that trips naive formatting: role words, jinja syntax, markup, quotes,
# escapes, non-Latin scripts, emoji; plus newlines and padding that trimming would remove.
_FRAGMENTS = ("hello", "system", "user", "assistant", "System:", "naïve café", "ÜBER", "日本語", "שלום",
              "🙂👍", "{{ x }}", "{% if %}", "{", "}", "[INST]", "<b>", "'", '"', "\\n", "a\tb", "42")
_SEPARATORS = (" ", " ", "\n", "\n\n", "")
_PADDING = ("", "", "", " ", "\n", " \n\t")


def _random_conversation(rng: random.Random, *, system: bool) -> list[dict]:
    """An optional system message, then 1-4 exchanges of user and assistant (the last may lack its reply)."""
    messages = [_message("system", _random_content(rng))] if system and rng.random() < 0.5 else []
    for i in range(rng.randint(1, 8)):
        messages.append(_message(("user", "assistant")[i % 2], _random_content(rng)))
    return messages


def _random_content(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return ""
    words = rng.choices(_FRAGMENTS, k=rng.randint(1, 8))
    body = words[0] + "".join(rng.choice(_SEPARATORS) + word for word in words[1:])
    return rng.choice(_PADDING) + body + rng.choice(_PADDING)


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _window(text: str, at: int, width: int = 40) -> str:
    """`text` around position `at`, quoted, with … where it was cut."""
    start, end = max(0, at - width), at + width
    return ("…" if start else "") + repr(text[start:end]) + ("…" if end < len(text) else "")


def _short(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def _roles(messages: list[dict]) -> str:
    return "[" + ", ".join(m["role"] for m in messages) + "]"


def _describe(messages: list[dict]) -> str:
    return "Conversation:\n" + "\n".join(f"  {m['role']}: {_short(m['content'])}" for m in messages)


def chat_format_for(template: str | None, *, bos_token: str, eos_token: str) -> dict:
    """Derive the chat format data of `template` and verify it reproduces the template: the build's entry point."""
    fmt = derive_chat_format(template, bos_token=bos_token, eos_token=eos_token)
    verify_chat_format(template, fmt, bos_token=bos_token, eos_token=eos_token)
    return fmt

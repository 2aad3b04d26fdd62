"""The model's jinja chat template: what the manifest carries, rendering it as transformers does, and
the build's check that it renders ordinary conversations.

The site's runtime renders the template itself (runtime/chat_template.js, with npm
@huggingface/jinja), so the manifest carries the template as written and the values transformers'
apply_chat_template gives it besides the conversation; nothing derived from it:

    "chat_template": {
      "template": str,                  # the jinja source, exactly as the model publishes it
      "special_tokens": {name: str},    # transformers' special_tokens_map: the named special tokens the
                                        # tokenizer config sets (bos_token, eos_token, unk_token, sep_token,
                                        # pad_token, cls_token, mask_token), each a template variable
      "chat_control_tokens": [str]      # tokenizer_config.json's chat_control_tokens (often []): added
                                        # tokens besides the special ones that message text may not
                                        # produce (see runtime/chat_template.js)
    }

The runtime passes the template what transformers passes (tests/js/chat_template.test.js compares the
two on every template in tests/data/chat_templates): messages, add_generation_prompt, tools (none
here), the special tokens above, enable_thinking only when a request sets it, and the global
functions raise_exception(message) and strftime_now(format).

A model without a chat template (a base model) has no conversation format, and the build invents
none: its manifest's `chat_template` is null, and its site offers text completion (the completions
API) instead of a chat; `--chat-template FILE` gives it one.
"""

import datetime
import functools
import json
import random

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox

from sitegen.errors import SitegenError
from sitegen.tokenizer_export import token_text

# transformers' SPECIAL_TOKENS_ATTRIBUTES: the named special tokens apply_chat_template passes.
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")

USER_PROBE = "UserProbeSg1"  # a user message's text that every template writes as it is

REMEDY = "Pass --chat-template FILE with the jinja chat template the model was trained with, or choose another model."


def chat_template_section(template: str | list | None, tokenizer_config: dict) -> dict | None:
    """The manifest's `chat_template` (see the module docstring), after `check_template` passed on it;
    None where there is no template (a base model: see the module docstring).

    `template`: tokenizer_config's chat_template (a string, or newer files' [{name, template}] list, of
    which the "default" one is used) or a --chat-template file's text. Raises SitegenError.
    """
    if isinstance(template, list):
        template = next((t["template"] for t in template if t.get("name") == "default"), None)
    if not template or not template.strip():
        return None
    special_tokens = {name: text for name in SPECIAL_TOKEN_NAMES if (text := token_text(tokenizer_config.get(name)))}
    check_template(template, special_tokens)
    return {"template": template, "special_tokens": special_tokens,
            "chat_control_tokens": list(tokenizer_config.get("chat_control_tokens") or [])}


def render_template(template: str, messages: list[dict], *, add_generation_prompt: bool, special_tokens: dict,
                    **variables) -> str:
    """Render an HF chat template as transformers' apply_chat_template(tokenize=False) does.

    `variables`: further template variables (enable_thinking). Raises jinja2.TemplateError when the
    template is invalid or rejects the conversation (its raise_exception).
    """
    return _compile(template).render(messages=messages, tools=None, documents=None,
                                     add_generation_prompt=add_generation_prompt, **special_tokens, **variables)


@functools.lru_cache(maxsize=8)
def _compile(template: str) -> jinja2.Template:
    # The environment transformers builds: sandboxed and immutable, block tags eat their newline
    # and indentation, {% break %}/{% continue %} and {% generation %}, its tojson and its two
    # global functions.
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols, _GenerationBlock])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
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


def check_template(template: str, special_tokens: dict, *, seed: int = 0, trials: int = 100) -> None:
    """Fail unless `template` renders ordinary conversations: `trials` random ones of alternating user and
    assistant messages starting with the user's, with and without the generation prompt, and one user
    message that must appear in what it renders. (System messages are left out: some templates refuse
    them, Mistral v0.1's for one, and the runtime passes such a refusal on to the request.) Raises
    SitegenError naming the conversation and the error, or what the template wrote instead.
    """
    try:
        _compile(template)
    except jinja2.TemplateSyntaxError as err:
        raise SitegenError(f"The chat template is not valid jinja (line {err.lineno}: {err.message}). " + REMEDY) from err
    rng = random.Random(seed)
    for _ in range(trials):
        messages = random_conversation(rng)
        for add_generation_prompt in (False, True):
            _render_ordinary(template, messages, add_generation_prompt, special_tokens)
    # A template that writes no message (a wrong file passed as --chat-template) renders without error.
    text = _render_ordinary(template, [{"role": "user", "content": USER_PROBE}], True, special_tokens)
    if USER_PROBE not in text:
        raise SitegenError(f"The chat template leaves out the conversation: a user message {USER_PROBE!r} renders as "
                           f"{_short(text)}; it should write each of `messages`. " + REMEDY)


def _render_ordinary(template: str, messages: list[dict], add_generation_prompt: bool, special_tokens: dict) -> str:
    """render_template, a template error raised as check_template's SitegenError naming the conversation."""
    try:
        return render_template(template, messages, add_generation_prompt=add_generation_prompt,
                               special_tokens=special_tokens)
    except jinja2.TemplateError as err:
        raise SitegenError(f"The chat template fails on an ordinary conversation (add_generation_prompt="
                           f"{add_generation_prompt}): {err}\n{_describe(messages)}\n" + REMEDY) from err


def turn_end(section: dict | None) -> str:
    """The text the template writes after an assistant message's content, whitespace before it removed
    ("<|im_end|>\n", "<|eot_id|>", " </s>" -> "</s>", ...): its first token is the one the model
    generates to end its turn (sitegen/tokenizer_export.py stop_token_ids). "" without a template."""
    if section is None:
        return ""
    probe = "AssistantProbeSg1"
    messages = [{"role": "user", "content": USER_PROBE}, {"role": "assistant", "content": probe}]
    text = render_template(section["template"], messages, add_generation_prompt=False,
                           special_tokens=section["special_tokens"])
    return text.rpartition(probe)[2].lstrip() if probe in text else ""


# Conversation material that trips naive formatting: role words, jinja syntax, markup, quotes,
# escapes, non-Latin scripts, emoji; plus newlines and padding that trimming would remove.
_FRAGMENTS = ("hello", "system", "user", "assistant", "System:", "naïve café", "ÜBER", "日本語", "שלום",
              "🙂👍", "{{ x }}", "{% if %}", "{", "}", "[INST]", "<b>", "'", '"', "\\n", "a\tb", "42")
_SEPARATORS = (" ", " ", "\n", "\n\n", "")
_PADDING = ("", "", "", " ", "\n", " \n\t")


def random_conversation(rng: random.Random) -> list[dict]:
    """1-8 messages alternating user and assistant from the user's on (the last may lack its reply)."""
    return [{"role": ("user", "assistant")[i % 2], "content": _random_content(rng)} for i in range(rng.randint(1, 8))]


def _random_content(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return ""
    words = rng.choices(_FRAGMENTS, k=rng.randint(1, 8))
    body = words[0] + "".join(rng.choice(_SEPARATORS) + word for word in words[1:])
    return rng.choice(_PADDING) + body + rng.choice(_PADDING)


def _short(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def _describe(messages: list[dict]) -> str:
    return "Conversation:\n" + "\n".join(f"  {m['role']}: {_short(m['content'])}" for m in messages)

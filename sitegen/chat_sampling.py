"""The sampling settings the chat page uses for a model that ships none.

A GGUF carries no generation defaults, and many Hub repos' generation_config.json set no
temperature either; the engine then samples at OpenAI's temperature 1 / top_p 1 (runtime/request.js),
where a small model wanders off (SmolLM2-135M answers "What is the capital of France?" with French
gibberish about one time in ten: its first token "L" has p = 0.09). The chat page therefore fills
its empty Temperature and Top p fields from the manifest's `chat_sampling`: the values the model's
authors publish (models.yml `chat_sampling`, e.g. from the model card's usage example), else
CHAT_FALLBACK. The API keeps OpenAI's defaults: only the page applies these.

A model whose generation_config sets temperature or top_p needs none: `chat_sampling` is then null
and the page leaves both to the engine, which applies the model's own.
"""

from sitegen.errors import SitegenError

# What a small model behaves with in chat when nobody published better; the common choice of chat
# front ends (Open WebUI's, llama.cpp server's temperature 0.7 / top_p 0.9 range).
CHAT_FALLBACK = {"temperature": 0.7, "top_p": 0.9}

# request.js's ranges for the two fields, which the page sends as they are.
_RANGES = {"temperature": (0.0, 2.0, "a number from 0 to 2"), "top_p": (0.0, 1.0, "a number greater than 0 and at most 1")}


def chat_sampling(generation: dict, published: dict | None) -> dict | None:
    """The manifest's `chat_sampling`: {temperature, top_p, source} or None.

    `generation`: the manifest's generation defaults (from generation_config.json); `published`:
    {temperature, top_p} the model's authors recommend (checked by check_published), or None.
    source: "model card" for published values, "sitegen" for CHAT_FALLBACK.
    """
    if "temperature" in generation or "top_p" in generation:
        return None
    if published:
        return {**published, "source": "model card"}
    return {**CHAT_FALLBACK, "source": "sitegen"}


def check_published(values, where: str) -> dict:
    """`values` as a {temperature, top_p} dict (both floats); SitegenError naming `where` otherwise."""
    if not isinstance(values, dict) or set(values) != set(_RANGES):
        raise SitegenError(f"{where}: chat_sampling must set exactly temperature and top_p, not {values!r}.")
    checked = {}
    for name, (low, high, allowed) in _RANGES.items():
        value = values[name]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
        if not ok or (name == "top_p" and value == 0):
            raise SitegenError(f"{where}: chat_sampling {name} must be {allowed}, not {value!r}.")
        checked[name] = float(value)
    return checked

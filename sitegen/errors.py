"""The one exception type the CLI turns into a clear message and a non-zero exit status.

Raise `SitegenError` for anything a user can cause or fix (bad input, missing file, no network,
gated repo, unsupported model). Its message says what failed and what to do; the CLI prints it
without a traceback. Anything else escaping is a bug in sitegen and keeps its traceback.
"""


class SitegenError(Exception):
    """A failure the user can act on; `str(err)` is the whole message shown to them."""

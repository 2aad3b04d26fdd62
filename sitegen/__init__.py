"""sitegen: turn an open LLM into a private chat web app that runs on the visitor's own GPU."""

__version__ = "0.1.0"

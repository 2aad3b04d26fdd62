"""One module per `sitegen` verb; each exposes the single function its click command calls."""

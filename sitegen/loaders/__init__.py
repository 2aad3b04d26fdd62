"""Model loaders: each turns one kind of checkpoint into a `sitegen.checkpoint.Checkpoint`."""

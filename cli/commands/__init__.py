"""One module per command group; each exposes flags.Command objects."""

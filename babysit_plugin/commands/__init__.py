"""The CLI's subcommands: one module per group of commands, each with ``register(sub)``."""

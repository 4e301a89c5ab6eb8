"""Harness adapters (the agent CLIs) and the prompts and answers they exchange."""

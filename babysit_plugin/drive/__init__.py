"""``drive``: a run to its next human decision in one command (see :mod:`.loop`)."""

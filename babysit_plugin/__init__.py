"""babysit-plugin: run the independent effects of a babysitter run concurrently."""

__version__ = "0.1.0"

"""Command line: ``babysit-plugin SUBCOMMAND ...``.

Every subcommand is one function ``run(args) -> int`` registered by a module's
``register(subparsers)``. :func:`main` maps user errors (any
:class:`protocol.ProtocolError` or :class:`UsageError`) to exit 1 with one line
on stderr, Ctrl-C to 130, SIGTERM to 143, and bugs to 3 with a traceback only
under ``--debug``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import NoReturn

from babysit_plugin import __version__

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A user mistake outside the run directory (bad flag value, missing file)."""


class Terminated(BaseException):
    """Raised in the main greenlet when SIGTERM arrives."""


#: The module that owns each subcommand. Only that one is imported to run it: start-up is
#: part of every command's cost (``post`` never loads gevent, only ``dispatch`` does).
COMMAND_MODULES = {
    "pending": "commands.protocol",
    "post": "commands.protocol",
    "verify": "commands.protocol",
    "dispatch": "commands.dispatch",
    "status": "commands.status",
    "drive": "commands.drive",
    "hook": "commands.dropin",
    "install": "commands.dropin",
    "demo": "commands.dropin",
}
_ALL_MODULES = (
    "commands.protocol",
    "commands.dispatch",
    "commands.status",
    "commands.drive",
    "commands.dropin",
)


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option), if any;
    ``--version`` when that comes first."""
    for word in argv:
        if word == "--version" or not word.startswith("-"):
            return word
    return None


def _register_all(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], command: str | None = None
) -> None:
    # Each module owns its subcommands; imported lazily, and for a known subcommand only
    # its own module (every module for --help or an unknown word, so usage lists them all).
    import importlib

    if command == "--version":
        return  # argparse prints the version and exits before it needs any subcommand
    module = COMMAND_MODULES.get(command or "")
    for name in (module,) if module is not None else _ALL_MODULES:
        importlib.import_module(f"babysit_plugin.{name}").register(sub)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the subcommand it names is registered."""
    parser = argparse.ArgumentParser(
        prog="babysit-plugin",
        description="Run the independent effects of a babysitter run concurrently.",
    )
    parser.add_argument("--version", action="version", version=f"babysit-plugin {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="print a traceback for unexpected errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_all(sub, None if argv is None else _command_of(argv))
    return parser


def _on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``babysit-plugin`` console script."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    # After parsing: --version and --help need no protocol.
    from protocol import ProtocolError

    handler: Handler = args.handler
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return handler(args)
    except (ProtocolError, UsageError) as exc:
        print(f"babysit-plugin: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("babysit-plugin: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("babysit-plugin: terminated", file=sys.stderr)
        return 143
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        else:
            print(
                f"babysit-plugin: internal error: {type(exc).__name__}: {exc} "
                "(run again with --debug for a traceback, and report it)",
                file=sys.stderr,
            )
        return 3
    finally:
        signal.signal(signal.SIGTERM, previous)

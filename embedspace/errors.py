"""Errors a person can cause, with messages that say what went wrong and what to do.

Every error raised for bad input or a missing model derives from EmbedspaceError; the
CLI and the app print its message instead of a stack trace.
"""

import errno
import importlib
import os
import re


class EmbedspaceError(Exception):
    """Base class: the message is written for a person, not a developer."""


class SpecError(EmbedspaceError, ValueError):
    """A space spec that does not parse or names no known space."""


class InputError(EmbedspaceError, ValueError):
    """A text or image that cannot be embedded (empty, too long, corrupt, ...)."""


class UnsupportedError(EmbedspaceError):
    """The space cannot do this (e.g. GloVe and images, a language it was not trained on)."""


class SpaceUnavailableError(EmbedspaceError):
    """The space's weights or package are not available on this machine."""


class MissingDependencyError(SpaceUnavailableError, ImportError):
    """An optional Python package is not installed."""


def require(module: str, package: str, purpose: str):
    """Import an optional dependency or fail with the pip command that installs it."""

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{package}', which is not installed "
            f"({exc}). Install it with: pip install {package}"
        ) from None


class IndexStateError(EmbedspaceError):
    """An index that is missing, corrupt, locked, or built with another space."""


class MissingDataError(EmbedspaceError):
    """Data an evaluation needs (a test set, a language's names) is not on this machine."""


def is_disk_full(exc: BaseException) -> bool:
    """A write that failed for want of space or quota. Python says so by errno (ENOSPC, EDQUOT); FAISS
    only in its RuntimeError's text ('... (No space left on device)'); numpy's np.save to a file only
    as a short write ('34000 requested and 8128 written'), which on a local file means the same."""
    codes = (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, OSError) and exc.errno in codes:
        return True
    if isinstance(exc, OSError) and exc.errno is None and re.fullmatch(r"\d+ requested and \d+ written", str(exc)):
        return True
    return isinstance(exc, RuntimeError) and any(os.strerror(code) in str(exc) for code in codes)

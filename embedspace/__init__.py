"""embedspace: one shared embedding space for texts in many languages and images.

    >>> from embedspace import load_space
    >>> space = load_space("use-m3")
    >>> vectors = space.embed_texts(["dog", "perro"])   # (2, 512) float32, unit rows
"""

from .errors import (
    EmbedspaceError,
    InputError,
    MissingDependencyError,
    SpaceUnavailableError,
    SpecError,
    UnsupportedError,
)
from .languages import normalize_lang
from .spaces.registry import DEFAULT_SPACE, list_spaces, load_space
from .spaces.space import Space, Tokens
from .spec import format_spec, parse_spec

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SPACE", "EmbedspaceError", "InputError", "MissingDependencyError", "Space",
    "SpaceUnavailableError", "SpecError", "Tokens", "UnsupportedError", "format_spec",
    "list_spaces", "load_space", "normalize_lang", "parse_spec",
]

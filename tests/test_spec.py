import pytest

from embedspace import SpecError, format_spec, load_space, parse_spec
from embedspace.spec import CompositeSpec, SingleSpec, quote


@pytest.mark.parametrize(
    "text, kind, name, ref, options",
    [
        ("use-m3", "named", "use-m3", None, ()),
        ("e5-small[prefix=asymmetric]", "named", "e5-small", None, (("prefix", "asymmetric"),)),
        ("st:sentence-transformers/all-MiniLM-L6-v2", "st", "sentence-transformers/all-MiniLM-L6-v2", None, ()),
        ('st:"/models/my model+v2"', "st", "/models/my model+v2", None, ()),
        ("open_clip:ViT-B-32/laion2b_s34b_b79k", "open_clip", "ViT-B-32", "laion2b_s34b_b79k", ()),
        ("open_clip:ViT-B-32//ckpts/clip.pt", "open_clip", "ViT-B-32", "/ckpts/clip.pt", ()),
        ("open_clip:hf-hub:timm/ViT-B-16-SigLIP", "open_clip", "hf-hub:timm/ViT-B-16-SigLIP", None, ()),
        (
            'open_clip:ViT-B-32/openai[text="st:sentence-transformers/clip-ViT-B-32-multilingual-v1"]',
            "open_clip", "ViT-B-32", "openai",
            (("text", "st:sentence-transformers/clip-ViT-B-32-multilingual-v1"),),
        ),
        ("use-m3[topk=5,images=map:maps/emoji.npz]", "named", "use-m3", None,
         (("images", "map:maps/emoji.npz"), ("topk", "5"))),
    ],
)
def test_single_specs_parse_and_round_trip(text, kind, name, ref, options):
    spec = parse_spec(text)
    assert spec == SingleSpec(kind, name, ref, options)
    assert parse_spec(format_spec(spec)) == spec


def test_composite_with_weights_round_trips():
    spec = parse_spec("concat:glove-6b-50d+use-m3*0.7+e5-small[prefix=symmetric]*2")
    assert isinstance(spec, CompositeSpec)
    assert [p.spec.name for p in spec.parts] == ["glove-6b-50d", "use-m3", "e5-small"]
    assert [p.weight for p in spec.parts] == [1.0, 0.7, 2.0]
    assert spec.parts[2].spec.option("prefix") == "symmetric"
    assert format_spec(spec) == "concat:glove-6b-50d+use-m3*0.7+e5-small[prefix=symmetric]*2"
    assert parse_spec(format_spec(spec)) == spec


def test_quoting_round_trips_every_reserved_character():
    nasty = 'a/b c+d*e,f=g[h]i"j\\k'
    assert parse_spec(f"st:{quote(nasty)}").name == nasty


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("use-m3[", "option name"),
        ("use-m3[topk]", "expected '='"),
        ("use-m3[topk=1,topk=2]", "twice"),
        ("use-m3+e5-small", "only allowed inside concat"),
        ("concat:use-m3", "at least two parts"),
        ("concat:use-m3*x+e5-small", "not a number"),
        ("concat:use-m3*-1+e5-small", "positive"),
        ("concat:concat:a+b+c", "nested"),
        ("open_clip:ViT-B-32", "needs a pretrained tag"),
        ('st:"unclosed', "unclosed quote"),
        ("sentence-transformers/LaBSE", "needs a prefix"),
    ],
)
def test_bad_specs_say_what_is_wrong(text, fragment):
    with pytest.raises(SpecError, match=fragment):
        parse_spec(text)


def test_unknown_space_and_option_are_refused_with_the_choices():
    with pytest.raises(SpecError, match="Known spaces: use-m3"):
        load_space("no-such-space")
    with pytest.raises(SpecError, match="no option colour.*topk"):
        load_space("use-m3[colour=red]")
    with pytest.raises(SpecError, match="topk=0"):
        load_space("use-m3[topk=0]")


def test_canonical_id_spells_out_defaults_and_a_checksum_digest(use_space):
    assert use_space.canonical == "use-m3[images=conse,topk=10]"
    canonical, digest = use_space.id.split("#")
    assert canonical == use_space.canonical and len(digest) == 12
    # every default written out: the explicit spec names the same space
    assert load_space("use-m3[topk=10,images=conse]").id == use_space.id
    assert load_space("use-m3[topk=5]").id != use_space.id
    assert load_space("use-m3[images=none]").id != use_space.id
    assert all(len(v) == 64 for v in use_space.artifacts.values())

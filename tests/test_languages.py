import pytest

from embedspace import InputError, normalize_lang
from embedspace.languages import language_name, normalize_langs


@pytest.mark.parametrize(
    "code, expected",
    [
        ("en", "en"), ("EN", "en"), ("eng", "en"), ("en_US", "en"), ("en-GB", "en"),
        ("spa", "es"), ("pt-BR", "pt"), ("iw", "he"), ("deu", "de"),
        ("zh", "zh-Hans"), ("zh-CN", "zh-Hans"), ("zho", "zh-Hans"), ("cmn", "zh-Hans"),
        ("zh-TW", "zh-Hant"), ("zh-HK", "zh-Hant"), ("zh_Hant", "zh-Hant"), ("yue", "zh-Hant"),
        ("sr", "sr-Cyrl"), ("sr-Latn", "sr-Latn"),
    ],
)
def test_codes_normalise_to_one_form(code, expected):
    assert normalize_lang(code) == expected


@pytest.mark.parametrize("code", ["", "  ", "xx-bad", "not a language", None])
def test_bad_codes_are_refused(code):
    with pytest.raises(InputError, match="(?i)language code"):
        normalize_lang(code)


def test_lists_keep_order_and_drop_repeats():
    assert normalize_langs(["en-US", "es", "eng", "zh-TW"]) == ("en", "es", "zh-Hant")


def test_language_names_come_from_cldr():
    assert language_name("es") == "Spanish"
    assert language_name("zh-Hant") == "Chinese (Traditional)"

"""Word class from endings (embedspace/maps/word_class.py): the tables' verdicts on plain cases."""

import pytest

from embedspace.maps.word_class import ENDINGS, class_fit, english_class, source_class


@pytest.mark.parametrize("word, lang, expected", [
    ("caminar", "es", "verb"), ("rápidamente", "es", "adverb"), ("nación", "es", "noun"),
    ("famoso", "es", "adjective"), ("cansado", "es", "participle"), ("Criticar", "es", "verb"),
    ("critiquer", "fr", "verb"), ("richesse", "fr", "noun"), ("heureux", "fr", "adjective"),
    ("lentement", "fr", None),  # French -ment is left out: adverbs and nouns (gouvernement) share it
    ("rappresentare", "it", "verb"), ("relazione", "it", "noun"), ("misurato", "it", "participle"),
    ("conversar", "pt", "verb"), ("educação", "pt", "noun"), ("provável", "pt", "adjective"),
    ("naciones", "es", "noun"), ("famosos", "es", "adjective"), ("relazioni", "it", "noun"), ("nations", "fr", "noun"),
    ("ser", "es", None), ("comer", "xx", None), ("comer algo", "es", None),  # short, no table, two words
])
def test_source_class_takes_the_longest_listed_ending(word, lang, expected):
    assert source_class(word, lang) == expected


def test_the_longest_ending_wins_over_a_shorter_one_of_another_class():
    assert "ar" in ENDINGS["es"]["verb"] and source_class("preocuparse", "es") == "verb"
    assert source_class("calidad", "es") == "noun" and source_class("terminada", "es") == "participle"


@pytest.mark.parametrize("word, expected", [
    ("criticism", "noun"), ("relationship", "noun"), ("famous", "adjective"), ("historical", "adjective"),
    ("active", "adjective"), ("receive", None), ("arrive", None), ("quickly", "adverb"),
    ("walking", "-ing"), ("walked", "-ed"), ("criticize", None), ("walk", None), ("Nation", "noun"),
    ("nations", "noun"), ("abilities", "noun"), ("businesses", "noun"), ("glasses", None), ("physics", None),
])
def test_english_class_by_ending(word, expected):
    assert english_class(word) == expected


def test_class_fit_marks_conflicts_and_agreements_and_nothing_for_an_unclassed_query():
    candidates = ["criticism", "criticize", "critical", "criticizing"]
    conflicts, agreements = class_fit("critiquer", "fr", candidates)
    assert conflicts == [1.0, 0.0, 1.0, 1.0] and agreements == [0.0, 1.0, 0.0, 0.0]
    conflicts, agreements = class_fit("educacional", "pt", ["education", "educational"])
    assert conflicts == [0.0, 0.0] and agreements == [0.0, 0.0]  # -al is in no table: no verdict
    conflicts, agreements = class_fit("famoso", "es", ["fame", "famous", "famously"])
    assert conflicts == [0.0, 0.0, 1.0] and agreements == [0.0, 1.0, 0.0]
    assert class_fit("perro", "es", ["dog", "dogs"]) == ([0.0, 0.0], [0.0, 0.0])

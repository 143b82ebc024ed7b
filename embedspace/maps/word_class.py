"""A word's class guessed from its ending: does an English candidate's class fit a Romance query's?

Used by the default re-ranking of translations (maps/rerank.py): a one-word query into English
whose language has an ending table (ENDINGS: es, fr, it, pt) gets a class from its longest listed
ending (Spanish "caminar" -> verb, "rápidamente" -> adverb, "nación" -> noun, "famoso" ->
adjective, "cansado" -> participle); each English candidate gets one from its own ending
("criticism" -> noun, "critical" -> adjective, "walking" -> -ing) or none ("walk"). A candidate
that CONFLICTS with the query's class (critiquer -> "criticism") is pushed down, one that AGREES
(critiquer -> "criticize": a verb query and an English word with no listed ending) up.

Endings guess, they do not parse: Spanish "lugar" (place) ends like a verb and "family" like an
adverb. Words under MIN_LETTERS letters get no class (short words end in anything). The tables
were written from each language's grammar after reading French, Italian and Portuguese dev
errors; the weights that turn the verdicts into scores were chosen on those dev halves
(rerank.py). Spanish's table was written the same way and never measured: the kept-aside check
is Spanish.
"""

from __future__ import annotations

MIN_LETTERS = 5

# English endings by class, checked in this order (a word takes the first class whose ending it has).
ENGLISH_ENDINGS = (
    ("noun", ("tion", "sion", "ment", "ness", "ity", "ism", "ist", "ance", "ence", "ship", "hood", "dom")),
    ("adjective", ("ous", "ful", "ic", "ical", "able", "ible", "less")),
    ("adverb", ("ly",)),
    ("-ing", ("ing",)),
    ("-ed", ("ed",)),
)
# -ive is an adjective's ending except in these verbs and nouns (receive, believe, arrive, survive, olive).
NOT_ADJECTIVE_IVE = ("eive", "ieve", "rive", "vive", "olive")
NOUN_ENDINGS = dict(ENGLISH_ENDINGS)["noun"]  # also checked on a plural's singular (nations -> nation)

# Source endings by class; the longest matching ending decides. French leaves out endings that
# are as often another class: -ment (adverbs and nouns), -é (participles and nouns: santé, idée),
# -re (verbs and nouns: prendre, lettre), -ique (adjectives and nouns: musique).
# Plurals: every noun ending with its plural; Spanish and Portuguese -osos, -ivos, -ados, -idos too.
ENDINGS = {
    "es": {"verb": ("ar", "er", "ir", "arse", "erse", "irse"), "adverb": ("mente",),
           "noun": ("ción", "ciones", "sión", "siones", "dad", "dades", "tad", "tades", "ismo", "ismos",
                    "miento", "mientos", "ncia", "ncias", "eza", "ezas"),
           "adjective": ("oso", "osa", "osos", "osas", "ivo", "iva", "ivos", "ivas", "ico", "able", "ible"),
           "participle": ("ado", "ada", "ados", "adas", "ido", "ida", "idos", "idas")},
    "pt": {"verb": ("ar", "er", "ir"), "adverb": ("mente",),
           "noun": ("ção", "ções", "são", "sões", "dade", "dades", "ismo", "ismos", "mento", "mentos",
                    "ncia", "ncias", "eza", "ezas"),
           "adjective": ("oso", "osa", "osos", "osas", "ivo", "iva", "ivos", "ivas", "ico", "ável", "ível"),
           "participle": ("ado", "ada", "ados", "adas", "ido", "ida", "idos", "idas")},
    "it": {"verb": ("are", "ere", "ire", "arsi", "ersi", "irsi"), "adverb": ("mente",),
           "noun": ("zione", "zioni", "sione", "sioni", "ità", "ismo", "ismi", "mento", "menti", "nza", "nze",
                    "ezza", "ezze"),
           "adjective": ("oso", "osa", "ivo", "iva", "ico", "abile", "ibile"),
           "participle": ("ato", "ata", "ito", "ita", "uto", "uta")},
    "fr": {"verb": ("er", "ir"),
           "noun": ("tion", "tions", "sion", "sions", "ité", "ités", "isme", "ismes", "ance", "ances", "ence",
                    "ences", "esse", "esses"),
           "adjective": ("eux", "euse", "if", "ive", "able", "ible")},
}
LANGUAGES = tuple(ENDINGS)

# English classes that do not fit a query's class ...
CONFLICTS = {"verb": {"noun", "adjective", "adverb", "-ing", "-ed"},
             "adjective": {"noun", "adverb", "-ing"},
             "noun": {"adjective", "adverb", "-ed"},
             "adverb": {"noun", "adjective", "-ing", "-ed"},
             "participle": {"noun", "adverb", "-ing"}}
# ... and those that do (None: an English word with no listed ending, as most base verbs are).
AGREES = {"verb": {None}, "adjective": {"adjective"}, "noun": {"noun"}, "adverb": {"adverb"},
          "participle": {"-ed"}}


def english_class(word: str) -> str | None:
    """The class of an English word by its ending, or None (no listed ending, or too short)."""
    word = word.strip().casefold()
    if len(word) < MIN_LETTERS:
        return None
    for name, endings in ENGLISH_ENDINGS:
        if word.endswith(endings):
            return name
    if len(word) > MIN_LETTERS and word.endswith("ive") and not word.endswith(NOT_ADJECTIVE_IVE):
        return "adjective"
    if word.endswith("s") and any(word in english_inflections(stem) for stem in (word[:-1], word[:-2], word[:-3] + "y")
                                  if stem.endswith(NOUN_ENDINGS)):
        return "noun"  # a plural of one: nations, abilities, businesses
    return None


def english_inflections(word: str) -> set:
    """The regular English inflections of a (case-folded) word: +s, +es, +ed, +d, +ing; y -> ies,
    ied; a final e dropped before ing, ed; a final consonant after one vowel doubled (stop: stopping).
    Over-generates (bus: buss), which costs nothing: only forms that are other candidates matter."""
    forms = {word + ending for ending in ("s", "es", "ed", "d", "ing")}
    if word.endswith("e"):
        forms |= {word[:-1] + "ing", word[:-1] + "ed"}
    if word.endswith("y") and len(word) > 2:
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if len(word) > 2 and word[-1] not in "aeiouwyx" and word[-2] in "aeiou":
        forms |= {word + word[-1] + "ing", word + word[-1] + "ed"}
    forms.discard(word)
    return forms


def source_class(word: str, lang: str) -> str | None:
    """The class of a word of `lang` by its longest listed ending, or None (no table for `lang`, no
    listed ending, too short, or more than one word)."""
    word = word.strip().casefold()
    if lang not in ENDINGS or len(word) < MIN_LETTERS or len(word.split()) != 1:
        return None
    matches = [(len(ending), name) for name, endings in ENDINGS[lang].items() for ending in endings
               if word.endswith(ending)]
    return max(matches)[1] if matches else None


def class_fit(query: str, lang: str, candidates: list) -> tuple[list, list]:
    """(conflicts, agreements): for each candidate, 1.0 where its English class conflicts with (or
    agrees with) the query's class, else 0.0. Both all 0.0 when the query has no class."""
    query_class = source_class(query, lang)
    if query_class is None:
        return [0.0] * len(candidates), [0.0] * len(candidates)
    classes = [english_class(candidate) for candidate in candidates]
    return ([1.0 if c in CONFLICTS[query_class] else 0.0 for c in classes],
            [1.0 if c in AGREES[query_class] else 0.0 for c in classes])

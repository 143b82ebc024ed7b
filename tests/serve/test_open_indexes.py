"""OpenIndexes: an index is reopened when another process commits, a request keeps the Index it
got, and while one request opens the new version the others answer from the old one."""

import pytest

from embedspace.index import InlineItem, add_items
from embedspace.serve.errors import IndexNotFound
from embedspace.serve.open_indexes import OpenIndexes


def test_a_commit_is_picked_up_and_the_old_index_stays_whole(writable):
    indexes = OpenIndexes(writable)
    first = indexes.get("words")
    assert indexes.get("words") is first  # nothing changed: nothing reopened
    add_items("words", [InlineItem("Löwe", lang="de")], index_dir=writable)
    second = indexes.get("words")
    assert second is not first and len(second.index) == 37 and second.index.generation != first.index.generation
    assert len(first.index) == 36 and first.index.vectors_f32([35]).shape == (1, 512)  # still readable
    assert second.space is first.space  # the model is not loaded again


def test_others_answer_from_the_old_version_while_one_request_opens_the_new(writable):
    indexes = OpenIndexes(writable)
    first = indexes.get("words")
    add_items("words", [InlineItem("Löwe", lang="de")], index_dir=writable)
    opening = indexes._lock_for("words")
    with opening:  # as if another request were opening the new version now
        assert indexes.get("words") is first
    assert len(indexes.get("words").index) == 37


def test_an_unknown_or_removed_index_is_not_found(writable):
    indexes = OpenIndexes(writable)
    indexes.get("words")
    with pytest.raises(IndexNotFound, match="No index 'other'.*words"):
        indexes.get("other")
    with pytest.raises(IndexNotFound):
        indexes.get("../words")  # not an index name at all
    (writable / "words" / "CURRENT").rename(writable / "words" / "CURRENT.gone")
    with pytest.raises(IndexNotFound):
        indexes.get("words")

"""embedspace.progress: one shape of progress for the CLI (tqdm) and the app (a callback)."""

from embedspace.progress import Tracker, announce
from embedspace.spaces.space import Space


def test_callback_sees_each_stage_and_count():
    seen = []
    with Tracker(lambda *event: seen.append(event), 5, "Embedding") as bar:
        bar.update(2)
        bar.update(3)
    announce(lambda *event: seen.append(event), "UMAP layout")
    assert seen == [("Embedding", 0, 5), ("Embedding", 2, 5), ("Embedding", 5, 5), ("UMAP layout", 0, None)]


def test_true_draws_a_bar_and_false_is_silent(capsys):
    with Tracker(True, 3, "Rendering emoji", "emoji") as bar:
        bar.update(3)
    with Tracker(False, 3, "Silent") as bar:
        bar.update(3)
    announce(None, "nothing")
    err = capsys.readouterr().err
    assert "Rendering emoji" in err and "3/3" in err and "Silent" not in err and "nothing" not in err


def test_a_space_reports_its_batches_through_the_callback():
    class Lengths(Space):
        dim, languages, canonical = 2, ("en",), "lengths"

        def _embed_text_batch(self, texts, role):
            import numpy as np

            return np.array([[len(t), 1.0] for t in texts], np.float32)

    seen = []
    Lengths().embed_texts(["a", "bb", "ccc"], batch_size=2, progress=lambda *event: seen.append(event))
    assert seen[0] == ("Embedding texts", 0, 3) and seen[-1] == ("Embedding texts", 3, 3)

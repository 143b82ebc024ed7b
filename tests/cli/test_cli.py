import json
import subprocess
import sys
from pathlib import Path

from embedspace.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_prints_a_similarity_matrix(capsys):
    code, out, _ = run(capsys, "compare", "dog", "perro", "coche", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["labels"] == ["dog", "perro", "coche"]
    dog = result["cosine"][0]
    assert dog[1] > dog[2]
    assert result["space"].startswith("use-m3[")


def test_compare_text_with_image(capsys, tmp_path, cat_photo):
    from PIL import Image

    path = tmp_path / "cat.jpg"
    Image.fromarray(cat_photo).save(path)
    code, out, _ = run(capsys, "compare", "gato", "cohete", "--image", str(path))
    assert code == 0 and "image 1: " in out
    gato, cohete = [float(line.split()[-1]) for line in out.splitlines() if line.startswith(("gato", "cohete"))]
    assert gato > cohete


def test_tokens(capsys):
    code, out, _ = run(capsys, "tokens", "perro grande")
    assert code == 0 and "▁perro" in out and "tokens" in out


def test_user_errors_are_one_line_and_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "compare", "dog", "", "--space", "use-m3")
    assert code == 2 and err.startswith("error: Text 2 of 2 is empty") and "Traceback" not in err
    code, _, err = run(capsys, "compare", "x", "--space", "bogus")
    assert code == 2 and "Unknown space 'bogus'" in err
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    code, _, err = run(capsys, "compare", "x", "--image", str(bad))
    assert code == 2 and "not an image" in err


def test_spaces_lists_offline_spaces_as_ready(capsys):
    code, out, _ = run(capsys, "spaces", "--json")
    assert code == 0
    spaces = {s["name"]: s for s in json.loads(out)}
    assert spaces["use-m3"]["available"] and spaces["use-m3"]["dim"] == 512
    assert spaces["e5-small"]["dim"] == 384 and spaces["glove-6b-50d"]["dim"] == 50
    assert spaces["glove-6b-50d"]["modalities"] == ["text"]
    assert "ConSE" in spaces["use-m3"]["reason"] and "stand-in for CLIP" in spaces["use-m3"]["reason"]
    hub = [s for s in spaces.values() if s["name"].startswith(("st:", "open_clip:"))]
    assert hub and all(s["reason"] for s in hub)
    composite = [s for s in spaces.values() if s["name"].startswith("concat:")]
    assert len(composite) == 1 and any("Backoff" in note for note in composite[0]["notes"])


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "embedspace"
    result = subprocess.run([str(script), "spaces", "--no-check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "use-m3" in result.stdout


def test_a_lone_surrogate_is_a_one_line_error_in_every_text_command(capsys, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("perro\nHund\ngato\n")
    assert run(capsys, "build", "w", str(words), "--lang", "es", "--index-dir", str(tmp_path), "--quiet")[0] == 0
    bad = "ga\udcfft"  # what Python makes of the byte 0xff in an argument
    for argv in (("search", "w", bad), ("translate", "w", bad, "--to", "es"), ("analogy", "w", "perro", bad, "gato"),
                 ("compare", "perro", bad), ("tokens", bad)):
        if argv[0] not in ("compare", "tokens"):
            argv += ("--index-dir", str(tmp_path))
        code, _, err = run(capsys, *argv)
        assert code == 2 and "lone surrogate U+DCFF at character 3" in err and "Traceback" not in err, argv


def test_output_into_a_closed_pipe_ends_quietly():
    """`embedspace spaces | head -1`: the reader goes away; no BrokenPipeError traceback."""
    command = [sys.executable, "-m", "embedspace.cli", "spaces", "--no-check"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line is written
    _, err = process.communicate(timeout=60)
    assert process.returncode == 141 and err.decode() == ""  # 128 + SIGPIPE, as a shell shows for `yes | head`


def test_translate_says_it_reranks_by_spelling_and_frequency_and_none_turns_it_off(capsys, tmp_path, monkeypatch):
    """The default re-ranking is on in the CLI, shown in the answer's setting; --rerank none keeps CSLS's order."""
    import shutil

    fixture = Path(__file__).parents[1] / "fixtures" / "v1"
    shutil.copytree(fixture, tmp_path / "v1")
    monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(tmp_path / "v1" / "indexes" / "maps"))
    where = ("--index-dir", str(tmp_path / "v1" / "indexes"))
    default = json.loads(run(capsys, "translate", "plain", "perro", "--to", "en", "--from", "es", "--json", *where)[1])
    plain = json.loads(run(capsys, "translate", "plain", "perro", "--to", "en", "--from", "es", "--json",
                           "--rerank", "none", *where)[1])
    assert "re-ranked by spelling + frequency" in default["setting"] and "no re-ranking" in plain["setting"]
    scores = [r["score"] for r in plain["results"]]
    assert scores == sorted(scores, reverse=True)
    assert {r["id"] for r in default["results"]} == {r["id"] for r in plain["results"]}

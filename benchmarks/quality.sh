#!/usr/bin/env bash
# Reproduces benchmarks/results/quality.json and the quality tables of docs/quality.md:
#   bash benchmarks/quality.sh                  (or OUT=other.json, EMBEDSPACE="python -m embedspace.cli")
# Embeddings are cached (~/.cache/embedspace/eval, image features in ~/.cache/embedspace/features):
# with warm caches the whole script took 11 min 17 s on a 2-core machine (2026-11-27); a cold cache
# first embeds about 340,000 texts per text space and Lite0/1/2 features of 1,914 emoji drawings.
# Each result records its own command, machine, load and date.
set -euo pipefail
OUT=${OUT:-benchmarks/results/quality.json}
ES=${EMBEDSPACE:-embedspace}
run() { $ES eval "$@" --quiet --save "$OUT"; }

run analogy --space glove-6b-50d --restrict-vocab 30000
run analogy --space glove-6b-50d --restrict-vocab 300000
run hubness --space glove-6b-50d --builtin
for space in use-m3 e5-small; do
  run analogy --space "$space" --restrict-vocab 30000
  run translation --space "$space"
  run crosslingual-analogy --space "$space"
  run image-text --space "$space"
  run image-text --space "$space" --map ridge                 # lite0 features, English names, 5 folds
  run hubness --space "$space" --builtin
done
run analogy --space use-m3 --restrict-vocab 300000
run analogy --space e5-small --restrict-vocab 300000
run image-text --space use-m3 --map ridge --backbones lite0,lite1,lite2 \
  --fit-languages en,es,fr,de,it,pt,ru,ja,zh-Hans,ko,ar,tr    # the best map recipe of `embedspace align`
$ES demo --quiet            # the demo index (use-m3), built once and reused
run hubness --index demo
# General vocabulary (issue 19): FreeDict X-en test halves, when benchmarks/freedict_setup.py has made them
for dictionary in benchmarks/results/freedict/*-en.test.txt; do
  [ -e "$dictionary" ] || continue
  lang=$(basename "$dictionary" -en.test.txt)
  run translation --space use-m3 --pairs "$lang-en" --dictionary "$dictionary"
done

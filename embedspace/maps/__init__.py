"""Learned maps on top of a space: Procrustes maps between languages (`text_map`, `align-text`),
image maps fitted on labelled images (`alignment`, `align`), and bitext mining (`mining`)."""

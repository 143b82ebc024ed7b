"""Embedding spaces: the `Space` base (`space`), `load_space` and its factory table
(`registry`, `catalogue`), composite spaces, finding hub weights (`hub`), the embedding cache,
images through an ImageNet classifier (`conse`) or a learned map (`image_map`), and one backend
module per model family (`backends/`)."""

"""One module per model family; each defines a Space subclass. Imported lazily by registry.py."""

"""Progress of long loops, in one shape for every caller.

A function that takes `progress` accepts:

- False or None: silent;
- True: a tqdm bar on stderr (what the CLI asks for);
- a callback `progress(stage, done, total)`: the app turns it into its own status display.
  `done` counts units of work (items, images, chunks); `total` is None where unknown, and a
  call with done=0 and total=None announces a stage that has no count (e.g. "Fitting UMAP").
"""

from __future__ import annotations

import sys
from collections.abc import Callable

ProgressCallback = Callable[[str, int, "int | None"], None]
Progress = "bool | ProgressCallback | None"


class Tracker:
    """Counts one stage's work for one `progress` argument; a context manager that closes itself."""

    def __init__(self, progress, total: int | None, stage: str, unit: str = "item"):
        self.callback = progress if callable(progress) else None
        self.stage, self.total, self.done = stage, total, 0
        self.bar = None
        if progress is True:
            from tqdm.auto import tqdm  # tqdm.auto picks up a notebook's own widget

            self.bar = tqdm(total=total, unit=unit, desc=stage, smoothing=0.1)
        if self.callback is not None:
            self.callback(stage, 0, total)

    def update(self, count: int = 1) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
        if self.callback is not None:
            self.callback(self.stage, self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def announce(progress, stage: str) -> None:
    """A stage without a count: a line on stderr for True, a callback with done=0, total=None."""
    if callable(progress):
        progress(stage, 0, None)
    elif progress:

        print(stage, file=sys.stderr, flush=True)

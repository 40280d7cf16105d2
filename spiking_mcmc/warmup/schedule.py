"""When warmup collects draws, switches windows and re-learns the metric (nutpie's schedule).

    early phase (first 30%):  windows of 10 transitions
    main phase:               windows of 80, growing 1.5x, while a whole one still fits
    final phase (last 15%):   the metric is fixed; only the step size adapts

Two running estimates are kept: the foreground (every draw since the switch before last) and
the background (since the last switch); at a switch the background becomes the foreground and
a new background starts. The metric is re-learned from the foreground at every switch and
every ``update_every`` transitions in between, so it always rests on the last one or two
windows: early windows forget the first, far-out draws quickly, later ones gather more draws.
The schedule is fixed by the number of warmup transitions alone (numpy arrays, static under
``jit``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Schedule(NamedTuple):
    collect: np.ndarray  # (T,) bool: the draw of transition t enters the estimates
    switch: np.ndarray  # (T,) bool: the background becomes the foreground after transition t
    update: np.ndarray  # (T,) bool: the metric is re-learned after transition t
    final_start: int  # first transition of the final (step size only) phase
    early_end: int  # first transition of the main phase


def build(
    num_warmup: int,
    early_fraction: float = 0.3,
    final_fraction: float = 0.15,
    early_window: int = 10,
    first_window: int = 80,
    growth: float = 1.5,
    update_every: int = 10,
) -> Schedule:
    """The schedule of ``num_warmup`` transitions (see the module docstring)."""
    num_warmup = max(int(num_warmup), 1)
    final_start = num_warmup - int(final_fraction * num_warmup)
    early_end = int(early_fraction * num_warmup)
    collect = np.arange(num_warmup) < final_start
    switch = np.zeros(num_warmup, bool)
    update = np.zeros(num_warmup, bool)
    background, window, last_update = 0, first_window, -1
    for t in range(final_start):
        background += 1
        early = t < early_end
        if not early and t == early_end:
            window = max(window, background)
        size = early_window if early else window
        next_size = early_window if early else max(window + 1, round(window * growth))
        late = next_size + t > final_start
        if background >= size and not late:
            switch[t] = True
            background = 0
            if not early:
                window = next_size
        if switch[t] or t - last_update >= update_every:
            update[t] = True
            last_update = t
    return Schedule(collect, switch, update, final_start, early_end)

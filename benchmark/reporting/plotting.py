"""The figure style and PNG bytes shared by every figure of the reports (report, per-table figures, listening
spectrograms): a headless backend, and PNGs without the "Software: Matplotlib version …" text chunk (PNGs carry no
date either), so the bytes depend only on the numbers. Imports nothing of the suite (a small stage dependency)."""

from __future__ import annotations

import functools

#: PNG text chunks of the figures: none (matplotlib writes its version by default)
PNG_METADATA = {"Software": None}


def pristine(draw):
    """Decorator: draw the figure under matplotlib's default style, whatever an earlier figure of the same process
    left in ``rcParams`` (a seaborn theme, a test), restored afterwards: a figure's bytes then depend only on its
    numbers, not on what was drawn before it in the process (the pipeline draws each in its own stage, the tests
    several in one process)."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.style

        with matplotlib.style.context("default"):
            return draw(*args, **kwargs)

    return wrapper


def axes(figsize):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def save(fig, ax, title: str) -> bytes:
    import io

    import matplotlib.pyplot as plt

    ax.set_title(title)
    ax.set_ylabel("")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    return buf.getvalue()

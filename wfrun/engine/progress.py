"""What a run tells the person watching: a line per node, a bar per sampler and per video
being written, and one ``wrote`` line per file, printed when the file is complete.

VAE encode/decode report their chunks on bars of their own (``chunks``), kept apart from
the sampler's ``steps`` so ``step_seconds`` stays sampler steps only (benchmarks read it).

Text goes to stderr (stdout stays clean for ``--format json``). The bar is tqdm's, which
shows steps, elapsed time and s/it. ``QuietProgress`` records the same events for tests and
for the JSON report.
"""

from __future__ import annotations

import abc

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass
class QuietProgress:
    """Records events; used as the base of the console progress and by tests."""

    events: list[tuple[str, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    step_counts: list[int] = field(default_factory=list)
    #: Seconds of each sampler step, one list per bar (benchmarks read these).
    step_seconds: list[list[float]] = field(default_factory=list)
    #: One ``[description, total, done]`` per chunk bar (VAE encode/decode).
    chunk_bars: list[list] = field(default_factory=list)
    #: Frames handed to each file writer (a video), one count per file.
    frame_counts: list[int] = field(default_factory=list)

    def node_started(self, node_id: str, label: str) -> None:
        self.events.append(("start", node_id))

    def node_finished(self, node_id: str, label: str, seconds: float, cached: bool) -> None:
        self.events.append(("cached" if cached else "done", node_id))

    def steps(self, total: int, description: str) -> Any:
        self.step_counts.append(int(total))
        self.step_seconds.append([])
        return _TimingBar(self.step_seconds[-1])

    def wrote(self, path: Path) -> None:
        self.written.append(Path(path))

    def writing(self, total: int, description: str) -> Any:
        """A bar for the frames of one file being written (not a sampler: not timed)."""
        self.frame_counts.append(0)
        return _CountingBar(self.frame_counts, len(self.frame_counts) - 1)

    def chunks(self, total: int, description: str) -> Any:
        """A bar for the chunks of a VAE encode/decode (not a sampler: not timed)."""
        self.chunk_bars.append([description, int(total), 0])
        return _CountingBar(self.chunk_bars[-1], 2)


class _RecordingBar(abc.ABC):
    """A bar that records something per update and forwards it to a console bar, if any."""

    def __init__(self, inner: Any = None):
        self._inner = inner

    @abc.abstractmethod
    def record(self, n: int) -> None:
        """Note one update of ``n`` (each kind of bar records its own thing)."""

    def update(self, n: int = 1) -> None:
        self.record(n)
        if self._inner is not None:
            self._inner.update(n)

    def set_postfix_str(self, text: str) -> None:
        if self._inner is not None:
            self._inner.set_postfix_str(text)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    def __enter__(self) -> "_RecordingBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _CountingBar(_RecordingBar):
    """Counts updates into ``counts[index]``."""

    def __init__(self, counts: list, index: int, inner: Any = None):
        super().__init__(inner)
        self._counts = counts
        self._index = index

    def record(self, n: int) -> None:
        self._counts[self._index] += n


class _TimingBar(_RecordingBar):
    """Records the time between updates (synchronising CUDA so GPU work is counted)."""

    def __init__(self, into: list[float], inner: Any = None):
        import time

        super().__init__(inner)
        self._clock = time.perf_counter
        self._into = into
        self._last = self._clock()

    def record(self, n: int) -> None:
        _sync()
        now = self._clock()
        self._into.append(now - self._last)
        self._last = now


def _sync() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_NullBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ConsoleProgress(QuietProgress):
    """A line per node (with seconds, or 'cached'), tqdm bars for sampler steps."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__()
        self.stream = stream or sys.stderr

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def node_started(self, node_id: str, label: str) -> None:
        super().node_started(node_id, label)
        self._say(f"▶ node {node_id} {label}")

    def node_finished(self, node_id: str, label: str, seconds: float, cached: bool) -> None:
        super().node_finished(node_id, label, seconds, cached)
        self._say(f"  node {node_id} {label}: cached" if cached else f"  node {node_id} {label}: {seconds:.2f} s")

    def steps(self, total: int, description: str) -> Any:
        from tqdm import tqdm

        self.step_counts.append(int(total))
        self.step_seconds.append([])
        bar = tqdm(total=int(total), desc=description, unit="step", file=self.stream, leave=True, dynamic_ncols=True)
        return _TimingBar(self.step_seconds[-1], bar)

    def chunks(self, total: int, description: str) -> Any:
        from tqdm import tqdm

        self.chunk_bars.append([description, int(total), 0])
        bar = tqdm(total=int(total), desc=description, unit="chunk", file=self.stream, leave=False, dynamic_ncols=True)
        return _CountingBar(self.chunk_bars[-1], 2, bar)

    def writing(self, total: int, description: str) -> Any:
        from tqdm import tqdm

        self.frame_counts.append(0)
        bar = tqdm(total=int(total), desc=description, unit="frame", file=self.stream, leave=True, dynamic_ncols=True)
        return _CountingBar(self.frame_counts, len(self.frame_counts) - 1, bar)

    def wrote(self, path: Path) -> None:
        super().wrote(path)
        self._say(f"  wrote {path}")

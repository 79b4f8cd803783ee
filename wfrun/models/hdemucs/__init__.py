"""Hybrid Demucs music separation (torchaudio's ``HDEMUCS_HIGH_MUSDB_PLUS``, which
christian-byrne's AudioSeparation node runs): ``network`` (the model), ``load`` (finding and
reading the bundle's weights, tiny writers) and ``separate`` (the node's chunked, faded
overlap-add)."""

from wfrun.models.hdemucs.load import (FOLDER, SAMPLE_RATE, SOURCE_URL, STEM, TINY, candidate_files, find_weights,
                                       load_hdemucs, write_tiny)
from wfrun.models.hdemucs.network import SOURCES, HDemucs, HDemucsConfig
from wfrun.models.hdemucs.separate import FADE_SHAPES, chunk_plan, fade, separate_chunks

__all__ = ["FADE_SHAPES", "FOLDER", "SAMPLE_RATE", "SOURCES", "SOURCE_URL", "STEM", "TINY", "HDemucs", "HDemucsConfig",
           "candidate_files", "chunk_plan", "fade", "find_weights", "load_hdemucs", "separate_chunks", "write_tiny"]

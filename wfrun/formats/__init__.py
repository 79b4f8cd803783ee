"""File formats: ComfyUI UI workflows (0.4, 1.x, subgraphs) and API prompts."""

from wfrun.formats.document import Document, FormatError, FormatProblem, dumps, load, load_text

__all__ = ["Document", "FormatError", "FormatProblem", "dumps", "load", "load_text"]

"""File formats: ComfyUI UI workflows (0.4, 1.x, subgraphs) and API prompts, as JSON files or
embedded in PNG/WebP/JPEG/GIF images and MP4/MOV/WebM/MKV videos."""

from wfrun.formats.document import Document, FormatError, FormatProblem, dumps, load, load_text
from wfrun.formats.errors import ToolError
from wfrun.formats.source import Loaded, json_beside, read_workflow

__all__ = ["Document", "FormatError", "FormatProblem", "Loaded", "ToolError", "dumps", "json_beside", "load",
           "load_text", "read_workflow"]

"""Finding and loading model files from an executor: the run's model folders, a name
resolved as ComfyUI resolves it, and load failures turned into input errors that name the
node's input (shared by every pack whose nodes load weights)."""

from __future__ import annotations

from pathlib import Path

from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, ModelRoots, find_model
from wfrun.nodes.executor import ExecContext, NodeInputError


def roots_of(ctx: ExecContext) -> ModelRoots:
    """The models folders of this run (``--models``, WFRUN_MODELS, extra_model_paths.yaml)."""
    if isinstance(ctx.models, ModelRoots):
        return ctx.models
    return ModelRoots.from_options(ctx.models)


def resolve(ctx: ExecContext, folder: str, name: str, input_name: str, *more: str) -> Path:
    """A model file by its widget value, or a NodeInputError saying where wfrun looked."""
    roots = roots_of(ctx)
    try:
        return find_model(roots, folder, name)
    except ModelPathError as first:
        for other in more:
            try:
                return find_model(roots, other, name)
            except ModelPathError:
                pass
        raise NodeInputError(input_name, str(first),
                             "give the models folder with --models DIR (ComfyUI's models folder works as is)") from None


def loading_error(input_name: str, err: Exception) -> NodeInputError:
    return NodeInputError(input_name, str(err).splitlines()[0])


def load_umt5(ctx: ExecContext, path: Path, input_name: str, **load_options: object) -> tuple:
    """A UMT5 encoder (in eval mode, no gradients) and its tokenizer, with a load failure
    named on ``input_name``: ComfyUI's CLIPLoader and the wrapper's T5 loader read the same
    files. Imported on use: transformers is slow to import and only runs need it."""
    from wfrun.models.load import load_text_encoder
    from wfrun.models.tokenizer import TokenizerError, load_umt5_tokenizer

    try:
        encoder = load_text_encoder(path, **load_options)
        tokenizer = load_umt5_tokenizer(path, roots=roots_of(ctx))
    except TokenizerError as err:
        raise NodeInputError(input_name, str(err)) from None
    except (CheckpointError, ValueError) as err:
        raise loading_error(input_name, err) from None
    return encoder.eval().requires_grad_(False), tokenizer

"""Wan self-attention with its two products in fp8, through cuDNN's fp8 SDPA, for ``--fast``.

Why: at the 14B I2V job's 34,320 tokens, attention is over half of a forward once the block
matmuls run in fp8 (cuDNN's fp16/bf16 SDPA at about 550 TFLOP/s; ``bench/RESULTS.md``), so
fp8 matmuls alone leave ``--fast`` attention-bound. Hopper runs fp8 attention at about
twice that rate; cuDNN (NVIDIA's library, through its Python frontend
``nvidia-cudnn-frontend``) is the kernel that installs from a wheel beside PyTorch, while
SageAttention 2 and FlashAttention 3 need a CUDA build (DESIGN.md).

How: keys and values are centred on their mean over the tokens (see :func:`fp8_attention`),
then ``q``, ``k`` and ``v`` are quantized per tensor to e4m3 (one scale each, from the
tensor's absolute maximum, kept on the GPU: no host sync); cuDNN scales the logits back,
keeps the softmax in fp32, quantizes the probabilities at 448 (they are at most 1 before
the final normalisation), and on Hopper writes the output in fp8, at a scale that V's
maximum bounds (the output is a convex combination of V's rows), which is then scaled back
to the query's dtype. The kernel is a PyTorch custom op, so ``torch.compile`` treats it as
one opaque call and fuses the quantization into the kernels around it. cuDNN's plan is
built once per shape and device, kept on disk for later runs (``models/cudnn_plans``: it
holds the kernel cuDNN compiles at run time) and reused.

Only ``wfrun run --fast`` asks for it: it changes the numbers (the error against the bf16
forward is measured in ``bench/attention_kernels.py``); the packs' ``fp8_e4m3fn_fast``
quantizes matmuls only, so a workflow's own choice keeps PyTorch's attention.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.models.cudnn_plans import forget_plan, load_plan, plan_key, store_plan
from wfrun.models.rope import self_attention_inputs

log = logging.getLogger(__name__)

E4M3 = torch.float8_e4m3fn
E4M3_MAX = 448.0
#: the output's scale leaves this share of the fp8 range unused above V's maximum, so the
#: probabilities' rounding (their sum can pass 1 by a hair) never overflows e4m3
OUTPUT_HEADROOM = 0.875
#: cuDNN's fp8 SDPA takes head sizes that are multiples of 16, up to 128 (Wan's is 128)
MAX_HEAD_DIM = 128


def cudnn_frontend_installed() -> bool:
    return importlib.util.find_spec("cudnn") is not None


def fp8_attention_supported(device: Any) -> bool:
    """Whether ``device`` can run cuDNN's fp8 SDPA: a Hopper or Blackwell GPU, cuDNN 9.1 or
    newer under PyTorch, and the cuDNN frontend installed."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    if torch.cuda.get_device_capability(device)[0] not in (9, 10):
        return False
    version = torch.backends.cudnn.version() or 0
    return version >= 90100 and cudnn_frontend_installed()


def quantize_per_tensor(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` in e4m3 at one scale, and the fp32 factor that turns it back (shape [1,1,1,1])."""
    descale = (x.abs().amax().float() / E4M3_MAX).clamp_min(torch.finfo(torch.float32).tiny)
    x8 = (x * (1.0 / descale).to(x.dtype)).to(E4M3)
    return x8, descale.reshape(1, 1, 1, 1)


def fp8_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  scale: float | None = None) -> torch.Tensor:
    """Attention of ``[batch, tokens, heads, head_dim]`` tensors (diffusers' layout), no mask,
    in fp8; the result in ``query``'s dtype and layout.

    Keys and values are centred on their mean over the tokens first (SageAttention's
    smoothing): the softmax of each query is unchanged by the shift of its logits that the
    key mean causes, and the probabilities sum to one, so the value mean is added back after.
    What is quantized is then the part that varies from token to token, which e4m3's three
    mantissa bits resolve far better when a channel carries a common offset (a projection's
    bias does), at the cost of two reductions that compile fuses."""
    key = (key.float() - key.float().mean(dim=1, keepdim=True)).to(key.dtype)
    value_mean = value.float().mean(dim=1, keepdim=True)
    value = (value.float() - value_mean).to(value.dtype)
    q8, descale_q = quantize_per_tensor(query)
    k8, descale_k = quantize_per_tensor(key)
    v8, descale_v = quantize_per_tensor(value)
    scale_o = (OUTPUT_HEADROOM / descale_v).reshape(1, 1, 1, 1)
    attn_scale = float(scale if scale is not None else query.shape[-1] ** -0.5)
    out8 = torch.ops.wfrun.cudnn_fp8_sdpa(q8, k8, v8, descale_q, descale_k, descale_v, scale_o, attn_scale)
    return (out8.float() * (1.0 / scale_o) + value_mean).to(query.dtype)


@torch.library.custom_op("wfrun::cudnn_fp8_sdpa", mutates_args=())
def cudnn_fp8_sdpa(q8: torch.Tensor, k8: torch.Tensor, v8: torch.Tensor, descale_q: torch.Tensor,
                   descale_k: torch.Tensor, descale_v: torch.Tensor, scale_o: torch.Tensor,
                   attn_scale: float) -> torch.Tensor:
    """e4m3 ``[batch, tokens, heads, dim]`` in, the e4m3 output at ``scale_o`` out."""
    q8, k8, v8 = q8.contiguous(), k8.contiguous(), v8.contiguous()
    out = torch.empty(*q8.shape[:-1], v8.shape[-1], dtype=E4M3, device=q8.device)
    plan = _plan(q8, k8, v8, attn_scale)
    if plan is None:
        _reference_into(out, q8, k8, v8, descale_q, descale_k, descale_v, scale_o, attn_scale)
    else:
        plan.run(out, q8, k8, v8, descale_q, descale_k, descale_v, scale_o)
    return out


@cudnn_fp8_sdpa.register_fake
def _(q8, k8, v8, descale_q, descale_k, descale_v, scale_o, attn_scale):
    return q8.new_empty(*q8.shape[:-1], v8.shape[-1])


def _reference_into(out, q8, k8, v8, descale_q, descale_k, descale_v, scale_o, attn_scale) -> None:
    """The same quantized inputs through PyTorch's SDPA in bf16: for a shape cuDNN refuses."""
    q, k, v = ((t.to(torch.bfloat16) * d.to(torch.bfloat16)).transpose(1, 2)
               for t, d in ((q8, descale_q), (k8, descale_k), (v8, descale_v)))
    o = F.scaled_dot_product_attention(q, k, v, scale=attn_scale).transpose(1, 2)
    out.copy_((o.float() * scale_o).clamp(-E4M3_MAX, E4M3_MAX).to(E4M3))


#: the graph's tensors in a fixed order, each with the uid a plan read back from disk knows it by
_TENSORS = ("q", "k", "v", "descale_q", "descale_k", "descale_v", "descale_s", "scale_s", "scale_o", "o",
            "amax_s", "amax_o")
#: bump when the graph built below changes, so plans kept on disk from before are not used
_GRAPH_VERSION = 1


class _Plan:
    """One cuDNN fp8 SDPA plan for one shape on one device: read back from wfrun's plan cache
    (``models/cudnn_plans``) when an earlier run built it, else built and kept there."""

    def __init__(self, cudnn: Any, handle: Any, q8: torch.Tensor, k8: torch.Tensor, v8: torch.Tensor,
                 attn_scale: float):
        device = q8.device
        key = plan_key("fp8-sdpa", _GRAPH_VERSION, cudnn.backend_version(), cudnn.__version__,
                       torch.cuda.get_device_name(device), torch.cuda.get_device_capability(device),
                       tuple(q8.shape), tuple(k8.shape), tuple(v8.shape), attn_scale)
        start = time.perf_counter()
        graph, self.source = self._read_back(cudnn, handle, key), "read back"
        if graph is None:
            graph, self.source = self._build(cudnn, handle, q8, k8, v8, attn_scale), "built"
            try:
                store_plan(key, bytes(graph.serialize()))
            except Exception as err:  # an engine cuDNN cannot serialize: built again next run
                log.info("fp8 attention: cuDNN plan not kept (%s)", str(err).splitlines()[0] if str(err) else err)
        self.seconds = time.perf_counter() - start
        log.info("fp8 attention: cuDNN plan for q %s %s in %.2f s", tuple(q8.shape), self.source, self.seconds)
        self.graph, self.handle, self.cudnn = graph, handle, cudnn
        self.workspace = torch.empty(max(1, graph.get_workspace_size()), dtype=torch.uint8, device=device)
        self.descale_s = torch.full((1, 1, 1, 1), 1.0 / E4M3_MAX, dtype=torch.float32, device=device)
        self.scale_s = torch.full((1, 1, 1, 1), E4M3_MAX, dtype=torch.float32, device=device)
        self.amax_buffers = torch.empty(2, 1, 1, 1, dtype=torch.float32, device=device)

    @staticmethod
    def _read_back(cudnn: Any, handle: Any, key: str) -> Any:
        data = load_plan(key)
        if data is None:
            return None
        try:
            graph = cudnn.pygraph(handle=handle)
            graph.deserialize(handle, list(data))
            return graph
        except Exception as err:  # cut short, or from a build the key did not tell apart
            log.info("fp8 attention: a kept cuDNN plan could not be read back (%s); building it again",
                     str(err).splitlines()[0] if str(err) else type(err).__name__)
            forget_plan(key)
            return None

    @staticmethod
    def _build(cudnn: Any, handle: Any, q8: torch.Tensor, k8: torch.Tensor, v8: torch.Tensor,
               attn_scale: float) -> Any:
        batch, s_q, heads, d_qk = q8.shape
        s_kv, d_v = k8.shape[1], v8.shape[-1]
        fp8, fp32 = cudnn.data_type.FP8_E4M3, cudnn.data_type.FLOAT
        graph = cudnn.pygraph(io_data_type=fp8, intermediate_data_type=fp32, compute_data_type=fp32,
                              handle=handle)

        def bshd(name: str, tokens: int, dim: int) -> Any:  # [b, h, s, d] dims over [b, s, h, d] memory
            return graph.tensor(name=name, dim=[batch, heads, tokens, dim],
                                stride=[tokens * heads * dim, dim, heads * dim, 1], data_type=fp8)

        q, k, v = bshd("q", s_q, d_qk), bshd("k", s_kv, d_qk), bshd("v", s_kv, d_v)
        one = dict(dim=[1, 1, 1, 1], stride=[1, 1, 1, 1], data_type=fp32)
        scales = [graph.tensor(name=n, **one) for n in _TENSORS[3:9]]
        options = dict(attn_scale=attn_scale, use_causal_mask=False, name="wfrun_fp8_sdpa")
        try:
            o, _, amax_s, amax_o = graph.sdpa_fp8(q, k, v, *scales, generate_stats=False, **options)
        except TypeError:  # frontends before generate_stats
            o, _, amax_s, amax_o = graph.sdpa_fp8(q, k, v, *scales, is_inference=True, **options)
        o.set_output(True).set_dim([batch, heads, s_q, d_v]).set_stride(
            [s_q * heads * d_v, d_v, heads * d_v, 1]).set_data_type(fp8)
        for amax in (amax_s, amax_o):
            amax.set_output(True).set_dim([1, 1, 1, 1]).set_stride([1, 1, 1, 1]).set_data_type(fp32)
        for uid, tensor in enumerate((q, k, v, *scales, o, amax_s, amax_o), start=1):
            tensor.set_uid(uid)
        graph.validate()
        graph.build_operation_graph()
        graph.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
        graph.check_support()
        graph.build_plans()
        return graph

    def run(self, out, q8, k8, v8, descale_q, descale_k, descale_v, scale_o) -> None:
        buffers = (q8, k8, v8, descale_q.float().contiguous(), descale_k.float().contiguous(),
                   descale_v.float().contiguous(), self.descale_s, self.scale_s, scale_o.float().contiguous(), out,
                   self.amax_buffers[0:1], self.amax_buffers[1:2])
        pack = {uid: buffer for uid, buffer in enumerate(buffers, start=1)}
        self.cudnn.set_stream(handle=self.handle, stream=torch.cuda.current_stream(q8.device).cuda_stream)
        self.graph.execute(pack, self.workspace, handle=self.handle)


_lock = threading.Lock()
_plans: dict[tuple, _Plan | None] = {}
_handles: dict[int, Any] = {}


def _plan(q8: torch.Tensor, k8: torch.Tensor, v8: torch.Tensor, attn_scale: float) -> _Plan | None:
    """The cached plan for these shapes, built on first use; None (and one warning) where cuDNN
    cannot run them, so the call falls back to PyTorch's attention."""
    device = q8.device
    key = (device.index, tuple(q8.shape), tuple(k8.shape), tuple(v8.shape), attn_scale)
    with _lock:
        if key in _plans:
            return _plans[key]
        try:
            import cudnn

            if device.index not in _handles:
                with torch.cuda.device(device):
                    _handles[device.index] = cudnn.create_handle()
            with torch.cuda.device(device):
                plan: _Plan | None = _Plan(cudnn, _handles[device.index], q8, k8, v8, attn_scale)
        except Exception as err:  # cuDNN refuses a shape or is too old: PyTorch's attention does it
            log.warning("fp8 attention: cuDNN cannot run shape q %s k %s (%s); using PyTorch's attention there",
                        tuple(q8.shape), tuple(k8.shape), str(err).splitlines()[0] if str(err) else type(err).__name__)
            plan = None
        _plans[key] = plan
        return plan


class Fp8SelfAttention:
    """A Wan block's ``attn1`` processor (diffusers' ``WanAttnProcessor`` contract) whose
    attention product runs in fp8; anything it does not cover (a mask, cross-attention
    inputs, ``--gpus`` context parallelism, a kernel the workflow chose, a head size cuDNN
    does not take) goes to the processor it replaced."""

    def __init__(self, base: Any):
        self.base = base

    # diffusers' set_attention_backend / context parallelism set these on the processor
    @property
    def _attention_backend(self) -> Any:
        return getattr(self.base, "_attention_backend", None)

    @_attention_backend.setter
    def _attention_backend(self, value: Any) -> None:
        self.base._attention_backend = value

    @property
    def _parallel_config(self) -> Any:
        return getattr(self.base, "_parallel_config", None)

    @_parallel_config.setter
    def _parallel_config(self, value: Any) -> None:
        self.base._parallel_config = value

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        backend = self._attention_backend
        chosen = backend is not None and str(getattr(backend, "value", backend)) != "native"
        head_dim = hidden_states.shape[-1] // attn.heads
        if (encoder_hidden_states is not None or attention_mask is not None or self._parallel_config is not None
                or chosen or head_dim % 16 or head_dim > MAX_HEAD_DIM):
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        query, key, value = self_attention_inputs(attn, hidden_states, rotary_emb)
        out = fp8_attention(query, key, value).flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def use_fp8_attention(transformer: Any) -> int:
    """Give each block's self-attention of ``transformer`` the fp8 processor; returns how many."""
    count = 0
    for block in getattr(transformer, "blocks", ()):
        attn = getattr(block, "attn1", None)
        processor = getattr(attn, "processor", None)
        if processor is None or isinstance(processor, Fp8SelfAttention):
            continue
        attn.processor = Fp8SelfAttention(processor)
        count += 1
    return count

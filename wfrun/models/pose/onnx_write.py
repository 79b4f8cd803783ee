"""A small writer of ONNX model files (protobuf ``ModelProto``), enough for tiny graphs.

wfrun writes tiny stand-in detectors and pose networks for ``--smoke`` runs. The ``onnx``
package would do it, but it is a large dependency that a run never needs otherwise; an ONNX
file is plain protobuf, and a graph of a few nodes with float initializers needs only a few
of its fields. Field numbers follow ``onnx.proto`` (IR version 8, default opset domain).
The tests check the output with ``onnx.checker`` and run it with onnxruntime.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import numpy as np

IR_VERSION = 8
OPSET = 17

#: ``TensorProto.DataType`` values used here.
FLOAT, INT64 = 1, 7
_NUMPY_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}

Dim = Union[int, str]
AttrValue = Union[int, float, str, Sequence[int], Sequence[float]]


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 fields: two's complement in ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(int(value))


def _bytes(number: int, value: bytes) -> bytes:
    return _key(number, 2) + _varint(len(value)) + value


def _str(number: int, value: str) -> bytes:
    return _bytes(number, value.encode("utf-8"))


def _float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", float(value))


@dataclass
class Node:
    """One operator: ``op_type`` from the default domain, named inputs and outputs."""

    op_type: str
    inputs: Sequence[str]
    outputs: Sequence[str]
    attributes: dict[str, AttrValue] = field(default_factory=dict)


def _attribute(name: str, value: AttrValue) -> bytes:
    out = _str(1, name)
    if isinstance(value, bool) or isinstance(value, int):
        return out + _int(3, value) + _int(20, 2)
    if isinstance(value, float):
        return out + _float(2, value) + _int(20, 1)
    if isinstance(value, str):
        return out + _bytes(4, value.encode()) + _int(20, 3)
    items = list(value)
    if items and all(isinstance(v, int) for v in items):
        return out + b"".join(_int(8, v) for v in items) + _int(20, 7)
    return out + b"".join(_float(7, v) for v in items) + _int(20, 6)


def _node(node: Node, index: int) -> bytes:
    out = b"".join(_str(1, name) for name in node.inputs)
    out += b"".join(_str(2, name) for name in node.outputs)
    out += _str(3, f"{node.op_type.lower()}_{index}") + _str(4, node.op_type)
    return out + b"".join(_bytes(5, _attribute(k, v)) for k, v in node.attributes.items())


def _tensor(name: str, array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    data_type = _NUMPY_TYPES.get(array.dtype)
    if data_type is None:
        raise ValueError(f"initializer {name!r}: dtype {array.dtype} (float32 or int64 only)")
    out = b"".join(_int(1, d) for d in array.shape) + _int(2, data_type) + _str(8, name)
    return out + _bytes(9, array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


def _value_info(name: str, shape: Sequence[Dim], elem_type: int = FLOAT) -> bytes:
    dims = b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def model_bytes(nodes: Sequence[Node], inputs: dict[str, Sequence[Dim]], outputs: dict[str, Sequence[Dim]],
                initializers: dict[str, np.ndarray], name: str = "graph", producer: str = "wfrun") -> bytes:
    """A serialized ``ModelProto``: float graph inputs and outputs with their shapes (an ``str``
    dimension is symbolic, e.g. a batch), the nodes in order, the initializers as raw data."""
    graph = b"".join(_bytes(1, _node(n, i)) for i, n in enumerate(nodes)) + _str(2, name)
    graph += b"".join(_bytes(5, _tensor(k, v)) for k, v in initializers.items())
    graph += b"".join(_bytes(11, _value_info(k, v)) for k, v in inputs.items())
    graph += b"".join(_bytes(12, _value_info(k, v)) for k, v in outputs.items())
    opset = _str(1, "") + _int(2, OPSET)
    return _int(1, IR_VERSION) + _str(2, producer) + _bytes(7, graph) + _bytes(8, opset)


def write_model(path: str | Path, *args, **kwargs) -> Path:
    """``model_bytes`` written to ``path`` (folders made)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model_bytes(*args, **kwargs))
    return path

"""ONNX Runtime with the CUDA execution provider (needs the ``onnxruntime-gpu`` package and a GPU).

ONNX Runtime's CUDA ``run`` returns its outputs on the host, so wall-clock time around a call is the latency
a user sees, copies included.
"""

from __future__ import annotations

from nas.latency.runtimes.ort_cpu import OrtRuntime


class OrtCudaRuntime(OrtRuntime):
    name = "ort-cuda"
    summary = "ONNX Runtime, CUDA execution provider (onnxruntime-gpu)"
    provider = "CUDAExecutionProvider"


BACKEND = OrtCudaRuntime()

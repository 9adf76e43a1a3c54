"""The op library (imported as ``hetero.kernels``): one ONNX op per module.

Empty until the kernel-language issue lands its ops here.
"""

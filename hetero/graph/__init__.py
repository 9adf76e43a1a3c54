"""ONNX graphs: safe loading (``load``), the graph IR (``ir``), the reference tier."""

from hetero.graph.load import Model, load

__all__ = ["Model", "load"]

"""hetero.load: valid models in three forms; malformed, hostile and oversized ones refused with
a ModelError saying what, where and how to fix, before anything is read or allocated."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero import ModelError

W = np.arange(6, dtype=np.float32).reshape(2, 3)


def add_model(weight: TensorProto | None = None, nodes=None) -> onnx.ModelProto:
    """y = x + w, then z = y * y: one initializer, one intermediate."""
    weight = weight if weight is not None else numpy_helper.from_array(W, "w")
    graph = helper.make_graph(
        nodes or [helper.make_node("Add", ["x", "w"], ["y"], name="add"),
                  helper.make_node("Mul", ["y", "y"], ["z"], name="square")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def external(location: str, length: int = W.nbytes, dims=(2, 3)) -> TensorProto:
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(dims))
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        tensor.external_data.add(key=key, value=value)
    return tensor


def save(model: onnx.ModelProto, folder, name: str = "m.onnx"):
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("form", ["path", "bytes", "proto"])
def test_a_valid_model_loads_from_every_form_with_shapes_inferred(tmp_path, form):
    model = add_model()
    source = {"path": save(model, tmp_path), "bytes": model.SerializeToString(),
              "proto": model}[form]
    loaded = hetero.load(source)
    inferred = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
                for v in loaded.proto.graph.value_info}
    assert inferred == {"y": [2, 3]} and loaded.opset == 18
    graph = loaded.graph()
    assert [n.name for n in graph.nodes] == ["add", "square"]
    np.testing.assert_array_equal(graph.constants["w"], W)


def test_external_data_beside_the_model_is_read(tmp_path):
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    loaded = hetero.load(save(add_model(external("w.bin")), tmp_path))
    np.testing.assert_array_equal(loaded.graph().constants["w"], W)


@pytest.mark.parametrize("location, message", [
    ("/etc/passwd", "absolute path '/etc/passwd'"),
    ("../secret.bin", "outside the model's folder"),
    ("sub/../../secret.bin", "outside the model's folder"),
    ("link.bin", "outside the model's folder"),
    ("nope.bin", "needs external data file 'nope.bin', which is not in"),
], ids=["absolute", "dotdot", "nested-dotdot", "symlink", "missing"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location, message):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(W.tobytes())
    os.symlink(tmp_path / "secret.bin", folder / "link.bin")
    with pytest.raises(ModelError, match=f"initializer 'w'.*{message}"):
        hetero.load(save(add_model(external(location)), folder))


def test_truncated_external_data_is_refused(tmp_path):
    (tmp_path / "w.bin").write_bytes(W.tobytes()[:10])
    with pytest.raises(ModelError, match="expects 24 bytes.*truncated or the model is corrupt"):
        hetero.load(save(add_model(external("w.bin")), tmp_path))


def test_external_data_without_a_folder_is_refused():
    with pytest.raises(ModelError, match="not loaded from a path; load it from its file"):
        hetero.load(add_model(external("w.bin")).SerializeToString())


def test_oversized_declarations_are_refused_before_anything_is_read(tmp_path):
    huge = external("w.bin", length=4 * 2**40, dims=(2**20, 2**20))  # 4 TiB, no such file
    with pytest.raises(ModelError, match=r"declare 4,398,046,511,\d+ bytes, over the memory "
                                         r"limit.*initializer 'w', 4,398,046,511,104 bytes.*"
                                         r"memory_limit=N"):
        hetero.load(save(add_model(huge), tmp_path))
    with pytest.raises(ModelError, match="over the memory limit of 16"):
        hetero.load(add_model(), memory_limit=16)


def test_garbage_and_missing_files_are_refused(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a protobuf at all\xff\xff")
    with pytest.raises(ModelError, match="junk.onnx: not an ONNX model"):
        hetero.load(tmp_path / "junk.onnx")
    with pytest.raises(ModelError, match="gone.onnx: cannot read the model"):
        hetero.load(tmp_path / "gone.onnx")
    with pytest.raises(ModelError, match="takes a path, bytes or onnx.ModelProto, not int"):
        hetero.load(42)


def test_checker_and_inference_errors_name_the_node(tmp_path):
    three_inputs = add_model(nodes=[helper.make_node("Add", ["x", "w", "x"], ["z"],
                                                     name="bad_add")])
    with pytest.raises(ModelError, match=r"the ONNX checker refused it.*bad_add"):
        hetero.load(three_inputs)
    mismatch = add_model(nodes=[helper.make_node("MatMul", ["x", "w"], ["z"], name="mm")])
    with pytest.raises(ModelError, match=r"shape inference failed.*MatMul.*mm"):
        hetero.load(mismatch)


def test_loading_writes_nothing(tmp_path):
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    path = save(add_model(external("w.bin")), tmp_path)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    hetero.load(path)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir()) == before


def constant_function_model(location: str) -> onnx.ModelProto:
    """y = x + f() where model-local function f returns a Constant kept in external data."""
    value = external(location, dims=(2, 3))
    function = helper.make_function(
        "local", "f", [], ["c"], [helper.make_node("Constant", [], ["c"], value=value)],
        [helper.make_opsetid("", 18)])
    graph = helper.make_graph(
        [helper.make_node("f", [], ["k"], domain="local"),
         helper.make_node("Add", ["x", "k"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    return helper.make_model(graph, functions=[function], opset_imports=[
        helper.make_opsetid("", 18), helper.make_opsetid("local", 1)])


def test_external_data_in_functions_and_sparse_tensors_is_confined_too(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(W.tobytes())
    with pytest.raises(ModelError, match=r"function 'f'.*Constant.*outside the model's folder"):
        hetero.load(save(constant_function_model("../secret.bin"), folder))
    sparse = onnx.SparseTensorProto()
    sparse.dims.extend([6])
    sparse.values.CopyFrom(external("../secret.bin", length=W.nbytes, dims=(6,)))
    sparse.indices.CopyFrom(numpy_helper.from_array(np.arange(6, dtype=np.int64), "i"))
    model = add_model()
    model.graph.sparse_initializer.append(sparse)
    with pytest.raises(ModelError, match=r"sparse initializer 'w'.*outside the model's folder"):
        hetero.load(save(model, folder))


def test_devices_big_files_and_malformed_offsets_are_refused(tmp_path):
    with pytest.raises(ModelError, match="/dev/zero: not a regular file"):
        hetero.load("/dev/zero")
    path = save(add_model(), tmp_path)
    with pytest.raises(ModelError, match=r"the file is \d+ bytes, over the memory limit of 10"):
        hetero.load(path, memory_limit=10)
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    odd = external("w.bin")
    odd.external_data[1].value = "abc"  # the offset
    with pytest.raises(ModelError, match="malformed external offset/length"):
        hetero.load(save(add_model(odd), tmp_path))

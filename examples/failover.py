"""Watch a failover happen: a hetero.Session keeps answering while the device it runs on is
unplugged, comes back, fails mid-request again and again, and is quarantined.

Run: python examples/failover.py
"""

import threading
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero.testing.faults import inject


def small_cnn() -> hetero.Model:
    """Two 3x3 convolutions with ReLUs and a global average pool, on 1x8x32x32."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((8, 8, 3, 3)).astype(np.float32) / 9,
                                       name) for name in ("w1", "w2")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["y"], name="pool")]
    graph = helper.make_graph(
        nodes, "small_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 1, 1])], weights)
    return hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def main() -> None:
    model = small_cnn()
    x = np.random.default_rng(1).standard_normal((1, 8, 32, 32)).astype(np.float32)
    want = hetero.compile(model, devices=[hetero.device("cpu")]).run({"x": x})["y"]
    jetson = hetero.sim.attach("jetson-xavier-nx-gpu")
    devices = ["cpu", "sim:jetson-xavier-nx-gpu"]
    with hetero.Session(model, devices=devices, watch=False) as session:
        print("plan on:", sorted(set(session.plan.placement.values())))
        stop, wrong = threading.Event(), []

        def client() -> None:  # requests all along; every answer is checked
            while not stop.is_set():
                if not np.allclose(session.run({"x": x})["y"], want, rtol=1e-4, atol=1e-5):
                    wrong.append(1)

        running = threading.Thread(target=client)
        running.start()
        time.sleep(0.3)
        print("unplugging", jetson.id)
        hetero.sim.detach(jetson)
        time.sleep(0.3)
        print("plugging a new one in; it fails 30% of its nodes")
        jetson = hetero.sim.attach("jetson-xavier-nx-gpu")
        inject(jetson, rate=0.3, seed=2)
        for _ in range(15):  # a poller's rescans bring it back after each fault
            time.sleep(0.1)
            hetero.rescan()
        stop.set()
        running.join()
        for event in session.events:
            print(f"  generation {event.generation}: {event.kind}: {event.detail}")
        stats = session.stats
        print(f"{stats.completed} requests answered, {len(wrong)} wrong, {stats.retried} "
              f"retried, {stats.failed} failed, {stats.replans} re-plans; failovers took "
              + ", ".join(f"{ms:.1f}" for ms in stats.failover_ms[:8]) + " ms (measured)")
    if jetson.alive:
        hetero.sim.detach(jetson)


if __name__ == "__main__":
    main()

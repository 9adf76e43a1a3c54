"""Hot-plug in action: subscribe to device events, attach and detach simulated hardware.

Run: python examples/hotplug.py
"""

import numpy as np

import hetero


def main() -> None:
    hetero.on_device_event(lambda e: print(f"  event: {e.kind:7} {e.device.id} "
                                           f"(generation {e.generation})"))
    print("devices:", [d.id for d in hetero.devices()])
    stick = hetero.sim.attach("coral-usb-edgetpu")        # plugged in
    edge = hetero.sim.attach("a100", link="5g")           # an edge server over a 5G slice
    x = hetero.asarray(np.ones(1024, np.float32)).to(edge)
    event = edge.queue.submit(np.sum, (x,), work=hetero.Work(flops=1024, bytes=4096))
    print(f"sum on {edge.id}: {event.wait()} - host measured {event.duration_ms:.3f} ms, "
          f"modeled {event.modeled['time_ms']:.4f} ms / {event.modeled['energy_mj']:.4f} mJ")
    hetero.sim.detach(stick)                              # pulled out
    try:
        hetero.asarray([1.0], device=stick)
    except hetero.DeviceLost as lost:
        print("as expected:", lost)
    print("devices:", [d.id for d in hetero.devices()])


if __name__ == "__main__":
    main()

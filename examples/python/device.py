"""List the CUDA devices helios can use, or say why it cannot.

    .venv/bin/python examples/python/device.py

A library built without the ``cuda`` feature raises HELIOS_ERR_UNSUPPORTED,
a machine without an NVIDIA driver or GPU HELIOS_ERR_DEVICE: both are
normal, and the CPU functions work the same everywhere.
"""

import helios

try:
    count = helios.Device.count()
except helios.HeliosError as error:
    print(f"no GPU for helios ({error.status}): {error.message}")
else:
    print(f"{count} CUDA device(s)")
    for ordinal in range(count):
        with helios.Device.open(ordinal) as device:
            major, minor = device.compute_capability
            print(
                f"device {ordinal}: {device.name}, compute capability {major}.{minor}, "
                f"{device.free_memory >> 20} of {device.total_memory >> 20} MiB free"
            )
    # The Nyström engine on the first device: numpy arrays are staged through
    # the default stream, device arrays (PyTorch, CuPy, helios.DeviceArray)
    # are used in place on the stream of the call.
    import numpy as np

    X = np.random.default_rng(0).random((10_000, 32), dtype=np.float32)
    with helios.NystromEngine(
        gamma=0.5, landmark_count=256, dtype=np.float32, device=0
    ) as engine:
        phi = engine.build(X)  # host in, host out
        with helios.DeviceArray.from_numpy(X[:1000]) as X_dev:
            phi_dev = engine.transform(X_dev)  # a helios.DeviceArray
            same = np.array_equal(phi_dev.to_numpy(), phi[:1000])
            phi_dev.close()
        print(f"engine on device {engine.device}: Phi {phi.shape}, device path equal: {same}")

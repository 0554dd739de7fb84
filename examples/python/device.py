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

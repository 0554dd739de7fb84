"""helios.Device: the documented status without the `cuda` feature or
without a device, and plausible properties on a GPU machine."""

from __future__ import annotations

import pytest

import helios


def test_open_says_why_it_cannot_or_describes_the_device() -> None:
    try:
        device = helios.Device.open(0)
    except helios.HeliosError as error:
        assert error.code in (helios.Status.UNSUPPORTED, helios.Status.DEVICE)
        if error.code == helios.Status.UNSUPPORTED:
            assert "`cuda` feature" in error.message
        else:
            assert "CUDA" in error.message
        with pytest.raises(helios.HeliosError) as counted:
            helios.Device.count()
        assert counted.value.code == error.code
        pytest.skip(f"no GPU here ({error.status}): the device checks run on a GPU machine")
    with device:
        assert device.name
        assert device.total_memory > 0
        assert 0 < device.free_memory <= device.total_memory
        assert device.compute_capability[0] >= 3
        assert helios.Device.count() >= 1
        assert "helios.Device(0:" in repr(device)
    assert device.closed


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="ordinal"):
        helios.Device.open(-1)
    with pytest.raises(TypeError):
        helios.Device()


class _FakeDeviceArray:
    """Looks like a device array (no GPU is touched: the calls fail first)."""

    def __init__(self, shape: tuple) -> None:
        self.__cuda_array_interface__ = {
            "shape": shape, "typestr": "<f4", "data": (0x1000, False), "version": 3,
            "strides": None, "stream": None,
        }


def test_the_gpu_feature_map_says_why_it_cannot_or_matches_the_cpu() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((300, 8), dtype=np.float32)
    landmarks = x[:40].copy()
    try:
        phi = helios.rkhs_embed_gpu(x, landmarks, gamma=0.5, ridge=1e-6)
    except helios.HeliosError as error:
        assert error.code in (helios.Status.UNSUPPORTED, helios.Status.DEVICE)
        pytest.skip(f"no GPU here ({error.status})")
    cpu = helios.rkhs_embed(x, landmarks, gamma=0.5, ridge=1e-6)
    assert np.abs(phi - cpu).max() <= 1e-5 * np.abs(cpu).max()


def test_the_gpu_feature_map_checks_its_arguments_in_python() -> None:
    import numpy as np

    x = np.zeros((4, 2), np.float32)
    # Checked in Python before any device is opened: the same on every machine.
    with pytest.raises(TypeError, match="both be device arrays"):
        helios.rkhs_embed_gpu(_FakeDeviceArray((4, 2)), x, gamma=1.0)
    with pytest.raises(ValueError, match="out"):
        helios.rkhs_embed_gpu(_FakeDeviceArray((4, 2)), _FakeDeviceArray((3, 2)), gamma=1.0)
    with pytest.raises(TypeError, match="float32"):
        helios.rkhs_embed_gpu(x.astype(np.float64), x, gamma=1.0)
    with pytest.raises(TypeError, match="stream"):
        helios.rkhs_embed_gpu(x, x, gamma=1.0, stream="fast")
    fake = _FakeDeviceArray((4, 2))
    fake.__cuda_array_interface__["typestr"] = "<f8"
    with pytest.raises(TypeError, match="float32"):
        helios.rkhs_embed_gpu(fake, fake, gamma=1.0, out=fake)

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
        helios.rkhs_embed_gpu(
            _FakeDeviceArray((4, 2)), _FakeDeviceArray((3, 2)), gamma=1.0, out=x
        )
    with pytest.raises(TypeError, match="float32"):
        helios.rkhs_embed_gpu(x.astype(np.float64), x, gamma=1.0)
    with pytest.raises(TypeError, match="stream"):
        helios.rkhs_embed_gpu(x, x, gamma=1.0, stream="fast")
    fake = _FakeDeviceArray((4, 2))
    fake.__cuda_array_interface__["typestr"] = "<f8"
    with pytest.raises(TypeError, match="float32"):
        helios.rkhs_embed_gpu(fake, fake, gamma=1.0, out=fake)


def _gpu_or_skip() -> "helios.Device":
    try:
        return helios.Device.open(0)
    except helios.HeliosError as error:
        assert error.code in (helios.Status.UNSUPPORTED, helios.Status.DEVICE)
        pytest.skip(f"no GPU here ({error.status}): the device checks run on a GPU machine")


def test_device_arrays_say_why_they_cannot_be_made_without_a_gpu() -> None:
    import numpy as np

    with pytest.raises(TypeError):
        helios.DeviceArray()
    with pytest.raises(ValueError, match="no element"):
        helios.DeviceArray.empty((0, 4))
    with pytest.raises(ValueError, match="non-negative"):
        helios.DeviceArray.empty((-1, 4))
    with pytest.raises(TypeError, match="float32"):
        helios.DeviceArray.from_numpy(np.zeros(3))
    with pytest.raises(TypeError, match="device"):
        helios.DeviceArray.empty((2, 2), device="cuda")
    try:
        helios.Device.open(0).close()
    except helios.HeliosError as error:
        # Without a GPU, making one fails the way opening the device does.
        with pytest.raises(helios.HeliosError) as made:
            helios.DeviceArray.empty((2, 2))
        assert made.value.code == error.code


def test_an_engine_without_a_device_says_why() -> None:
    import numpy as np

    x = np.random.default_rng(3).random((50, 3), dtype=np.float32)
    engine = helios.NystromEngine(gamma=0.5, landmark_count=8, dtype=np.float32)
    assert engine.device is None
    engine.set_device(None)  # the CPU: a no-op
    phi = engine.build(x)
    # Device arrays on an engine without a device: the feature's absence
    # (UNSUPPORTED) or the missing device (INVALID_STATE), from C.
    fake_out = _FakeDeviceArray((50, 8))
    with pytest.raises(helios.HeliosError) as error:
        engine.transform(_FakeDeviceArray((50, 3)), out=fake_out)
    assert error.value.code in (helios.Status.UNSUPPORTED, helios.Status.INVALID_STATE)
    with pytest.raises(helios.HeliosError) as error:
        engine.update_into(_FakeDeviceArray((50, 3)), fake_out, 0)
    assert error.value.code in (helios.Status.UNSUPPORTED, helios.Status.INVALID_STATE)
    # Without out, nothing can be allocated for an engine without a device.
    with pytest.raises(helios.HeliosError) as error:
        engine.transform(_FakeDeviceArray((50, 3)))
    assert error.value.code == helios.Status.INVALID_STATE
    with pytest.raises(TypeError, match="buffer"):
        engine.update_into(_FakeDeviceArray((50, 3)), np.zeros((60, 8), np.float32), 0)
    assert np.array_equal(engine.transform(x), phi), "still usable on the CPU"
    # A float64 engine refuses device arrays in Python.
    wide = helios.NystromEngine(gamma=0.5, landmark_count=8)
    with pytest.raises(TypeError, match="float32"):
        wide.transform(_FakeDeviceArray((50, 3)), out=fake_out)
    with pytest.raises(TypeError, match="device"):
        helios.NystromEngine(gamma=0.5, dtype=np.float32, device="cuda:0")
    try:
        helios.Device.open(0).close()
    except helios.HeliosError as opened:
        with pytest.raises(helios.HeliosError) as error:
            helios.NystromEngine(gamma=0.5, dtype=np.float32, device=0)
        assert error.value.code == opened.code


def test_device_arrays_round_trip_and_feed_the_gpu_functions() -> None:
    import numpy as np

    device = _gpu_or_skip()
    rng = np.random.default_rng(5)
    x = rng.random((400, 6), dtype=np.float32)
    landmarks = x[:30].copy()
    with helios.DeviceArray.from_numpy(x, device) as x_dev:
        assert x_dev.shape == (400, 6) and x_dev.nbytes == x.nbytes
        assert np.array_equal(x_dev.to_numpy(), x)
        interface = x_dev.__cuda_array_interface__
        assert interface["typestr"] == "<f4" and interface["shape"] == (400, 6)
        l_dev = helios.DeviceArray.from_numpy(landmarks, device)
        phi = helios.rkhs_embed_gpu(x_dev, l_dev, gamma=0.5, device=device)
        assert isinstance(phi, helios.DeviceArray) and phi.shape == (400, 30)
        staged = helios.rkhs_embed_gpu(x, landmarks, gamma=0.5, device=device)
        assert np.array_equal(phi.to_numpy(), staged)
        cpu = helios.rkhs_embed(x, landmarks, gamma=0.5)
        assert np.abs(staged - cpu).max() <= 1e-5 * np.abs(cpu).max()
        # Shareable: several threads read one array at once.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            copies = list(pool.map(lambda _: phi.to_numpy(), range(8)))
        assert all(np.array_equal(copy, staged) for copy in copies)
        phi.close()
        l_dev.close()
    assert x_dev.closed
    with pytest.raises(ValueError, match="closed"):
        x_dev.to_numpy()
    device.close()


def test_an_engine_on_a_device_matches_the_cpu_engine() -> None:
    import numpy as np

    device = _gpu_or_skip()
    rng = np.random.default_rng(6)
    x = rng.random((1500, 10), dtype=np.float32)
    x_new = rng.random((300, 10), dtype=np.float32)
    for selection in ("uniform", "kmeans++"):
        options = dict(gamma=0.4, landmark_count=64, selection=selection, seed=3,
                       dtype=np.float32)
        cpu = helios.NystromEngine(**options)
        gpu = helios.NystromEngine(**options, device=device)
        assert gpu.device == 0
        expected = cpu.build(x)
        phi = gpu.build(x)
        assert np.array_equal(gpu.landmarks, cpu.landmarks)
        assert np.abs(phi - expected).max() <= 1e-5 * np.abs(expected).max()
        # Device arrays: the host-staged bits, a new DeviceArray without out.
        with helios.DeviceArray.from_numpy(x_new, device) as new_dev:
            out = gpu.transform(new_dev)
            assert isinstance(out, helios.DeviceArray)
            staged = gpu.transform(x_new)
            assert np.array_equal(out.to_numpy(), staged)
            buffer = helios.DeviceArray.from_numpy(
                np.full((1500 + 300 + 7, 64), -1.0, np.float32), device
            )
            assert gpu.update_into(new_dev, buffer, 1500) == 1800
            back = buffer.to_numpy()
            assert np.array_equal(back[1500:1800], staged)
            assert np.all(back[:1500] == -1.0) and np.all(back[1800:] == -1.0)
            out.close()
            buffer.close()
        gpu.set_device(None)
        assert gpu.device is None
        assert np.array_equal(gpu.transform(x), expected), "back on the CPU: the CPU bits"
    wide = helios.NystromEngine(gamma=0.5, landmark_count=8)
    with pytest.raises(helios.HeliosError) as error:
        wide.set_device(device)
    assert error.value.code == helios.Status.UNSUPPORTED
    device.close()


def test_pytorch_tensors_on_the_current_stream() -> None:
    import numpy as np

    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA device here")
    device = _gpu_or_skip()
    rng = np.random.default_rng(7)
    x = rng.random((2000, 16), dtype=np.float32)
    landmarks = x[:100].copy()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        # Written by PyTorch on its stream, read by helios on the same one,
        # and the result read by PyTorch after: no explicit synchronisation.
        x_t = torch.from_numpy(x).cuda(non_blocking=True) * 1.0
        l_t = torch.from_numpy(landmarks).cuda(non_blocking=True)
        out = torch.empty((2000, 100), device="cuda")
        helios.rkhs_embed_gpu(x_t, l_t, gamma=0.5, stream=stream, out=out)
        doubled = (out * 2.0).cpu().numpy()
    cpu = helios.rkhs_embed(x, landmarks, gamma=0.5)
    assert np.abs(doubled / 2.0 - cpu).max() <= 1e-5 * np.abs(cpu).max()
    device.close()

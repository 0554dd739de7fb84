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

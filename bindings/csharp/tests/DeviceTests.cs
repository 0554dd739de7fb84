// Tests of Device: the documented status without the `cuda` feature or
// without a GPU, plausible properties on a GPU machine.

using System;

namespace Helios.Tests
{
    internal static partial class Program
    {
        private static void RunDeviceTests(Harness harness)
        {
            harness.Run("Device: Open says why it cannot (no cuda feature, no GPU) or describes the device",
                DeviceOpenOrWhy);
            harness.Run("Device: a negative ordinal is a .NET argument error", DeviceNegativeOrdinal);
            harness.Run("Rkhs.Embed(device, ...): a null device is a .NET argument error", DeviceEmbedNull);
            harness.Run("NystromEngine.SetDevice: back to the CPU with null; on a GPU, the CPU's results within 1e-5",
                EngineOnDevice);
        }

        private static void EngineOnDevice()
        {
            const int n = 200, d = 3, m = 12;
            var x = new float[n * d];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
            }
            var options = new NystromOptions { Gamma = 0.5, LandmarkCount = m };
            using (var cpu = new NystromEngine(options, NystromPrecision.Single))
            using (var engine = new NystromEngine(options, NystromPrecision.Single))
            {
                engine.SetDevice(null); // the CPU: a no-op
                Assert.True(!engine.OnDevice, "on the CPU");
                float[] expected = cpu.Build(x, n, d);
                Device device;
                try
                {
                    device = Device.Open(0);
                }
                catch (HeliosException)
                {
                    Console.WriteLine("    SKIPPED: the engine on a GPU (no device here)");
                    float[] same = engine.Build(x, n, d);
                    Assert.True(same.AsSpan().SequenceEqual(expected), "the CPU bits");
                    return;
                }
                using (device)
                {
                    engine.SetDevice(device);
                    Assert.True(engine.OnDevice, "on the device");
                    float[] phi = engine.Build(x, n, d);
                    float scale = 0, worst = 0;
                    for (int i = 0; i < phi.Length; i++)
                    {
                        scale = Math.Max(scale, Math.Abs(expected[i]));
                        worst = Math.Max(worst, Math.Abs(phi[i] - expected[i]));
                    }
                    Assert.True(worst <= 1e-5f * scale, "GPU within 1e-5 of the CPU: " + worst);
                    using (var wide = new NystromEngine(options, NystromPrecision.Double))
                    {
                        var refused = Assert.Throws<HeliosException>(() => wide.SetDevice(device), "a double engine");
                        Assert.Equal(Status.Unsupported, refused.Status, "its status");
                    }
                    engine.SetDevice(null);
                    Assert.True(!engine.OnDevice, "back on the CPU");
                }
            }
        }

        private static void DeviceOpenOrWhy()
        {
            Device device;
            try
            {
                device = Device.Open(0);
            }
            catch (HeliosException error)
            {
                Assert.True(error.Status == Status.Unsupported || error.Status == Status.Device,
                    "Unsupported or Device, not " + error.Status);
                Assert.Contains(error.Status == Status.Unsupported ? "`cuda` feature" : "CUDA", error.Message,
                    "the message");
                var counted = Assert.Throws<HeliosException>(() => Device.Count(), "Count");
                Assert.Equal(error.Status, counted.Status, "Count's status");
                Console.WriteLine("    SKIPPED: the GPU checks (" + error.StatusName + ")");
                return;
            }
            using (device)
            {
                Assert.True(device.Name.Length > 0, "a name");
                Assert.True(device.TotalMemory > 0, "memory");
                Assert.True(device.FreeMemory > 0 && device.FreeMemory <= device.TotalMemory, "free memory");
                Assert.True(device.ComputeCapability.Major >= 3, "compute capability");
                Assert.True(Device.Count() >= 1, "count");
            }
        }

        private static void DeviceEmbedNull()
        {
            Assert.Throws<ArgumentNullException>(
                () => Rkhs.Embed(null, IntPtr.Zero, 1, 1, IntPtr.Zero, 1, 1.0, 0.0, IntPtr.Zero, IntPtr.Zero),
                "Embed(null device)");
        }

        private static void DeviceNegativeOrdinal()
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => Device.Open(-1), "Open(-1)");
        }
    }
}

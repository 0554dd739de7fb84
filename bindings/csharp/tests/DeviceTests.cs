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

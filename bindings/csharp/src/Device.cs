using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace Helios
{
    /// <summary>
    /// The native <c>HeliosDevice*</c>; releasing it calls <c>helios_device_free</c>
    /// exactly once, after the last call that borrowed it has let go.
    /// </summary>
    internal sealed class DeviceHandle : SafeHandle
    {
        // Called by the P/Invoke marshaller for `out DeviceHandle`.
        private DeviceHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            Native.helios_device_free(handle);
            return true;
        }
    }

    /// <summary>
    /// A CUDA device (<c>helios_device_*</c>): its name, memory and compute
    /// capability, and the CUDA context (the driver's primary context, one per
    /// device for the process) that helios's GPU functions run in.
    /// <para>
    /// <see cref="Open"/> throws <see cref="HeliosException"/> with
    /// <see cref="Status.Unsupported"/> when the library was built without the
    /// <c>cuda</c> feature and <see cref="Status.Device"/> on a machine without
    /// a CUDA driver or device; the message says which.
    /// </para>
    /// Thread safety: shareable (one object may be used from any number of threads at once).
    /// </summary>
    public sealed class Device : IDisposable
    {
        private readonly DeviceHandle _handle;
        private bool _disposed;

        private Device(DeviceHandle handle, int ordinal)
        {
            _handle = handle;
            Ordinal = ordinal;
            try
            {
                string name = "";
                long total = 0;
                uint major = 0, minor = 0;
                Use(device =>
                {
                    name = ReadName(device);
                    total = Memory(device, free: false);
                    Native.Check(Native.helios_device_compute_capability(device, out major, out minor));
                });
                Name = name;
                TotalMemory = total;
                ComputeCapability = ((int)major, (int)minor);
            }
            catch (Exception)
            {
                _handle.Dispose();
                throw;
            }
        }

        /// <summary>
        /// The number of CUDA devices; <see cref="HeliosException"/> with
        /// <see cref="Status.Unsupported"/> or <see cref="Status.Device"/> as for <see cref="Open"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static int Count()
        {
            Native.Check(Native.helios_device_count(out UIntPtr count));
            return (int)count.ToUInt64();
        }

        /// <summary>
        /// Open CUDA device <paramref name="ordinal"/> (0 for the first);
        /// <see cref="Status.InvalidArgument"/> when there is no such device.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static Device Open(int ordinal = 0)
        {
            if (ordinal < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(ordinal), ordinal, "a device ordinal is 0 or more");
            }
            Native.Check(Native.helios_device_open((UIntPtr)(ulong)ordinal, out DeviceHandle handle));
            return new Device(handle, ordinal);
        }

        /// <summary>The device's ordinal. Thread safety: shareable (one object may be used from any number of threads at once).</summary>
        public int Ordinal { get; }

        /// <summary>The device's name. Thread safety: shareable (one object may be used from any number of threads at once).</summary>
        public string Name { get; }

        /// <summary>The device's memory in bytes. Thread safety: shareable (one object may be used from any number of threads at once).</summary>
        public long TotalMemory { get; }

        /// <summary>The compute capability (9, 0 for Hopper). Thread safety: shareable (one object may be used from any number of threads at once).</summary>
        public (int Major, int Minor) ComputeCapability { get; }

        /// <summary>
        /// Bytes of device memory not in use now (by any process).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public long FreeMemory
        {
            get
            {
                long free = 0;
                Use(device => free = Memory(device, free: true));
                return free;
            }
        }

        /// <summary>Run <paramref name="call"/> with the native handle, kept alive for the call.</summary>
        internal void Use(Action<IntPtr> call)
        {
            // On Mono a disposed SafeHandle still accepts borrows while one is
            // out, so the flag says it (as in Model and Sampler).
            if (Volatile.Read(ref _disposed))
            {
                throw new ObjectDisposedException(nameof(Device), "the Device was disposed");
            }
            IntPtr device = Persistence.Enter(_handle, nameof(Device));
            try
            {
                call(device);
            }
            finally
            {
                _handle.DangerousRelease();
            }
        }

        /// <summary>
        /// Release the handle (the CUDA context stays for the process); disposing twice is harmless.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Dispose()
        {
            Volatile.Write(ref _disposed, true);
            _handle.Dispose();
        }

        private static unsafe long Memory(IntPtr device, bool free)
        {
            UIntPtr bytes;
            Native.Check(free
                ? Native.helios_device_memory(device, &bytes, null)
                : Native.helios_device_memory(device, null, &bytes));
            return (long)bytes.ToUInt64();
        }

        private static unsafe string ReadName(IntPtr device)
        {
            UIntPtr length;
            Status asked = Native.helios_device_name(device, null, UIntPtr.Zero, &length);
            if (asked != Status.Ok && asked != Status.BufferTooSmall)
            {
                Native.Check(asked);
            }
            byte[] bytes = new byte[(int)length.ToUInt64()];
            if (bytes.Length == 0)
            {
                return "";
            }
            fixed (byte* p = bytes)
            {
                Native.Check(Native.helios_device_name(device, p, length, &length));
            }
            return System.Text.Encoding.UTF8.GetString(bytes);
        }
    }
}

using System;
using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("HeliosTests")]

namespace Helios
{
    /// <summary>
    /// The loaded native library: its version, its ABI and the process-wide
    /// default thread count.
    /// <para>
    /// The library is found by the runtime's native library search under the
    /// name <c>helios</c> (<c>libhelios.so</c> on Linux): next to the
    /// application, or on <c>LD_LIBRARY_PATH</c>. Before its first real use
    /// the binding checks once that the library's ABI version equals
    /// <see cref="BindingAbiVersion"/> and otherwise refuses every call with a
    /// <see cref="HeliosException"/> of status <see cref="Status.Unsupported"/>.
    /// </para>
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public static class Library
    {
        /// <summary>
        /// The ABI version this binding was written for (<c>HELIOS_ABI_VERSION</c>
        /// in include/helios.h).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public const uint BindingAbiVersion = 1;

        // Set once the loaded library passed the ABI check; a failed check is
        // repeated (cheaply) on every call so each one gets a clear exception.
        private static volatile bool s_compatible;

        /// <summary>
        /// The library version, for example <c>"0.1.0"</c>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static string Version => Native.FromUtf8(Native.helios_version());

        /// <summary>
        /// The ABI version of the loaded library (compare with <see cref="BindingAbiVersion"/>).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static uint AbiVersion => Native.helios_abi_version();

        /// <summary>
        /// The default worker count of calls that do not name one (initially
        /// <c>HELIOS_NUM_THREADS</c> or the CPU count); helios's worker pool
        /// has max(this, CPU count) threads. Setting it changes it for the whole
        /// process; calls already running keep the count they started with. A negative value gets <see cref="ArgumentOutOfRangeException"/>;
        /// 0 or more than 1024 get a <see cref="HeliosException"/>
        /// (<see cref="Status.InvalidArgument"/>) from helios.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static int NumThreads
        {
            get
            {
                EnsureCompatible();
                return (int)Math.Min(Native.helios_get_num_threads().ToUInt64(), int.MaxValue);
            }
            set
            {
                UIntPtr count = Native.ToSize(value, nameof(value));
                EnsureCompatible();
                Native.Check(Native.helios_set_num_threads(count));
            }
        }

        /// <summary>
        /// The C name of a status, for example <c>"HELIOS_ERR_BUSY"</c>, or
        /// <c>"HELIOS_UNKNOWN_STATUS"</c> for a value that is not a status.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static string StatusName(Status status)
        {
            return Native.FromUtf8(Native.helios_status_name((int)status));
        }

        /// <summary>
        /// Check that the loaded library speaks this binding's ABI; the binding
        /// calls it before its first use, and an application may call it at
        /// start-up to fail early. Throws <see cref="HeliosException"/>
        /// (<see cref="Status.Unsupported"/>) for a library of another ABI, and
        /// <see cref="DllNotFoundException"/> when no library is found.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static void EnsureCompatible()
        {
            if (s_compatible)
            {
                return;
            }
            string mismatch = AbiMismatch(Native.helios_abi_version());
            if (mismatch != null)
            {
                throw new HeliosException(Status.Unsupported, mismatch);
            }
            s_compatible = true;
        }

        /// <summary>The refusal message for a library of ABI <paramref name="libraryAbi"/>, or null when it fits.</summary>
        internal static string AbiMismatch(uint libraryAbi)
        {
            if (libraryAbi == BindingAbiVersion)
            {
                return null;
            }
            return "the loaded helios library has ABI version " + libraryAbi + " but this C# binding was built "
                + "for ABI version " + BindingAbiVersion + "; install a libhelios and a Helios binding of the "
                + "same release";
        }
    }
}

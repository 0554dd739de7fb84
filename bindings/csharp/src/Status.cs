namespace Helios
{
    /// <summary>
    /// The result of a native helios call, mirroring <c>HeliosStatus</c> in
    /// include/helios.h value for value. Every status other than
    /// <see cref="Ok"/> reaches .NET code as a <see cref="HeliosException"/>.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public enum Status
    {
        /// <summary><c>HELIOS_OK</c>: success.</summary>
        Ok = 0,

        /// <summary><c>HELIOS_ERR_NULL_ARGUMENT</c>: a required pointer argument was NULL.</summary>
        NullArgument = 1,

        /// <summary><c>HELIOS_ERR_INVALID_ARGUMENT</c>: an argument is out of range (zero length, overflowing size, bad option).</summary>
        InvalidArgument = 2,

        /// <summary><c>HELIOS_ERR_BUFFER_TOO_SMALL</c>: an output buffer is too small.</summary>
        BufferTooSmall = 3,

        /// <summary><c>HELIOS_ERR_BUSY</c>: a single-owner object is in use by another thread; nothing was changed.</summary>
        Busy = 4,

        /// <summary><c>HELIOS_ERR_CANCELLED</c>: stopped by a <see cref="CancelToken"/> or by a kernel.</summary>
        Cancelled = 5,

        /// <summary><c>HELIOS_ERR_IO</c>: a file could not be read or written.</summary>
        Io = 6,

        /// <summary><c>HELIOS_ERR_FORMAT</c>: a file or buffer is corrupt, truncated or of the wrong format.</summary>
        Format = 7,

        /// <summary><c>HELIOS_ERR_UNSUPPORTED</c>: not available in this build or on this platform (or an incompatible library ABI).</summary>
        Unsupported = 8,

        /// <summary><c>HELIOS_ERR_DEVICE</c>: a GPU device or driver error.</summary>
        Device = 9,

        /// <summary><c>HELIOS_ERR_NUMERIC</c>: a numerical failure.</summary>
        Numeric = 10,

        /// <summary><c>HELIOS_ERR_OUT_OF_MEMORY</c>: an allocation failed.</summary>
        OutOfMemory = 11,

        /// <summary><c>HELIOS_ERR_INVALID_STATE</c>: the object is not in a state that allows the call.</summary>
        InvalidState = 12,

        /// <summary><c>HELIOS_ERR_INTERNAL</c>: a bug in helios (a caught panic, for instance); the message says more.</summary>
        Internal = 13,
    }
}

using System;

namespace Helios
{
    /// <summary>
    /// A native helios call failed. <see cref="Status"/> is the C status and
    /// <see cref="Exception.Message"/> the text helios left for the calling
    /// thread (<c>helios_last_error()</c>), read on that thread right after the
    /// failing call, so concurrent failures on other threads never mix in.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public class HeliosException : Exception
    {
        /// <summary>
        /// An exception for <paramref name="status"/> with <paramref name="message"/>;
        /// an empty message is replaced by the status name.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public HeliosException(Status status, string message)
            : base(string.IsNullOrEmpty(message) ? DefaultMessage(status) : message)
        {
            Status = status;
        }

        /// <summary>
        /// The status the native call returned (never <see cref="Helios.Status.Ok"/>).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public Status Status { get; }

        /// <summary>
        /// The C name of <see cref="Status"/>, for example <c>"HELIOS_ERR_CANCELLED"</c>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public string StatusName => Library.StatusName(Status);

        private static string DefaultMessage(Status status)
        {
            return "helios call failed with status " + (int)status + " (" + status + ")";
        }
    }
}

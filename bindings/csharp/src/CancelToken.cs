using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace Helios
{
    /// <summary>
    /// The native <c>HeliosCancelToken*</c>; releasing it calls
    /// <c>helios_cancel_token_free</c> exactly once, after the last call that
    /// borrowed it has returned (SafeHandle reference counting).
    /// </summary>
    internal sealed class CancelTokenHandle : SafeHandle
    {
        // Called by the P/Invoke marshaller for `out CancelTokenHandle`.
        private CancelTokenHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            Native.helios_cancel_token_free(handle);
            return true;
        }
    }

    /// <summary>
    /// A cancellation flag that any thread may raise: a <see cref="ParallelMap"/>
    /// call given the token stops before its next block with a
    /// <see cref="HeliosException"/> of status <see cref="Status.Cancelled"/>.
    /// <para>
    /// Dispose it when done (<c>using</c>). Disposing while a call is still
    /// running with the token is safe: the native token lives until that call
    /// returns. After <see cref="Dispose"/>, every member and every
    /// <see cref="ParallelMap"/> call given the token throws
    /// <see cref="ObjectDisposedException"/>; disposing twice is harmless.
    /// </para>
    /// Thread safety: shareable (one object may be used from any number of threads at once).
    /// </summary>
    public sealed class CancelToken : IDisposable
    {
        private readonly CancelTokenHandle _handle;
        private CancellationTokenRegistration _registration;

        /// <summary>
        /// A token that is not cancelled.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public CancelToken()
        {
            Library.EnsureCompatible();
            Status status = Native.helios_cancel_token_new(out CancelTokenHandle handle);
            try
            {
                Native.Check(status);
            }
            catch (HeliosException)
            {
                handle?.Dispose();
                throw;
            }
            _handle = handle;
        }

        /// <summary>
        /// A token raised when <paramref name="cancellationToken"/> is cancelled
        /// (at once if it already is), so that a .NET cancellation source can
        /// stop helios calls. Disposing the returned token also removes its
        /// registration on <paramref name="cancellationToken"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static CancelToken FromCancellationToken(CancellationToken cancellationToken)
        {
            var token = new CancelToken();
            if (cancellationToken.CanBeCanceled)
            {
                token._registration = cancellationToken.Register(
                    state => ((CancelToken)state).CancelFromRegistration(), token);
            }
            return token;
        }

        /// <summary>
        /// Whether the token is raised.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public bool IsCancelled
        {
            get
            {
                bool cancelled = false;
                Call(token =>
                {
                    Status status = Native.helios_cancel_token_is_cancelled(token, out bool raised);
                    cancelled = raised;
                    return status;
                });
                return cancelled;
            }
        }

        /// <summary>
        /// Raise the token: every call observing it stops at its next check.
        /// Cancelling twice is harmless.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Cancel()
        {
            Call(Native.helios_cancel_token_cancel);
        }

        /// <summary>
        /// Lower the token so it can serve new work; calls that already stopped
        /// stay stopped. A token made by <see cref="FromCancellationToken"/> is
        /// not raised again by its (already cancelled) source.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Reset()
        {
            Call(Native.helios_cancel_token_reset);
        }

        /// <summary>
        /// Release the token (and its <see cref="CancellationToken"/>
        /// registration, if any). Safe to call more than once, and while other
        /// threads still use the token: their calls finish, later ones throw
        /// <see cref="ObjectDisposedException"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Dispose()
        {
            // First the registration (this waits for a callback in progress),
            // so that no callback raises a token that is already released.
            _registration.Dispose();
            _handle.Dispose();
        }

        /// <summary>
        /// Borrow the native pointer for one call (ObjectDisposedException after
        /// Dispose). The caller must call <see cref="Release"/> afterwards, and
        /// read helios_last_error before that, since the last release frees the
        /// token.
        /// </summary>
        internal IntPtr AddRef()
        {
            bool added = false;
            try
            {
                _handle.DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
                throw new ObjectDisposedException(nameof(CancelToken), "the CancelToken was disposed");
            }
            return _handle.DangerousGetHandle();
        }

        /// <summary>Return a pointer borrowed with <see cref="AddRef"/>.</summary>
        internal void Release()
        {
            _handle.DangerousRelease();
        }

        // One native call on the borrowed pointer; the status is checked (and
        // the thread's message read) before the borrow ends.
        private void Call(Func<IntPtr, Status> call)
        {
            IntPtr token = AddRef();
            try
            {
                Native.Check(call(token));
            }
            finally
            {
                Release();
            }
        }

        private void CancelFromRegistration()
        {
            try
            {
                Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Disposed while the source was being cancelled: nothing to raise.
            }
        }
    }
}

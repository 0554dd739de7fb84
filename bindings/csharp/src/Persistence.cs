using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Helios
{
    /// <summary>
    /// What <see cref="VectorIndex"/> and <see cref="NystromEngine"/> share
    /// around their native object: the disposed check, borrowing its
    /// SafeHandle for one call, adopting a new one, and Save, Load, ToBytes
    /// and FromBytes through the C entry points each passes in
    /// (<c>helios_index_*</c>, <c>helios_nystrom_*</c>). <c>owner</c> is the
    /// owner's type name, for its <see cref="ObjectDisposedException"/>.
    /// </summary>
    internal static unsafe class Persistence
    {
        private static readonly Encoding s_strictUtf8 = new UTF8Encoding(false, true);

        /// <summary><c>helios_*_load</c> and <c>helios_*_from_bytes</c>: a new native object.</summary>
        internal delegate Status OpenCall<THandle>(byte* data, UIntPtr length, out THandle handle);

        /// <summary><c>helios_*_save</c>.</summary>
        internal delegate Status SaveCall(IntPtr native, byte* path, UIntPtr pathLength);

        /// <summary><c>helios_*_to_bytes</c>.</summary>
        internal delegate Status BytesCall(IntPtr native, byte* output, UIntPtr capacity, UIntPtr* needed);

        /// <summary>A call that copies into a buffer of <c>capacity</c> elements sized by helios.</summary>
        internal delegate Status CopyCall(IntPtr native, void* output, UIntPtr capacity, UIntPtr* needed);

        // Borrow the native pointer for one call (ObjectDisposedException after
        // Dispose). Every Enter is followed by handle.DangerousRelease() in a
        // finally block, and the status is checked (helios_last_error read)
        // before it, since the last release after a Dispose frees the object.
        internal static IntPtr Enter(SafeHandle handle, string owner)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
                throw Disposed(owner);
            }
            return handle.DangerousGetHandle();
        }

        internal static void ThrowIfDisposed(SafeHandle handle, string owner)
        {
            if (handle.IsClosed)
            {
                throw Disposed(owner);
            }
        }

        private static ObjectDisposedException Disposed(string owner)
        {
            return new ObjectDisposedException(owner, "the " + owner + " was disposed");
        }

        // The handle of a successful create/load, or the exception of a failed
        // one (with whatever handle the marshaller made released).
        internal static THandle Adopt<THandle>(Status status, THandle handle)
            where THandle : SafeHandle
        {
            try
            {
                Native.Check(status);
            }
            catch (HeliosException)
            {
                handle?.Dispose();
                throw;
            }
            return handle;
        }

        internal static void Save(SafeHandle handle, string owner, string path, SaveCall save)
        {
            byte[] utf8 = PathBytes(path);
            IntPtr native = Enter(handle, owner);
            try
            {
                Status status;
                byte emptyStandIn = 0;
                fixed (byte* bytes = utf8)
                {
                    // An empty path pins to NULL; the stand-in lets helios say "empty".
                    byte* pointer = bytes != null ? bytes : &emptyStandIn;
                    status = save(native, pointer, new UIntPtr((uint)utf8.Length));
                }
                Native.Check(status);
            }
            finally
            {
                handle.DangerousRelease();
            }
        }

        internal static THandle Load<THandle>(string path, OpenCall<THandle> load)
            where THandle : SafeHandle
        {
            byte[] utf8 = PathBytes(path);
            Library.EnsureCompatible();
            Status status;
            THandle handle;
            byte emptyStandIn = 0;
            fixed (byte* bytes = utf8)
            {
                byte* pointer = bytes != null ? bytes : &emptyStandIn;
                status = load(pointer, new UIntPtr((uint)utf8.Length), out handle);
            }
            return Adopt(status, handle);
        }

        internal static byte[] ToBytes(SafeHandle handle, string owner, BytesCall toBytes)
        {
            return CopyOut<byte>(handle, owner,
                (native, output, capacity, needed) => toBytes(native, (byte*)output, capacity, needed));
        }

        // The bytes of a FromBytes(byte[] data) overload; a null array gets
        // ArgumentNullException.
        internal static ReadOnlySpan<byte> BytesOf(byte[] data)
        {
            if (data == null)
            {
                throw new ArgumentNullException(nameof(data));
            }
            return new ReadOnlySpan<byte>(data);
        }

        internal static THandle FromBytes<THandle>(ReadOnlySpan<byte> data, OpenCall<THandle> fromBytes)
            where THandle : SafeHandle
        {
            Library.EnsureCompatible();
            Status status;
            THandle handle;
            byte emptyStandIn = 0;
            fixed (byte* bytes = &MemoryMarshal.GetReference(data))
            {
                // Empty bytes pin to NULL; the stand-in lets helios say "truncated".
                byte* pointer = bytes != null ? bytes : &emptyStandIn;
                status = fromBytes(pointer, new UIntPtr((uint)data.Length), out handle);
            }
            return Adopt(status, handle);
        }

        // Bytes (or a Nyström engine's landmarks or normaliser) into a new
        // array sized by helios: a first call with no room learns the size, the
        // second copies (again when a write on another thread, or a rebuild of
        // an engine, made it larger in between).
        internal static T[] CopyOut<T>(SafeHandle handle, string owner, CopyCall copy)
            where T : struct
        {
            IntPtr native = Enter(handle, owner);
            try
            {
                T[] buffer = new T[0];
                while (true)
                {
                    UIntPtr needed = UIntPtr.Zero;
                    double emptyStandIn = 0.0;
                    Status status;
                    fixed (byte* bytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(buffer.AsSpan())))
                    {
                        void* pointer = bytes != null ? bytes : (void*)&emptyStandIn;
                        status = copy(native, pointer, new UIntPtr((uint)buffer.Length), &needed);
                    }
                    ulong size = needed.ToUInt64();
                    if (status == Status.BufferTooSmall && size > (ulong)buffer.Length && size <= int.MaxValue)
                    {
                        buffer = new T[(int)size];
                        continue;
                    }
                    Native.Check(status);
                    if (size < (ulong)buffer.Length)
                    {
                        Array.Resize(ref buffer, (int)size);
                    }
                    return buffer;
                }
            }
            finally
            {
                handle.DangerousRelease();
            }
        }

        private static byte[] PathBytes(string path)
        {
            if (path == null)
            {
                throw new ArgumentNullException(nameof(path));
            }
            try
            {
                return s_strictUtf8.GetBytes(path);
            }
            catch (EncoderFallbackException e)
            {
                throw new ArgumentException("the path is not valid UTF-16 (a lone surrogate): " + e.Message,
                    nameof(path), e);
            }
        }
    }
}

using System;
using System.Runtime.InteropServices;

namespace Helios
{
    /// <summary>
    /// The RBF (Nyström) feature map (<c>helios_rkhs_embed_f32</c> and
    /// <c>_f64</c>): <c>Phi = K(X, L) · (K(L, L) + ridge·I)^(-1/2)</c> with
    /// <c>k(x, l) = exp(-gamma ||x - l||²)</c>, an n x m row-major matrix for
    /// n points <c>X</c> and m landmarks <c>L</c> of dimension d, so that
    /// <c>Phi(X) Phi(Y)ᵀ ≈ K(X, Y)</c> (exactly, up to rounding, when the
    /// landmarks are the points themselves and <c>ridge</c> is 0). The m x m
    /// normaliser is computed in double precision whatever the element type,
    /// and eigenvalues at or below <c>m · DBL_EPSILON · λ_max</c> count as 0,
    /// so duplicate landmarks give finite output. With <c>ridge = 0</c> and the
    /// same landmarks the result equals scikit-learn's
    /// <c>Nystroem(kernel="rbf", gamma=gamma).transform</c>. The work runs in
    /// native code only (no managed callbacks).
    /// <para>Arguments and errors, the same for every overload:</para>
    /// <list type="bullet">
    /// <item>Matrices are row-major. In the <see cref="Span{T}"/> overloads,
    /// row i of <c>x</c> starts at <c>x[i * ldx]</c> and row j of
    /// <c>landmarks</c> at <c>landmarks[j * ldl]</c> (BLAS leading dimensions,
    /// at least d; the elements between rows are never read), and the result
    /// fills <c>output[0 .. n·m)</c>; elements past n·m are left as they are.
    /// The array overloads take dense matrices (leading dimension d) and
    /// return a new n x m matrix.</item>
    /// <item><c>gamma</c>: the kernel width, finite and &gt; 0.</item>
    /// <item><c>ridge</c>: added to the diagonal of <c>K(L, L)</c> before the
    /// inverse square root, finite and &gt;= 0 (default 1e-6).</item>
    /// <item><c>threads</c>: workers (1 = the calling thread only, nothing
    /// spawned); null (the default) for <see cref="Library.NumThreads"/>. The
    /// result is bit for bit the same for every thread count.</item>
    /// <item>What only .NET can get wrong is refused before any native call:
    /// a null array (<see cref="ArgumentNullException"/>); a negative size,
    /// leading dimension or thread count, or an n·m too large for one .NET
    /// array (<see cref="ArgumentOutOfRangeException"/>); an array whose length
    /// is not n·d (or m·d), a span shorter than <c>(n - 1)·ldx + d</c> (or
    /// <c>(m - 1)·ldl + d</c>), or two-dimensional arrays with different
    /// column counts (<see cref="ArgumentException"/>).</item>
    /// <item>Every other value is passed to helios unchanged and its refusal
    /// comes back as a <see cref="HeliosException"/> with helios's status and
    /// message: <see cref="Status.InvalidArgument"/> for n, m or d 0, a
    /// leading dimension smaller than d, a <c>gamma</c> or <c>ridge</c> out of
    /// range (NaN included), <c>threads</c> 0 or above 1024, or an output
    /// overlapping an input; <see cref="Status.BufferTooSmall"/> for an output
    /// shorter than n·m; <see cref="Status.Numeric"/> for a NaN or infinity in
    /// <c>x</c> or the landmarks (the message names the row).</item>
    /// <item>On any error the output is partly written.</item>
    /// </list>
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public static class Rkhs
    {
        /// <summary>
        /// The feature map of <paramref name="x"/> (n x d, dense row-major:
        /// exactly n·d elements) on <paramref name="landmarks"/> (m x d, exactly
        /// m·d elements), as a new n x m row-major array (see <see cref="Rkhs"/>
        /// for the arguments and errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static float[] Embed(
            float[] x, int n, int d, float[] landmarks, int m, double gamma, double ridge = 1e-6, int? threads = null)
        {
            return EmbedDense(x, n, d, landmarks, m, gamma, ridge, threads);
        }

        /// <summary>
        /// The feature map of <paramref name="x"/> (n x d, dense row-major:
        /// exactly n·d elements) on <paramref name="landmarks"/> (m x d, exactly
        /// m·d elements), as a new n x m row-major array (see <see cref="Rkhs"/>
        /// for the arguments and errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static double[] Embed(
            double[] x, int n, int d, double[] landmarks, int m, double gamma, double ridge = 1e-6,
            int? threads = null)
        {
            return EmbedDense(x, n, d, landmarks, m, gamma, ridge, threads);
        }

        /// <summary>
        /// The feature map of the rows of <paramref name="x"/> (n x d) on the
        /// rows of <paramref name="landmarks"/> (m x d), as a new n x m array;
        /// both inputs must have the same number of columns (see
        /// <see cref="Rkhs"/> for the arguments and errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static float[,] Embed(
            float[,] x, float[,] landmarks, double gamma, double ridge = 1e-6, int? threads = null)
        {
            return EmbedRectangular(x, landmarks, gamma, ridge, threads);
        }

        /// <summary>
        /// The feature map of the rows of <paramref name="x"/> (n x d) on the
        /// rows of <paramref name="landmarks"/> (m x d), as a new n x m array;
        /// both inputs must have the same number of columns (see
        /// <see cref="Rkhs"/> for the arguments and errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static double[,] Embed(
            double[,] x, double[,] landmarks, double gamma, double ridge = 1e-6, int? threads = null)
        {
            return EmbedRectangular(x, landmarks, gamma, ridge, threads);
        }

        /// <summary>
        /// The feature map of <paramref name="x"/> (n x d, leading dimension
        /// <paramref name="ldx"/>) on <paramref name="landmarks"/> (m x d,
        /// leading dimension <paramref name="ldl"/>) into
        /// <c>output[0 .. n·m)</c>, row-major; <paramref name="output"/> must
        /// not overlap the inputs (see <see cref="Rkhs"/> for the arguments and
        /// errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static void Embed(
            ReadOnlySpan<float> x, int n, int d, int ldx, ReadOnlySpan<float> landmarks, int m, int ldl,
            Span<float> output, double gamma, double ridge = 1e-6, int? threads = null)
        {
            Run(x, n, d, ldx, landmarks, m, ldl, output, gamma, ridge, threads);
        }

        /// <summary>
        /// The feature map of <paramref name="x"/> (n x d, leading dimension
        /// <paramref name="ldx"/>) on <paramref name="landmarks"/> (m x d,
        /// leading dimension <paramref name="ldl"/>) into
        /// <c>output[0 .. n·m)</c>, row-major; <paramref name="output"/> must
        /// not overlap the inputs (see <see cref="Rkhs"/> for the arguments and
        /// errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static void Embed(
            ReadOnlySpan<double> x, int n, int d, int ldx, ReadOnlySpan<double> landmarks, int m, int ldl,
            Span<double> output, double gamma, double ridge = 1e-6, int? threads = null)
        {
            Run(x, n, d, ldx, landmarks, m, ldl, output, gamma, ridge, threads);
        }

        private static T[] EmbedDense<T>(
            T[] x, int n, int d, T[] landmarks, int m, double gamma, double ridge, int? threads)
            where T : struct
        {
            if (x == null)
            {
                throw new ArgumentNullException(nameof(x));
            }
            if (landmarks == null)
            {
                throw new ArgumentNullException(nameof(landmarks));
            }
            Native.ToSize(n, nameof(n));
            Native.ToSize(d, nameof(d));
            Native.ToSize(m, nameof(m));
            RequireDenseLength(x.Length, n, d, nameof(x), "n");
            RequireDenseLength(landmarks.Length, m, d, nameof(landmarks), "m");
            var output = new T[OutputLength(n, m)];
            Run<T>(x, n, d, d, landmarks, m, d, output, gamma, ridge, threads);
            return output;
        }

        private static T[,] EmbedRectangular<T>(
            T[,] x, T[,] landmarks, double gamma, double ridge, int? threads)
            where T : struct
        {
            if (x == null)
            {
                throw new ArgumentNullException(nameof(x));
            }
            if (landmarks == null)
            {
                throw new ArgumentNullException(nameof(landmarks));
            }
            int n = x.GetLength(0);
            int d = x.GetLength(1);
            int m = landmarks.GetLength(0);
            if (landmarks.GetLength(1) != d)
            {
                throw new ArgumentException(
                    "x has " + d + " columns but landmarks has " + landmarks.GetLength(1)
                    + "; points and landmarks must have the same dimension", nameof(landmarks));
            }
            OutputLength(n, m);
            var output = new T[n, m];
            Run(AllElements(x), n, d, d, AllElements(landmarks), m, d, AllElements(output), gamma, ridge, threads);
            return output;
        }

        // A rectangular array is one row-major block of elements; an empty one
        // has no element to refer to and gives an empty span.
        private static Span<T> AllElements<T>(T[,] matrix)
            where T : struct
        {
            return matrix.Length == 0 ? Span<T>.Empty : MemoryMarshal.CreateSpan(ref matrix[0, 0], matrix.Length);
        }

        // The one path behind every overload; T is float or double.
        private static unsafe void Run<T>(
            ReadOnlySpan<T> x, int n, int d, int ldx, ReadOnlySpan<T> landmarks, int m, int ldl, Span<T> output,
            double gamma, double ridge, int? threads)
            where T : struct
        {
            UIntPtr rows = Native.ToSize(n, nameof(n));
            UIntPtr cols = Native.ToSize(d, nameof(d));
            UIntPtr xStride = Native.ToSize(ldx, nameof(ldx));
            UIntPtr landmarkRows = Native.ToSize(m, nameof(m));
            UIntPtr landmarksStride = Native.ToSize(ldl, nameof(ldl));
            UIntPtr threadCount = threads.HasValue ? Native.ToSize(threads.Value, nameof(threads)) : Native.Auto;
            RequireStridedLength(x.Length, n, d, ldx, nameof(x), "n", "ldx");
            RequireStridedLength(landmarks.Length, m, d, ldl, nameof(landmarks), "m", "ldl");
            Library.EnsureCompatible();

            // An empty span pins to NULL, which helios would report as a NULL
            // argument; stand-ins let it report what is wrong (n, m or d 0, or
            // an output too small). helios reads and writes none of them.
            double* emptyStandIns = stackalloc double[3];
            Status status;
            fixed (byte* xBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(x)))
            fixed (byte* landmarksBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(landmarks)))
            fixed (byte* outputBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(output)))
            {
                void* xPointer = xBytes != null ? xBytes : (void*)emptyStandIns;
                void* landmarksPointer = landmarksBytes != null ? landmarksBytes : (void*)(emptyStandIns + 1);
                void* outputPointer = outputBytes != null ? outputBytes : (void*)(emptyStandIns + 2);
                var capacity = new UIntPtr((uint)output.Length);
                if (typeof(T) == typeof(float))
                {
                    status = Native.helios_rkhs_embed_f32(
                        xPointer, rows, cols, xStride, landmarksPointer, landmarkRows, landmarksStride, gamma, ridge,
                        threadCount, outputPointer, capacity, null);
                }
                else if (typeof(T) == typeof(double))
                {
                    status = Native.helios_rkhs_embed_f64(
                        xPointer, rows, cols, xStride, landmarksPointer, landmarkRows, landmarksStride, gamma, ridge,
                        threadCount, outputPointer, capacity, null);
                }
                else
                {
                    throw new NotSupportedException("helios embeds float and double matrices only");
                }
            }
            Native.Check(status);
        }

        // n·m as the length of one .NET array.
        private static int OutputLength(int n, int m)
        {
            long length = (long)n * m;
            if (length > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(
                    "m", m, "n x m = " + n + " x " + m + " elements do not fit in one .NET array");
            }
            return (int)length;
        }

        /// <summary>
        /// The feature map on a CUDA <paramref name="device"/>, float32, with
        /// every array in device memory of the device's context
        /// (<c>helios_rkhs_embed_device_f32</c>): <paramref name="x"/> n x d
        /// and <paramref name="landmarks"/> m x d, dense row-major, and
        /// <paramref name="output"/> n x m. The work runs on
        /// <paramref name="stream"/> (a <c>CUstream</c>; <see cref="IntPtr.Zero"/>
        /// for the default stream) and the call returns once that stream has
        /// finished it. <see cref="Status.Unsupported"/> when the library was
        /// built without the <c>cuda</c> feature, <see cref="Status.Device"/>
        /// without a driver or device, <see cref="Status.InvalidArgument"/> for
        /// a host pointer passed as device memory, <see cref="Status.OutOfMemory"/>
        /// beyond the device's free memory.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static void Embed(
            Device device, IntPtr x, int n, int d, IntPtr landmarks, int m, double gamma, double ridge,
            IntPtr output, IntPtr stream)
        {
            if (device == null)
            {
                throw new ArgumentNullException(nameof(device));
            }
            if (n < 0 || d < 0 || m < 0)
            {
                throw new ArgumentOutOfRangeException(n < 0 ? nameof(n) : d < 0 ? nameof(d) : nameof(m),
                    "sizes are 0 or more");
            }
            device.Use(handle => Native.Check(Native.helios_rkhs_embed_device_f32(
                handle, x, (UIntPtr)n, (UIntPtr)d, (UIntPtr)d, landmarks, (UIntPtr)m, (UIntPtr)d, gamma, ridge,
                output, (UIntPtr)((ulong)n * (ulong)m), stream)));
        }

        // A dense array holds exactly rows·cols elements.
        private static void RequireDenseLength(int length, int rows, int cols, string name, string rowsName)
        {
            long needed = (long)rows * cols;
            if (length != needed)
            {
                throw new ArgumentException(
                    name + " has " + length + " elements but a dense " + rowsName + " x d = " + rows + " x " + cols
                    + " matrix has " + needed, name);
            }
        }

        // The elements helios reads: (rows - 1)·stride + cols, none for 0 rows
        // (the C contract; a stride below cols is for helios to refuse).
        private static void RequireStridedLength(
            int length, int rows, int cols, int stride, string name, string rowsName, string strideName)
        {
            long needed = rows == 0 ? 0 : (long)(rows - 1) * stride + cols;
            if (length < needed)
            {
                throw new ArgumentException(
                    name + " has " + length + " elements but " + rowsName + " = " + rows + " rows of d = " + cols
                    + " with " + strideName + " = " + stride + " need " + needed + " ((" + rowsName + " - 1) * "
                    + strideName + " + d)", name);
            }
        }
    }
}

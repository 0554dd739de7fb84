using System;
using System.Runtime.InteropServices;

namespace Helios
{
    /// <summary>
    /// How a <see cref="NystromEngine"/> chooses its landmarks among the rows
    /// given to <c>Build</c> (<c>HeliosNystromOptions.selection</c>). Both are
    /// seeded by <see cref="NystromOptions.Seed"/>: the same data and seed give
    /// the same landmarks on every machine and thread count.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public enum LandmarkSelection
    {
        /// <summary><c>HELIOS_LANDMARKS_UNIFORM</c>: m distinct rows drawn uniformly at random (the default).</summary>
        Uniform = 0,

        /// <summary>
        /// <c>HELIOS_LANDMARKS_KMEANS_PLUS_PLUS</c>: k-means++ seeding, which spreads the landmarks over the data.
        /// </summary>
        KMeansPlusPlus = 1,
    }

    /// <summary>
    /// The element type a <see cref="NystromEngine"/> holds, fixed when it is
    /// created (or by the file it is loaded from): it accepts only the
    /// overloads of that type (<c>HELIOS_DTYPE_F32</c> / <c>_F64</c>).
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public enum NystromPrecision
    {
        /// <summary><c>HELIOS_DTYPE_F32</c>: <see cref="float"/> data; the <see cref="float"/> overloads.</summary>
        Single = 0,

        /// <summary><c>HELIOS_DTYPE_F64</c>: <see cref="double"/> data; the <see cref="double"/> overloads.</summary>
        Double = 1,
    }

    /// <summary>
    /// The settings of a <see cref="NystromEngine"/> (<c>HeliosNystromOptions</c>).
    /// A new object holds helios's defaults (<c>helios_nystrom_default_options()</c>:
    /// gamma 1, ridge 1e-6, 256 landmarks, uniform selection, seed 0, automatic
    /// threads); change the properties you need, for example
    /// <c>new NystromOptions { Gamma = 0.5, LandmarkCount = 64 }</c>.
    /// A negative <see cref="LandmarkCount"/> or <see cref="Threads"/> cannot be
    /// expressed in C and gets <see cref="ArgumentOutOfRangeException"/> from
    /// the setter; every other value is checked by helios when the engine is
    /// created (<see cref="HeliosException"/>, <see cref="Status.InvalidArgument"/>).
    /// It is a plain .NET object with no native state, read once when an
    /// engine is created (the engine keeps its own copy); as with any .NET
    /// object, changing it on one thread while another reads it is the
    /// caller's data race.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public sealed class NystromOptions
    {
        private int _landmarkCount;
        private int? _threads;

        /// <summary>
        /// helios's default options.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public NystromOptions()
            : this(DefaultsFromLibrary())
        {
        }

        /// <summary>The options of a native struct (threads <c>HELIOS_AUTO</c> as null).</summary>
        internal NystromOptions(Native.NystromOptionsRaw raw)
        {
            Gamma = raw.Gamma;
            Ridge = raw.Ridge;
            _landmarkCount = (int)Math.Min(raw.LandmarkCount.ToUInt64(), int.MaxValue);
            Selection = (LandmarkSelection)raw.Selection;
            Seed = raw.Seed;
            _threads = raw.Threads == Native.Auto ? (int?)null : (int)Math.Min(raw.Threads.ToUInt64(), int.MaxValue);
        }

        /// <summary>
        /// The kernel width in <c>k(x, y) = exp(-gamma ||x - y||²)</c>: finite and &gt; 0. Default 1.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public double Gamma { get; set; }

        /// <summary>
        /// Added to the diagonal of <c>K(L, L)</c> before its inverse square
        /// root: finite and &gt;= 0. Default 1e-6; 0 gives the exact Nyström map.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public double Ridge { get; set; }

        /// <summary>
        /// The number of landmarks m, which is the width of every embedding:
        /// at least 1, and at most the rows given to <c>Build</c>. Default 256.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int LandmarkCount
        {
            get => _landmarkCount;
            set
            {
                Native.ToSize(value, nameof(value));
                _landmarkCount = value;
            }
        }

        /// <summary>
        /// How the landmarks are chosen. Default <see cref="LandmarkSelection.Uniform"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public LandmarkSelection Selection { get; set; }

        /// <summary>
        /// The seed of the landmark choice. Default 0.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public ulong Seed { get; set; }

        /// <summary>
        /// Workers (1 = the calling thread only), or null (the default) for
        /// <see cref="Library.NumThreads"/>; 0 and more than 1024 are refused by
        /// helios. The output bits do not depend on it.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int? Threads
        {
            get => _threads;
            set
            {
                if (value.HasValue)
                {
                    Native.ToSize(value.Value, nameof(value));
                }
                _threads = value;
            }
        }

        /// <summary>The native struct, <c>struct_size</c> included.</summary>
        internal Native.NystromOptionsRaw ToRaw()
        {
            Native.NystromOptionsRaw raw = Native.helios_nystrom_default_options();
            raw.Gamma = Gamma;
            raw.Ridge = Ridge;
            raw.LandmarkCount = new UIntPtr((uint)_landmarkCount);
            raw.Selection = (int)Selection;
            raw.Seed = Seed;
            raw.Threads = _threads.HasValue ? new UIntPtr((uint)_threads.Value) : Native.Auto;
            return raw;
        }

        private static Native.NystromOptionsRaw DefaultsFromLibrary()
        {
            Library.EnsureCompatible();
            return Native.helios_nystrom_default_options();
        }
    }

    /// <summary>
    /// The native <c>HeliosNystromEngine*</c>; releasing it calls
    /// <c>helios_nystrom_free</c> exactly once, after the last call that
    /// borrowed it has returned (SafeHandle reference counting), so the free
    /// never finds the engine in use.
    /// </summary>
    internal sealed class NystromEngineHandle : SafeHandle
    {
        // Called by the P/Invoke marshaller for `out NystromEngineHandle`.
        private NystromEngineHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            // Every NystromEngine call holds a reference on this handle, so no
            // call is inside the engine and helios_nystrom_free cannot return
            // HELIOS_ERR_BUSY; a release cannot throw in any case.
            return Native.helios_nystrom_free(handle) == Status.Ok;
        }
    }

    /// <summary>
    /// A Nyström feature-map engine (<c>helios_nystrom_*</c>): <c>Build</c>
    /// chooses m landmarks <c>L</c> among the rows of a data set and caches the
    /// normaliser <c>M = (K(L, L) + ridge·I)^(-1/2)</c>; afterwards every point
    /// x (a row of d numbers) maps to the row <c>Phi(x) = K(x, L) · M</c> of m
    /// numbers, with <c>k(x, l) = exp(-gamma ||x - l||²)</c>, so that
    /// <c>Phi(x) · Phi(y) ≈ k(x, y)</c>. <c>Transform</c> embeds new points,
    /// <c>Update</c> and <c>UpdateInPlace</c> append the embedding of new rows
    /// to an existing one (the new rows equal <c>Transform</c> of them bit for
    /// bit, so Build(X1) then Update(X2) equals Transform of [X1; X2]), and the
    /// built engine can be saved to a file or to bytes and loaded again with
    /// the same bits. The work runs in native code only.
    /// <para>Arguments and errors, the same for every member:</para>
    /// <list type="bullet">
    /// <item>The engine holds <see cref="float"/> or <see cref="double"/> data
    /// (<see cref="Precision"/>, fixed at creation) and takes only the
    /// overloads of that type; the other type's overload throws a
    /// <see cref="HeliosException"/> with <see cref="Status.InvalidArgument"/>
    /// and a message naming the type the engine holds.</item>
    /// <item>Matrices are dense and row-major: <c>x</c> holds <c>rows</c>
    /// points of <c>cols</c> (= d) numbers, point i at
    /// <c>x[i * cols .. (i + 1) * cols)</c>, exactly <c>rows · cols</c>
    /// elements (slice a longer buffer). An embedding is rows x m, row-major.
    /// The overloads without an output return a new array; those with a
    /// <see cref="Span{T}"/> output fill its first <c>rows · m</c> elements and
    /// leave the rest as it is.</item>
    /// <item>What only .NET can get wrong is refused before any native call:
    /// a null array or path (<see cref="ArgumentNullException"/>); a negative
    /// <c>rows</c>, <c>cols</c>, <c>rowsUsed</c> or thread count, or a result
    /// too large for one .NET array (<see cref="ArgumentOutOfRangeException"/>);
    /// an <c>x</c> whose length is not <c>rows · cols</c>, or a
    /// <c>phiOld</c> whose length is not a multiple of m
    /// (<see cref="ArgumentException"/>); any call after <see cref="Dispose"/>
    /// (<see cref="ObjectDisposedException"/>).</item>
    /// <item>Every other value is passed to helios unchanged and its refusal
    /// comes back as a <see cref="HeliosException"/> with helios's status and
    /// message: <see cref="Status.InvalidArgument"/> for options out of range
    /// (gamma not &gt; 0, ridge &lt; 0, NaN, LandmarkCount 0, threads 0 or
    /// above 1024), rows or cols 0 in <c>Build</c>, more landmarks than rows,
    /// a <c>cols</c> that differs from the built engine's <see cref="Dim"/>, or
    /// the wrong element type; <see cref="Status.InvalidState"/> for anything
    /// but <c>Build</c> before the engine is built;
    /// <see cref="Status.BufferTooSmall"/> for an output span shorter than
    /// <c>rows · m</c>, or an <c>UpdateInPlace</c> buffer without room for the
    /// new rows; <see cref="Status.Numeric"/> for a NaN or infinity in
    /// <c>x</c> (the message names the row); <see cref="Status.Io"/> for a
    /// file that cannot be read or written; <see cref="Status.Format"/> for a
    /// file or bytes that are not an engine, truncated or corrupt.</item>
    /// <item>On an error the engine is unchanged; an output may be partly
    /// written (never by <c>UpdateInPlace</c>'s buffer-too-small refusal).</item>
    /// </list>
    /// <para>
    /// Single owner: one thread at a time may use an engine. A second thread
    /// that calls in while another is inside gets HELIOS_ERR_BUSY, that is a
    /// <see cref="HeliosException"/> with <see cref="Status.Busy"/>, and the
    /// engine is not touched; it never blocks. Give each thread its own
    /// engine (<see cref="ToBytes"/> and <see cref="FromBytes(byte[])"/> copy
    /// one) or serialise the calls.
    /// </para>
    /// <para>
    /// Dispose it when done (<c>using</c>). <see cref="Dispose"/> may be called
    /// from any thread, even while another thread is inside a call: that call
    /// finishes normally and the native engine is freed when it returns
    /// (SafeHandle reference counting), so <c>helios_nystrom_free</c> never
    /// finds the engine busy and nothing is leaked. Later calls throw
    /// <see cref="ObjectDisposedException"/>; disposing twice is harmless. An
    /// engine that is never disposed is freed by its finalizer.
    /// </para>
    /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
    /// </summary>
    public sealed class NystromEngine : IDisposable
    {
        private readonly NystromEngineHandle _handle;
        private readonly NystromPrecision _precision;
        private readonly int _landmarkCount;

        /// <summary>
        /// An engine that is not built yet, with <paramref name="options"/>
        /// (null for the defaults) and data of <paramref name="precision"/>.
        /// Options out of range get a <see cref="HeliosException"/>
        /// (<see cref="Status.InvalidArgument"/>, the message names the option).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public NystromEngine(NystromOptions options, NystromPrecision precision)
            : this(NewHandle(options, precision))
        {
        }

        private NystromEngine(NystromEngineHandle handle)
        {
            _handle = handle;
            try
            {
                Info(out int dtype, out ulong landmarkCount, out _, out _);
                _precision = (NystromPrecision)dtype;
                _landmarkCount = (int)Math.Min(landmarkCount, int.MaxValue);
            }
            catch (HeliosException)
            {
                handle.Dispose();
                throw;
            }
        }

        /// <summary>
        /// An engine that is not built yet for data of type
        /// <typeparamref name="T"/> (<see cref="float"/> or <see cref="double"/>;
        /// another type gets <see cref="NotSupportedException"/>), with
        /// <paramref name="options"/> (null for the defaults).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static NystromEngine Create<T>(NystromOptions options = null)
            where T : struct
        {
            return new NystromEngine(options, PrecisionOf<T>());
        }

        /// <summary>
        /// The element type the engine holds (fixed for its life).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public NystromPrecision Precision
        {
            get
            {
                ThrowIfDisposed();
                return _precision;
            }
        }

        /// <summary>
        /// m, the number of landmarks and the width of every embedding (fixed for its life).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public int LandmarkCount
        {
            get
            {
                ThrowIfDisposed();
                return _landmarkCount;
            }
        }

        /// <summary>
        /// d, the width of the points the engine was built on (and the
        /// <c>cols</c> every later call must pass); 0 before it is built.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public int Dim
        {
            get
            {
                Info(out _, out _, out ulong dim, out _);
                return (int)Math.Min(dim, int.MaxValue);
            }
        }

        /// <summary>
        /// Whether the engine is built (by <c>Build</c>, or loaded from a file or bytes).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public bool IsBuilt
        {
            get
            {
                Info(out _, out _, out _, out bool built);
                return built;
            }
        }

        /// <summary>
        /// A copy of the engine's options (a loaded engine reports those it was
        /// saved with, and automatic threads); changing the copy changes nothing.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public NystromOptions Options
        {
            get
            {
                IntPtr engine = Enter();
                try
                {
                    Native.Check(Native.helios_nystrom_get_options(engine, out Native.NystromOptionsRaw raw));
                    return new NystromOptions(raw);
                }
                finally
                {
                    Leave();
                }
            }
        }

        /// <summary>
        /// The worker count of later calls: a count (1 = the calling thread
        /// only), or null for <see cref="Library.NumThreads"/>. The output bits
        /// do not depend on it. Setting a negative count gets
        /// <see cref="ArgumentOutOfRangeException"/>; 0 or more than 1024 a
        /// <see cref="HeliosException"/> (<see cref="Status.InvalidArgument"/>).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public int? Threads
        {
            get => Options.Threads;
            set
            {
                UIntPtr threads = value.HasValue ? Native.ToSize(value.Value, nameof(value)) : Native.Auto;
                IntPtr engine = Enter();
                try
                {
                    Native.Check(Native.helios_nystrom_set_threads(engine, threads));
                }
                finally
                {
                    Leave();
                }
            }
        }

        /// <summary>
        /// Run later calls on a CUDA <paramref name="device"/>, or on the CPU
        /// again with null (<c>helios_nystrom_set_device</c>). On a device the
        /// feature map lives in device memory (f32) and every
        /// <c>Build</c>, <c>Transform</c> and <c>Update</c> runs there, staging
        /// the arrays through the default stream; the landmarks are still
        /// chosen, and the normaliser computed, on the CPU in double precision.
        /// Results match the CPU engine's within 1e-5 of the largest magnitude
        /// and repeat bit for bit on one device. The engine keeps its own
        /// reference to the device. Errors: <see cref="Status.Unsupported"/> (a
        /// double engine), <see cref="Status.OutOfMemory"/>,
        /// <see cref="Status.Device"/>; the engine is then unchanged.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public void SetDevice(Device device)
        {
            IntPtr engine = Enter();
            try
            {
                if (device == null)
                {
                    Native.Check(Native.helios_nystrom_set_device(engine, IntPtr.Zero));
                }
                else
                {
                    device.Use(handle => Native.Check(Native.helios_nystrom_set_device(engine, handle)));
                }
            }
            finally
            {
                Leave();
            }
        }

        /// <summary>
        /// Whether the engine runs on a CUDA device (see <see cref="SetDevice"/>).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public unsafe bool OnDevice
        {
            get
            {
                IntPtr engine = Enter();
                try
                {
                    int onDevice;
                    Native.Check(Native.helios_nystrom_on_device(engine, &onDevice));
                    return onDevice != 0;
                }
                finally
                {
                    Leave();
                }
            }
        }

        /// <summary>
        /// A copy of the m x d landmarks, row-major, as <see cref="double"/>s
        /// whatever the <see cref="Precision"/> (a float engine's values are
        /// widened, which is exact). <see cref="Status.InvalidState"/> before
        /// the engine is built.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public double[] Landmarks => Widened(Part.Landmarks);

        /// <summary>
        /// A copy of the cached m x m normaliser <c>M = (K(L, L) + ridge·I)^(-1/2)</c>,
        /// row-major and symmetric, so that <c>Phi(x) = K(x, L) · M</c>, as
        /// <see cref="double"/>s whatever the <see cref="Precision"/> (a float
        /// engine stores it as floats; they are widened, which is exact).
        /// <see cref="Status.InvalidState"/> before the engine is built.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public double[] Normaliser => Widened(Part.Normaliser);

        /// <summary>
        /// A copy of the m x d landmarks, row-major, in the engine's own type:
        /// <typeparamref name="T"/> must match <see cref="Precision"/>
        /// (otherwise <see cref="Status.InvalidArgument"/>).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public T[] GetLandmarks<T>()
            where T : struct
        {
            PrecisionOf<T>();
            return CopyOut<T>(Part.Landmarks);
        }

        /// <summary>
        /// A copy of the m x m normaliser (see <see cref="Normaliser"/>) in the
        /// engine's own type: <typeparamref name="T"/> must match
        /// <see cref="Precision"/> (otherwise <see cref="Status.InvalidArgument"/>).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public T[] GetNormaliser<T>()
            where T : struct
        {
            PrecisionOf<T>();
            return CopyOut<T>(Part.Normaliser);
        }

        /// <summary>
        /// Choose the landmarks among the <paramref name="rows"/> points of
        /// <paramref name="x"/> (rows x cols), cache the normaliser and return
        /// the rows x m embedding of <paramref name="x"/>. Building again
        /// replaces the landmarks (see <see cref="NystromEngine"/> for the
        /// arguments and errors).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public float[] Build(ReadOnlySpan<float> x, int rows, int cols)
        {
            var output = new float[OutputLength(rows, 0)];
            Map(true, x, rows, cols, output);
            return output;
        }

        /// <summary>
        /// Choose the landmarks among the <paramref name="rows"/> points of
        /// <paramref name="x"/> (rows x cols), cache the normaliser and return
        /// the rows x m embedding of <paramref name="x"/>. Building again
        /// replaces the landmarks (see <see cref="NystromEngine"/> for the
        /// arguments and errors).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public double[] Build(ReadOnlySpan<double> x, int rows, int cols)
        {
            var output = new double[OutputLength(rows, 0)];
            Map(true, x, rows, cols, output);
            return output;
        }

        /// <summary>
        /// <see cref="Build(ReadOnlySpan{float}, int, int)"/> into
        /// <c>output[0 .. rows·m)</c>, which must not overlap <paramref name="x"/>.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public void Build(ReadOnlySpan<float> x, int rows, int cols, Span<float> output)
        {
            Map(true, x, rows, cols, output);
        }

        /// <summary>
        /// <see cref="Build(ReadOnlySpan{double}, int, int)"/> into
        /// <c>output[0 .. rows·m)</c>, which must not overlap <paramref name="x"/>.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public void Build(ReadOnlySpan<double> x, int rows, int cols, Span<double> output)
        {
            Map(true, x, rows, cols, output);
        }

        /// <summary>
        /// The rows x m embedding of the <paramref name="rows"/> points of
        /// <paramref name="x"/> (rows x cols) with the built engine, which is
        /// not changed (see <see cref="NystromEngine"/> for the
        /// arguments and errors).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public float[] Transform(ReadOnlySpan<float> x, int rows, int cols)
        {
            var output = new float[OutputLength(rows, 0)];
            Map(false, x, rows, cols, output);
            return output;
        }

        /// <summary>
        /// The rows x m embedding of the <paramref name="rows"/> points of
        /// <paramref name="x"/> (rows x cols) with the built engine, which is
        /// not changed (see <see cref="NystromEngine"/> for the
        /// arguments and errors).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public double[] Transform(ReadOnlySpan<double> x, int rows, int cols)
        {
            var output = new double[OutputLength(rows, 0)];
            Map(false, x, rows, cols, output);
            return output;
        }

        /// <summary>
        /// <see cref="Transform(ReadOnlySpan{float}, int, int)"/> into
        /// <c>output[0 .. rows·m)</c>, which must not overlap <paramref name="x"/>.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public void Transform(ReadOnlySpan<float> x, int rows, int cols, Span<float> output)
        {
            Map(false, x, rows, cols, output);
        }

        /// <summary>
        /// <see cref="Transform(ReadOnlySpan{double}, int, int)"/> into
        /// <c>output[0 .. rows·m)</c>, which must not overlap <paramref name="x"/>.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public void Transform(ReadOnlySpan<double> x, int rows, int cols, Span<double> output)
        {
            Map(false, x, rows, cols, output);
        }

        /// <summary>
        /// A new array <c>[phiOld; Phi(xNew)]</c>: the rows of
        /// <paramref name="phiOld"/> (an embedding of m-wide rows, for example
        /// what <c>Build</c> returned; its length must be a multiple of m, and it
        /// may be empty) followed by the embedding of the <paramref name="rows"/>
        /// points of <paramref name="xNew"/> (rows x cols). The new rows equal
        /// <c>Transform(xNew)</c> bit for bit. To append without copying the
        /// old rows, use <c>UpdateInPlace</c> (see <see cref="NystromEngine"/>
        /// for the arguments and errors).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public float[] Update(ReadOnlySpan<float> xNew, int rows, int cols, ReadOnlySpan<float> phiOld)
        {
            return UpdateToArray(xNew, rows, cols, phiOld);
        }

        /// <summary>
        /// A new array <c>[phiOld; Phi(xNew)]</c>: the rows of
        /// <paramref name="phiOld"/> (an embedding of m-wide rows, for example
        /// what <c>Build</c> returned; its length must be a multiple of m, and it
        /// may be empty) followed by the embedding of the <paramref name="rows"/>
        /// points of <paramref name="xNew"/> (rows x cols). The new rows equal
        /// <c>Transform(xNew)</c> bit for bit. To append without copying the
        /// old rows, use <c>UpdateInPlace</c> (see <see cref="NystromEngine"/>
        /// for the arguments and errors).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public double[] Update(ReadOnlySpan<double> xNew, int rows, int cols, ReadOnlySpan<double> phiOld)
        {
            return UpdateToArray(xNew, rows, cols, phiOld);
        }

        /// <summary>
        /// Append the embedding of the <paramref name="rows"/> points of
        /// <paramref name="xNew"/> (rows x cols) to <paramref name="buffer"/>,
        /// which holds <paramref name="rowsUsed"/> m-wide rows followed by spare
        /// room: the new rows are written at <c>buffer[rowsUsed·m ..
        /// (rowsUsed + rows)·m)</c> and nothing else is touched, so the cost
        /// depends on the new rows only. Returns the new row count,
        /// <c>rowsUsed + rows</c>. Too little spare room gets a
        /// <see cref="HeliosException"/> (<see cref="Status.BufferTooSmall"/>)
        /// and nothing is written; <paramref name="buffer"/> must not overlap
        /// <paramref name="xNew"/> (see <see cref="NystromEngine"/> for the
        /// other arguments and errors).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public int UpdateInPlace(ReadOnlySpan<float> xNew, int rows, int cols, Span<float> buffer, int rowsUsed)
        {
            return Append(xNew, rows, cols, buffer, rowsUsed);
        }

        /// <summary>
        /// Append the embedding of the <paramref name="rows"/> points of
        /// <paramref name="xNew"/> (rows x cols) to <paramref name="buffer"/>,
        /// which holds <paramref name="rowsUsed"/> m-wide rows followed by spare
        /// room: the new rows are written at <c>buffer[rowsUsed·m ..
        /// (rowsUsed + rows)·m)</c> and nothing else is touched, so the cost
        /// depends on the new rows only. Returns the new row count,
        /// <c>rowsUsed + rows</c>. Too little spare room gets a
        /// <see cref="HeliosException"/> (<see cref="Status.BufferTooSmall"/>)
        /// and nothing is written; <paramref name="buffer"/> must not overlap
        /// <paramref name="xNew"/> (see <see cref="NystromEngine"/> for the
        /// other arguments and errors).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public int UpdateInPlace(ReadOnlySpan<double> xNew, int rows, int cols, Span<double> buffer, int rowsUsed)
        {
            return Append(xNew, rows, cols, buffer, rowsUsed);
        }

        /// <summary>
        /// Save the built engine to the file at <paramref name="path"/> (relative
        /// to the current directory): a versioned, checksummed binary file,
        /// written to a temporary file in the same folder and renamed over
        /// <paramref name="path"/>, so a reader never sees half a file.
        /// <see cref="Status.InvalidState"/> before the engine is built,
        /// <see cref="Status.InvalidArgument"/> for an empty path or one holding
        /// a NUL, <see cref="Status.Io"/> when the file cannot be written; a
        /// null path gets <see cref="ArgumentNullException"/>, one that is not
        /// valid UTF-16 (a lone surrogate) <see cref="ArgumentException"/>.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public unsafe void Save(string path)
        {
            Persistence.Save(_handle, nameof(NystromEngine), path, Native.helios_nystrom_save);
        }

        /// <summary>
        /// The engine saved at <paramref name="path"/> by <see cref="Save"/>,
        /// with the precision it was saved with and automatic threads; it gives
        /// the same bits as the saved engine. <see cref="Status.Io"/> when the
        /// file cannot be read (a missing file, for instance),
        /// <see cref="Status.Format"/> when it is not an engine file, truncated,
        /// corrupt or of a newer format; the path is checked as in
        /// <see cref="Save"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe NystromEngine Load(string path)
        {
            return new NystromEngine(Persistence.Load<NystromEngineHandle>(path, Native.helios_nystrom_load));
        }

        /// <summary>
        /// The built engine as bytes (those of the file <see cref="Save"/>
        /// writes), for sending it elsewhere or keeping it in memory; restore it
        /// with <see cref="FromBytes(byte[])"/>. <see cref="Status.InvalidState"/>
        /// before the engine is built.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public unsafe byte[] ToBytes()
        {
            return Persistence.ToBytes(_handle, nameof(NystromEngine), Native.helios_nystrom_to_bytes);
        }

        /// <summary>
        /// An engine from the bytes of <see cref="ToBytes"/> (a new engine: the
        /// array is not kept). <see cref="Status.Format"/> for bytes that are not
        /// an engine, truncated or corrupt; a null array gets
        /// <see cref="ArgumentNullException"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static NystromEngine FromBytes(byte[] data)
        {
            return FromBytes(Persistence.BytesOf(data));
        }

        /// <summary>
        /// An engine from the bytes of <see cref="ToBytes"/> (a new engine: the
        /// span is not kept). <see cref="Status.Format"/> for bytes that are not
        /// an engine, truncated or corrupt.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe NystromEngine FromBytes(ReadOnlySpan<byte> data)
        {
            return new NystromEngine(
                Persistence.FromBytes<NystromEngineHandle>(data, Native.helios_nystrom_from_bytes));
        }

        /// <summary>
        /// Release the engine (see <see cref="NystromEngine"/>): safe to call
        /// more than once, and while another thread is inside a call, which
        /// finishes before the native engine is freed; later calls throw
        /// <see cref="ObjectDisposedException"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Dispose()
        {
            _handle.Dispose();
        }

        // ---- internals ---------------------------------------------------------------------

        private enum Part
        {
            Landmarks,
            Normaliser,
        }

        private static NystromEngineHandle NewHandle(NystromOptions options, NystromPrecision precision)
        {
            Library.EnsureCompatible();
            Native.NystromOptionsRaw raw = (options ?? new NystromOptions()).ToRaw();
            Status status = Native.helios_nystrom_new(ref raw, (int)precision, out NystromEngineHandle handle);
            return Persistence.Adopt(status, handle);
        }

        private static NystromPrecision PrecisionOf<T>()
        {
            if (typeof(T) == typeof(float))
            {
                return NystromPrecision.Single;
            }
            if (typeof(T) == typeof(double))
            {
                return NystromPrecision.Double;
            }
            throw new NotSupportedException("a Nyström engine holds float or double data, not " + typeof(T).Name);
        }

        private void ThrowIfDisposed()
        {
            Persistence.ThrowIfDisposed(_handle, nameof(NystromEngine));
        }

        // Borrow the native pointer for one call (see Persistence.Enter; Leave
        // in a finally block, after the status is checked).
        private IntPtr Enter()
        {
            return Persistence.Enter(_handle, nameof(NystromEngine));
        }

        private void Leave()
        {
            _handle.DangerousRelease();
        }

        private unsafe void Info(out int dtype, out ulong landmarkCount, out ulong dim, out bool built)
        {
            IntPtr engine = Enter();
            try
            {
                int type;
                int isBuilt;
                UIntPtr m;
                UIntPtr d;
                Native.Check(Native.helios_nystrom_info(engine, &type, &m, &d, &isBuilt));
                dtype = type;
                landmarkCount = m.ToUInt64();
                dim = d.ToUInt64();
                built = isBuilt != 0;
            }
            finally
            {
                Leave();
            }
        }

        // (rowsOld + rows)·m as the length of one .NET array.
        private int OutputLength(int rows, long rowsOld)
        {
            Native.ToSize(rows, nameof(rows));
            long length = (rowsOld + rows) * LandmarkCount;
            if (length > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), rows,
                    (rowsOld + rows) + " rows of m = " + LandmarkCount + " elements do not fit in one .NET array");
            }
            return (int)length;
        }

        // A dense rows x cols matrix holds exactly rows·cols elements.
        private static void RequireDense(int length, int rows, int cols, string name)
        {
            Native.ToSize(rows, nameof(rows));
            Native.ToSize(cols, nameof(cols));
            long needed = (long)rows * cols;
            if (length != needed)
            {
                throw new ArgumentException(
                    name + " has " + length + " elements but a dense rows x cols = " + rows + " x " + cols
                    + " matrix has " + needed, name);
            }
        }

        // Build (build = true) or Transform; T is float or double.
        private unsafe void Map<T>(bool build, ReadOnlySpan<T> x, int rows, int cols, Span<T> output)
            where T : struct
        {
            RequireDense(x.Length, rows, cols, nameof(x));
            var n = new UIntPtr((uint)rows);
            var d = new UIntPtr((uint)cols);
            IntPtr engine = Enter();
            try
            {
                // An empty span pins to NULL, which helios would report as a NULL
                // argument; stand-ins let it report what is wrong (rows or cols
                // 0, an output too small). helios reads and writes none of them.
                double* emptyStandIns = stackalloc double[2];
                Status status;
                fixed (byte* xBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(x)))
                fixed (byte* outputBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(output)))
                {
                    void* xPointer = xBytes != null ? xBytes : (void*)emptyStandIns;
                    void* outputPointer = outputBytes != null ? outputBytes : (void*)(emptyStandIns + 1);
                    var capacity = new UIntPtr((uint)output.Length);
                    if (typeof(T) == typeof(float))
                    {
                        status = build
                            ? Native.helios_nystrom_build_f32(engine, xPointer, n, d, d, outputPointer, capacity, null)
                            : Native.helios_nystrom_transform_f32(
                                engine, xPointer, n, d, d, outputPointer, capacity, null);
                    }
                    else if (typeof(T) == typeof(double))
                    {
                        status = build
                            ? Native.helios_nystrom_build_f64(engine, xPointer, n, d, d, outputPointer, capacity, null)
                            : Native.helios_nystrom_transform_f64(
                                engine, xPointer, n, d, d, outputPointer, capacity, null);
                    }
                    else
                    {
                        throw new NotSupportedException("a Nyström engine holds float or double data");
                    }
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
        }

        private unsafe T[] UpdateToArray<T>(ReadOnlySpan<T> xNew, int rows, int cols, ReadOnlySpan<T> phiOld)
            where T : struct
        {
            RequireDense(xNew.Length, rows, cols, nameof(xNew));
            int m = LandmarkCount;
            if (phiOld.Length % m != 0)
            {
                throw new ArgumentException(
                    "phiOld has " + phiOld.Length + " elements, which is not a whole number of rows of m = " + m,
                    nameof(phiOld));
            }
            int rowsOld = phiOld.Length / m;
            var output = new T[OutputLength(rows, rowsOld)];
            var n = new UIntPtr((uint)rows);
            var d = new UIntPtr((uint)cols);
            IntPtr engine = Enter();
            try
            {
                double* emptyStandIns = stackalloc double[2];
                Status status;
                fixed (byte* xBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(xNew)))
                fixed (byte* oldBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(phiOld)))
                fixed (byte* outputBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(output.AsSpan())))
                {
                    void* xPointer = xBytes != null ? xBytes : (void*)emptyStandIns;
                    // No old rows: NULL, which helios allows (never equal to the output).
                    void* oldPointer = oldBytes;
                    void* outputPointer = outputBytes != null ? outputBytes : (void*)(emptyStandIns + 1);
                    var old = new UIntPtr((uint)rowsOld);
                    var capacity = new UIntPtr((uint)output.Length);
                    if (typeof(T) == typeof(float))
                    {
                        status = Native.helios_nystrom_update_f32(
                            engine, xPointer, n, d, d, oldPointer, old, outputPointer, capacity, null);
                    }
                    else if (typeof(T) == typeof(double))
                    {
                        status = Native.helios_nystrom_update_f64(
                            engine, xPointer, n, d, d, oldPointer, old, outputPointer, capacity, null);
                    }
                    else
                    {
                        throw new NotSupportedException("a Nyström engine holds float or double data");
                    }
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
            return output;
        }

        private unsafe int Append<T>(ReadOnlySpan<T> xNew, int rows, int cols, Span<T> buffer, int rowsUsed)
            where T : struct
        {
            RequireDense(xNew.Length, rows, cols, nameof(xNew));
            UIntPtr used = Native.ToSize(rowsUsed, nameof(rowsUsed));
            var n = new UIntPtr((uint)rows);
            var d = new UIntPtr((uint)cols);
            IntPtr engine = Enter();
            try
            {
                double* emptyStandIns = stackalloc double[2];
                Status status;
                fixed (byte* xBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(xNew)))
                fixed (byte* bufferBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(buffer)))
                {
                    void* xPointer = xBytes != null ? xBytes : (void*)emptyStandIns;
                    void* bufferPointer = bufferBytes != null ? bufferBytes : (void*)(emptyStandIns + 1);
                    var capacity = new UIntPtr((uint)buffer.Length);
                    if (typeof(T) == typeof(float))
                    {
                        status = Native.helios_nystrom_update_inplace_f32(
                            engine, xPointer, n, d, d, bufferPointer, capacity, used, null);
                    }
                    else if (typeof(T) == typeof(double))
                    {
                        status = Native.helios_nystrom_update_inplace_f64(
                            engine, xPointer, n, d, d, bufferPointer, capacity, used, null);
                    }
                    else
                    {
                        throw new NotSupportedException("a Nyström engine holds float or double data");
                    }
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
            // helios succeeded, so (rowsUsed + rows)·m <= buffer.Length fits an int.
            return rowsUsed + rows;
        }

        private double[] Widened(Part part)
        {
            if (Precision == NystromPrecision.Single)
            {
                return Array.ConvertAll(CopyOut<float>(part), v => (double)v);
            }
            return CopyOut<double>(part);
        }

        // The landmarks or the normaliser into a new array sized by helios.
        private unsafe T[] CopyOut<T>(Part part)
            where T : struct
        {
            return Persistence.CopyOut<T>(_handle, nameof(NystromEngine),
                (engine, output, capacity, needed) => CopyCall<T>(part, engine, output, capacity, needed));
        }

        private static unsafe Status CopyCall<T>(
            Part part, IntPtr engine, void* output, UIntPtr capacity, UIntPtr* needed)
        {
            if (typeof(T) == typeof(float))
            {
                return part == Part.Landmarks
                    ? Native.helios_nystrom_landmarks_f32(engine, output, capacity, needed)
                    : Native.helios_nystrom_normaliser_f32(engine, output, capacity, needed);
            }
            if (typeof(T) == typeof(double))
            {
                return part == Part.Landmarks
                    ? Native.helios_nystrom_landmarks_f64(engine, output, capacity, needed)
                    : Native.helios_nystrom_normaliser_f64(engine, output, capacity, needed);
            }
            throw new NotSupportedException("a Nyström engine holds float or double data");
        }
    }
}

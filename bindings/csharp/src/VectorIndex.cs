using System;
using System.Runtime.InteropServices;

namespace Helios
{
    /// <summary>
    /// How a <see cref="VectorIndex"/> measures nearness (<c>HeliosIndexOptions.metric</c>).
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public enum Metric
    {
        /// <summary>
        /// <c>HELIOS_METRIC_L2</c>: the squared Euclidean distance <c>||q - x||²</c>;
        /// smaller is nearer, so hits come in increasing order (the default).
        /// </summary>
        L2 = 0,

        /// <summary>
        /// <c>HELIOS_METRIC_INNER_PRODUCT</c>: the inner product <c>q · x</c>;
        /// larger is nearer, so hits come in decreasing order.
        /// </summary>
        InnerProduct = 1,
    }

    /// <summary>
    /// What a <see cref="VectorIndex"/> stores (<c>HeliosIndexOptions.kind</c>),
    /// fixed when it is created.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public enum IndexKind
    {
        /// <summary><c>HELIOS_INDEX_FLAT</c>: the vectors themselves; exact search, no training.</summary>
        Flat = 0,

        /// <summary>
        /// <c>HELIOS_INDEX_PQ</c>: product-quantized codes of M bytes (at most)
        /// per vector; approximate search, trained before the first add.
        /// </summary>
        ProductQuantized = 1,
    }

    /// <summary>
    /// The hits of one <see cref="VectorIndex"/> search: <see cref="QueryCount"/>
    /// rows of <see cref="K"/> hits each, row-major, so hit j of query q is at
    /// <c>q * K + j</c> in both arrays. A row is best first (L2: increasing
    /// squared distances; inner product: decreasing scores), ties broken by
    /// the smaller id. When the index held fewer than k vectors, a row ends
    /// with padding: id <see cref="VectorIndex.NoId"/> (<c>ulong.MaxValue</c>)
    /// and distance <see cref="float.PositiveInfinity"/> (L2) or
    /// <see cref="float.NegativeInfinity"/> (inner product). The arrays are new
    /// and belong to the caller.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public sealed class SearchResult
    {
        internal SearchResult(int queryCount, int k, float[] distances, ulong[] ids)
        {
            QueryCount = queryCount;
            K = k;
            Distances = distances;
            Ids = ids;
        }

        /// <summary>
        /// The number of queries (rows).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int QueryCount { get; }

        /// <summary>
        /// The hits per query (the k of the search, padding included).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int K { get; }

        /// <summary>
        /// <c>QueryCount · K</c> distances, row-major: squared L2 distances or
        /// inner products (for a PQ index, those to the vector its code stands
        /// for; see <see cref="VectorIndex"/>).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public float[] Distances { get; }

        /// <summary>
        /// <c>QueryCount · K</c> ids, row-major, aligned with
        /// <see cref="Distances"/>; <see cref="VectorIndex.NoId"/> pads a row.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public ulong[] Ids { get; }
    }

    /// <summary>
    /// The native <c>HeliosVectorIndex*</c>; releasing it calls
    /// <c>helios_index_free</c> exactly once, after the last call that
    /// borrowed it has returned (SafeHandle reference counting).
    /// </summary>
    internal sealed class VectorIndexHandle : SafeHandle
    {
        // Called by the P/Invoke marshaller for `out VectorIndexHandle`.
        private VectorIndexHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            Native.helios_index_free(handle);
            return true;
        }
    }

    /// <summary>
    /// A nearest-neighbour index of <see cref="float"/> vectors of one
    /// dimension (<c>helios_index_*</c>): <see cref="Flat"/> stores the vectors
    /// and searches exactly; <see cref="Pq"/> stores product-quantized codes
    /// (the vector cut into M sub-vectors, each replaced by the nearest of
    /// 2^nbits centroids learnt by <c>Train</c>) and searches approximately,
    /// with asymmetric distances: the distance from the exact query to the
    /// vector its code stands for (<see cref="Reconstruct"/>). Vectors carry
    /// 64-bit ids, given to <c>Add</c> or assigned in sequence; a search returns
    /// the k best ids and distances of each query (<see cref="SearchResult"/>).
    /// The index can be saved to a file or to bytes and loaded with the same
    /// bits. The work runs in native code only.
    /// <para>
    /// Ids are <see cref="ulong"/> everywhere (in <c>Add</c>, <c>Remove</c>,
    /// <c>Reconstruct</c> and in <see cref="SearchResult.Ids"/>), so every id
    /// helios accepts (0 to <c>ulong.MaxValue - 1</c>) comes back unchanged and
    /// a hit can be passed straight to <see cref="Remove"/> or
    /// <see cref="Reconstruct"/>. Padding is <see cref="NoId"/>
    /// (<c>ulong.MaxValue</c>, which is faiss's -1 read as unsigned:
    /// <c>unchecked((long)id) == -1</c>).
    /// </para>
    /// <para>Arguments and errors, the same for every member:</para>
    /// <list type="bullet">
    /// <item>Vectors are dense and row-major: <c>x</c> holds <c>n</c> vectors
    /// of <see cref="Dim"/> floats, vector i at <c>x[i * Dim .. (i + 1) * Dim)</c>,
    /// exactly <c>n · Dim</c> elements (slice a longer buffer); a
    /// <c>float[n, Dim]</c> array is taken as it is.</item>
    /// <item>What only .NET can get wrong is refused before any native call:
    /// a null path or array (<see cref="ArgumentNullException"/>); a negative
    /// size, count or thread count, or a result too large for one .NET array
    /// (<see cref="ArgumentOutOfRangeException"/>); a span whose length is not
    /// <c>n · Dim</c>, or <c>ids</c> that are not one per vector
    /// (<see cref="ArgumentException"/>); any call after <see cref="Dispose"/>
    /// (<see cref="ObjectDisposedException"/>).</item>
    /// <item>Every other value is passed to helios unchanged and its refusal
    /// comes back as a <see cref="HeliosException"/> with helios's status and
    /// message: <see cref="Status.InvalidArgument"/> for settings out of range
    /// (dim 0; PQ: m 0 or not dividing dim, nbits outside 1..8,
    /// trainIterations outside 1..1000; threads 0 or above 1024; an unknown
    /// metric), n or k 0, a <c>float[,]</c> of another width than
    /// <see cref="Dim"/>, fewer than 2^nbits training vectors, an id that is <see cref="NoId"/>, already
    /// present or repeated (<c>Add</c>), an id that is unknown or repeated
    /// (<c>Remove</c>, <c>Reconstruct</c>), an empty path or one holding a NUL;
    /// <see cref="Status.Numeric"/> for a NaN or infinity in vectors or queries
    /// (or a vector whose squared norm overflows float);
    /// <see cref="Status.InvalidState"/> for <c>Add</c> or <c>Search</c> on a
    /// PQ index that is not trained, and <c>Train</c> on a PQ index that
    /// holds vectors; <see cref="Status.Io"/> for a file that cannot be read or
    /// written; <see cref="Status.Format"/> for a file or bytes that are not
    /// an index, truncated or corrupt.</item>
    /// <item>A call that fails changes nothing: <c>Add</c> adds no vector and
    /// <c>Remove</c> removes none.</item>
    /// </list>
    /// <para>
    /// Shareable: one index may be used from any number of threads at once.
    /// Searches run concurrently; <c>Train</c>, <c>Add</c> and <c>Remove</c>
    /// take helios's write lock, so a search sees the index before or after a
    /// write, never half of one. Results are the same bits for every thread
    /// count, and (for a given index state) whatever other queries share the
    /// call. The .NET object keeps no per-call state: the thread count of a
    /// search travels with the call.
    /// </para>
    /// <para>
    /// Dispose it when done (<c>using</c>). <see cref="Dispose"/> may be called
    /// from any thread, even while other threads are inside calls: those calls
    /// finish normally and the native index is freed when the last one returns
    /// (SafeHandle reference counting). Later calls throw
    /// <see cref="ObjectDisposedException"/>; disposing twice is harmless. An
    /// index that is never disposed is freed by its finalizer.
    /// </para>
    /// Thread safety: shareable (one object may be used from any number of threads at once).
    /// </summary>
    public sealed class VectorIndex : IDisposable
    {
        /// <summary>
        /// <c>HELIOS_NO_ID</c> (<c>UINT64_MAX</c>): the id that pads a search
        /// row when the index holds fewer than k vectors; never a vector's id.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public const ulong NoId = ulong.MaxValue;

        private readonly VectorIndexHandle _handle;

        // The settings fixed at creation, read once from helios (the thread
        // count is not among them: it can change, so it is read when asked).
        private readonly IndexKind _kind;
        private readonly Metric _metric;
        private readonly int _dim;
        private readonly int _pqM;
        private readonly int _pqNbits;
        private readonly int _trainIterations;
        private readonly ulong _seed;

        private VectorIndex(VectorIndexHandle handle)
        {
            _handle = handle;
            try
            {
                Native.IndexOptionsRaw raw = GetOptions();
                _kind = (IndexKind)raw.Kind;
                _metric = (Metric)raw.Metric;
                _dim = Clamp(raw.Dim);
                _pqM = Clamp(raw.PqM);
                _pqNbits = (int)raw.PqNbits;
                _trainIterations = Clamp(raw.TrainIterations);
                _seed = raw.Seed;
            }
            catch (HeliosException)
            {
                handle.Dispose();
                throw;
            }
        }

        /// <summary>
        /// An empty exact index of vectors of <paramref name="dim"/> floats
        /// with <paramref name="metric"/>; <paramref name="threads"/> is the
        /// worker count of <c>Add</c> and of searches that name none (null for
        /// <see cref="Library.NumThreads"/>). It needs no training. dim 0 or
        /// threads 0 (or above 1024) get a <see cref="HeliosException"/>
        /// (<see cref="Status.InvalidArgument"/>).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static VectorIndex Flat(int dim, Metric metric = Metric.L2, int? threads = null)
        {
            UIntPtr d = Native.ToSize(dim, nameof(dim));
            UIntPtr threadCount = ThreadCount(threads, nameof(threads));
            Library.EnsureCompatible();
            Native.IndexOptionsRaw raw = Native.helios_index_default_options();
            raw.Kind = (int)IndexKind.Flat;
            raw.Metric = (int)metric;
            raw.Dim = d;
            raw.Threads = threadCount;
            return New(raw);
        }

        /// <summary>
        /// An empty product-quantized index of vectors of <paramref name="dim"/>
        /// floats: <paramref name="m"/> sub-spaces (dividing dim, 1 to 65536),
        /// 2^<paramref name="nbits"/> centroids per sub-space (nbits 1 to 8),
        /// learnt by <c>Train</c> with <paramref name="trainIterations"/>
        /// k-means iterations (1 to 1000) seeded by <paramref name="seed"/> (the
        /// same data and seed give the same codebooks on every machine and
        /// thread count); <paramref name="threads"/> as in <see cref="Flat"/>.
        /// The defaults are helios's (<c>helios_index_default_options()</c>).
        /// Train it before the first <c>Add</c> or <c>Search</c>. Values out of
        /// range get a <see cref="HeliosException"/> (<see cref="Status.InvalidArgument"/>,
        /// the message names the setting).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static VectorIndex Pq(int dim, int m = 16, int nbits = 8, Metric metric = Metric.L2, ulong seed = 0,
            int? threads = null, int trainIterations = 25)
        {
            UIntPtr d = Native.ToSize(dim, nameof(dim));
            UIntPtr subspaces = Native.ToSize(m, nameof(m));
            UIntPtr bits = Native.ToSize(nbits, nameof(nbits));
            UIntPtr iterations = Native.ToSize(trainIterations, nameof(trainIterations));
            UIntPtr threadCount = ThreadCount(threads, nameof(threads));
            Library.EnsureCompatible();
            Native.IndexOptionsRaw raw = Native.helios_index_default_options();
            raw.Kind = (int)IndexKind.ProductQuantized;
            raw.Metric = (int)metric;
            raw.Dim = d;
            raw.PqM = subspaces;
            raw.PqNbits = bits.ToUInt32();
            raw.TrainIterations = iterations;
            raw.Seed = seed;
            raw.Threads = threadCount;
            return New(raw);
        }

        /// <summary>
        /// What the index stores (fixed for its life).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public IndexKind Kind
        {
            get
            {
                ThrowIfDisposed();
                return _kind;
            }
        }

        /// <summary>
        /// How nearness is measured (fixed for its life).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public Metric Metric
        {
            get
            {
                ThrowIfDisposed();
                return _metric;
            }
        }

        /// <summary>
        /// The vector dimension d (fixed for its life): every vector and query
        /// has this many floats.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public int Dim
        {
            get
            {
                ThrowIfDisposed();
                return _dim;
            }
        }

        /// <summary>
        /// PQ: the number of sub-spaces M (fixed for its life). A flat index
        /// reports the value helios keeps for it (the default 16), unused.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public int PqM
        {
            get
            {
                ThrowIfDisposed();
                return _pqM;
            }
        }

        /// <summary>
        /// PQ: the bits per code (2^PqNbits centroids per sub-space; fixed for
        /// its life). A flat index reports the value helios keeps (8), unused.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public int PqNbits
        {
            get
            {
                ThrowIfDisposed();
                return _pqNbits;
            }
        }

        /// <summary>
        /// PQ: the k-means iterations of <c>Train</c> (fixed for its life).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public int TrainIterations
        {
            get
            {
                ThrowIfDisposed();
                return _trainIterations;
            }
        }

        /// <summary>
        /// PQ: the seed of <c>Train</c> (fixed for its life).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public ulong Seed
        {
            get
            {
                ThrowIfDisposed();
                return _seed;
            }
        }

        /// <summary>
        /// The worker count of <c>Train</c>, <c>Add</c> and of searches that
        /// name none: a count (1 = the calling thread only), or null for
        /// <see cref="Library.NumThreads"/> (a loaded index starts with null).
        /// Results do not depend on it. Setting a negative count gets
        /// <see cref="ArgumentOutOfRangeException"/>; 0 or more than 1024 a
        /// <see cref="HeliosException"/> (<see cref="Status.InvalidArgument"/>).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public int? Threads
        {
            get
            {
                UIntPtr threads = GetOptions().Threads;
                return threads == Native.Auto ? (int?)null : Clamp(threads);
            }
            set
            {
                UIntPtr threads = ThreadCount(value, nameof(value));
                IntPtr index = Enter();
                try
                {
                    Native.Check(Native.helios_index_set_threads(index, threads));
                }
                finally
                {
                    Leave();
                }
            }
        }

        /// <summary>
        /// The number of vectors stored now (another thread may change it
        /// right after).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe long Count
        {
            get
            {
                IntPtr index = Enter();
                try
                {
                    UIntPtr count;
                    Native.Check(Native.helios_index_count(index, &count));
                    return (long)Math.Min(count.ToUInt64(), long.MaxValue);
                }
                finally
                {
                    Leave();
                }
            }
        }

        /// <summary>
        /// Whether the index can take vectors: always true for a flat index;
        /// true for a PQ index once trained (or loaded from a trained one).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe bool IsTrained
        {
            get
            {
                IntPtr index = Enter();
                try
                {
                    byte trained;
                    Native.Check(Native.helios_index_is_trained(index, &trained));
                    return trained != 0;
                }
                finally
                {
                    Leave();
                }
            }
        }

        /// <summary>
        /// Train a PQ index's codebooks on the <paramref name="n"/> vectors of
        /// <paramref name="x"/> (n x <see cref="Dim"/>, row-major): at least
        /// 2^<see cref="PqNbits"/> of them (helios samples 256 per centroid
        /// when there are more). Training again is allowed while the index is
        /// empty (<see cref="Status.InvalidState"/> while it holds vectors). A
        /// flat index needs no training: the call only checks the vectors (see
        /// <see cref="VectorIndex"/> for the arguments and errors).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Train(ReadOnlySpan<float> x, int n)
        {
            RequireDense(x.Length, n, nameof(x), nameof(n));
            Write(WriteCall.Train, x, n, _dim, null);
        }

        /// <summary>
        /// <see cref="Train(ReadOnlySpan{float}, int)"/> on the rows of
        /// <paramref name="x"/> (n x <see cref="Dim"/>).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Train(float[,] x)
        {
            if (x == null)
            {
                throw new ArgumentNullException(nameof(x));
            }
            Write(WriteCall.Train, AllElements(x), x.GetLength(0), x.GetLength(1), null);
        }

        /// <summary>
        /// Add the <paramref name="n"/> vectors of <paramref name="x"/>
        /// (n x <see cref="Dim"/>, row-major) with the ids
        /// <paramref name="ids"/> (one per vector: new, distinct, never
        /// <see cref="NoId"/>), or, when <paramref name="ids"/> is null, with
        /// the ids from one past the largest id ever added, in order (0, 1, 2,
        /// ... on a fresh index). A PQ index must be trained first
        /// (<see cref="Status.InvalidState"/>). Nothing is added when the call
        /// fails (see <see cref="VectorIndex"/> for the arguments and errors).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Add(ReadOnlySpan<float> x, int n, ulong[] ids = null)
        {
            RequireDense(x.Length, n, nameof(x), nameof(n));
            RequireIds(ids, n);
            Write(WriteCall.Add, x, n, _dim, ids);
        }

        /// <summary>
        /// <see cref="Add(ReadOnlySpan{float}, int, ulong[])"/> of the rows of
        /// <paramref name="x"/> (n x <see cref="Dim"/>).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Add(float[,] x, ulong[] ids = null)
        {
            if (x == null)
            {
                throw new ArgumentNullException(nameof(x));
            }
            RequireIds(ids, x.GetLength(0));
            Write(WriteCall.Add, AllElements(x), x.GetLength(0), x.GetLength(1), ids);
        }

        /// <summary>
        /// Remove the vectors with these ids. Every id must be in the index
        /// and listed once, and at least one must be given; otherwise
        /// <see cref="Status.InvalidArgument"/> (naming the id) and nothing is
        /// removed. The other vectors keep their ids.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe void Remove(ReadOnlySpan<ulong> ids)
        {
            IntPtr index = Enter();
            try
            {
                Status status;
                ulong emptyStandIn = 0;
                fixed (ulong* pointer = &MemoryMarshal.GetReference(ids))
                {
                    // No ids pin to NULL; the stand-in lets helios say "n = 0".
                    status = Native.helios_index_remove(
                        index, pointer != null ? pointer : &emptyStandIn, new UIntPtr((uint)ids.Length));
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
        }

        /// <summary>
        /// The <paramref name="k"/> nearest stored vectors of each of the
        /// <paramref name="nQueries"/> queries in <paramref name="queries"/>
        /// (nQueries x <see cref="Dim"/>, row-major): see
        /// <see cref="SearchResult"/> for the layout, order and padding.
        /// <paramref name="threads"/> is the worker count of this call only
        /// (null: the index's <see cref="Threads"/>); the hits are the same bits
        /// for every count. A PQ index must be trained
        /// (<see cref="Status.InvalidState"/>); k 0 and nQueries 0 get
        /// <see cref="Status.InvalidArgument"/>, a NaN or infinity
        /// <see cref="Status.Numeric"/> (see
        /// <see cref="VectorIndex"/> for the other arguments and errors).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public SearchResult Search(ReadOnlySpan<float> queries, int nQueries, int k, int? threads = null)
        {
            RequireDense(queries.Length, nQueries, nameof(queries), nameof(nQueries));
            return SearchRows(queries, nQueries, _dim, k, threads);
        }

        /// <summary>
        /// <see cref="Search(ReadOnlySpan{float}, int, int, int?)"/> of the rows
        /// of <paramref name="queries"/> (nQueries x <see cref="Dim"/>).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public SearchResult Search(float[,] queries, int k, int? threads = null)
        {
            if (queries == null)
            {
                throw new ArgumentNullException(nameof(queries));
            }
            return SearchRows(AllElements(queries), queries.GetLength(0), queries.GetLength(1), k, threads);
        }

        /// <summary>
        /// The stored vector with this id, as a new array of <see cref="Dim"/>
        /// floats: exactly the vector added (flat), or the centroids its code
        /// stands for (PQ), which is the vector the search distances are
        /// measured to. An unknown id gets <see cref="Status.InvalidArgument"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe float[] Reconstruct(ulong id)
        {
            var output = new float[_dim];
            IntPtr index = Enter();
            try
            {
                Status status;
                fixed (float* pointer = output)
                {
                    status = Native.helios_index_reconstruct(index, id, pointer, new UIntPtr((uint)output.Length));
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
            return output;
        }

        /// <summary>
        /// Save the index to the file at <paramref name="path"/> (relative to
        /// the current directory): a versioned, checksummed binary file,
        /// written to a temporary file in the same folder and renamed over
        /// <paramref name="path"/>, so a reader never sees half a file; it
        /// holds the index before or after any concurrent write.
        /// <see cref="Status.InvalidArgument"/> for an empty path or one holding
        /// a NUL, <see cref="Status.Io"/> when the file cannot be written; a
        /// null path gets <see cref="ArgumentNullException"/>, one that is not
        /// valid UTF-16 (a lone surrogate) <see cref="ArgumentException"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe void Save(string path)
        {
            Persistence.Save(_handle, nameof(VectorIndex), path, Native.helios_index_save);
        }

        /// <summary>
        /// The index saved at <paramref name="path"/> by <see cref="Save"/>,
        /// with automatic threads; it answers every search with the same bits
        /// as the saved index, and keeps its ids and its next sequential id.
        /// <see cref="Status.Io"/> when the file cannot be read (a missing
        /// file, for instance), <see cref="Status.Format"/> when it is not an
        /// index file, truncated, corrupt or of a newer format; the path is
        /// checked as in <see cref="Save"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe VectorIndex Load(string path)
        {
            return new VectorIndex(Persistence.Load<VectorIndexHandle>(path, Native.helios_index_load));
        }

        /// <summary>
        /// The index as bytes (those of the file <see cref="Save"/> writes), for
        /// sending it elsewhere or keeping it in memory; restore it with
        /// <see cref="FromBytes(byte[])"/>. Taken as the index is before or
        /// after any concurrent write.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe byte[] ToBytes()
        {
            // Persistence.CopyOut asks helios again when a concurrent write
            // made the index larger between the size and the copy.
            return Persistence.ToBytes(_handle, nameof(VectorIndex), Native.helios_index_to_bytes);
        }

        /// <summary>
        /// An index from the bytes of <see cref="ToBytes"/> (a new index: the
        /// array is not kept), with automatic threads. <see cref="Status.Format"/>
        /// for bytes that are not an index, truncated or corrupt; a null array
        /// gets <see cref="ArgumentNullException"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static VectorIndex FromBytes(byte[] data)
        {
            return FromBytes(Persistence.BytesOf(data));
        }

        /// <summary>
        /// An index from the bytes of <see cref="ToBytes"/> (a new index: the
        /// span is not kept), with automatic threads. <see cref="Status.Format"/>
        /// for bytes that are not an index, truncated or corrupt.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe VectorIndex FromBytes(ReadOnlySpan<byte> data)
        {
            return new VectorIndex(Persistence.FromBytes<VectorIndexHandle>(data, Native.helios_index_from_bytes));
        }

        /// <summary>
        /// Release the index (see <see cref="VectorIndex"/>): safe to call more
        /// than once, and while other threads are inside calls, which finish
        /// before the native index is freed; later calls throw
        /// <see cref="ObjectDisposedException"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Dispose()
        {
            _handle.Dispose();
        }

        // ---- internals ---------------------------------------------------------------------

        private enum WriteCall
        {
            Train,
            Add,
        }

        private static VectorIndex New(Native.IndexOptionsRaw raw)
        {
            Status status = Native.helios_index_new(ref raw, out VectorIndexHandle handle);
            return new VectorIndex(Persistence.Adopt(status, handle));
        }

        private static UIntPtr ThreadCount(int? threads, string paramName)
        {
            return threads.HasValue ? Native.ToSize(threads.Value, paramName) : Native.Auto;
        }

        private static int Clamp(UIntPtr value)
        {
            return (int)Math.Min(value.ToUInt64(), int.MaxValue);
        }

        // A rectangular array is one row-major block of elements; an empty one
        // has no element to refer to and gives an empty span.
        private static ReadOnlySpan<float> AllElements(float[,] matrix)
        {
            return matrix.Length == 0
                ? ReadOnlySpan<float>.Empty
                : MemoryMarshal.CreateReadOnlySpan(ref matrix[0, 0], matrix.Length);
        }

        // A dense n x Dim matrix holds exactly n·Dim elements.
        private void RequireDense(int length, int rows, string name, string rowsName)
        {
            Native.ToSize(rows, rowsName);
            long needed = (long)rows * _dim;
            if (length != needed)
            {
                throw new ArgumentException(
                    name + " has " + length + " elements but " + rows + " vectors of dim " + _dim + " have "
                    + needed, name);
            }
        }

        private static void RequireIds(ulong[] ids, int rows)
        {
            if (ids != null && ids.Length != rows)
            {
                throw new ArgumentException(
                    ids.Length + " ids were given for " + rows + " vectors: give one per vector, or null for "
                    + "sequential ids", nameof(ids));
            }
        }

        private void ThrowIfDisposed()
        {
            Persistence.ThrowIfDisposed(_handle, nameof(VectorIndex));
        }

        // Borrow the native pointer for one call (see Persistence.Enter; Leave
        // in a finally block, after the status is checked). Any number of
        // threads may hold a borrow at once.
        private IntPtr Enter()
        {
            return Persistence.Enter(_handle, nameof(VectorIndex));
        }

        private void Leave()
        {
            _handle.DangerousRelease();
        }

        private Native.IndexOptionsRaw GetOptions()
        {
            IntPtr index = Enter();
            try
            {
                Native.Check(Native.helios_index_get_options(index, out Native.IndexOptionsRaw raw));
                return raw;
            }
            finally
            {
                Leave();
            }
        }

        // Train or Add: rows x cols floats (cols is passed to helios, which
        // refuses one that is not Dim), with ids (Add; null = sequential).
        private unsafe void Write(WriteCall call, ReadOnlySpan<float> x, int rows, int cols, ulong[] ids)
        {
            var n = new UIntPtr((uint)rows);
            var d = new UIntPtr((uint)cols);
            IntPtr index = Enter();
            try
            {
                Status status;
                float emptyStandIn = 0f;
                fixed (float* xPointer = &MemoryMarshal.GetReference(x))
                fixed (ulong* idsPointer = ids)
                {
                    // No vectors pin to NULL, which helios would report as a NULL
                    // argument; the stand-in lets it say "n = 0". It is never read.
                    float* data = xPointer != null ? xPointer : &emptyStandIn;
                    if (call == WriteCall.Train)
                    {
                        status = Native.helios_index_train(index, data, n, d);
                    }
                    else
                    {
                        // A null ids array (sequential ids) pins to NULL, as helios
                        // wants; an empty one stands for zero vectors, which
                        // helios refuses before reading it.
                        ulong idStandIn = 0;
                        ulong* idData = ids == null ? null : idsPointer != null ? idsPointer : &idStandIn;
                        status = Native.helios_index_add(index, data, n, d, idData);
                    }
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
        }

        private unsafe SearchResult SearchRows(ReadOnlySpan<float> queries, int rows, int cols, int k, int? threads)
        {
            UIntPtr n = Native.ToSize(rows, "nQueries");
            UIntPtr kk = Native.ToSize(k, nameof(k));
            UIntPtr threadCount = ThreadCount(threads, nameof(threads));
            long total = (long)rows * k;
            if (total > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(k), k,
                    rows + " queries x k = " + k + " hits do not fit in one .NET array");
            }
            var distances = new float[total];
            var ids = new ulong[total];
            IntPtr index = Enter();
            try
            {
                // The options travel with this call: nothing is stored on the
                // shared index or in this object.
                Native.SearchOptionsRaw options = Native.helios_index_default_search_options();
                options.Threads = threadCount;
                // Empty arrays pin to NULL, which helios would report as a NULL
                // argument; stand-ins let it report what is wrong (nQueries or
                // k 0). helios reads and writes none of them.
                float* floatStandIns = stackalloc float[2];
                ulong idStandIn = 0;
                Status status;
                fixed (float* queryPointer = &MemoryMarshal.GetReference(queries))
                fixed (float* distancePointer = distances)
                fixed (ulong* idPointer = ids)
                {
                    status = Native.helios_index_search(
                        index,
                        queryPointer != null ? queryPointer : floatStandIns,
                        n,
                        new UIntPtr((uint)cols),
                        kk,
                        &options,
                        distancePointer != null ? distancePointer : floatStandIns + 1,
                        new UIntPtr((uint)distances.Length),
                        idPointer != null ? idPointer : &idStandIn,
                        new UIntPtr((uint)ids.Length),
                        null);
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
            return new SearchResult(rows, k, distances, ids);
        }
    }
}

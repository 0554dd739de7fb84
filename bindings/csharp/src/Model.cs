using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace Helios
{
    /// <summary>
    /// The shape of a GPT-2 model (<c>HeliosGptConfig</c>, Hugging Face's
    /// <c>GPT2Config</c> fields). A new object holds GPT-2 small's shape
    /// (<c>helios_model_default_config()</c>: vocabulary 50 257, 1024
    /// positions, width 768, 12 layers, 12 heads, MLP 3072, epsilon 1e-5), as
    /// does <see cref="Gpt2Small"/>; change the properties you need, for
    /// example <c>new GptConfig { VocabSize = 512, NPositions = 64, NEmbd = 32,
    /// NLayer = 2, NHead = 4, NInner = 128 }</c>.
    /// <para>
    /// A negative size cannot be expressed in C and gets
    /// <see cref="ArgumentOutOfRangeException"/> from the setter; every other
    /// value is checked by helios when a model is made from it
    /// (<see cref="Model.Random"/>: <see cref="HeliosException"/> with
    /// <see cref="Status.InvalidArgument"/> for a size of 0 or above 2^24,
    /// <see cref="NHead"/> not dividing <see cref="NEmbd"/>, an epsilon that
    /// is not finite and positive). It is a plain .NET object with no native
    /// state; a <see cref="Model"/> keeps its own copy.
    /// </para>
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public sealed class GptConfig : IEquatable<GptConfig>
    {
        private int _vocabSize;
        private int _nPositions;
        private int _nEmbd;
        private int _nLayer;
        private int _nHead;
        private int _nInner;

        /// <summary>
        /// GPT-2 small's shape, from helios (<c>helios_model_default_config()</c>).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public GptConfig()
            : this(DefaultsFromLibrary())
        {
        }

        /// <summary>The shape of a native struct.</summary>
        internal GptConfig(Native.GptConfigRaw raw)
        {
            _vocabSize = Clamp(raw.VocabSize);
            _nPositions = Clamp(raw.NPositions);
            _nEmbd = Clamp(raw.NEmbd);
            _nLayer = Clamp(raw.NLayer);
            _nHead = Clamp(raw.NHead);
            _nInner = Clamp(raw.NInner);
            LayerNormEpsilon = raw.LayerNormEpsilon;
        }

        /// <summary>
        /// GPT-2 small's shape (124 439 808 parameters): the same as <c>new GptConfig()</c>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static GptConfig Gpt2Small()
        {
            return new GptConfig();
        }

        /// <summary>
        /// The vocabulary size: token ids are below it (GPT-2: 50 257).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int VocabSize
        {
            get => _vocabSize;
            set => _vocabSize = NonNegative(value);
        }

        /// <summary>
        /// The context length: the most tokens one forward pass or sampler holds (GPT-2: 1024).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int NPositions
        {
            get => _nPositions;
            set => _nPositions = NonNegative(value);
        }

        /// <summary>
        /// The width d of the embeddings (GPT-2 small: 768).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int NEmbd
        {
            get => _nEmbd;
            set => _nEmbd = NonNegative(value);
        }

        /// <summary>
        /// The number of transformer blocks (GPT-2 small: 12).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int NLayer
        {
            get => _nLayer;
            set => _nLayer = NonNegative(value);
        }

        /// <summary>
        /// The number of attention heads; it must divide <see cref="NEmbd"/> (GPT-2 small: 12).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int NHead
        {
            get => _nHead;
            set => _nHead = NonNegative(value);
        }

        /// <summary>
        /// The hidden width of the MLP (GPT-2: 4 · <see cref="NEmbd"/>, 3072 for GPT-2 small).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int NInner
        {
            get => _nInner;
            set => _nInner = NonNegative(value);
        }

        /// <summary>
        /// The LayerNorm epsilon, finite and &gt; 0 (GPT-2: 1e-5).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public float LayerNormEpsilon { get; set; }

        /// <summary>
        /// The number of weights of a model of this shape (the LM head is tied
        /// to the token embedding, so it is not counted twice): the token and
        /// position embeddings, per block two LayerNorms, the attention's
        /// <c>d x 3d</c> and <c>d x d</c> projections and the MLP's
        /// <c>d x NInner</c> and <c>NInner x d</c> layers with their biases, and
        /// the final LayerNorm. A <see cref="Model"/> holds 4 bytes per weight.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public long ParameterCount
        {
            get
            {
                long d = _nEmbd;
                long f = _nInner;
                long block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d);
                return checked((long)_vocabSize * d + (long)_nPositions * d + _nLayer * block + 2 * d);
            }
        }

        /// <summary>
        /// A copy of this shape.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public GptConfig Clone()
        {
            return (GptConfig)MemberwiseClone();
        }

        /// <summary>
        /// Whether <paramref name="other"/> has the same sizes and epsilon (bit for bit).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public bool Equals(GptConfig other)
        {
            return other != null && _vocabSize == other._vocabSize && _nPositions == other._nPositions
                && _nEmbd == other._nEmbd && _nLayer == other._nLayer && _nHead == other._nHead
                && _nInner == other._nInner
                && BitConverter.ToInt32(BitConverter.GetBytes(LayerNormEpsilon), 0)
                    == BitConverter.ToInt32(BitConverter.GetBytes(other.LayerNormEpsilon), 0);
        }

        /// <summary>
        /// Whether <paramref name="obj"/> is a <see cref="GptConfig"/> with the same values.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public override bool Equals(object obj)
        {
            return Equals(obj as GptConfig);
        }

        /// <summary>
        /// A hash of the sizes.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public override int GetHashCode()
        {
            int hash = _vocabSize;
            foreach (int value in new[] { _nPositions, _nEmbd, _nLayer, _nHead, _nInner })
            {
                hash = hash * 31 + value;
            }
            return hash;
        }

        /// <summary>
        /// The fields, for example
        /// <c>"GptConfig(vocab 50257, positions 1024, embd 768, layers 12, heads 12, inner 3072, eps 1E-05)"</c>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public override string ToString()
        {
            return "GptConfig(vocab " + _vocabSize + ", positions " + _nPositions + ", embd " + _nEmbd + ", layers "
                + _nLayer + ", heads " + _nHead + ", inner " + _nInner + ", eps "
                + LayerNormEpsilon.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + ")";
        }

        /// <summary>The native struct, <c>struct_size</c> included.</summary>
        internal Native.GptConfigRaw ToRaw()
        {
            Native.GptConfigRaw raw = Native.helios_model_default_config();
            raw.VocabSize = new UIntPtr((uint)_vocabSize);
            raw.NPositions = new UIntPtr((uint)_nPositions);
            raw.NEmbd = new UIntPtr((uint)_nEmbd);
            raw.NLayer = new UIntPtr((uint)_nLayer);
            raw.NHead = new UIntPtr((uint)_nHead);
            raw.NInner = new UIntPtr((uint)_nInner);
            raw.LayerNormEpsilon = LayerNormEpsilon;
            return raw;
        }

        private static int NonNegative(int value)
        {
            Native.ToSize(value, nameof(value));
            return value;
        }

        private static int Clamp(UIntPtr value)
        {
            return (int)Math.Min(value.ToUInt64(), int.MaxValue);
        }

        private static Native.GptConfigRaw DefaultsFromLibrary()
        {
            Library.EnsureCompatible();
            return Native.helios_model_default_config();
        }
    }

    /// <summary>
    /// The native <c>HeliosModel*</c>; releasing it calls
    /// <c>helios_model_free</c> exactly once, after the last call (and the
    /// last <see cref="Sampler"/>) that borrowed it has let go (SafeHandle
    /// reference counting), and removes the memory pressure the model added.
    /// </summary>
    internal sealed class ModelHandle : SafeHandle
    {
        private long _pressure;

        // Called by the P/Invoke marshaller for `out ModelHandle`.
        private ModelHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        /// <summary>Tell the GC that this handle keeps <paramref name="bytes"/> of native memory alive.</summary>
        internal void AddPressure(long bytes)
        {
            if (bytes <= 0)
            {
                return;
            }
            if (IntPtr.Size == 4)
            {
                // GC.AddMemoryPressure refuses more than int.MaxValue on 32-bit platforms.
                bytes = Math.Min(bytes, int.MaxValue);
            }
            GC.AddMemoryPressure(bytes);
            Interlocked.Exchange(ref _pressure, bytes);
        }

        protected override bool ReleaseHandle()
        {
            Native.helios_model_free(handle);
            long pressure = Interlocked.Exchange(ref _pressure, 0);
            if (pressure > 0)
            {
                GC.RemoveMemoryPressure(pressure);
            }
            return true;
        }
    }

    /// <summary>
    /// A GPT-2 language model (<c>helios_model_*</c>): token and learned
    /// position embeddings, pre-LayerNorm transformer blocks with causal
    /// multi-head attention and a GELU (tanh) MLP, a final LayerNorm and an LM
    /// head tied to the token embedding, computed in <see cref="float"/>.
    /// <para>
    /// Make one with <see cref="Load"/> (a Hugging Face GPT-2 checkpoint
    /// folder: <c>config.json</c> + <c>model.safetensors</c>) or
    /// <see cref="Random"/> (seeded random weights); <see cref="Save"/> writes
    /// the same layout, which <c>transformers</c> loads. <see cref="Forward(ReadOnlySpan{uint}, int?)"/>
    /// gives the logits of a whole sequence; generation goes through a
    /// <see cref="Sampler"/>, one per request.
    /// </para>
    /// <para>Arguments and errors, the same for every member:</para>
    /// <list type="bullet">
    /// <item>What only .NET can get wrong is refused before any native call:
    /// a null config, path or array (<see cref="ArgumentNullException"/>); a
    /// path holding a lone surrogate (<see cref="ArgumentException"/>); a
    /// negative thread count, or logits too large for one .NET array
    /// (<see cref="ArgumentOutOfRangeException"/>); any call after
    /// <see cref="Dispose"/> (<see cref="ObjectDisposedException"/>).</item>
    /// <item>Every other value is passed to helios unchanged and its refusal
    /// comes back as a <see cref="HeliosException"/> with helios's status and
    /// message: <see cref="Status.InvalidArgument"/> for a bad shape, no ids,
    /// more ids than <see cref="GptConfig.NPositions"/>, an id not below
    /// <see cref="GptConfig.VocabSize"/> (named), threads 0 or above 1024, an
    /// empty path or one holding a NUL; <see cref="Status.BufferTooSmall"/>
    /// for an output span shorter than <c>ids.Length · VocabSize</c>;
    /// <see cref="Status.Io"/> for a file missing or that cannot be read or
    /// written; <see cref="Status.Format"/> for a checkpoint that is not GPT-2,
    /// misses a tensor, has a wrong shape or dtype, is truncated or corrupt,
    /// or whose config.json disagrees with its tensors (the message names the
    /// field or tensor); <see cref="Status.Unsupported"/> for an activation
    /// other than GELU-tanh or untied embeddings; <see cref="Status.Numeric"/>
    /// for NaN or infinite weights.</item>
    /// </list>
    /// <para>
    /// Shareable: the weights are immutable, so any number of threads may run
    /// <see cref="Forward(ReadOnlySpan{uint}, int?)"/>, <see cref="Save"/> and
    /// create samplers on one model at once. The model tells the GC about its
    /// native weights (<c>GC.AddMemoryPressure</c> with
    /// <see cref="SizeInBytes"/>), and takes the pressure back when the
    /// weights are released.
    /// </para>
    /// <para>
    /// Dispose it when done (<c>using</c>). <see cref="Dispose"/> may be called
    /// while other threads are inside calls, which finish normally, and while
    /// samplers made from it are alive: each <see cref="Sampler"/> holds the
    /// model, so the weights (and the memory pressure) go when the model and
    /// its last sampler are both disposed. Later calls on the model throw
    /// <see cref="ObjectDisposedException"/>; its samplers keep working;
    /// disposing twice is harmless; a model never disposed is freed by its
    /// finalizer.
    /// </para>
    /// Thread safety: shareable (one object may be used from any number of threads at once).
    /// </summary>
    public sealed class Model : IDisposable
    {
        private readonly ModelHandle _handle;
        private bool _disposed;
        private readonly GptConfig _config;

        private Model(ModelHandle handle)
        {
            _handle = handle;
            try
            {
                IntPtr model = Enter();
                try
                {
                    Native.Check(Native.helios_model_get_config(model, out Native.GptConfigRaw raw));
                    _config = new GptConfig(raw);
                }
                finally
                {
                    Leave();
                }
                handle.AddPressure(SizeOf(_config));
            }
            catch (Exception)
            {
                handle.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Load the Hugging Face GPT-2 checkpoint in the folder
        /// <paramref name="dir"/>: its <c>config.json</c> and
        /// <c>model.safetensors</c> (memory-mapped; keys with or without the
        /// <c>transformer.</c> prefix; f32, f16 or bf16 weights, converted to
        /// f32). <see cref="Status.Io"/> when a file is missing or unreadable;
        /// the other statuses are listed on <see cref="Model"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe Model Load(string dir)
        {
            return new Model(Persistence.Load<ModelHandle>(dir, LoadNative));
        }

        /// <summary>
        /// A model of shape <paramref name="config"/> with seeded random
        /// weights (Hugging Face's GPT-2 initialisation: normal(0, 0.02),
        /// output projections scaled by 1/sqrt(2 NLayer), zero biases, unit
        /// LayerNorms). The same seed gives the same weights on every machine.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static Model Random(GptConfig config, ulong seed = 0)
        {
            if (config == null)
            {
                throw new ArgumentNullException(nameof(config));
            }
            Library.EnsureCompatible();
            Native.GptConfigRaw raw = config.ToRaw();
            Status status = Native.helios_model_random(ref raw, seed, out ModelHandle handle);
            return new Model(Persistence.Adopt(status, handle));
        }

        /// <summary>
        /// The model's shape (a new copy on each read).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public GptConfig Config
        {
            get
            {
                ThrowIfDisposed();
                return _config.Clone();
            }
        }

        /// <summary>
        /// <see cref="GptConfig.VocabSize"/>: the width of a row of logits.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public int VocabSize
        {
            get
            {
                ThrowIfDisposed();
                return _config.VocabSize;
            }
        }

        /// <summary>
        /// The number of weights (<see cref="GptConfig.ParameterCount"/>).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public long ParameterCount
        {
            get
            {
                ThrowIfDisposed();
                return _config.ParameterCount;
            }
        }

        /// <summary>
        /// The bytes of the weights (<see cref="ParameterCount"/> · 4): what
        /// the model adds to the GC's memory pressure.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public long SizeInBytes
        {
            get
            {
                ThrowIfDisposed();
                return SizeOf(_config);
            }
        }

        /// <summary>
        /// The logits of the sequence <paramref name="ids"/> (1 to
        /// <see cref="GptConfig.NPositions"/> ids, each below
        /// <see cref="VocabSize"/>): a new array of <c>ids.Length x VocabSize</c>
        /// floats, row-major. Row t depends only on <c>ids[0..t]</c>, bit for
        /// bit: it equals the last row of <c>Forward(ids[0..t+1])</c> and the
        /// logits a <see cref="Sampler"/> computes for that position, for every
        /// thread count. <paramref name="threads"/>: workers, null for
        /// <see cref="Library.NumThreads"/>; the bits do not depend on it.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public float[] Forward(ReadOnlySpan<uint> ids, int? threads = null)
        {
            UIntPtr threadCount = Threads(threads);
            long needed = (long)ids.Length * VocabSize;
            if (needed > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), ids.Length,
                    "the logits (" + ids.Length + " x " + _config.VocabSize
                    + ") are too large for one .NET array; use the Span overload on shorter sequences");
            }
            var logits = new float[needed];
            ForwardCore(ids, logits, threadCount);
            return logits;
        }

        /// <summary>
        /// <see cref="Forward(ReadOnlySpan{uint}, int?)"/> of an array (a null
        /// array gets <see cref="ArgumentNullException"/>).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public float[] Forward(uint[] ids, int? threads = null)
        {
            if (ids == null)
            {
                throw new ArgumentNullException(nameof(ids));
            }
            return Forward(new ReadOnlySpan<uint>(ids), threads);
        }

        /// <summary>
        /// <see cref="Forward(ReadOnlySpan{uint}, int?)"/> into the first
        /// <c>ids.Length · VocabSize</c> floats of <paramref name="logits"/>
        /// (the rest is left as it is; a shorter span is
        /// <see cref="Status.BufferTooSmall"/>), with no allocation in .NET.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Forward(ReadOnlySpan<uint> ids, Span<float> logits, int? threads = null)
        {
            ForwardCore(ids, logits, Threads(threads));
        }

        /// <summary>
        /// Save the model to the folder <paramref name="dir"/> (created when
        /// missing) as <c>config.json</c> and <c>model.safetensors</c> in
        /// Hugging Face's layout, each file written to a temporary file and
        /// renamed, so a reader never sees half a file; <see cref="Status.Io"/>
        /// when it cannot be written.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe void Save(string dir)
        {
            Persistence.Save(_handle, nameof(Model), dir, (model, path, length) =>
                Native.helios_model_save(model, path, length));
        }

        /// <summary>
        /// Release the model (see <see cref="Model"/>): safe to call more than
        /// once, while other threads are inside calls, and while samplers made
        /// from it are alive; later calls on the model throw
        /// <see cref="ObjectDisposedException"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Dispose()
        {
            Volatile.Write(ref _disposed, true);
            _handle.Dispose();
        }

        // Borrow the native pointer for one call, or for a sampler's lifetime
        // (see Persistence.Enter; Leave in a finally block, after the status is
        // checked). Any number of threads may hold a borrow at once.
        internal IntPtr Enter()
        {
            ThrowIfDisposed();
            return Persistence.Enter(_handle, nameof(Model));
        }

        // The handle alone does not say it: on Mono, a SafeHandle that is
        // disposed while borrowed (a call inside, or a sampler holding its
        // model) still accepts new borrows until the last one is returned.
        private void ThrowIfDisposed()
        {
            if (Volatile.Read(ref _disposed))
            {
                throw new ObjectDisposedException(nameof(Model), "the Model was disposed");
            }
        }

        internal void Leave()
        {
            _handle.DangerousRelease();
        }

        /// <summary>The handle, for a sampler that keeps a borrow of it until it is released.</summary>
        internal ModelHandle Handle => _handle;

        private static long SizeOf(GptConfig config)
        {
            return checked(config.ParameterCount * sizeof(float));
        }

        private static UIntPtr Threads(int? threads)
        {
            return threads.HasValue ? Native.ToSize(threads.Value, nameof(threads)) : Native.Auto;
        }

        private static unsafe Status LoadNative(byte* dir, UIntPtr length, out ModelHandle handle)
        {
            return Native.helios_model_load(dir, length, out handle);
        }

        private unsafe void ForwardCore(ReadOnlySpan<uint> ids, Span<float> logits, UIntPtr threads)
        {
            IntPtr model = Enter();
            try
            {
                UIntPtr needed = UIntPtr.Zero;
                uint idStandIn = 0;
                float logitStandIn = 0;
                Status status;
                fixed (uint* idPointer = &MemoryMarshal.GetReference(ids))
                fixed (float* logitPointer = &MemoryMarshal.GetReference(logits))
                {
                    // An empty span pins to NULL; stand-ins let helios say "count is 0".
                    status = Native.helios_model_forward(
                        model, idPointer != null ? idPointer : &idStandIn, new UIntPtr((uint)ids.Length), threads,
                        logitPointer != null ? logitPointer : &logitStandIn, new UIntPtr((uint)logits.Length),
                        &needed);
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
        }
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Helios
{
    /// <summary>
    /// Why a generation ended, mirroring the <c>HELIOS_STOP_*</c> constants
    /// of include/helios.h value for value (see <see cref="Sampler.LastStopReason"/>).
    /// A generation that fails (cancelled, for instance) has no stop reason:
    /// it throws a <see cref="GenerationException"/>.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public enum StopReason
    {
        /// <summary><c>HELIOS_STOP_MAX_TOKENS</c>: <see cref="SamplerOptions.MaxTokens"/> tokens were produced.</summary>
        MaxTokens = 0,

        /// <summary><c>HELIOS_STOP_TOKEN</c>: a stop token was drawn (it is not in the output).</summary>
        StopToken = 1,

        /// <summary><c>HELIOS_STOP_STRING</c>: a stop string appeared (it is not in the output).</summary>
        StopString = 2,

        /// <summary><c>HELIOS_STOP_CONTEXT_FULL</c>: the context (the sampler's KV cache) is full.</summary>
        ContextFull = 3,

        /// <summary><c>HELIOS_STOP_CALLBACK</c>: the callback returned false (or threw).</summary>
        Callback = 4,
    }

    /// <summary>
    /// A generation (<see cref="Sampler.Generate(ReadOnlySpan{uint}, Func{uint, bool}, CancellationToken)"/>,
    /// <see cref="Sampler.GenerateText(Tokenizer, string, Func{string, bool}, CancellationToken)"/>,
    /// <see cref="Sampler.StreamText"/>) that helios refused or stopped with
    /// an error: a <see cref="HeliosException"/> whose <see cref="HeliosException.Status"/>
    /// is helios's (<see cref="Status.Cancelled"/> for a cancelled one,
    /// <see cref="Status.Busy"/>, <see cref="Status.InvalidArgument"/>, ...),
    /// carrying what the generation produced before it stopped.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public sealed class GenerationException : HeliosException
    {
        internal GenerationException(Status status, string message, uint[] tokens, string text)
            : base(status, message)
        {
            Tokens = tokens;
            Text = text;
        }

        /// <summary>
        /// The token ids <c>Generate</c> produced before the error, in order
        /// (they are in the sampler's context); empty when nothing ran (a bad
        /// argument, <see cref="Status.Busy"/>) and for <c>GenerateText</c> and
        /// <c>StreamText</c>, which see text only.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public uint[] Tokens { get; }

        /// <summary>
        /// The text <c>GenerateText</c> or <c>StreamText</c> streamed before the
        /// error (every piece the callback or the enumeration received); empty
        /// for <c>Generate</c>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public string Text { get; }
    }

    /// <summary>
    /// The settings of a <see cref="Sampler"/> (<c>HeliosSamplerOptions</c>).
    /// A new object holds helios's defaults (<c>helios_sampler_default_options()</c>:
    /// temperature 1, top-k 0 (all), top-p 1 (all), repetition penalty 1
    /// (none), seed 0, 256 tokens, no stop tokens or strings, the model's
    /// context, automatic threads); change the properties you need, for
    /// example <c>new SamplerOptions { Temperature = 0.8f, TopK = 40, Seed = 7 }</c>.
    /// <para>
    /// A negative <see cref="TopK"/>, <see cref="MaxTokens"/>,
    /// <see cref="Context"/> or <see cref="Threads"/> cannot be expressed in
    /// C and gets <see cref="ArgumentOutOfRangeException"/> from the setter;
    /// a null, NUL-holding or lone-surrogate stop string is an
    /// <see cref="ArgumentException"/> when the sampler is created. Every other
    /// value is checked by helios when a sampler is created
    /// (<see cref="HeliosException"/> with <see cref="Status.InvalidArgument"/>:
    /// a temperature that is NaN, infinite or negative; a top-p outside
    /// (0, 1]; a repetition penalty that is not finite and positive;
    /// MaxTokens 0; an empty stop string; a stop token not below the
    /// vocabulary size; a context above the model's <see cref="GptConfig.NPositions"/>;
    /// threads 0 or above 1024). It is a plain .NET object, read once when a
    /// sampler is created (the sampler keeps its own copy).
    /// </para>
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public sealed class SamplerOptions
    {
        private static readonly uint[] s_noTokens = new uint[0];
        private static readonly string[] s_noStrings = new string[0];

        private int _topK;
        private int _maxTokens;
        private int _context;
        private int? _threads;
        private IReadOnlyList<uint> _stopTokens = s_noTokens;
        private IReadOnlyList<string> _stopStrings = s_noStrings;

        /// <summary>
        /// helios's default options.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public SamplerOptions()
            : this(DefaultsFromLibrary())
        {
        }

        private SamplerOptions(Native.SamplerOptionsRaw raw)
        {
            Temperature = raw.Temperature;
            _topK = Clamp(raw.TopK);
            TopP = raw.TopP;
            RepetitionPenalty = raw.RepetitionPenalty;
            Seed = raw.Seed;
            _maxTokens = Clamp(raw.MaxTokens);
            _context = Clamp(raw.Context);
            _threads = raw.Threads == Native.Auto ? (int?)null : Clamp(raw.Threads);
        }

        /// <summary>
        /// 0 for greedy decoding (the most likely token, ties to the lower
        /// id); otherwise the logits are divided by it before sampling.
        /// Finite and &gt;= 0. Default 1.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public float Temperature { get; set; }

        /// <summary>
        /// Keep the k most likely tokens; 0 (the default) keeps all.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int TopK
        {
            get => _topK;
            set
            {
                Native.ToSize(value, nameof(value));
                _topK = value;
            }
        }

        /// <summary>
        /// Keep the smallest set of most likely tokens whose probability
        /// reaches it; in (0, 1]. Default 1 (all).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public float TopP { get; set; }

        /// <summary>
        /// The penalty of tokens already in the context (a positive logit is
        /// divided by it, a negative one multiplied): finite and &gt; 0; 1 (the
        /// default) is none.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public float RepetitionPenalty { get; set; }

        /// <summary>
        /// The seed of the sampler's random generator (also after
        /// <see cref="Sampler.Reset"/>): the same seed, model and prompt give
        /// the same tokens on every run and thread count. Default 0.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public ulong Seed { get; set; }

        /// <summary>
        /// The most tokens one generation produces, &gt;= 1. Default 256.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int MaxTokens
        {
            get => _maxTokens;
            set
            {
                Native.ToSize(value, nameof(value));
                _maxTokens = value;
            }
        }

        /// <summary>
        /// Token ids that end a generation when drawn (not included in the
        /// output; <see cref="StopReason.StopToken"/>), each below the
        /// vocabulary size. Default none; null is none.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public IReadOnlyList<uint> StopTokens
        {
            get => _stopTokens;
            set => _stopTokens = value ?? s_noTokens;
        }

        /// <summary>
        /// Texts that end <see cref="Sampler.GenerateText(Tokenizer, string, Func{string, bool}, CancellationToken)"/>
        /// and <see cref="Sampler.StreamText"/> when they appear in the
        /// generated text (not included; <see cref="StopReason.StopString"/>);
        /// text that may begin one is held back until it cannot. Not empty.
        /// Default none; null is none.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public IReadOnlyList<string> StopStrings
        {
            get => _stopStrings;
            set => _stopStrings = value ?? s_noStrings;
        }

        /// <summary>
        /// The length of the sampler's KV cache: the most tokens (prompts and
        /// generated) its context holds, at most the model's
        /// <see cref="GptConfig.NPositions"/>; 0 (the default) for NPositions.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public int Context
        {
            get => _context;
            set
            {
                Native.ToSize(value, nameof(value));
                _context = value;
            }
        }

        /// <summary>
        /// Workers for the forward passes (1 = the calling thread only), or
        /// null (the default) for <see cref="Library.NumThreads"/>; 0 and more
        /// than 1024 are refused by helios. The tokens do not depend on it.
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

        /// <summary>
        /// A copy of these options (the stop lists are copied too).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public SamplerOptions Clone()
        {
            var copy = (SamplerOptions)MemberwiseClone();
            copy._stopTokens = new List<uint>(_stopTokens).ToArray();
            copy._stopStrings = new List<string>(_stopStrings).ToArray();
            return copy;
        }

        /// <summary>The native struct without its stop lists, <c>struct_size</c> included.</summary>
        internal Native.SamplerOptionsRaw ToRaw()
        {
            Native.SamplerOptionsRaw raw = Native.helios_sampler_default_options();
            raw.Temperature = Temperature;
            raw.TopK = new UIntPtr((uint)_topK);
            raw.TopP = TopP;
            raw.RepetitionPenalty = RepetitionPenalty;
            raw.Seed = Seed;
            raw.MaxTokens = new UIntPtr((uint)_maxTokens);
            raw.Context = new UIntPtr((uint)_context);
            raw.Threads = _threads.HasValue ? new UIntPtr((uint)_threads.Value) : Native.Auto;
            return raw;
        }

        private static int Clamp(UIntPtr value)
        {
            return (int)Math.Min(value.ToUInt64(), int.MaxValue);
        }

        private static Native.SamplerOptionsRaw DefaultsFromLibrary()
        {
            Library.EnsureCompatible();
            return Native.helios_sampler_default_options();
        }
    }

    /// <summary>
    /// The native <c>HeliosSampler*</c>; releasing it calls
    /// <c>helios_sampler_free</c> exactly once, after the last call that
    /// borrowed it has returned (SafeHandle reference counting, so the free
    /// never finds the sampler busy), then lets go of the model handle.
    /// </summary>
    internal sealed class SamplerHandle : SafeHandle
    {
        private ModelHandle _model;
        private long _pressure;

        // Called by the P/Invoke marshaller for `out SamplerHandle`.
        private SamplerHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        /// <summary>Take over a borrow (DangerousAddRef) of the model handle, given back on release.</summary>
        internal void HoldModel(ModelHandle model)
        {
            _model = model;
        }

        /// <summary>Tell the GC that this handle keeps <paramref name="bytes"/> of native memory (the KV cache) alive.</summary>
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
            bool freed = Native.helios_sampler_free(handle) == Status.Ok;
            long pressure = Interlocked.Exchange(ref _pressure, 0);
            if (pressure > 0)
            {
                GC.RemoveMemoryPressure(pressure);
            }
            ModelHandle model = Interlocked.Exchange(ref _model, null);
            model?.DangerousRelease();
            return freed;
        }
    }

    /// <summary>
    /// One generation request over a shared <see cref="Model"/>
    /// (<c>helios_sampler_*</c>): its KV cache (sized at creation by
    /// <see cref="SamplerOptions.Context"/>), its seeded random generator and
    /// the tokens of its context. Create one per request:
    /// <c>new Sampler(model, options)</c>.
    /// <para>
    /// <see cref="Generate(ReadOnlySpan{uint}, Func{uint, bool}, CancellationToken)"/>
    /// appends a prompt of token ids to the context and produces up to
    /// <see cref="SamplerOptions.MaxTokens"/> tokens, each drawn from the
    /// model's logits (the repetition penalty, then greedy argmax at
    /// temperature 0, or the logits divided by the temperature, top-k, top-p
    /// and a seeded draw). A later call continues the same context (its
    /// prompt may then be empty); <see cref="Reset"/> starts over. With a
    /// <see cref="Tokenizer"/>, <see cref="GenerateText(Tokenizer, string, Func{string, bool}, CancellationToken)"/>
    /// takes and returns text, streamed in pieces of whole characters, and
    /// <see cref="StreamText"/> yields those pieces as they come.
    /// </para>
    /// <para>
    /// A generation ends normally at MaxTokens, a stop token, a stop string,
    /// a full context or a callback that returns false, and
    /// <see cref="LastStopReason"/> says which. It ends with a
    /// <see cref="GenerationException"/> (a <see cref="HeliosException"/>)
    /// when helios refuses it or it is cancelled: <see cref="Status.Cancelled"/>
    /// when the <see cref="CancellationToken"/> is cancelled (checked before
    /// each token), <see cref="Status.InvalidArgument"/> for an id not below
    /// the vocabulary size (named), an empty prompt on an empty context, a
    /// prompt that does not fit in the context, a tokenizer with more ids than
    /// the model; <see cref="Status.Busy"/> when another thread is inside the
    /// sampler. Its <see cref="GenerationException.Tokens"/> (or
    /// <see cref="GenerationException.Text"/>) holds what was produced before
    /// the stop; those tokens stay in the context.
    /// </para>
    /// <para>
    /// Callbacks run on the thread that called (for <see cref="StreamText"/>,
    /// on its background thread), between tokens. An exception a callback
    /// throws stops the generation and is rethrown to the caller as it is
    /// (the token it was given stays in the context).
    /// </para>
    /// <para>
    /// What only .NET can get wrong is refused before any native call: a null
    /// model, tokenizer, prompt or array (<see cref="ArgumentNullException"/>);
    /// a prompt or stop string that is not valid UTF-16 or a stop string
    /// holding a NUL (<see cref="ArgumentException"/>); any call after
    /// <see cref="Dispose"/>, or a sampler made from a disposed model or with
    /// a disposed tokenizer (<see cref="ObjectDisposedException"/>).
    /// </para>
    /// <para>
    /// Single owner: one thread at a time may use a sampler. A call that
    /// enters while another thread is inside gets a <see cref="GenerationException"/>
    /// (or, for <see cref="Reset"/> and <see cref="ContextLength"/>, a
    /// <see cref="HeliosException"/>) with <see cref="Status.Busy"/> at once;
    /// it never blocks, and the sampler is not touched. Any number of
    /// samplers may generate on one model at once.
    /// </para>
    /// <para>
    /// The sampler holds its model: disposing the <see cref="Model"/> first is
    /// safe, and the sampler keeps working. Like the model, it tells the GC
    /// about its native memory (<see cref="KvCacheBytes"/>). Dispose the sampler when done
    /// (<c>using</c>); <see cref="Dispose"/> may be called while another thread
    /// is inside a call, which finishes first (reference counting); later
    /// calls throw <see cref="ObjectDisposedException"/>; disposing twice is
    /// harmless; a sampler never disposed is freed by its finalizer.
    /// </para>
    /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
    /// </summary>
    public sealed class Sampler : IDisposable
    {
        /// <summary>The most pieces <see cref="StreamText"/> generates ahead of its consumer.</summary>
        internal const int StreamQueueCapacity = 16;

        private const int NoStopReason = -1;

        private readonly SamplerHandle _handle;
        private bool _disposed;
        private readonly SamplerOptions _options;
        private int _lastStopReason = NoStopReason;

        /// <summary>
        /// A sampler over <paramref name="model"/> with <paramref name="options"/>
        /// (null for the defaults) and an empty context. Errors: see
        /// <see cref="SamplerOptions"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public unsafe Sampler(Model model, SamplerOptions options = null)
        {
            if (model == null)
            {
                throw new ArgumentNullException(nameof(model));
            }
            _options = (options ?? new SamplerOptions()).Clone();
            var stopTokens = new List<uint>(_options.StopTokens).ToArray();
            var stopStrings = new byte[_options.StopStrings.Count][];
            for (int i = 0; i < stopStrings.Length; i++)
            {
                string stop = _options.StopStrings[i];
                if (stop == null)
                {
                    throw new ArgumentException("StopStrings[" + i + "] is null", nameof(options));
                }
                stopStrings[i] = Tokenizer.Utf8(stop, nameof(options), true);
            }
            Library.EnsureCompatible();
            Native.SamplerOptionsRaw raw = _options.ToRaw();
            var pins = new GCHandle[stopStrings.Length];
            var stringPointers = new IntPtr[stopStrings.Length];
            IntPtr modelPointer = model.Enter();
            bool modelHeld = false;
            try
            {
                for (int i = 0; i < stopStrings.Length; i++)
                {
                    pins[i] = GCHandle.Alloc(stopStrings[i], GCHandleType.Pinned);
                    stringPointers[i] = pins[i].AddrOfPinnedObject();
                }
                Status status;
                SamplerHandle handle;
                fixed (uint* tokens = stopTokens)
                fixed (IntPtr* strings = stringPointers)
                {
                    raw.StopTokens = (IntPtr)tokens;
                    raw.StopTokensCount = new UIntPtr((uint)stopTokens.Length);
                    raw.StopStrings = (IntPtr)strings;
                    raw.StopStringsCount = new UIntPtr((uint)stringPointers.Length);
                    status = Native.helios_sampler_new(modelPointer, ref raw, out handle);
                }
                _handle = Persistence.Adopt(status, handle);
                // The sampler keeps the model's borrow until it is released.
                _handle.HoldModel(model.Handle);
                modelHeld = true;
                _handle.AddPressure(KvCacheBytes(model.Config, _options.Context));
            }
            finally
            {
                if (!modelHeld)
                {
                    model.Leave();
                }
                foreach (GCHandle pin in pins)
                {
                    if (pin.IsAllocated)
                    {
                        pin.Free();
                    }
                }
            }
        }

        /// <summary>
        /// The bytes of the sampler's KV cache: keys and values of every layer
        /// and position, <c>2 · NLayer · Context · NEmbd</c> floats, which the
        /// sampler adds to the GC's memory pressure (as the model does with
        /// its weights) until it is released.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static long KvCacheBytes(GptConfig config, int context = 0)
        {
            if (config == null)
            {
                throw new ArgumentNullException(nameof(config));
            }
            Native.ToSize(context, nameof(context));
            long positions = context == 0 ? config.NPositions : context;
            return checked(2L * config.NLayer * positions * config.NEmbd * sizeof(float));
        }

        /// <summary>
        /// A copy of the options the sampler was created with.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public SamplerOptions Options
        {
            get
            {
                ThrowIfDisposed();
                return _options.Clone();
            }
        }

        /// <summary>
        /// The number of tokens in the context: the prompts and the generated
        /// tokens since creation or the last <see cref="Reset"/>.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public unsafe int ContextLength
        {
            get
            {
                UIntPtr length = UIntPtr.Zero;
                IntPtr sampler = Enter();
                try
                {
                    Native.Check(Native.helios_sampler_context_len(sampler, &length));
                }
                finally
                {
                    Leave();
                }
                return checked((int)length.ToUInt64());
            }
        }

        /// <summary>
        /// Why the last generation on this sampler ended, or null before the
        /// first one, after a <see cref="Reset"/>, and when the last one threw
        /// (a refusal other than <see cref="Status.Busy"/>, a cancellation, or
        /// a callback's exception). A call refused with <see cref="Status.Busy"/>
        /// does not change it.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public StopReason? LastStopReason
        {
            get
            {
                int reason = Volatile.Read(ref _lastStopReason);
                return reason == NoStopReason ? (StopReason?)null : (StopReason)reason;
            }
        }

        /// <summary>
        /// Forget the context and restart the random generator from the seed:
        /// the next generation behaves as on a new sampler.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public void Reset()
        {
            IntPtr sampler = Enter();
            try
            {
                Native.Check(Native.helios_sampler_reset(sampler));
                Volatile.Write(ref _lastStopReason, NoStopReason);
            }
            finally
            {
                Leave();
            }
        }

        /// <summary>
        /// Append <paramref name="prompt"/> to the context and generate up to
        /// <see cref="SamplerOptions.MaxTokens"/> tokens; returns them (a new
        /// array; a stop token is not included). <paramref name="onToken"/>,
        /// when given, sees each token as it comes (streaming) and returns true
        /// to go on, false to stop (<see cref="StopReason.Callback"/>; that
        /// token is included). <paramref name="cancellationToken"/> stops the
        /// generation before its next token with a <see cref="GenerationException"/>
        /// of status <see cref="Status.Cancelled"/> whose
        /// <see cref="GenerationException.Tokens"/> holds the tokens produced
        /// so far. The prompt may be empty when the context is not (to go on
        /// generating). See <see cref="Sampler"/> for the errors.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public uint[] Generate(ReadOnlySpan<uint> prompt, Func<uint, bool> onToken = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return GenerateCore(prompt, onToken, cancellationToken);
        }

        /// <summary>
        /// <see cref="Generate(ReadOnlySpan{uint}, Func{uint, bool}, CancellationToken)"/>
        /// of an array (a null array gets <see cref="ArgumentNullException"/>).
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public uint[] Generate(uint[] prompt, Func<uint, bool> onToken = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (prompt == null)
            {
                throw new ArgumentNullException(nameof(prompt));
            }
            return GenerateCore(prompt, onToken, cancellationToken);
        }

        /// <summary>
        /// Encode <paramref name="prompt"/> with <paramref name="tokenizer"/>
        /// (whose ids must fit the model's vocabulary), append it to the
        /// context, generate, and return the generated text (without the
        /// prompt). The text goes to <paramref name="onText"/>, when given, in
        /// pieces as it comes: whole characters only (never half of a UTF-8
        /// character, never a part of a stop string: text that may begin one is
        /// held back until it cannot), whose concatenation is the returned
        /// text; it returns true to go on, false to stop
        /// (<see cref="StopReason.Callback"/>; the returned text then ends with
        /// that piece). The text equals <c>tokenizer.Decode(ids)</c> of the
        /// generated ids, cut before a stop string. A generation stops as in
        /// <see cref="Generate(ReadOnlySpan{uint}, Func{uint, bool}, CancellationToken)"/>
        /// and also at a stop string (<see cref="StopReason.StopString"/>); on a
        /// cancellation, <see cref="GenerationException.Text"/> holds the text
        /// streamed so far. The prompt may be empty when the context is not.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// The tokenizer is shareable.
        /// </summary>
        public string GenerateText(Tokenizer tokenizer, string prompt, Func<string, bool> onText = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return GenerateTextCore(tokenizer, prompt, onText, cancellationToken);
        }

        /// <summary>
        /// <see cref="GenerateText(Tokenizer, string, Func{string, bool}, CancellationToken)"/>
        /// with a callback that sees every piece and never stops the generation.
        /// (C# binds a lambda whose body is a <see cref="bool"/> expression, such
        /// as <c>piece =&gt; set.Add(piece)</c>, to the <c>Func&lt;string, bool&gt;</c>
        /// overload, where false stops the generation.)
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public string GenerateText(Tokenizer tokenizer, string prompt, Action<string> onText,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (onText == null)
            {
                throw new ArgumentNullException(nameof(onText));
            }
            return GenerateTextCore(tokenizer, prompt, piece =>
            {
                onText(piece);
                return true;
            }, cancellationToken);
        }

        /// <summary>
        /// <see cref="GenerateText(Tokenizer, string, Func{string, bool}, CancellationToken)"/>
        /// as an enumeration of its pieces, yielded as they are generated: the
        /// generation runs on a background thread from the first
        /// <c>MoveNext</c> and hands each piece over as it comes. The pieces
        /// concatenate to the text GenerateText would return. The generation
        /// runs at most 16 pieces ahead of the consumer, then waits for it; so
        /// dispose the enumerator when you stop early (<c>foreach</c> and LINQ
        /// do), or the generation waits, and the sampler stays busy, for good. An
        /// error (a <see cref="GenerationException"/>, <see cref="Status.Cancelled"/>
        /// included, or a callback's exception) is thrown from <c>MoveNext</c>
        /// after the pieces streamed before it. Leaving the enumeration early
        /// (<c>break</c>, or disposing the enumerator) stops a generation still
        /// running at its next token and waits for it, so the sampler is free
        /// again when the loop is left (<see cref="LastStopReason"/> is then
        /// <see cref="StopReason.Callback"/> or null, or the reason the
        /// generation had already ended with). The sampler is busy while the
        /// enumeration runs.
        /// Null arguments are refused at once, the rest when enumerated.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public IEnumerable<string> StreamText(Tokenizer tokenizer, string prompt,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (tokenizer == null)
            {
                throw new ArgumentNullException(nameof(tokenizer));
            }
            if (prompt == null)
            {
                throw new ArgumentNullException(nameof(prompt));
            }
            return StreamTextCore(tokenizer, prompt, cancellationToken);
        }

        /// <summary>
        /// Release the sampler (see <see cref="Sampler"/>): safe to call more
        /// than once, and while another thread is inside a call; later calls
        /// throw <see cref="ObjectDisposedException"/>.
        /// Thread safety: single-owner (one thread at a time; a second thread gets HELIOS_ERR_BUSY).
        /// </summary>
        public void Dispose()
        {
            Volatile.Write(ref _disposed, true);
            _handle.Dispose();
        }

        // ---- internals ----------------------------------------------------------------------

        private IntPtr Enter()
        {
            ThrowIfDisposed();
            return Persistence.Enter(_handle, nameof(Sampler));
        }

        // The handle alone does not say it: on Mono, a SafeHandle that is
        // disposed while borrowed (a call inside, or a sampler holding its
        // model) still accepts new borrows until the last one is returned.
        private void ThrowIfDisposed()
        {
            if (Volatile.Read(ref _disposed))
            {
                throw new ObjectDisposedException(nameof(Sampler), "the Sampler was disposed");
            }
        }

        private void Leave()
        {
            _handle.DangerousRelease();
        }

        private unsafe uint[] GenerateCore(ReadOnlySpan<uint> prompt, Func<uint, bool> onToken,
            CancellationToken cancellationToken)
        {
            var call = new TokenCall(onToken);
            GCHandle callHandle = GCHandle.Alloc(call);
            CancelToken cancel = null;
            bool cancelBorrowed = false;
            IntPtr sampler = IntPtr.Zero;
            bool entered = false;
            try
            {
                sampler = Enter();
                entered = true;
                IntPtr cancelPointer = IntPtr.Zero;
                if (cancellationToken.CanBeCanceled)
                {
                    cancel = CancelToken.FromCancellationToken(cancellationToken);
                    cancelPointer = cancel.AddRef();
                    cancelBorrowed = true;
                }
                UIntPtr count = UIntPtr.Zero;
                int reason = NoStopReason;
                uint idStandIn = 0;
                Status status;
                fixed (uint* promptPointer = &MemoryMarshal.GetReference(prompt))
                {
                    // An empty prompt pins to NULL; with length 0 helios reads nothing.
                    status = Native.helios_sampler_generate(
                        sampler, promptPointer != null ? promptPointer : &idStandIn, new UIntPtr((uint)prompt.Length),
                        null, UIntPtr.Zero, TokenCall.TrampolinePointer, GCHandle.ToIntPtr(callHandle), cancelPointer,
                        &count, &reason);
                }
                // Read this thread's message now, before any other helios call
                // (releasing the cancel token is one).
                string message = status == Status.Ok ? null : Native.FromUtf8(Native.helios_last_error());
                uint[] tokens = call.Tokens.ToArray();
                Finish(status, reason, call.Failure);
                if (status != Status.Ok)
                {
                    throw new GenerationException(status, message, tokens, string.Empty);
                }
                return tokens;
            }
            finally
            {
                if (cancelBorrowed)
                {
                    cancel.Release();
                }
                cancel?.Dispose();
                if (entered)
                {
                    Leave();
                }
                callHandle.Free();
                GC.KeepAlive(call);
                GC.KeepAlive(TokenCall.Trampoline);
            }
        }

        private unsafe string GenerateTextCore(Tokenizer tokenizer, string prompt, Func<string, bool> onText,
            CancellationToken cancellationToken)
        {
            if (tokenizer == null)
            {
                throw new ArgumentNullException(nameof(tokenizer));
            }
            byte[] utf8 = Tokenizer.Utf8(prompt, nameof(prompt), false);
            var call = new TextCall(onText);
            GCHandle callHandle = GCHandle.Alloc(call);
            CancelToken cancel = null;
            bool cancelBorrowed = false;
            bool samplerEntered = false;
            bool tokenizerEntered = false;
            try
            {
                IntPtr sampler = Enter();
                samplerEntered = true;
                IntPtr nativeTokenizer = tokenizer.Enter();
                tokenizerEntered = true;
                IntPtr cancelPointer = IntPtr.Zero;
                if (cancellationToken.CanBeCanceled)
                {
                    cancel = CancelToken.FromCancellationToken(cancellationToken);
                    cancelPointer = cancel.AddRef();
                    cancelBorrowed = true;
                }
                UIntPtr length = UIntPtr.Zero;
                int reason = NoStopReason;
                Status status;
                fixed (byte* text = utf8)
                {
                    status = Native.helios_sampler_generate_text(
                        sampler, nativeTokenizer, text, new UIntPtr((uint)(utf8.Length - 1)),
                        TextCall.TrampolinePointer, GCHandle.ToIntPtr(callHandle), cancelPointer, &length, &reason);
                }
                string message = status == Status.Ok ? null : Native.FromUtf8(Native.helios_last_error());
                string generated = call.Text.ToString();
                Finish(status, reason, call.Failure);
                if (status != Status.Ok)
                {
                    throw new GenerationException(status, message, new uint[0], generated);
                }
                return generated;
            }
            finally
            {
                if (cancelBorrowed)
                {
                    cancel.Release();
                }
                cancel?.Dispose();
                if (tokenizerEntered)
                {
                    tokenizer.Leave();
                }
                if (samplerEntered)
                {
                    Leave();
                }
                callHandle.Free();
                GC.KeepAlive(call);
                GC.KeepAlive(TextCall.Trampoline);
            }
        }

        // After a generate call: record the stop reason (not for Busy, which
        // belongs to the thread inside) and rethrow a callback's exception.
        private void Finish(Status status, int reason, Exception callbackFailure)
        {
            if (status != Status.Busy)
            {
                bool stopped = status == Status.Ok && callbackFailure == null;
                Volatile.Write(ref _lastStopReason, stopped ? reason : NoStopReason);
            }
            if (callbackFailure != null)
            {
                ExceptionDispatchInfo.Capture(callbackFailure).Throw();
            }
        }

        private IEnumerable<string> StreamTextCore(Tokenizer tokenizer, string prompt,
            CancellationToken cancellationToken)
        {
            // Bounded: the generation runs at most StreamQueueCapacity pieces
            // ahead of the consumer, then waits for it.
            using (var pieces = new BlockingCollection<string>(StreamQueueCapacity))
            using (var abandon = new CancellationTokenSource())
            using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, abandon.Token))
            {
                Task generation = Task.Factory.StartNew(() =>
                {
                    try
                    {
                        GenerateTextCore(tokenizer, prompt, piece =>
                        {
                            try
                            {
                                // Waits while the queue is full; given up when the consumer leaves.
                                pieces.Add(piece, abandon.Token);
                                return true;
                            }
                            catch (OperationCanceledException)
                            {
                                return false;
                            }
                        }, stop.Token);
                    }
                    finally
                    {
                        pieces.CompleteAdding();
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                bool completed = false;
                try
                {
                    foreach (string piece in pieces.GetConsumingEnumerable())
                    {
                        yield return piece;
                    }
                    completed = true;
                }
                finally
                {
                    if (!completed)
                    {
                        // Left early: stop before the next token (or at the next
                        // piece) and wait, so that the sampler is free when the
                        // loop is left.
                        abandon.Cancel();
                    }
                    try
                    {
                        generation.Wait();
                    }
                    catch (AggregateException)
                    {
                        // Rethrown below when the enumeration ran to its end;
                        // an abandoned one has no one to report to.
                    }
                }
                // Every piece was handed over: rethrow the generation's error,
                // with its own type and stack trace.
                generation.GetAwaiter().GetResult();
            }
        }

        /// <summary>
        /// One Generate call as seen from native code: the trampoline (alive for
        /// the whole process) finds it through the <c>user_data</c> GCHandle,
        /// records the token, runs the managed callback, and turns an exception
        /// into a non-zero return, since an exception must never unwind into
        /// native frames.
        /// </summary>
        private sealed class TokenCall
        {
            /// <summary>The native callback of every Generate call; a static field, so never collected.</summary>
            internal static readonly Native.TokenFn Trampoline = Dispatch;

            internal static readonly IntPtr TrampolinePointer = Marshal.GetFunctionPointerForDelegate(Trampoline);

            private readonly Func<uint, bool> _onToken;

            internal TokenCall(Func<uint, bool> onToken)
            {
                _onToken = onToken;
            }

            internal List<uint> Tokens { get; } = new List<uint>();

            internal Exception Failure { get; private set; }

            private static int Dispatch(uint token, IntPtr userData)
            {
                TokenCall call = null;
                try
                {
                    call = (TokenCall)GCHandle.FromIntPtr(userData).Target;
                    call.Tokens.Add(token);
                    return call._onToken == null || call._onToken(token) ? 0 : 1;
                }
                catch (Exception exception)
                {
                    if (call != null && call.Failure == null)
                    {
                        call.Failure = exception;
                    }
                    return 1;
                }
            }
        }

        /// <summary>The <see cref="TokenCall"/> of GenerateText: pieces of text instead of tokens.</summary>
        private sealed unsafe class TextCall
        {
            /// <summary>The native callback of every GenerateText call; a static field, so never collected.</summary>
            internal static readonly Native.TextFn Trampoline = Dispatch;

            internal static readonly IntPtr TrampolinePointer = Marshal.GetFunctionPointerForDelegate(Trampoline);

            private readonly Func<string, bool> _onText;

            internal TextCall(Func<string, bool> onText)
            {
                _onText = onText;
            }

            internal StringBuilder Text { get; } = new StringBuilder();

            internal Exception Failure { get; private set; }

            private static unsafe int Dispatch(byte* piece, UIntPtr length, IntPtr userData)
            {
                TextCall call = null;
                try
                {
                    call = (TextCall)GCHandle.FromIntPtr(userData).Target;
                    // Whole UTF-8 characters, so each piece decodes on its own.
                    string text = Encoding.UTF8.GetString(piece, checked((int)length.ToUInt64()));
                    call.Text.Append(text);
                    return call._onText == null || call._onText(text) ? 0 : 1;
                }
                catch (Exception exception)
                {
                    if (call != null && call.Failure == null)
                    {
                        call.Failure = exception;
                    }
                    return 1;
                }
            }
        }
    }
}

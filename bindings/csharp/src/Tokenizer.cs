using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Helios
{
    /// <summary>
    /// The native <c>HeliosTokenizer*</c>; releasing it calls
    /// <c>helios_tokenizer_free</c> exactly once, after the last call that
    /// borrowed it has returned (SafeHandle reference counting).
    /// </summary>
    internal sealed class TokenizerHandle : SafeHandle
    {
        // Called by the P/Invoke marshaller for `out TokenizerHandle`.
        private TokenizerHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            Native.helios_tokenizer_free(handle);
            return true;
        }
    }

    /// <summary>
    /// The <c>[Start, End)</c> range of <b>UTF-8 bytes</b> of a text that one
    /// token covers: byte offsets into <c>Encoding.UTF8.GetBytes(text)</c>,
    /// not <see cref="string"/> indices (a byte-level token can hold part of a
    /// multi-byte character, and then covers just the bytes it holds).
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public struct TokenOffset : IEquatable<TokenOffset>
    {
        /// <summary>
        /// A range from <paramref name="start"/> (included) to <paramref name="end"/> (excluded).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public TokenOffset(long start, long end)
        {
            Start = start;
            End = end;
        }

        /// <summary>
        /// The first byte of the token.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public long Start { get; }

        /// <summary>
        /// One past the last byte of the token.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public long End { get; }

        /// <summary>
        /// Whether both ends are equal.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public bool Equals(TokenOffset other)
        {
            return Start == other.Start && End == other.End;
        }

        /// <summary>
        /// Whether <paramref name="obj"/> is a <see cref="TokenOffset"/> with both ends equal.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public override bool Equals(object obj)
        {
            return obj is TokenOffset other && Equals(other);
        }

        /// <summary>
        /// A hash of both ends.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public override int GetHashCode()
        {
            return Start.GetHashCode() * 31 + End.GetHashCode();
        }

        /// <summary>
        /// <c>"[Start, End)"</c>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public override string ToString()
        {
            return "[" + Start + ", " + End + ")";
        }
    }

    /// <summary>
    /// The result of <see cref="Tokenizer.EncodeWithOffsets"/>: the token ids
    /// of one text and the UTF-8 byte range each covers (see
    /// <see cref="TokenOffset"/>). The arrays are new and belong to the caller.
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// </summary>
    public sealed class TokenEncoding
    {
        internal TokenEncoding(uint[] ids, TokenOffset[] offsets)
        {
            Ids = ids;
            Offsets = offsets;
        }

        /// <summary>
        /// The token ids, in text order.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public uint[] Ids { get; }

        /// <summary>
        /// One byte range per id, aligned with <see cref="Ids"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public TokenOffset[] Offsets { get; }
    }

    /// <summary>
    /// A tokenizer (<c>helios_tokenizer_*</c>): text to token ids and back.
    /// Two kinds: a byte-level BPE as GPT-2's (GPT-2's split of the text into
    /// pieces, every byte a token of its own, then learnt merges of frequent
    /// pairs; any text can be encoded) and a char-level one (one token per
    /// Unicode character). Special tokens (<c>&lt;|endoftext|&gt;</c>) are
    /// matched in the text before anything else.
    /// <para>
    /// Make one with <see cref="FromFile"/> (a Hugging Face
    /// <c>tokenizer.json</c>), <see cref="FromJson"/>,
    /// <see cref="FromVocabMerges"/> (GPT-2's <c>vocab.json</c> +
    /// <c>merges.txt</c>), <see cref="FromPretrainedDir"/>, or train one with
    /// <see cref="TrainBpe"/>, <see cref="TrainBpeFiles"/> or
    /// <see cref="TrainChar"/>. <see cref="Save"/> writes a
    /// <c>tokenizer.json</c> that Hugging Face <c>tokenizers</c> loads.
    /// </para>
    /// <para>Arguments and errors, the same for every member:</para>
    /// <list type="bullet">
    /// <item>Text goes to helios as UTF-8. What only .NET can get wrong is
    /// refused before any native call: a null string, list or array
    /// (<see cref="ArgumentNullException"/>; a null element of a list,
    /// <see cref="ArgumentException"/>); a string holding a lone surrogate, so
    /// not convertible to UTF-8, or a special or unknown token holding a NUL
    /// character (<see cref="ArgumentException"/>); a negative size or thread count
    /// (<see cref="ArgumentOutOfRangeException"/>); any call after
    /// <see cref="Dispose"/> (<see cref="ObjectDisposedException"/>).</item>
    /// <item>Every other value is passed to helios unchanged and its refusal
    /// comes back as a <see cref="HeliosException"/> with helios's status and
    /// message: <see cref="Status.InvalidArgument"/> for an id outside the
    /// vocabulary, a character outside the vocabulary of a char-level
    /// tokenizer without an unknown token, a vocabulary size smaller than the
    /// special tokens plus the 256 bytes, an empty corpus, threads 0 or above
    /// 1024, an empty path or one holding a NUL, repeated or empty special
    /// tokens, an unknown token for BPE training; <see cref="Status.Io"/> for a file that cannot be read or
    /// written; <see cref="Status.Format"/> for a corrupt, truncated or
    /// wrongly typed tokenizer file (the message names the field, e.g.
    /// <c>model.vocab</c>) or merges naming unknown tokens;
    /// <see cref="Status.Unsupported"/> for a model helios does not implement
    /// (WordPiece, for instance); <see cref="Status.Cancelled"/> for training
    /// stopped by its <see cref="CancelToken"/> or progress callback.</item>
    /// </list>
    /// <para>
    /// Immutable and shareable: one tokenizer may be used from any number of
    /// threads at once, and gives every thread the ids it would give one
    /// thread alone. Dispose it when done (<c>using</c>); <see cref="Dispose"/>
    /// may be called while other threads are inside calls, which finish
    /// normally, and the native tokenizer is freed when the last one returns.
    /// Later calls throw <see cref="ObjectDisposedException"/>; disposing twice
    /// is harmless; a tokenizer never disposed is freed by its finalizer.
    /// </para>
    /// Thread safety: shareable (one object may be used from any number of threads at once).
    /// </summary>
    public sealed class Tokenizer : IDisposable
    {
        // HELIOS_NO_TOKEN: token_to_id's answer for a token not in the vocabulary.
        internal const uint NoToken = uint.MaxValue;

        // The first output size Decode and IdToToken try before asking helios.
        internal const int DecodeBytesPerId = 8;
        internal const int TokenGuessBytes = 32;

        private static readonly UTF8Encoding s_strictUtf8 = new UTF8Encoding(false, true);

        private readonly TokenizerHandle _handle;
        private readonly int _vocabSize;

        private enum TrainKind
        {
            Bpe,
            BpeFiles,
            Char,
        }

        private unsafe Tokenizer(TokenizerHandle handle)
        {
            _handle = handle;
            try
            {
                IntPtr tokenizer = Enter();
                try
                {
                    UIntPtr size = UIntPtr.Zero;
                    Native.Check(Native.helios_tokenizer_vocab_size(tokenizer, &size));
                    _vocabSize = (int)Math.Min(size.ToUInt64(), int.MaxValue);
                }
                finally
                {
                    Leave();
                }
            }
            catch (HeliosException)
            {
                handle.Dispose();
                throw;
            }
        }

        /// <summary>
        /// The tokenizer in a Hugging Face <c>tokenizer.json</c> file at
        /// <paramref name="path"/>. <see cref="Status.Io"/> when it cannot be
        /// read, <see cref="Status.Format"/> when it is not a valid
        /// tokenizer.json (the message names the field),
        /// <see cref="Status.Unsupported"/> for components helios lacks.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe Tokenizer FromFile(string path)
        {
            byte[] p = Utf8(path, nameof(path), false);
            Library.EnsureCompatible();
            Status status;
            TokenizerHandle handle;
            fixed (byte* pointer = p)
            {
                status = Native.helios_tokenizer_from_file(pointer, Length(p), out handle);
            }
            return new Tokenizer(Persistence.Adopt(status, handle));
        }

        /// <summary>
        /// The tokenizer described by <paramref name="json"/>, the text of a
        /// Hugging Face <c>tokenizer.json</c> (errors as in <see cref="FromFile"/>).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe Tokenizer FromJson(string json)
        {
            byte[] bytes = Utf8(json, nameof(json), false);
            Library.EnsureCompatible();
            Status status;
            TokenizerHandle handle;
            fixed (byte* pointer = bytes)
            {
                status = Native.helios_tokenizer_from_json(pointer, Length(bytes), out handle);
            }
            return new Tokenizer(Persistence.Adopt(status, handle));
        }

        /// <summary>
        /// A GPT-2 style byte-level BPE from <paramref name="vocabJsonPath"/>
        /// (a JSON object of token to id) and <paramref name="mergesTxtPath"/>
        /// (one merge <c>"a b"</c> per line, highest priority first; a
        /// <c>#version</c> first line is skipped). <c>&lt;|endoftext|&gt;</c>,
        /// when in the vocabulary, is a special token, as in transformers'
        /// GPT2Tokenizer.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe Tokenizer FromVocabMerges(string vocabJsonPath, string mergesTxtPath)
        {
            byte[] vocab = Utf8(vocabJsonPath, nameof(vocabJsonPath), false);
            byte[] merges = Utf8(mergesTxtPath, nameof(mergesTxtPath), false);
            Library.EnsureCompatible();
            Status status;
            TokenizerHandle handle;
            fixed (byte* v = vocab)
            fixed (byte* m = merges)
            {
                status = Native.helios_tokenizer_from_vocab_merges(v, Length(vocab), m, Length(merges), out handle);
            }
            return new Tokenizer(Persistence.Adopt(status, handle));
        }

        /// <summary>
        /// The tokenizer saved in the folder <paramref name="dir"/> (a model
        /// download): its <c>tokenizer.json</c> when there is one, else its
        /// <c>vocab.json</c> + <c>merges.txt</c>; <see cref="Status.Io"/>
        /// naming what is missing.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static unsafe Tokenizer FromPretrainedDir(string dir)
        {
            byte[] d = Utf8(dir, nameof(dir), false);
            Library.EnsureCompatible();
            Status status;
            TokenizerHandle handle;
            fixed (byte* pointer = d)
            {
                status = Native.helios_tokenizer_from_pretrained_dir(pointer, Length(d), out handle);
            }
            return new Tokenizer(Persistence.Adopt(status, handle));
        }

        /// <summary>
        /// Train a byte-level BPE (like Hugging Face's ByteLevelBPETokenizer:
        /// GPT-2's split, no prefix space, all 256 bytes in the alphabet) on
        /// <paramref name="texts"/>. <paramref name="vocabSize"/> is the final
        /// size, counting the special tokens and the 256 byte tokens (so at
        /// least their sum); training stops earlier when no pair is seen
        /// <paramref name="minFrequency"/> times. <paramref name="specialTokens"/>
        /// get ids 0, 1, ... in order. <paramref name="threads"/>: workers, null
        /// for <see cref="Library.NumThreads"/>; the result is the same for
        /// every count. <paramref name="cancel"/> stops the training
        /// (<see cref="Status.Cancelled"/>). <paramref name="progress"/> is
        /// called with (merges done, merges planned) and returns true to go
        /// on, false to stop it (<see cref="Status.Cancelled"/>); an exception
        /// it throws stops the training and is rethrown as it is. It runs on
        /// the calling thread.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static Tokenizer TrainBpe(IEnumerable<string> texts, int vocabSize, int minFrequency = 2,
            IEnumerable<string> specialTokens = null, int? threads = null, CancelToken cancel = null,
            Func<long, long, bool> progress = null)
        {
            return Train(TrainKind.Bpe, texts, nameof(texts), vocabSize, minFrequency, specialTokens, null, threads,
                cancel, progress);
        }

        /// <summary>
        /// <see cref="TrainBpe"/> on the UTF-8 text files at <paramref name="paths"/>
        /// (<see cref="Status.Io"/> for a file that cannot be read).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static Tokenizer TrainBpeFiles(IEnumerable<string> paths, int vocabSize, int minFrequency = 2,
            IEnumerable<string> specialTokens = null, int? threads = null, CancelToken cancel = null,
            Func<long, long, bool> progress = null)
        {
            return Train(TrainKind.BpeFiles, paths, nameof(paths), vocabSize, minFrequency, specialTokens, null,
                threads, cancel, progress);
        }

        /// <summary>
        /// Train a char-level tokenizer on <paramref name="texts"/>: one token
        /// per Unicode character, the special tokens first (ids 0, 1, ...),
        /// then the characters in code point order. <paramref name="vocabSize"/>
        /// 0 keeps every character seen, otherwise the most frequent ones;
        /// characters seen fewer than <paramref name="minFrequency"/> times are
        /// dropped (0 and 1 keep all). <paramref name="unkToken"/>, when given,
        /// stands for any character outside the vocabulary (and is a special
        /// token); without it, encoding such a character is
        /// <see cref="Status.InvalidArgument"/>.
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static Tokenizer TrainChar(IEnumerable<string> texts, int vocabSize = 0, int minFrequency = 0,
            IEnumerable<string> specialTokens = null, string unkToken = null, int? threads = null,
            CancelToken cancel = null)
        {
            return Train(TrainKind.Char, texts, nameof(texts), vocabSize, minFrequency, specialTokens, unkToken,
                threads, cancel, null);
        }

        /// <summary>
        /// The number of tokens, special and added tokens included; ids run
        /// from 0 to <c>VocabSize - 1</c>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public int VocabSize
        {
            get
            {
                Persistence.ThrowIfDisposed(_handle, nameof(Tokenizer));
                return _vocabSize;
            }
        }

        /// <summary>
        /// The token ids of <paramref name="text"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public uint[] Encode(string text)
        {
            return EncodeCore(Utf8(text, nameof(text), false), -1, false, out _);
        }

        /// <summary>
        /// The token ids of <paramref name="text"/> with the UTF-8 byte range
        /// of each (see <see cref="TokenEncoding"/>).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public TokenEncoding EncodeWithOffsets(string text)
        {
            TokenOffset[] offsets;
            uint[] ids = EncodeCore(Utf8(text, nameof(text), false), -1, true, out offsets);
            return new TokenEncoding(ids, offsets);
        }

        /// <summary>
        /// The ids of each of <paramref name="texts"/>, in order (element i
        /// holds <c>Encode(texts[i])</c>), computed on <paramref name="threads"/>
        /// workers (null for <see cref="Library.NumThreads"/>) in one native call.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public uint[][] EncodeBatch(IReadOnlyList<string> texts, int? threads = null)
        {
            return EncodeBatchCore(texts, threads, -1);
        }

        /// <summary>
        /// The text of <paramref name="ids"/>. Special tokens are kept unless
        /// <paramref name="skipSpecialTokens"/>, so that
        /// <c>Decode(Encode(s)) == s</c>. Bytes that do not form whole UTF-8
        /// characters (ids cut in the middle of one) become U+FFFD. An id of
        /// <see cref="VocabSize"/> or more is <see cref="Status.InvalidArgument"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public string Decode(ReadOnlySpan<uint> ids, bool skipSpecialTokens = false)
        {
            return DecodeCore(ids, skipSpecialTokens, -1);
        }

        /// <summary>
        /// <see cref="Decode(ReadOnlySpan{uint}, bool)"/> of an array (a null
        /// array gets <see cref="ArgumentNullException"/>).
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public string Decode(uint[] ids, bool skipSpecialTokens = false)
        {
            if (ids == null)
            {
                throw new ArgumentNullException(nameof(ids));
            }
            return DecodeCore(ids, skipSpecialTokens, -1);
        }

        /// <summary>
        /// The id of the vocabulary entry <paramref name="token"/>, in the
        /// vocabulary's form (for a byte-level BPE, GPT-2's: a space is
        /// <c>"Ġ"</c>, so " the" is <c>"Ġthe"</c>), or null when there is none.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe uint? TokenToId(string token)
        {
            byte[] bytes = Utf8(token, nameof(token), false);
            uint id = NoToken;
            IntPtr tokenizer = Enter();
            try
            {
                Status status;
                fixed (byte* pointer = bytes)
                {
                    status = Native.helios_tokenizer_token_to_id(tokenizer, pointer, Length(bytes), &id);
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
            return id == NoToken ? (uint?)null : id;
        }

        /// <summary>
        /// The vocabulary entry of <paramref name="id"/>, in the vocabulary's
        /// form (see <see cref="TokenToId"/>); <see cref="Status.InvalidArgument"/>
        /// for an id of <see cref="VocabSize"/> or more.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public string IdToToken(uint id)
        {
            return IdToTokenCore(id, TokenGuessBytes);
        }

        /// <summary>
        /// Save as a Hugging Face <c>tokenizer.json</c> at <paramref name="path"/>
        /// (written to a temporary file and renamed, so a reader never sees
        /// half a file); <see cref="Status.Io"/> when it cannot be written.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe void Save(string path)
        {
            byte[] p = Utf8(path, nameof(path), false);
            IntPtr tokenizer = Enter();
            try
            {
                Status status;
                fixed (byte* pointer = p)
                {
                    status = Native.helios_tokenizer_save(tokenizer, pointer, Length(p));
                }
                Native.Check(status);
            }
            finally
            {
                Leave();
            }
        }

        /// <summary>
        /// The <c>tokenizer.json</c> text <see cref="Save"/> writes.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public unsafe string ToJson()
        {
            byte[] bytes = Persistence.CopyOut<byte>(_handle, nameof(Tokenizer),
                (native, output, capacity, needed) =>
                    Native.helios_tokenizer_to_json(native, (byte*)output, capacity, needed));
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>
        /// Release the tokenizer (see <see cref="Tokenizer"/>): safe to call
        /// more than once, and while other threads are inside calls; later
        /// calls throw <see cref="ObjectDisposedException"/>.
        /// Thread safety: shareable (one object may be used from any number of threads at once).
        /// </summary>
        public void Dispose()
        {
            _handle.Dispose();
        }

        // ---- internals (the *Core methods take the first buffer size, so that
        // tests can start them at 0 and walk the ask-then-allocate path) ----------------

        // `text` as UTF-8 with one NUL byte appended (so that even an empty
        // text pins to a real address, and a path is a C string); the text is
        // the first Length - 1 bytes. A NUL inside is refused when `isCString`.
        internal static byte[] Utf8(string text, string paramName, bool isCString)
        {
            if (text == null)
            {
                throw new ArgumentNullException(paramName);
            }
            if (isCString && text.IndexOf('\0') >= 0)
            {
                throw new ArgumentException(paramName + " holds a NUL character, which C strings cannot", paramName);
            }
            try
            {
                var bytes = new byte[s_strictUtf8.GetByteCount(text) + 1];
                s_strictUtf8.GetBytes(text, 0, text.Length, bytes, 0);
                return bytes;
            }
            catch (EncoderFallbackException e)
            {
                throw new ArgumentException(
                    paramName + " is not valid UTF-16 (a lone surrogate): " + e.Message, paramName, e);
            }
        }

        private static byte[] CString(string text, string paramName)
        {
            return Utf8(text, paramName, true);
        }

        // The length of a Utf8() array without its trailing NUL.
        private static UIntPtr Length(byte[] utf8)
        {
            return new UIntPtr((ulong)(utf8.Length - 1));
        }

        internal unsafe uint[] EncodeCore(byte[] utf8, int initialCapacity, bool withOffsets,
            out TokenOffset[] offsets)
        {
            long length = utf8.Length - 1;
            // Every token covers at least one byte, so length ids always suffice.
            long capacity = initialCapacity >= 0 ? initialCapacity : length + 1;
            IntPtr tokenizer = Enter();
            try
            {
                while (true)
                {
                    var ids = new uint[capacity];
                    UIntPtr[] spans = withOffsets ? new UIntPtr[checked(2 * capacity)] : null;
                    UIntPtr count = UIntPtr.Zero;
                    uint idStandIn = 0;
                    UIntPtr offsetStandIn = UIntPtr.Zero;
                    Status status;
                    fixed (byte* text = utf8)
                    fixed (uint* idPointer = ids)
                    fixed (UIntPtr* spanPointer = spans)
                    {
                        // An empty array pins to NULL; with capacity 0 helios
                        // writes nothing, so a stand-in address serves.
                        status = Native.helios_tokenizer_encode(
                            tokenizer, text, new UIntPtr((ulong)length), idPointer != null ? idPointer : &idStandIn,
                            new UIntPtr((ulong)capacity),
                            withOffsets ? (spanPointer != null ? spanPointer : &offsetStandIn) : null, &count);
                    }
                    ulong needed = count.ToUInt64();
                    if (status == Status.BufferTooSmall && needed > (ulong)capacity)
                    {
                        capacity = checked((long)needed);
                        continue;
                    }
                    Native.Check(status);
                    int n = checked((int)needed);
                    if (n < ids.Length)
                    {
                        Array.Resize(ref ids, n);
                    }
                    offsets = null;
                    if (withOffsets)
                    {
                        offsets = new TokenOffset[n];
                        for (int i = 0; i < n; i++)
                        {
                            offsets[i] = new TokenOffset((long)spans[2 * i].ToUInt64(), (long)spans[2 * i + 1].ToUInt64());
                        }
                    }
                    return ids;
                }
            }
            finally
            {
                Leave();
            }
        }

        internal unsafe uint[][] EncodeBatchCore(IReadOnlyList<string> texts, int? threads, int initialCapacity)
        {
            if (texts == null)
            {
                throw new ArgumentNullException(nameof(texts));
            }
            UIntPtr threadCount = threads.HasValue ? Native.ToSize(threads.Value, nameof(threads)) : Native.Auto;
            var encoded = new byte[texts.Count][];
            long totalBytes = 0;
            for (int i = 0; i < encoded.Length; i++)
            {
                if (texts[i] == null)
                {
                    throw new ArgumentException("texts[" + i + "] is null", nameof(texts));
                }
                encoded[i] = Utf8(texts[i], nameof(texts), false);
                totalBytes += encoded[i].Length - 1;
            }
            if (encoded.Length == 0)
            {
                Persistence.ThrowIfDisposed(_handle, nameof(Tokenizer));
                return new uint[0][];
            }
            long capacity = initialCapacity >= 0 ? initialCapacity : totalBytes + 1;
            var counts = new UIntPtr[encoded.Length];
            using (var pinned = new PinnedStrings(encoded))
            {
                IntPtr tokenizer = Enter();
                try
                {
                    while (true)
                    {
                        var ids = new uint[capacity];
                        UIntPtr total = UIntPtr.Zero;
                        uint idStandIn = 0;
                        Status status;
                        fixed (IntPtr* textPointers = pinned.Pointers)
                        fixed (UIntPtr* lengths = pinned.Lengths)
                        fixed (UIntPtr* countPointer = counts)
                        fixed (uint* idPointer = ids)
                        {
                            status = Native.helios_tokenizer_encode_batch(
                                tokenizer, textPointers, lengths, new UIntPtr((uint)encoded.Length), threadCount,
                                idPointer != null ? idPointer : &idStandIn, new UIntPtr((ulong)capacity), countPointer,
                                &total);
                        }
                        ulong needed = total.ToUInt64();
                        if (status == Status.BufferTooSmall && needed > (ulong)capacity)
                        {
                            capacity = checked((long)needed);
                            continue;
                        }
                        Native.Check(status);
                        var result = new uint[encoded.Length][];
                        long at = 0;
                        for (int i = 0; i < result.Length; i++)
                        {
                            int n = checked((int)counts[i].ToUInt64());
                            result[i] = new uint[n];
                            Array.Copy(ids, at, result[i], 0, n);
                            at += n;
                        }
                        return result;
                    }
                }
                finally
                {
                    Leave();
                }
            }
        }

        internal unsafe string DecodeCore(ReadOnlySpan<uint> ids, bool skipSpecialTokens, int initialCapacity)
        {
            long capacity = initialCapacity >= 0
                ? initialCapacity
                : Math.Min((long)ids.Length * DecodeBytesPerId + 16, int.MaxValue);
            IntPtr tokenizer = Enter();
            try
            {
                while (true)
                {
                    var output = new byte[capacity];
                    UIntPtr length = UIntPtr.Zero;
                    uint idStandIn = 0;
                    byte byteStandIn = 0;
                    Status status;
                    fixed (uint* idPointer = &MemoryMarshal.GetReference(ids))
                    fixed (byte* outputPointer = output)
                    {
                        status = Native.helios_tokenizer_decode(
                            tokenizer, idPointer != null ? idPointer : &idStandIn, new UIntPtr((uint)ids.Length),
                            skipSpecialTokens ? 1 : 0, outputPointer != null ? outputPointer : &byteStandIn,
                            new UIntPtr((ulong)capacity), &length);
                    }
                    ulong needed = length.ToUInt64();
                    if (status == Status.BufferTooSmall && needed > (ulong)capacity)
                    {
                        capacity = checked((int)needed);
                        continue;
                    }
                    Native.Check(status);
                    return Encoding.UTF8.GetString(output, 0, checked((int)needed));
                }
            }
            finally
            {
                Leave();
            }
        }

        internal unsafe string IdToTokenCore(uint id, int initialCapacity)
        {
            int capacity = initialCapacity;
            IntPtr tokenizer = Enter();
            try
            {
                while (true)
                {
                    var output = new byte[capacity];
                    UIntPtr length = UIntPtr.Zero;
                    byte byteStandIn = 0;
                    Status status;
                    fixed (byte* outputPointer = output)
                    {
                        status = Native.helios_tokenizer_id_to_token(
                            tokenizer, id, outputPointer != null ? outputPointer : &byteStandIn,
                            new UIntPtr((uint)capacity), &length);
                    }
                    ulong needed = length.ToUInt64();
                    if (status == Status.BufferTooSmall && needed > (ulong)capacity)
                    {
                        capacity = checked((int)needed);
                        continue;
                    }
                    Native.Check(status);
                    return Encoding.UTF8.GetString(output, 0, checked((int)needed));
                }
            }
            finally
            {
                Leave();
            }
        }

        private static unsafe Tokenizer Train(TrainKind kind, IEnumerable<string> items, string itemsName,
            int vocabSize, int minFrequency, IEnumerable<string> specialTokens, string unkToken, int? threads,
            CancelToken cancel, Func<long, long, bool> progress)
        {
            if (items == null)
            {
                throw new ArgumentNullException(itemsName);
            }
            UIntPtr vocab = Native.ToSize(vocabSize, nameof(vocabSize));
            UIntPtr minimum = Native.ToSize(minFrequency, nameof(minFrequency));
            UIntPtr threadCount = threads.HasValue ? Native.ToSize(threads.Value, nameof(threads)) : Native.Auto;
            List<byte[]> encoded = EncodeAll(items, itemsName, false);
            List<byte[]> specials = specialTokens == null
                ? new List<byte[]>()
                : EncodeAll(specialTokens, nameof(specialTokens), true);
            byte[] unk = unkToken == null ? null : CString(unkToken, nameof(unkToken));
            Library.EnsureCompatible();

            Native.TokenizerTrainOptionsRaw options = Native.helios_tokenizer_default_train_options();
            options.VocabSize = vocab;
            options.MinFrequency = minimum;
            options.Threads = threadCount;
            var call = progress == null ? null : new ProgressCall(progress);
            GCHandle callHandle = call == null ? default(GCHandle) : GCHandle.Alloc(call);
            bool tokenBorrowed = false;
            try
            {
                if (call != null)
                {
                    options.Progress = ProgressCall.TrampolinePointer;
                    options.ProgressUserData = GCHandle.ToIntPtr(callHandle);
                }
                if (cancel != null)
                {
                    options.Cancel = cancel.AddRef();
                    tokenBorrowed = true;
                }
                using (var pinnedItems = new PinnedStrings(encoded))
                using (var pinnedSpecials = new PinnedStrings(specials))
                {
                    Status status;
                    TokenizerHandle handle;
                    // An empty corpus pins to NULL; stand-ins let helios say "empty corpus".
                    IntPtr pointerStandIn = IntPtr.Zero;
                    UIntPtr lengthStandIn = UIntPtr.Zero;
                    fixed (IntPtr* itemPointers = pinnedItems.Pointers)
                    fixed (UIntPtr* lengths = pinnedItems.Lengths)
                    fixed (IntPtr* specialPointers = pinnedSpecials.Pointers)
                    fixed (byte* unkPointer = unk)
                    {
                        options.SpecialTokens = (IntPtr)specialPointers;
                        options.SpecialTokensCount = new UIntPtr((uint)specials.Count);
                        options.UnkToken = (IntPtr)unkPointer;
                        IntPtr* texts = itemPointers != null ? itemPointers : &pointerStandIn;
                        UIntPtr* sizes = lengths != null ? lengths : &lengthStandIn;
                        var count = new UIntPtr((uint)encoded.Count);
                        switch (kind)
                        {
                            case TrainKind.Bpe:
                                status = Native.helios_tokenizer_train_bpe(texts, sizes, count, ref options, out handle);
                                break;
                            case TrainKind.BpeFiles:
                                status = Native.helios_tokenizer_train_bpe_files(
                                    texts, sizes, count, ref options, out handle);
                                break;
                            default:
                                status = Native.helios_tokenizer_train_char(texts, sizes, count, ref options, out handle);
                                break;
                        }
                    }
                    // The callback's own exception explains the stop better than
                    // HELIOS_ERR_CANCELLED; otherwise read this thread's message
                    // now, before the token is released.
                    if (call != null && call.Failure != null)
                    {
                        handle?.Dispose();
                        ExceptionDispatchInfo.Capture(call.Failure).Throw();
                    }
                    return new Tokenizer(Persistence.Adopt(status, handle));
                }
            }
            finally
            {
                if (tokenBorrowed)
                {
                    cancel.Release();
                }
                if (callHandle.IsAllocated)
                {
                    callHandle.Free();
                }
                GC.KeepAlive(call);
            }
        }

        private static List<byte[]> EncodeAll(IEnumerable<string> items, string paramName, bool isCString)
        {
            var encoded = new List<byte[]>();
            foreach (string item in items)
            {
                if (item == null)
                {
                    throw new ArgumentException(paramName + "[" + encoded.Count + "] is null", paramName);
                }
                encoded.Add(Utf8(item, paramName, isCString));
            }
            return encoded;
        }

        // Borrow the native pointer for one call (see Persistence.Enter; Leave
        // in a finally block, after the status is checked). Any number of
        // threads may hold a borrow at once. Internal: Sampler.GenerateText
        // borrows the tokenizer for its call too.
        internal IntPtr Enter()
        {
            return Persistence.Enter(_handle, nameof(Tokenizer));
        }

        internal void Leave()
        {
            _handle.DangerousRelease();
        }

        /// <summary>
        /// Byte arrays from <see cref="Utf8"/> pinned for one call, with the
        /// <c>const char *const *</c> array of their addresses and their
        /// lengths (the trailing NUL excluded).
        /// </summary>
        private sealed class PinnedStrings : IDisposable
        {
            private readonly GCHandle[] _handles;

            internal PinnedStrings(IReadOnlyList<byte[]> items)
            {
                _handles = new GCHandle[items.Count];
                Pointers = new IntPtr[items.Count];
                Lengths = new UIntPtr[items.Count];
                try
                {
                    for (int i = 0; i < items.Count; i++)
                    {
                        _handles[i] = GCHandle.Alloc(items[i], GCHandleType.Pinned);
                        Pointers[i] = _handles[i].AddrOfPinnedObject();
                        Lengths[i] = new UIntPtr((uint)(items[i].Length - 1));
                    }
                }
                catch
                {
                    Dispose();
                    throw;
                }
            }

            internal IntPtr[] Pointers { get; }

            internal UIntPtr[] Lengths { get; }

            public void Dispose()
            {
                foreach (GCHandle handle in _handles)
                {
                    if (handle.IsAllocated)
                    {
                        handle.Free();
                    }
                }
            }
        }

        /// <summary>
        /// One training's progress callback as seen from native code: the
        /// trampoline (alive for the whole process) finds it through the
        /// <c>user_data</c> GCHandle, runs the managed callback, and turns an
        /// exception into a non-zero return, since an exception must never
        /// unwind into native frames.
        /// </summary>
        private sealed class ProgressCall
        {
            /// <summary>The native callback of every training; a static field, so never collected.</summary>
            internal static readonly Native.TrainProgress Trampoline = Dispatch;

            internal static readonly IntPtr TrampolinePointer = Marshal.GetFunctionPointerForDelegate(Trampoline);

            private readonly Func<long, long, bool> _progress;
            private readonly Thread _caller = Thread.CurrentThread;
            private Exception _failure;

            internal ProgressCall(Func<long, long, bool> progress)
            {
                _progress = progress;
            }

            internal Exception Failure => Volatile.Read(ref _failure);

            private static int Dispatch(UIntPtr done, UIntPtr total, IntPtr userData)
            {
                ProgressCall call = null;
                try
                {
                    call = (ProgressCall)GCHandle.FromIntPtr(userData).Target;
                    WorkerThreads.OnKernelCall(call._caller);
                    return call._progress((long)done.ToUInt64(), (long)total.ToUInt64()) ? 0 : 1;
                }
                catch (Exception exception)
                {
                    if (call != null)
                    {
                        Interlocked.CompareExchange(ref call._failure, exception, null);
                    }
                    return 1;
                }
            }
        }
    }
}

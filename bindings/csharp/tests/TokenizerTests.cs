// Tests of Tokenizer against references written here: a byte-level BPE
// whose tokenizer.json is generated from GPT-2's bytes-to-unicode table and
// twelve hand-written merges, with the id sequences and byte offsets derived
// by hand; decode round trips of arbitrary strings; BPE and char training on
// corpora small enough to work the merges out by hand; and the
// ask-then-allocate paths walked from an empty first buffer.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;

namespace Helios.Tests
{
    internal static partial class Program
    {
        private static void RunTokenizerTests(Harness harness)
        {
            harness.Run("Tokenizer: hand-computed ids and byte offsets of a hand-written byte-level BPE",
                TokenizerHandComputed);
            harness.Run("Tokenizer: decode keeps or skips special tokens, U+FFFD for cut characters", TokenizerDecode);
            harness.Run("Tokenizer: TokenToId, IdToToken and VocabSize", TokenizerVocabulary);
            harness.Run("Tokenizer: ask-then-allocate from an empty buffer gives the same results",
                TokenizerAskThenAllocate);
            harness.Run("Tokenizer: Decode(Encode(s)) == s for arbitrary strings; offsets tile the bytes",
                TokenizerRoundTrip);
            harness.Run("Tokenizer: EncodeBatch equals Encode per text for 1, 2, 3 and automatic threads",
                TokenizerBatch);
            harness.Run("Tokenizer: Save/FromFile, ToJson/FromJson, vocab.json + merges.txt, FromPretrainedDir",
                TokenizerPersistence);
            harness.Run("Tokenizer: TrainBpe merges and ids worked out by hand; TrainBpeFiles; thread counts",
                TokenizerTrainBpe);
            harness.Run("Tokenizer: TrainChar vocabularies worked out by hand", TokenizerTrainChar);
            harness.Run("Tokenizer: progress callback and CancelToken stop training", TokenizerTrainStops);
            harness.Run("Tokenizer: 8 threads encoding with one tokenizer match sequential", TokenizerConcurrent);
            harness.Run("Tokenizer: helios errors come back as HeliosException", TokenizerHeliosErrors);
            harness.Run("Tokenizer: .NET-only mistakes get .NET argument exceptions", TokenizerArgumentErrors);
            harness.Run("Tokenizer: ObjectDisposedException after Dispose; Dispose twice is fine", TokenizerDisposed);
        }

        // ---- the hand-written tokenizer ------------------------------------------------------

        // Merges in rank order, as raw bytes (one char per byte, 0-255); merge r
        // makes token 256 + r; <|endoftext|> is 268.
        private static readonly string[][] s_merges =
        {
            new[] { "h", "e" },           // 256 he
            new[] { "l", "l" },           // 257 ll
            new[] { "he", "ll" },         // 258 hell
            new[] { " ", "w" },           // 259 Ġw
            new[] { " ", " " },           // 260 ĠĠ
            new[] { " ", "b" },           // 261 Ġb
            new[] { "n", "'" },           // 262 n' (not across the "'t" split)
            new[] { "'", "t" },           // 263 't
            new[] { "c", "1" },           // 264 c1 (not across the letters/digits split)
            new[] { "o", "r" },           // 265 or
            new[] { "w", "o" },           // 266 wo (ranked after "o r")
            new[] { "\u00C3", "\u00A9" }, // 267 Ã© = the UTF-8 bytes of é
        };

        private const uint Eot = 268;
        private const int HandVocab = 269;
        private const string EotText = "<|endoftext|>";

        // GPT-2's bytes_to_unicode(): printable bytes are themselves, the others
        // 256, 257, ... in byte order (' ' is 'Ġ' U+0120).
        private static char ByteChar(int b)
        {
            Func<int, bool> printable = c => (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
            if (printable(b))
            {
                return (char)b;
            }
            int n = 0;
            for (int c = 0; c < b; c++)
            {
                n += printable(c) ? 0 : 1;
            }
            return (char)(256 + n);
        }

        private static string ByteLevel(string rawBytes)
        {
            return new string(rawBytes.Select(c => ByteChar(c)).ToArray());
        }

        private static string JsonString(string s)
        {
            return "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        }

        private static string HandVocabJson()
        {
            var entries = new List<string>();
            for (int b = 0; b < 256; b++)
            {
                entries.Add(JsonString(ByteChar(b).ToString()) + ":" + b);
            }
            for (int r = 0; r < s_merges.Length; r++)
            {
                entries.Add(JsonString(ByteLevel(s_merges[r][0] + s_merges[r][1])) + ":" + (256 + r));
            }
            entries.Add(JsonString(EotText) + ":" + Eot);
            return "{" + string.Join(",", entries) + "}";
        }

        private static string HandMergesJson(string extra = null)
        {
            var merges = s_merges.Select(m => JsonString(ByteLevel(m[0]) + " " + ByteLevel(m[1]))).ToList();
            if (extra != null)
            {
                merges.Add(JsonString(extra));
            }
            return "[" + string.Join(",", merges) + "]";
        }

        private static string HandJson(string modelType = "BPE", string vocab = null, string merges = null)
        {
            return "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[{\"id\":" + Eot
                + ",\"content\":\"" + EotText + "\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                + "\"normalized\":false,\"special\":true}],\"normalizer\":null,"
                + "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
                + "\"use_regex\":true},\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\","
                + "\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},"
                + "\"model\":{\"type\":\"" + modelType + "\",\"dropout\":null,\"unk_token\":null,"
                + "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false,"
                + "\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":" + (vocab ?? HandVocabJson())
                + ",\"merges\":" + (merges ?? HandMergesJson()) + "}}";
        }

        private static Tokenizer HandTokenizer()
        {
            return Tokenizer.FromJson(HandJson());
        }

        private static string TokenizerTempDir()
        {
            string dir = Path.Combine(Path.GetTempPath(), "helios-cs-tokenizer-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            return dir;
        }

        private static void WriteUtf8(string path, string text)
        {
            File.WriteAllText(path, text, new UTF8Encoding(false));
        }

        private static void IdsEqual(uint[] expected, uint[] actual, string what)
        {
            Assert.True(expected.SequenceEqual(actual),
                what + ": expected [" + string.Join(", ", expected) + "] but got [" + string.Join(", ", actual) + "]");
        }

        private static TokenOffset[] Spans(params long[] bounds)
        {
            return Enumerable.Range(0, bounds.Length / 2).Select(i => new TokenOffset(bounds[2 * i], bounds[2 * i + 1]))
                .ToArray();
        }

        private static void OffsetsEqual(TokenOffset[] expected, TokenOffset[] actual, string what)
        {
            Assert.True(expected.SequenceEqual(actual),
                what + ": expected " + string.Join(" ", expected) + " but got " + string.Join(" ", actual));
        }

        // ---- tests -----------------------------------------------------------------------

        private static void TokenizerHandComputed()
        {
            using (Tokenizer tok = HandTokenizer())
            {
                Assert.Equal(HandVocab, tok.VocabSize, "VocabSize");
                // hello -> he l l o -> he ll o -> hell o;  world -> Ġw o r l d -> Ġw or l d
                TokenEncoding hello = tok.EncodeWithOffsets("hello world");
                IdsEqual(new uint[] { 258, 111, 259, 265, 108, 100 }, hello.Ids, "hello world");
                OffsetsEqual(Spans(0, 4, 4, 5, 5, 7, 7, 9, 9, 10, 10, 11), hello.Offsets, "hello world offsets");
                IdsEqual(hello.Ids, tok.Encode("hello world"), "Encode = EncodeWithOffsets().Ids");
                IdsEqual(new uint[] { 32, 258, 111 }, tok.Encode(" hello"), "no prefix space");
                IdsEqual(new uint[] { 258, 111, 260 }, tok.Encode("hello  "), "trailing spaces are one piece");
                IdsEqual(new uint[] { 97, 32, 261 }, tok.Encode("a  b"), "a | Ġ | Ġb");
                IdsEqual(new uint[] { 100, 111, 110, 263 }, tok.Encode("don't"), "don | 't");
                IdsEqual(new uint[] { 97, 98, 99, 49, 50, 51 }, tok.Encode("abc123"), "abc | 123");
                IdsEqual(new uint[] { 119, 265 }, tok.Encode("wor"), "ranks: o r before w o");
                // é is C3 A9 ("Ã©"): one token of 2 bytes; € (E2 82 AC) three tokens of one byte
                TokenEncoding cafe = tok.EncodeWithOffsets("caf\u00e9");
                IdsEqual(new uint[] { 99, 97, 102, 267 }, cafe.Ids, "café");
                OffsetsEqual(Spans(0, 1, 1, 2, 2, 3, 3, 5), cafe.Offsets, "café offsets");
                TokenEncoding euro = tok.EncodeWithOffsets("\u20ac");
                IdsEqual(new uint[] { 0xE2, 0x82, 0xAC }, euro.Ids, "€");
                OffsetsEqual(Spans(0, 1, 1, 2, 2, 3), euro.Offsets, "€ offsets");
                TokenEncoding special = tok.EncodeWithOffsets("hi<|endoftext|>hello");
                IdsEqual(new uint[] { 104, 105, Eot, 258, 111 }, special.Ids, "special token inside text");
                OffsetsEqual(Spans(0, 1, 1, 2, 2, 15, 15, 19, 19, 20), special.Offsets, "special token offsets");
                Assert.Equal(0, tok.Encode("").Length, "empty text");
                Assert.Equal(0, tok.EncodeWithOffsets("").Offsets.Length, "empty text offsets");
                // an embedded NUL is a byte like any other
                IdsEqual(new uint[] { 97, 0, 98 }, tok.Encode("a\0b"), "embedded NUL");
            }
            // merges given as ["a", "b"] pairs: the same tokenizer
            string pairs = "[" + string.Join(",", s_merges.Select(m =>
                "[" + JsonString(ByteLevel(m[0])) + "," + JsonString(ByteLevel(m[1])) + "]")) + "]";
            using (Tokenizer tok = Tokenizer.FromJson(HandJson(merges: pairs)))
            {
                IdsEqual(new uint[] { 258, 111, 259, 265, 108, 100 }, tok.Encode("hello world"), "pair merges");
            }
        }

        private static void TokenizerDecode()
        {
            using (Tokenizer tok = HandTokenizer())
            {
                Assert.Equal("hello world", tok.Decode(new uint[] { 258, 111, 259, 265, 108, 100 }), "hello world");
                Assert.Equal("\u00e9", tok.Decode(new uint[] { 0xC3, 0xA9 }), "é from two byte tokens");
                Assert.Equal("\ufffd", tok.Decode(new uint[] { 0xC3 }), "a lone lead byte");
                Assert.Equal("\ufffda", tok.Decode(new uint[] { 0xE2, 0x82, 'a' }), "a cut 3-byte character");
                uint[] special = { 104, 105, Eot, 258, 111 };
                Assert.Equal("hi<|endoftext|>hello", tok.Decode(special), "special tokens kept by default");
                Assert.Equal("hihello", tok.Decode(special, skipSpecialTokens: true), "special tokens skipped");
                Assert.Equal("", tok.Decode(new uint[0]), "no ids");
                // the span overload, on a slice
                ReadOnlySpan<uint> slice = new uint[] { 7, 258, 111, 7 }.AsSpan(1, 2);
                Assert.Equal("hello", tok.Decode(slice), "Decode of a span");
            }
        }

        private static void TokenizerVocabulary()
        {
            using (Tokenizer tok = HandTokenizer())
            {
                Assert.Equal((uint?)259, tok.TokenToId("\u0120w"), "Ġw");
                Assert.Equal((uint?)267, tok.TokenToId("\u00c3\u00a9"), "Ã©");
                Assert.Equal((uint?)33, tok.TokenToId("!"), "!");
                Assert.Equal((uint?)Eot, tok.TokenToId(EotText), EotText);
                Assert.Equal((uint?)null, tok.TokenToId("hello"), "absent");
                Assert.Equal((uint?)null, tok.TokenToId(" "), "a raw space is not a vocabulary entry");
                Assert.Equal("\u0120w", tok.IdToToken(259), "259");
                Assert.Equal("hell", tok.IdToToken(258), "258");
                Assert.Equal("\u010a", tok.IdToToken(10), "newline is Ċ");
                Assert.Equal("\u0143", tok.IdToToken(0xAD), "the soft hyphen is Ń");
                Assert.Equal(EotText, tok.IdToToken(Eot), "EOT");
                for (uint id = 0; id < HandVocab; id++)
                {
                    Assert.Equal((uint?)id, tok.TokenToId(tok.IdToToken(id)), "id " + id + " there and back");
                }
            }
        }

        private static void TokenizerAskThenAllocate()
        {
            using (Tokenizer tok = HandTokenizer())
            {
                byte[] text = Tokenizer.Utf8("hi<|endoftext|>hello world", "text", false);
                uint[] want = { 104, 105, Eot, 258, 111, 259, 265, 108, 100 };
                foreach (int first in new[] { 0, 1, 8, 9, 100 })
                {
                    TokenOffset[] offsets;
                    IdsEqual(want, tok.EncodeCore(text, first, true, out offsets), "encode from " + first);
                    Assert.Equal(9, offsets.Length, "offsets from " + first);
                    Assert.Equal(new TokenOffset(20, 22), offsets[5], "Ġw's offsets from " + first);
                    IdsEqual(want, tok.EncodeCore(text, first, false, out offsets), "ids only from " + first);
                    Assert.Equal("hi<|endoftext|>hello world", tok.DecodeCore(want, false, first),
                        "decode from " + first);
                    Assert.Equal("\u0120w", tok.IdToTokenCore(259, first), "id_to_token from " + first);
                    uint[][] batch = tok.EncodeBatchCore(new[] { "hello", "", " world" }, 2, first);
                    IdsEqual(new uint[] { 258, 111 }, batch[0], "batch[0] from " + first);
                    Assert.Equal(0, batch[1].Length, "batch[1] from " + first);
                    IdsEqual(new uint[] { 259, 265, 108, 100 }, batch[2], "batch[2] from " + first);
                }
            }
            // the public paths' first guesses too small: a token longer than the
            // first IdToToken buffer and than Decode's first guess per id
            string longSpecial = "<" + new string('x', 3 * Tokenizer.TokenGuessBytes) + ">";
            using (Tokenizer tok = Tokenizer.TrainBpe(new[] { "ab ab ab" }, 400, specialTokens: new[] { longSpecial }))
            {
                Assert.Equal(longSpecial, tok.IdToToken(0), "a long token");
                Assert.Equal(longSpecial + longSpecial, tok.Decode(new uint[] { 0, 0 }), "long tokens decoded");
                IdsEqual(new uint[] { 0, 257 }, tok.Encode(longSpecial + "ab"), "a long special token encoded");
                Assert.True(tok.ToJson().Contains(longSpecial), "ToJson holds the special token");
            }
        }

        private static void TokenizerRoundTrip()
        {
            using (Tokenizer tok = HandTokenizer())
            {
                var texts = new List<string>
                {
                    "hello world", "  leading and trailing  ", "tabs\tand\nnew\r\nlines\n\n", "it's we're I'm",
                    "caf\u00e9 na\u00efve", "\u4e2d\u6587 \u65e5\u672c", "\ud83d\udc69\u200d\ud83d\udcbb emoji",
                    "e\u0301 combining", "x<|endoftext|>y", "def f(x):\n    return x ** 2\n", "",
                };
                var random = new Random(17);
                for (int round = 0; round < 60; round++)
                {
                    var builder = new StringBuilder();
                    int chars = random.Next(40);
                    for (int k = 0; k < chars; k++)
                    {
                        int cp;
                        switch (random.Next(4))
                        {
                            case 0: cp = random.Next(0x80); break;
                            case 1: cp = 0x80 + random.Next(0x800 - 0x80); break;
                            case 2:
                                do
                                {
                                    cp = 0x800 + random.Next(0x10000 - 0x800);
                                }
                                while (cp >= 0xD800 && cp <= 0xDFFF);
                                break;
                            default: cp = 0x10000 + random.Next(0x110000 - 0x10000); break;
                        }
                        builder.Append(char.ConvertFromUtf32(cp));
                    }
                    texts.Add(builder.ToString());
                }
                foreach (string text in texts)
                {
                    TokenEncoding encoding = tok.EncodeWithOffsets(text);
                    Assert.Equal(text, tok.Decode(encoding.Ids), "round trip");
                    long at = 0;
                    foreach (TokenOffset span in encoding.Offsets)
                    {
                        Assert.Equal(at, span.Start, "offsets tile the text");
                        Assert.True(span.End > span.Start, "a token covers at least one byte");
                        at = span.End;
                    }
                    Assert.Equal((long)Encoding.UTF8.GetByteCount(text), at, "offsets end at the last byte");
                }
            }
        }

        private static void TokenizerBatch()
        {
            using (Tokenizer tok = HandTokenizer())
            {
                string[] texts = { "hello world", "", "don't", "caf\u00e9 \u20ac", "a  b<|endoftext|>hello  " };
                // hand-derived: 6, 0, 4, 4 + 4 (Ġ and the 3 bytes of €), 3 + 1 + 3
                uint[][] want =
                {
                    new uint[] { 258, 111, 259, 265, 108, 100 },
                    new uint[0],
                    new uint[] { 100, 111, 110, 263 },
                    new uint[] { 99, 97, 102, 267, 32, 0xE2, 0x82, 0xAC },
                    new uint[] { 97, 32, 261, Eot, 258, 111, 260 },
                };
                for (int i = 0; i < texts.Length; i++)
                {
                    IdsEqual(want[i], tok.Encode(texts[i]), "Encode(texts[" + i + "])");
                }
                foreach (int? threads in new int?[] { 1, 2, 3, null })
                {
                    uint[][] got = tok.EncodeBatch(texts, threads);
                    Assert.Equal(texts.Length, got.Length, "batch length, threads " + threads);
                    for (int i = 0; i < texts.Length; i++)
                    {
                        IdsEqual(want[i], got[i], "batch[" + i + "], threads " + threads);
                    }
                }
                // many texts: order kept
                string[] many = Enumerable.Range(0, 100).Select(i => texts[i % texts.Length]).ToArray();
                uint[][] all = tok.EncodeBatch(many, 3);
                for (int i = 0; i < many.Length; i++)
                {
                    IdsEqual(want[i % texts.Length], all[i], "many[" + i + "]");
                }
                Assert.Equal(0, tok.EncodeBatch(new string[0]).Length, "no texts");
            }
        }

        private static void TokenizerPersistence()
        {
            string dir = TokenizerTempDir();
            try
            {
                using (Tokenizer tok = HandTokenizer())
                {
                    string path = Path.Combine(dir, "tokenizer.json");
                    tok.Save(path);
                    Assert.Equal(1, Directory.GetFiles(dir).Length, "no temporary file left");
                    string json = tok.ToJson();
                    Assert.Equal(json, File.ReadAllText(path, Encoding.UTF8), "the file holds ToJson");
                    using (Tokenizer loaded = Tokenizer.FromFile(path))
                    using (Tokenizer parsed = Tokenizer.FromJson(json))
                    {
                        Assert.Equal(json, loaded.ToJson(), "FromFile(Save) ToJson");
                        Assert.Equal(json, parsed.ToJson(), "FromJson(ToJson) ToJson");
                        IdsEqual(new uint[] { 104, 105, Eot, 258, 111 }, loaded.Encode("hi<|endoftext|>hello"),
                            "loaded");
                    }
                    using (Tokenizer fromDir = Tokenizer.FromPretrainedDir(dir))
                    {
                        IdsEqual(new uint[] { 258, 111, 259, 265, 108, 100 }, fromDir.Encode("hello world"),
                            "FromPretrainedDir with tokenizer.json");
                    }
                }

                // GPT-2's layout
                string gpt2 = Path.Combine(dir, "gpt2");
                Directory.CreateDirectory(gpt2);
                string vocabPath = Path.Combine(gpt2, "vocab.json"), mergesPath = Path.Combine(gpt2, "merges.txt");
                WriteUtf8(vocabPath, HandVocabJson());
                WriteUtf8(mergesPath, "#version: 0.2\n"
                    + string.Concat(s_merges.Select(m => ByteLevel(m[0]) + " " + ByteLevel(m[1]) + "\n")));
                foreach (Func<Tokenizer> open in new Func<Tokenizer>[]
                {
                    () => Tokenizer.FromVocabMerges(vocabPath, mergesPath),
                    () => Tokenizer.FromPretrainedDir(gpt2),
                })
                {
                    using (Tokenizer tok = open())
                    {
                        Assert.Equal(HandVocab, tok.VocabSize, "vocab.json size");
                        IdsEqual(new uint[] { 258, 111, 259, 265, 108, 100 }, tok.Encode("hello world"), "GPT-2 files");
                        uint[] special = tok.Encode("hi<|endoftext|>hello");
                        IdsEqual(new uint[] { 104, 105, Eot, 258, 111 }, special, "<|endoftext|> is special");
                        Assert.Equal("hihello", tok.Decode(special, true), "and skipped on request");
                    }
                }
                string onlyVocab = Path.Combine(dir, "only-vocab");
                Directory.CreateDirectory(onlyVocab);
                WriteUtf8(Path.Combine(onlyVocab, "vocab.json"), HandVocabJson());
                Assert.Helios(Status.Io, "merges.txt", () => Tokenizer.FromPretrainedDir(onlyVocab).Dispose(),
                    "a directory without merges.txt");
                string empty = Path.Combine(dir, "empty");
                Directory.CreateDirectory(empty);
                Assert.Helios(Status.Io, "tokenizer.json", () => Tokenizer.FromPretrainedDir(empty).Dispose(),
                    "an empty directory");
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        private static void TokenizerTrainBpe()
        {
            // "ab ab ab": words "ab" x1 and "Ġab" x2; (a,b) is seen 3 times and
            // (Ġ,a) twice: merge 1 "a b"; then (Ġ,ab) twice: merge 2 "Ġ ab".
            string[] texts = { "ab ab ab" };
            using (Tokenizer tok = Tokenizer.TrainBpe(texts, 300))
            {
                Assert.Equal(258, tok.VocabSize, "two merges");
                Assert.Equal((uint?)256, tok.TokenToId("ab"), "ab");
                Assert.Equal((uint?)257, tok.TokenToId("\u0120ab"), "Ġab");
                // the alphabet sorted by char, as HF sorts it (GPT-2's own ids)
                Assert.Equal((uint?)0, tok.TokenToId("!"), "!");
                Assert.Equal((uint?)64, tok.TokenToId("a"), "a");
                Assert.Equal((uint?)220, tok.TokenToId("\u0120"), "Ġ");
                IdsEqual(new uint[] { 256, 257 }, tok.Encode("ab ab"), "ab ab");
                IdsEqual(new uint[] { 65, 64 }, tok.Encode("ba"), "ba");
            }
            using (Tokenizer tok = Tokenizer.TrainBpe(texts, 300, minFrequency: 3))
            {
                Assert.Equal(257, tok.VocabSize, "minFrequency 3: one merge");
            }
            using (Tokenizer tok = Tokenizer.TrainBpe(texts, 257))
            {
                Assert.Equal(257, tok.VocabSize, "vocabSize 257: one merge");
                Assert.Equal((uint?)null, tok.TokenToId("\u0120ab"), "no second merge");
            }
            // ties go to the smallest (left id, right id): "ab cd" has (a,b), (Ġ,c) and (c,d) once each:
            // (64,65) "ab", then (66,67) "cd" before (220,66) "Ġc", then (220,257) "Ġcd"
            using (Tokenizer tok = Tokenizer.TrainBpe(new[] { "ab cd" }, 300, minFrequency: 1))
            {
                Assert.Equal(259, tok.VocabSize, "three merges");
                Assert.Equal((uint?)256, tok.TokenToId("ab"), "tie: ab first");
                Assert.Equal((uint?)257, tok.TokenToId("cd"), "tie: cd before Ġc");
                Assert.Equal((uint?)258, tok.TokenToId("\u0120cd"), "Ġcd");
                Assert.Equal((uint?)null, tok.TokenToId("\u0120c"), "no Ġc");
            }
            using (Tokenizer tok = Tokenizer.TrainBpe(texts, 300, specialTokens: new[] { "<pad>", EotText }))
            {
                Assert.Equal(260, tok.VocabSize, "2 specials + 256 + 2 merges");
                Assert.Equal((uint?)0, tok.TokenToId("<pad>"), "<pad>");
                Assert.Equal((uint?)1, tok.TokenToId(EotText), EotText);
                Assert.Equal((uint?)66, tok.TokenToId("a"), "a after the specials");
                uint[] ids = tok.Encode("ab<pad> ab<|endoftext|>");
                IdsEqual(new uint[] { 258, 0, 259, 1 }, ids, "specials in text");
                Assert.Equal("ab ab", tok.Decode(ids, true), "specials skipped");
            }
            // from a file: the same tokenizer as from the string
            string dir = TokenizerTempDir();
            try
            {
                string corpus = Path.Combine(dir, "corpus.txt");
                WriteUtf8(corpus, texts[0]);
                using (Tokenizer fromFile = Tokenizer.TrainBpeFiles(new[] { corpus }, 300))
                using (Tokenizer fromText = Tokenizer.TrainBpe(texts, 300))
                {
                    Assert.Equal(fromText.ToJson(), fromFile.ToJson(), "TrainBpeFiles = TrainBpe");
                }
                Assert.Helios(Status.Io, "", () => Tokenizer.TrainBpeFiles(new[] { Path.Combine(dir, "missing.txt") },
                    300).Dispose(), "a missing corpus file");
            }
            finally
            {
                Directory.Delete(dir, true);
            }
            // the same merges for every thread count
            string[] corpus2 = TokenizerCorpus(80, 5);
            string first = null;
            foreach (int? threads in new int?[] { 1, 2, 3, null })
            {
                using (Tokenizer tok = Tokenizer.TrainBpe(corpus2, 320, threads: threads))
                {
                    string json = tok.ToJson();
                    if (first == null)
                    {
                        first = json;
                        Assert.Equal(320, tok.VocabSize, "vocabSize reached");
                    }
                    Assert.Equal(first, json, "threads " + threads);
                }
            }
        }

        private static void TokenizerTrainChar()
        {
            using (Tokenizer tok = Tokenizer.TrainChar(new[] { "banana" }))
            {
                Assert.Equal(3, tok.VocabSize, "a, b, n");
                Assert.Equal((uint?)0, tok.TokenToId("a"), "a");
                Assert.Equal((uint?)1, tok.TokenToId("b"), "b");
                Assert.Equal((uint?)2, tok.TokenToId("n"), "n");
                TokenEncoding nab = tok.EncodeWithOffsets("nab");
                IdsEqual(new uint[] { 2, 0, 1 }, nab.Ids, "nab");
                OffsetsEqual(Spans(0, 1, 1, 2, 2, 3), nab.Offsets, "nab offsets");
                Assert.Equal("nab", tok.Decode(nab.Ids), "decode");
                Assert.Helios(Status.InvalidArgument, "", () => tok.Encode("bax"), "a character outside");
            }
            // ' ' U+20, 'h' U+68, 'é' U+E9, '中' U+4E2D; offsets in bytes
            using (Tokenizer tok = Tokenizer.TrainChar(new[] { "h\u00e9 h\u00e9", "\u4e2d" }))
            {
                TokenEncoding e = tok.EncodeWithOffsets("\u00e9 \u4e2dh");
                IdsEqual(new uint[] { 2, 0, 3, 1 }, e.Ids, "multi-byte characters");
                OffsetsEqual(Spans(0, 2, 2, 3, 3, 6, 6, 7), e.Offsets, "their byte offsets");
            }
            using (Tokenizer tok = Tokenizer.TrainChar(new[] { "banana" }, unkToken: "<unk>"))
            {
                Assert.Equal(4, tok.VocabSize, "<unk> + 3");
                Assert.Equal((uint?)0, tok.TokenToId("<unk>"), "<unk> before the characters");
                uint[] ids = tok.Encode("b\u00e9n");
                IdsEqual(new uint[] { 2, 0, 3 }, ids, "é is <unk>");
                Assert.Equal("bn", tok.Decode(ids, true), "<unk> is special");
            }
            using (Tokenizer tok = Tokenizer.TrainChar(new[] { "banana" }, specialTokens: new[] { "<s>", "</s>" }))
            {
                IdsEqual(new uint[] { 0, 3, 2, 1 }, tok.Encode("<s>ba</s>"), "specials first");
                using (Tokenizer again = Tokenizer.FromJson(tok.ToJson()))
                {
                    IdsEqual(new uint[] { 0, 3, 2, 1 }, again.Encode("<s>ba</s>"), "char tokenizer JSON round trip");
                }
            }
            using (Tokenizer tok = Tokenizer.TrainChar(new[] { "aaabbc" }, minFrequency: 2))
            {
                Assert.Equal(2, tok.VocabSize, "c seen once is dropped");
                Assert.Equal((uint?)null, tok.TokenToId("c"), "no c");
            }
            using (Tokenizer tok = Tokenizer.TrainChar(new[] { "aaabbc" }, vocabSize: 1))
            {
                Assert.Equal((uint?)0, tok.TokenToId("a"), "the most frequent kept");
                Assert.Equal(1, tok.VocabSize, "only a");
            }
        }

        private static void TokenizerTrainStops()
        {
            string[] corpus = TokenizerCorpus(60, 9);
            var calls = new List<long[]>();
            int caller = Thread.CurrentThread.ManagedThreadId;
            bool onCaller = true;
            using (Tokenizer.TrainBpe(corpus, 300, progress: (done, total) =>
            {
                calls.Add(new[] { done, total });
                onCaller &= Thread.CurrentThread.ManagedThreadId == caller;
                return true;
            }))
            {
            }
            Assert.True(calls.Count > 0, "progress was called");
            Assert.True(onCaller, "progress runs on the calling thread");
            for (int i = 0; i < calls.Count; i++)
            {
                Assert.True(calls[i][0] <= calls[i][1] && calls[i][1] <= 300 - 256, "done <= total <= merges planned");
                Assert.True(i == 0 || calls[i][0] >= calls[i - 1][0], "done never goes back");
            }
            int stopCalls = 0;
            Assert.Helios(Status.Cancelled, "", () => Tokenizer.TrainBpe(corpus, 300, progress: (done, total) =>
            {
                stopCalls++;
                return false;
            }).Dispose(), "progress returning false");
            Assert.Equal(1, stopCalls, "no call after the stop");
            Assert.Throws<InvalidOperationException>(() => Tokenizer.TrainBpe(corpus, 300, progress: (done, total) =>
            {
                throw new InvalidOperationException("stop here");
            }).Dispose(), "an exception from progress comes back as it is");
            using (var cancel = new CancelToken())
            {
                cancel.Cancel();
                Assert.Helios(Status.Cancelled, "", () => Tokenizer.TrainBpe(corpus, 300, cancel: cancel).Dispose(),
                    "a raised CancelToken");
                cancel.Reset();
                using (Tokenizer tok = Tokenizer.TrainBpe(corpus, 300, cancel: cancel))
                {
                    Assert.Equal(300, tok.VocabSize, "a lowered token lets it run");
                }
            }
        }

        // Sentences of repeated words, deterministic.
        private static string[] TokenizerCorpus(int n, int seed)
        {
            string[] words =
            {
                "the", "tokenizer", "splits", "text", "into", "pieces", "and", "merges", "frequent", "pairs", "of",
                "bytes", "caf\u00e9", "don't", "it's", "42", "1999", "x+y", "\u4e2d\u6587", "\ud83d\ude42",
            };
            var random = new Random(seed);
            return Enumerable.Range(0, n).Select(_ =>
                string.Join(random.Next(6) == 0 ? "  " : " ",
                    Enumerable.Range(0, 3 + random.Next(10)).Select(__ => words[random.Next(words.Length)])) + ".")
                .ToArray();
        }

        private static void TokenizerConcurrent()
        {
            string[] texts = TokenizerCorpus(40, 23);
            using (Tokenizer trained = Tokenizer.TrainBpe(texts, 320))
            using (Tokenizer hand = HandTokenizer())
            {
                foreach (Tokenizer tok in new[] { trained, hand })
                {
                    uint[][] sequential = texts.Select(tok.Encode).ToArray();
                    var failures = new string[8];
                    var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
                    {
                        try
                        {
                            for (int round = 0; round < 5; round++)
                            {
                                for (int k = 0; k < texts.Length; k++)
                                {
                                    int i = (t * 7 + k * 3 + round) % texts.Length; // each thread its own order
                                    uint[] ids = tok.Encode(texts[i]);
                                    if (!ids.SequenceEqual(sequential[i]) || tok.Decode(ids) != texts[i])
                                    {
                                        failures[t] = "thread " + t + " text " + i;
                                        return;
                                    }
                                }
                            }
                        }
                        catch (Exception e)
                        {
                            failures[t] = "thread " + t + ": " + e;
                        }
                    })).ToList();
                    threads.ForEach(thread => thread.Start());
                    threads.ForEach(thread => thread.Join());
                    Assert.True(failures.All(f => f == null), string.Join("; ", failures.Where(f => f != null)));
                }
            }
        }

        private static void TokenizerHeliosErrors()
        {
            using (Tokenizer tok = HandTokenizer())
            {
                HeliosException e = Assert.Helios(Status.InvalidArgument, "269",
                    () => tok.Decode(new uint[] { 258, 269 }), "an id out of range");
                Assert.Contains("ids[1]", e.Message, "the message names the position");
                Assert.Helios(Status.InvalidArgument, "269", () => tok.IdToToken(269), "IdToToken out of range");
                Assert.Helios(Status.InvalidArgument, "", () => tok.IdToToken(uint.MaxValue), "IdToToken(NO_TOKEN)");
                Assert.Helios(Status.InvalidArgument, "", () => tok.EncodeBatch(new[] { "a" }, 0), "threads 0");
                Assert.Helios(Status.InvalidArgument, "", () => tok.EncodeBatch(new[] { "a" }, 1025), "threads 1025");
                Assert.Helios(Status.Io, "", () => tok.Save(Path.Combine(Path.GetTempPath(),
                    "helios-no-such-dir-" + Guid.NewGuid().ToString("N"), "tokenizer.json")), "Save into a missing dir");
                Assert.Helios(Status.InvalidArgument, "", () => tok.Save(""), "Save to an empty path");
                Assert.Helios(Status.InvalidArgument, "", () => tok.Save("a\0b"), "Save to a path holding a NUL");
            }
            string good = HandJson();
            Assert.Helios(Status.Format, "model.vocab", () => Tokenizer.FromJson(HandJson(vocab: "[]")).Dispose(),
                "vocab of the wrong type");
            Assert.Helios(Status.Format, "model.merges",
                () => Tokenizer.FromJson(HandJson(merges: "5")).Dispose(), "merges of the wrong type");
            Assert.Helios(Status.Format, "", () => Tokenizer.FromJson(good.Substring(0, good.Length / 2)).Dispose(),
                "truncated");
            Assert.Helios(Status.Format, "", () => Tokenizer.FromJson("").Dispose(), "empty");
            Assert.Helios(Status.Format, "model", () => Tokenizer.FromJson("{\"version\":\"1.0\"}").Dispose(),
                "no model");
            Assert.Helios(Status.Format, "qq", () => Tokenizer.FromJson(HandJson(merges: HandMergesJson("he qq")))
                .Dispose(), "a merge naming an unknown token");
            Assert.Helios(Status.Unsupported, "WordPiece", () => Tokenizer.FromJson(HandJson("WordPiece")).Dispose(),
                "a WordPiece model");
            Assert.Helios(Status.Io, "", () => Tokenizer.FromFile(Path.Combine(Path.GetTempPath(),
                "helios-no-such-file-" + Guid.NewGuid().ToString("N") + ".json")).Dispose(), "a missing file");
            Assert.Helios(Status.InvalidArgument, "vocab_size", () => Tokenizer.TrainBpe(new[] { "ab" }, 10).Dispose(),
                "vocabSize below the alphabet");
            Assert.Helios(Status.InvalidArgument, "vocab_size",
                () => Tokenizer.TrainBpe(new[] { "ab" }, 256, specialTokens: new[] { "<s>" }).Dispose(),
                "vocabSize below specials + 256");
            Assert.Helios(Status.InvalidArgument, "", () => Tokenizer.TrainBpe(new string[0], 300).Dispose(),
                "no texts");
            Assert.Helios(Status.InvalidArgument, "", () => Tokenizer.TrainBpe(new[] { "", "" }, 300).Dispose(),
                "only empty texts");
            Assert.Helios(Status.InvalidArgument, "", () => Tokenizer.TrainChar(new string[0]).Dispose(),
                "no texts (char)");
            Assert.Helios(Status.InvalidArgument, "", () => Tokenizer.TrainBpe(new[] { "ab" }, 300, threads: 0)
                .Dispose(), "training threads 0");
        }

        private static void TokenizerArgumentErrors()
        {
            using (Tokenizer tok = HandTokenizer())
            {
                Assert.Throws<ArgumentNullException>(() => tok.Encode(null), "Encode(null)");
                Assert.Throws<ArgumentNullException>(() => tok.EncodeWithOffsets(null), "EncodeWithOffsets(null)");
                Assert.Throws<ArgumentException>(() => tok.Encode("a\ud800b"), "a lone surrogate");
                Assert.Throws<ArgumentNullException>(() => tok.Decode((uint[])null), "Decode(null)");
                Assert.Throws<ArgumentNullException>(() => tok.EncodeBatch(null), "EncodeBatch(null)");
                Assert.Throws<ArgumentException>(() => tok.EncodeBatch(new[] { "a", null }), "a null text");
                Assert.Throws<ArgumentOutOfRangeException>(() => tok.EncodeBatch(new[] { "a" }, -1), "threads -1");
                Assert.Throws<ArgumentNullException>(() => tok.TokenToId(null), "TokenToId(null)");
                Assert.Throws<ArgumentNullException>(() => tok.Save(null), "Save(null)");
            }
            Assert.Throws<ArgumentNullException>(() => Tokenizer.FromFile(null), "FromFile(null)");
            Assert.Throws<ArgumentNullException>(() => Tokenizer.FromJson(null), "FromJson(null)");
            Assert.Throws<ArgumentNullException>(() => Tokenizer.FromVocabMerges(null, "m"), "FromVocabMerges(null)");
            Assert.Throws<ArgumentNullException>(() => Tokenizer.FromPretrainedDir(null), "FromPretrainedDir(null)");
            Assert.Throws<ArgumentNullException>(() => Tokenizer.TrainBpe(null, 300), "TrainBpe(null)");
            Assert.Throws<ArgumentException>(() => Tokenizer.TrainBpe(new[] { "a", null }, 300), "a null text");
            Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.TrainBpe(new[] { "a" }, -1), "vocabSize -1");
            Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.TrainBpe(new[] { "a" }, 300, -1),
                "minFrequency -1");
            Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.TrainBpe(new[] { "a" }, 300, threads: -2),
                "threads -2");
            Assert.Throws<ArgumentException>(() => Tokenizer.TrainBpe(new[] { "a" }, 300,
                specialTokens: new[] { "<a\0b>" }), "a special token holding a NUL");
            Assert.Throws<ArgumentException>(() => Tokenizer.TrainChar(new[] { "a" }, unkToken: "u\0k"),
                "an unknown token holding a NUL");
        }

        private static void TokenizerDisposed()
        {
            Tokenizer tok = HandTokenizer();
            tok.Dispose();
            tok.Dispose();
            var calls = new Dictionary<string, Action>
            {
                { "Encode", () => tok.Encode("a") },
                { "EncodeWithOffsets", () => tok.EncodeWithOffsets("a") },
                { "EncodeBatch", () => tok.EncodeBatch(new[] { "a" }) },
                { "EncodeBatch of none", () => tok.EncodeBatch(new string[0]) },
                { "Decode", () => tok.Decode(new uint[] { 1 }) },
                { "TokenToId", () => tok.TokenToId("a") },
                { "IdToToken", () => tok.IdToToken(1) },
                { "VocabSize", () => tok.VocabSize.ToString() },
                { "Save", () => tok.Save(Path.Combine(Path.GetTempPath(), "helios-never-written.json")) },
                { "ToJson", () => tok.ToJson() },
            };
            foreach (KeyValuePair<string, Action> call in calls)
            {
                Assert.Throws<ObjectDisposedException>(call.Value, call.Key + " after Dispose");
            }
        }
    }
}

// helios from C#: a byte-level BPE tokenizer (GPT-2 style), start to finish. Train one on a small
// corpus, encode a sentence into token ids, show each token and the bytes it covers, decode the ids
// back, encode a batch on several threads, save it as a Hugging Face tokenizer.json and load it again.
// Run: `make -C bindings/csharp demo` (after `cargo build --release`).

using System;
using System.IO;
using System.Linq;
using System.Text;
using Helios;

internal static class TokenizerExample
{
    private static int Main()
    {
        // 1. A tiny corpus. Real tokenizers are trained on gigabytes; this one learns the pieces that
        //    repeat here (" the", "token", " merge", ...).
        string[] corpus =
        {
            "The tokenizer splits text into pieces and merges the most frequent pairs of bytes.",
            "A byte-level tokenizer can encode any text: every byte has a token of its own.",
            "The merges are learnt from the corpus, most frequent pair first.",
            "Tokenizers turn text into token ids for a language model, and ids back into text.",
            "Café, naïve, 中文 and emoji 🙂 are bytes like any other.",
        };

        // 2. Train: 256 byte tokens + 1 special token + up to 143 merges (a pair must be seen twice).
        using (Tokenizer tokenizer = Tokenizer.TrainBpe(corpus, vocabSize: 400, minFrequency: 2,
            specialTokens: new[] { "<|endoftext|>" }))
        {
            Console.WriteLine($"trained a byte-level BPE tokenizer: {tokenizer.VocabSize} tokens in the vocabulary");

            // 3. Encode a sentence and show each token. Tokens are stored in GPT-2's byte-level form,
            //    where a space shows as 'Ġ'; offsets are byte ranges of the text's UTF-8 encoding.
            string sentence = "The tokenizer merges frequent pairs.<|endoftext|>";
            byte[] utf8 = Encoding.UTF8.GetBytes(sentence);
            TokenEncoding encoding = tokenizer.EncodeWithOffsets(sentence);
            Console.WriteLine($"\"{sentence}\" -> {encoding.Ids.Length} tokens ({utf8.Length} bytes):");
            for (int i = 0; i < encoding.Ids.Length; i++)
            {
                TokenOffset span = encoding.Offsets[i];
                string covered = Encoding.UTF8.GetString(utf8, (int)span.Start, (int)(span.End - span.Start));
                Console.WriteLine($"  id {encoding.Ids[i],4}  {tokenizer.IdToToken(encoding.Ids[i]),-16} "
                    + $"bytes {span} = \"{covered}\"");
            }

            // 4. Decode: the exact text comes back; special tokens can be skipped.
            string back = tokenizer.Decode(encoding.Ids);
            Console.WriteLine($"decoded: \"{back}\" (identical: {(back == sentence ? "yes" : "NO")})");
            Console.WriteLine($"decoded without special tokens: \"{tokenizer.Decode(encoding.Ids, skipSpecialTokens: true)}\"");

            // 5. Look tokens up by string: null when a token is not in the vocabulary.
            Console.WriteLine($"TokenToId(\"<|endoftext|>\") = {tokenizer.TokenToId("<|endoftext|>")}, "
                + $"TokenToId(\"no such token\") = {tokenizer.TokenToId("no such token")?.ToString() ?? "null"}");

            // 6. Encode many texts in one call on 2 threads; the order is kept.
            uint[][] batch = tokenizer.EncodeBatch(corpus, threads: 2);
            int bytes = corpus.Sum(text => Encoding.UTF8.GetByteCount(text));
            int tokens = batch.Sum(ids => ids.Length);
            Console.WriteLine($"the corpus: {bytes} bytes -> {tokens} tokens ({bytes / (double)tokens:F2} bytes per token)");

            // 7. Save as tokenizer.json (the write is atomic) and load it back: the same ids.
            string path = Path.Combine(Path.GetTempPath(), "helios-tokenizer-example.json");
            tokenizer.Save(path);
            using (Tokenizer loaded = Tokenizer.FromFile(path))
            {
                File.Delete(path);
                bool same = loaded.Encode(sentence).SequenceEqual(encoding.Ids);
                Console.WriteLine($"saved, reloaded: same ids: {(same ? "yes" : "NO")}");
            }

            // Bad input is an exception with helios's status and message, never a crash.
            try
            {
                tokenizer.Decode(new[] { (uint)tokenizer.VocabSize });
            }
            catch (HeliosException e)
            {
                Console.WriteLine($"unknown id: {e.StatusName}: {e.Message}");
            }
        }
        return 0;
    }
}

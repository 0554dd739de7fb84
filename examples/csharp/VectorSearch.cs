// helios from C#: nearest-neighbour search with a VectorIndex. A flat index stores the vectors and
// searches exactly; a PQ (product-quantized) index stores M bytes per vector (here 16) and searches
// approximately. One index may be searched from many threads at once.
// Run: `make -C bindings/csharp demo` (after `cargo build --release`).

using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Helios;

internal static class VectorSearchExample
{
    private static int Main()
    {
        // 1. 20000 random vectors of dimension 32 around 50 centres, and 200 queries drawn the same way,
        //    row-major: vector i is x[i * d .. (i + 1) * d).
        const int n = 20000, d = 32, nq = 200, k = 10;
        var random = new Random(7);
        float[] centres = Gaussian(50 * d, 3.0, random);
        float[] x = AroundCentres(n, d, centres, random), queries = AroundCentres(nq, d, centres, random);

        using (VectorIndex flat = VectorIndex.Flat(d))
        using (VectorIndex pq = VectorIndex.Pq(d, m: 16, nbits: 8, seed: 1))
        {
            // 2. Flat: add and search (ids 0, 1, 2, ... in order). PQ: train the codebooks first; its
            //    distances are measured to the vector a code stands for (pq.Reconstruct(id)).
            flat.Add(x, n);
            pq.Train(x, n);
            pq.Add(x, n);
            SearchResult exact = flat.Search(queries, nq, k);
            SearchResult approximate = pq.Search(queries, nq, k);
            Console.WriteLine($"{flat.Count} vectors of dimension {d}; query 0's nearest: id {exact.Ids[0]} at "
                + $"squared distance {exact.Distances[0]:F3} (flat), id {approximate.Ids[0]} at "
                + $"{approximate.Distances[0]:F3} (PQ)");

            // 3. Recall@10 of PQ: the share of the exact 10 nearest that PQ also returns.
            int found = 0;
            for (int q = 0; q < nq; q++)
            {
                var truth = exact.Ids.Skip(q * k).Take(k).ToList();
                found += approximate.Ids.Skip(q * k).Take(k).Count(truth.Contains);
            }
            Console.WriteLine($"PQ with M = {pq.PqM}, {1 << pq.PqNbits} centroids per sub-space: recall@{k} = "
                + $"{found / (double)(nq * k):F3}");

            // 4. Save, load, and check that the loaded index answers with the same bits.
            string path = Path.Combine(Path.GetTempPath(), "helios-vector-search-example.bin");
            pq.Save(path);
            Console.WriteLine($"PQ index saved: {new FileInfo(path).Length} bytes "
                + $"({n} x {d} floats would be {n * d * sizeof(float)})");
            using (VectorIndex loaded = VectorIndex.Load(path))
            {
                File.Delete(path);
                SearchResult again = loaded.Search(queries, nq, k);
                bool same = again.Ids.SequenceEqual(approximate.Ids)
                    && again.Distances.Select(BitConverter.SingleToInt32Bits)
                        .SequenceEqual(approximate.Distances.Select(BitConverter.SingleToInt32Bits));
                Console.WriteLine($"the loaded index gives the same results bit for bit: {(same ? "yes" : "NO")}");

                // 5. Eight threads search one shared index at once, one query at a time, each on one
                //    thread (threads: 1); every answer equals that query's row of the batch above.
                bool agree = true;
                Parallel.For(0, 8, t =>
                {
                    for (int q = t; q < nq; q += 8)
                    {
                        SearchResult one = loaded.Search(queries.AsSpan(q * d, d), 1, k, threads: 1);
                        if (!one.Ids.SequenceEqual(again.Ids.Skip(q * k).Take(k))
                            || !one.Distances.SequenceEqual(again.Distances.Skip(q * k).Take(k)))
                        {
                            agree = false;
                        }
                    }
                });
                Console.WriteLine($"8 threads searching the shared index agree with the batch: {(agree ? "yes" : "NO")}");
                return same && agree ? 0 : 1;
            }
        }
    }

    // Standard normal values times `scale` (Box-Muller).
    private static float[] Gaussian(int count, double scale, Random random)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u = 1.0 - random.NextDouble(), v = random.NextDouble();
            values[i] = (float)(scale * Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * v));
        }
        return values;
    }

    // Each row: a random centre plus Gaussian noise.
    private static float[] AroundCentres(int rows, int d, float[] centres, Random random)
    {
        int count = centres.Length / d;
        float[] noise = Gaussian(rows * d, 1.0, random);
        for (int i = 0; i < rows; i++)
        {
            int c = random.Next(count);
            for (int j = 0; j < d; j++)
            {
                noise[i * d + j] += centres[c * d + j];
            }
        }
        return noise;
    }
}

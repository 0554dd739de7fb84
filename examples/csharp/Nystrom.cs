// helios from C#: a Nyström engine maps a point x to a row Phi(x) of m numbers, m landmarks, with
// Phi(x)·Phi(y) ≈ exp(-gamma ||x - y||²), so a linear model on Phi acts like a kernel machine.
// Run: `make -C bindings/csharp demo` (after `cargo build --release`).

using System;
using System.IO;
using System.Linq;
using Helios;

internal static class NystromExample
{
    private static int Main()
    {
        // 1. Two classes on concentric rings (radius 1 and 2), 2-D points one row after another.
        const int n = 600, d = 2;
        var random = new Random(7);
        double[] x = Rings(n, random), xNew = Rings(100, random);

        // 2. Build: 64 landmarks spread by k-means++, then Phi(X) (n x 64, row-major).
        var options = new NystromOptions { Gamma = 2.0, LandmarkCount = 64 };
        options.Selection = LandmarkSelection.KMeansPlusPlus;
        using (var engine = new NystromEngine(options, NystromPrecision.Double))
        {
            double[] phi = engine.Build(x, n, d);
            int m = engine.LandmarkCount;
            Console.WriteLine($"built on {n} points of dimension {engine.Dim}: Phi is {n} x {m}");

            // 3. Phi(a)·Phi(b) approximates the kernel k(a, b) (points 0, 2 and 10, 12 share a ring).
            foreach (int[] pair in new[] { new[] { 0, 2 }, new[] { 0, 1 }, new[] { 10, 12 } })
            {
                int a = pair[0], b = pair[1];
                double dx = x[a * d] - x[b * d], dy = x[a * d + 1] - x[b * d + 1];
                double approx = Enumerable.Range(0, m).Sum(j => phi[a * m + j] * phi[b * m + j]);
                Console.WriteLine($"points {a,2} and {b,2}: k = {Math.Exp(-options.Gamma * (dx * dx + dy * dy)):F6}, "
                    + $"Phi·Phi = {approx:F6}");
            }

            // 4. Update: append the rows of 100 new points (they equal Transform of them).
            double[] phiAll = engine.Update(xNew, 100, d, phi);

            // 5. Save, load, and check that the loaded engine gives the new rows' bits.
            string path = Path.Combine(Path.GetTempPath(), "helios-nystrom-example.bin");
            engine.Save(path);
            using (NystromEngine loaded = NystromEngine.Load(path))
            {
                double[] again = loaded.Transform(xNew, 100, d);
                bool same = again.Select(BitConverter.DoubleToInt64Bits)
                    .SequenceEqual(phiAll.Skip(n * m).Select(BitConverter.DoubleToInt64Bits));
                Console.WriteLine($"after Update: {phiAll.Length / m} rows; saved {new FileInfo(path).Length} bytes;"
                    + $" the loaded engine agrees bit for bit: {(same ? "yes" : "NO")}");
                File.Delete(path);
                return same ? 0 : 1;
            }
        }
    }

    // Point i lies on ring i % 2 (radius 1 or 2, with a little noise) at a random angle.
    private static double[] Rings(int count, Random random)
    {
        var points = new double[count * 2];
        for (int i = 0; i < count; i++)
        {
            double angle = random.NextDouble() * 2 * Math.PI, radius = 1 + i % 2 + 0.1 * random.NextDouble();
            points[2 * i] = radius * Math.Cos(angle);
            points[2 * i + 1] = radius * Math.Sin(angle);
        }
        return points;
    }
}

// helios from C#: the RBF (Nyström) feature map. Each point x becomes a row
// Phi(x) of m numbers, one per landmark, such that the dot product of two rows
// approximates the RBF kernel k(x, y) = exp(-gamma ||x - y||²); a linear model
// on Phi then behaves like a kernel machine.
//
// Build and run (from the repository root, after `cargo build --release`):
//   make -C bindings/csharp demo
// or by hand with Mono:
//   mcs -unsafe -target:library -out:Helios.dll bindings/csharp/src/*.cs
//   mcs -r:Helios.dll -out:Embed.exe examples/csharp/Embed.cs
//   LD_LIBRARY_PATH=target/release mono Embed.exe

using System;
using System.Runtime.InteropServices;
using Helios;

internal static class EmbedExample
{
    private static int Main()
    {
        Console.WriteLine($"helios {Library.Version}");

        // 1. 1000 random points in 4 dimensions, one row after another
        // (row-major: point i is x[i * d .. i * d + d)).
        const int n = 1000, d = 4, m = 50;
        const double gamma = 0.5;
        var random = new Random(42);
        var x = new double[n * d];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = random.NextDouble() * 2.0 - 1.0;
        }

        // The landmarks: here simply the first m points (x's first m rows).
        var landmarks = new double[m * d];
        Array.Copy(x, landmarks, m * d);

        // Phi is n x m, row-major. ridge 0 gives the exact Nyström map; the
        // default (1e-6) adds a little regularisation.
        double[] phi = Rkhs.Embed(x, n, d, landmarks, m, gamma, ridge: 0.0);
        Console.WriteLine($"embedded {n} points of dimension {d} on {m} landmarks: Phi is {n} x {phi.Length / n}");

        // 2. Phi(a)·Phi(b) approximates k(a, b). For two landmarks it is exact
        // (up to rounding); for other points it is as good as the landmarks
        // cover the data.
        foreach (int[] pair in new[] { new[] { 3, 7 }, new[] { 100, 200 } })
        {
            int a = pair[0], b = pair[1];
            Console.WriteLine($"points {a} and {b}: Phi·Phi = {Dot(phi, a, b, m):F6}, "
                + $"k = {Kernel(x, a, b, d, gamma):F6}");
        }

        // The same with float data, and with a fixed thread count: the result
        // is bit for bit the same for any count.
        float[] xf = Array.ConvertAll(x, v => (float)v);
        float[] lf = Array.ConvertAll(landmarks, v => (float)v);
        float[] one = Rkhs.Embed(xf, n, d, lf, m, gamma, threads: 1);
        float[] four = Rkhs.Embed(xf, n, d, lf, m, gamma, threads: 4);
        bool same = MemoryMarshal.AsBytes(one.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(four.AsSpan()));
        Console.WriteLine($"float, 1 thread and 4 threads agree bit for bit: {(same ? "yes" : "NO")}");

        // 3. Errors. What helios refuses comes back as a HeliosException with
        // the C status and helios's message: a gamma that is not > 0 ...
        try
        {
            Rkhs.Embed(x, n, d, landmarks, m, gamma: 0.0);
        }
        catch (HeliosException e)
        {
            Console.WriteLine($"gamma 0: {e.StatusName} ({e.Message})");
        }

        // ... or a NaN in the data (the message names the row).
        x[17 * d + 2] = double.NaN;
        try
        {
            Rkhs.Embed(x, n, d, landmarks, m, gamma);
        }
        catch (HeliosException e) when (e.Status == Status.Numeric)
        {
            Console.WriteLine($"a NaN: {e.StatusName} ({e.Message})");
        }

        // Mistakes that only .NET can make (a negative size, an array whose
        // length is not n·d) are the usual argument exceptions.
        try
        {
            Rkhs.Embed(x, n + 1, d, landmarks, m, gamma);
        }
        catch (ArgumentException e)
        {
            Console.WriteLine($"wrong length: {e.GetType().Name} ({e.Message.Split('\n')[0].Trim()})");
        }
        return same ? 0 : 1;
    }

    // Row a of phi times row b.
    private static double Dot(double[] phi, int a, int b, int m)
    {
        double sum = 0.0;
        for (int j = 0; j < m; j++)
        {
            sum += phi[a * m + j] * phi[b * m + j];
        }
        return sum;
    }

    // exp(-gamma ||x_a - x_b||²), straight from the definition.
    private static double Kernel(double[] x, int a, int b, int d, double gamma)
    {
        double squared = 0.0;
        for (int c = 0; c < d; c++)
        {
            double diff = x[a * d + c] - x[b * d + c];
            squared += diff * diff;
        }
        return Math.Exp(-gamma * squared);
    }
}

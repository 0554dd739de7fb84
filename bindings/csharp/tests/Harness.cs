// A tiny test harness: no NUnit, just named actions. Each failing test prints
// one line; the last line is "N passed, N failed" and the exit status is 1
// when any test failed.

using System;
using System.Collections.Generic;

namespace Helios.Tests
{
    internal sealed class AssertionException : Exception
    {
        public AssertionException(string message)
            : base(message)
        {
        }
    }

    internal static class Assert
    {
        public static void True(bool condition, string message)
        {
            if (!condition)
            {
                throw new AssertionException(message);
            }
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
            {
                throw new AssertionException(what + ": expected <" + expected + "> but got <" + actual + ">");
            }
        }

        public static void Contains(string expectedPart, string actual, string what)
        {
            if (actual == null || actual.IndexOf(expectedPart, StringComparison.Ordinal) < 0)
            {
                throw new AssertionException(what + ": expected text containing <" + expectedPart + "> but got <"
                    + actual + ">");
            }
        }

        /// <summary>Run <paramref name="action"/> and return the exception of exactly type TException it throws.</summary>
        public static TException Throws<TException>(Action action, string what)
            where TException : Exception
        {
            try
            {
                action();
            }
            catch (TException expected) when (expected.GetType() == typeof(TException))
            {
                return expected;
            }
            catch (Exception other)
            {
                throw new AssertionException(what + ": expected " + typeof(TException).Name + " but got "
                    + other.GetType().Name + ": " + other.Message);
            }
            throw new AssertionException(what + ": expected " + typeof(TException).Name + " but nothing was thrown");
        }

        /// <summary>A HeliosException of <paramref name="status"/> with a non-empty message containing <paramref name="messagePart"/>.</summary>
        public static HeliosException Helios(Status status, string messagePart, Action action, string what)
        {
            HeliosException error = Throws<HeliosException>(action, what);
            Equal(status, error.Status, what + " (status)");
            True(error.Message.Length > 0, what + ": the message is empty");
            Contains(messagePart, error.Message, what + " (message)");
            return error;
        }

        /// <summary>Two arrays equal bit for bit (so -0.0 differs from 0.0, and NaNs compare by payload).</summary>
        public static void BitIdentical(float[] expected, float[] actual, string what)
        {
            Equal(expected.Length, actual.Length, what + " (length)");
            for (int i = 0; i < expected.Length; i++)
            {
                int e = BitConverter.ToInt32(BitConverter.GetBytes(expected[i]), 0);
                int a = BitConverter.ToInt32(BitConverter.GetBytes(actual[i]), 0);
                if (e != a)
                {
                    throw new AssertionException(what + ": element " + i + " is " + actual[i].ToString("R") + " (0x"
                        + a.ToString("x8") + ") but the reference has " + expected[i].ToString("R") + " (0x"
                        + e.ToString("x8") + ")");
                }
            }
        }

        /// <summary>The double twin of <see cref="BitIdentical(float[], float[], string)"/>.</summary>
        public static void BitIdentical(double[] expected, double[] actual, string what)
        {
            Equal(expected.Length, actual.Length, what + " (length)");
            for (int i = 0; i < expected.Length; i++)
            {
                long e = BitConverter.DoubleToInt64Bits(expected[i]);
                long a = BitConverter.DoubleToInt64Bits(actual[i]);
                if (e != a)
                {
                    throw new AssertionException(what + ": element " + i + " is " + actual[i].ToString("R") + " (0x"
                        + a.ToString("x16") + ") but the reference has " + expected[i].ToString("R") + " (0x"
                        + e.ToString("x16") + ")");
                }
            }
        }
    }

    internal sealed class Harness
    {
        private int _passed;
        private int _failed;

        public void Run(string name, Action test)
        {
            try
            {
                test();
                _passed++;
            }
            catch (Exception error)
            {
                _failed++;
                string detail = error is AssertionException ? error.Message : error.ToString();
                Console.WriteLine("FAIL " + name + ": " + detail.Replace(Environment.NewLine, " | "));
            }
        }

        /// <summary>Print the summary line and return the exit status.</summary>
        public int Finish()
        {
            Console.WriteLine(_passed + " passed, " + _failed + " failed");
            return _failed == 0 ? 0 : 1;
        }
    }
}

using System.Numerics;

namespace Strata.Replication.Volume;

/// <summary>
/// One bit per grain (a fixed run of blocks) of a volume, safe to mark from many threads at once. Leaves of 32,768
/// bits are made on first use, so a map of a few written regions of a large volume costs kilobytes, not the
/// volume's size over 32,768.
/// </summary>
public sealed class SparseBitmap
{
    private const int LeafWords = 512;
    private const int LeafBits = LeafWords * 64;

    private readonly long[]?[] _leaves;

    public SparseBitmap(long grains)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(grains);
        Grains = grains;
        _leaves = new long[]?[(grains + LeafBits - 1) / LeafBits];
    }

    public long Grains { get; }

    /// <summary>Sets the bits of grains [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>).</summary>
    public void Set(long first, long count)
    {
        long end = Math.Min(first + count, Grains);
        for (long g = Math.Max(first, 0); g < end;)
        {
            var leaf = Leaf(g);
            int bit = (int)(g % LeafBits);
            int word = bit >> 6;
            int shift = bit & 63;
            int take = (int)Math.Min(64 - shift, end - g);
            long mask = take == 64 ? -1L : ((1L << take) - 1) << shift;
            if ((Volatile.Read(ref leaf[word]) & mask) != mask)
            {
                Interlocked.Or(ref leaf[word], mask);
            }

            g += take;
        }
    }

    public bool IsSet(long grain)
    {
        var leaf = _leaves[grain / LeafBits];
        int bit = (int)(grain % LeafBits);
        return leaf is not null && (Volatile.Read(ref leaf[bit >> 6]) & (1L << (bit & 63))) != 0;
    }

    /// <summary>Clears the bits of grains [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>).</summary>
    public void Clear(long first, long count)
    {
        long end = Math.Min(first + count, Grains);
        for (long g = Math.Max(first, 0); g < end;)
        {
            int bit = (int)(g % LeafBits);
            int take = (int)Math.Min(64 - (bit & 63), end - g);
            var leaf = _leaves[g / LeafBits];
            if (leaf is not null)
            {
                long mask = take == 64 ? -1L : ((1L << take) - 1) << (bit & 63);
                Interlocked.And(ref leaf[bit >> 6], ~mask);
            }

            g += take;
        }
    }

    /// <summary>Sets every bit set in <paramref name="other"/> (of the same number of grains).</summary>
    public void Union(SparseBitmap other)
    {
        if (other.Grains != Grains)
        {
            throw new ArgumentException($"a map of {other.Grains} grains cannot be merged into one of {Grains}", nameof(other));
        }

        for (int i = 0; i < _leaves.Length; i++)
        {
            var source = Volatile.Read(ref other._leaves[i]);
            if (source is null)
            {
                continue;
            }

            var leaf = LeafAt(i);
            for (int w = 0; w < LeafWords; w++)
            {
                long bits = Volatile.Read(ref source[w]);
                if (bits != 0)
                {
                    Interlocked.Or(ref leaf[w], bits);
                }
            }
        }
    }

    /// <summary>The first set grain at or after <paramref name="from"/>, or -1.</summary>
    public long NextSet(long from)
    {
        for (long g = Math.Max(from, 0); g < Grains;)
        {
            int leafIndex = (int)(g / LeafBits);
            var leaf = Volatile.Read(ref _leaves[leafIndex]);
            if (leaf is null)
            {
                g = (long)(leafIndex + 1) * LeafBits;
                continue;
            }

            int bit = (int)(g % LeafBits);
            for (int w = bit >> 6; w < LeafWords; w++)
            {
                long bits = Volatile.Read(ref leaf[w]);
                if (w == bit >> 6)
                {
                    bits &= -1L << (bit & 63);
                }

                if (bits != 0)
                {
                    long found = (long)leafIndex * LeafBits + w * 64 + BitOperations.TrailingZeroCount(bits);
                    return found < Grains ? found : -1;
                }
            }

            g = (long)(leafIndex + 1) * LeafBits;
        }

        return -1;
    }

    /// <summary>How many grains from <paramref name="first"/> on are set in a row (at most <paramref name="max"/>).</summary>
    public long RunLength(long first, long max)
    {
        long n = 0;
        while (n < max && first + n < Grains && IsSet(first + n))
        {
            n++;
        }

        return n;
    }

    /// <summary>The number of set grains.</summary>
    public long Count()
    {
        long n = 0;
        foreach (var leaf in _leaves)
        {
            if (leaf is null)
            {
                continue;
            }

            for (int w = 0; w < LeafWords; w++)
            {
                n += BitOperations.PopCount((ulong)Volatile.Read(ref leaf[w]));
            }
        }

        return n;
    }

    public bool IsEmpty => NextSet(0) < 0;

    /// <summary>Clears every bit and gives the leaves back.</summary>
    public void Reset() => Array.Clear(_leaves);

    private long[] Leaf(long grain) => LeafAt((int)(grain / LeafBits));

    private long[] LeafAt(int index)
    {
        var leaf = Volatile.Read(ref _leaves[index]);
        if (leaf is not null)
        {
            return leaf;
        }

        var made = new long[LeafWords];
        return Interlocked.CompareExchange(ref _leaves[index], made, null) ?? made;
    }
}

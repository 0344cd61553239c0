using System.Numerics;

namespace Strata.Pool.Space;

/// <summary>
/// Which physical chunks can be handed out: free (no map references them) and scrubbed (they read as zeros,
/// so a first write of part of a chunk needs no zero fill). A bitmap with a next-fit cursor, so first writes
/// land in ascending order and stay sequential on disk.
/// </summary>
/// <remarks>Not thread-safe: the pool calls it under its metadata lock.</remarks>
internal sealed class ChunkAllocator
{
    private readonly ulong[] _available;
    private long _cursor;

    public ChunkAllocator(long capacityChunks)
    {
        CapacityChunks = capacityChunks;
        _available = new ulong[(capacityChunks + 63) / 64];
    }

    public long CapacityChunks { get; }

    public long AvailableCount { get; private set; }

    public bool IsAvailable(uint chunk) => (_available[chunk >> 6] & (1UL << (int)(chunk & 63))) != 0;

    public void MakeAvailable(uint chunk)
    {
        ref ulong word = ref _available[chunk >> 6];
        ulong bit = 1UL << (int)(chunk & 63);
        if ((word & bit) == 0)
        {
            word |= bit;
            AvailableCount++;
        }
    }

    public bool TryAllocate(out uint chunk)
    {
        chunk = 0;
        if (AvailableCount == 0)
        {
            return false;
        }

        long words = _available.Length;
        long start = _cursor >> 6;
        for (long n = 0; n <= words; n++)
        {
            long wi = (start + n) % words;
            ulong word = _available[wi];
            if (n == 0)
            {
                word &= ~0UL << (int)(_cursor & 63); // the first word: only at or after the cursor
            }

            if (word == 0)
            {
                continue;
            }

            long c = (wi << 6) + BitOperations.TrailingZeroCount(word);
            chunk = (uint)c;
            _available[wi] &= ~(1UL << (int)(c & 63));
            AvailableCount--;
            _cursor = c + 1 >= CapacityChunks ? 0 : c + 1;
            return true;
        }

        return false;
    }
}

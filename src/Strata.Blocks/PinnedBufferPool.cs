using System.Collections.Concurrent;
using System.Numerics;

namespace Strata.Blocks;

/// <summary>
/// Byte arrays on the pinned object heap, in power-of-two sizes from 4 KiB, reused instead of allocated per
/// I/O. Pinned, so sockets and O_DIRECT-free file I/O use them without pinning handles or copies; bounded per
/// size, so a burst of large commands does not keep its memory forever.
/// </summary>
public sealed class PinnedBufferPool
{
    private const int MinShift = 12;
    private readonly ConcurrentStack<byte[]>[] _buckets;
    private readonly int[] _counts;
    private readonly int _maxPerBucket;

    public PinnedBufferPool(int maxBufferSize = 16 << 20, int maxPerBucket = 256)
    {
        MaxBufferSize = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(maxBufferSize, 1 << MinShift));
        int buckets = BitOperations.Log2((uint)MaxBufferSize) - MinShift + 1;
        _buckets = new ConcurrentStack<byte[]>[buckets];
        _counts = new int[buckets];
        for (int i = 0; i < buckets; i++)
        {
            _buckets[i] = new ConcurrentStack<byte[]>();
        }

        _maxPerBucket = maxPerBucket;
    }

    /// <summary>The pool shared by the data path of this process.</summary>
    public static PinnedBufferPool Shared { get; } = new();

    public int MaxBufferSize { get; }

    /// <summary>An array of at least <paramref name="minimumLength"/> bytes; its contents are undefined.</summary>
    public byte[] Rent(int minimumLength)
    {
        if (minimumLength > MaxBufferSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minimumLength), $"{minimumLength} bytes exceeds the pool's {MaxBufferSize}");
        }

        int bucket = BucketOf(minimumLength);
        if (_buckets[bucket].TryPop(out var array))
        {
            Interlocked.Decrement(ref _counts[bucket]);
            return array;
        }

        return GC.AllocateUninitializedArray<byte>(1 << (bucket + MinShift), pinned: true);
    }

    public void Return(byte[] array)
    {
        int bucket = BucketOf(array.Length);
        if (1 << (bucket + MinShift) != array.Length)
        {
            throw new ArgumentException("the array was not rented from this pool", nameof(array));
        }

        if (Interlocked.Increment(ref _counts[bucket]) <= _maxPerBucket)
        {
            _buckets[bucket].Push(array);
        }
        else
        {
            Interlocked.Decrement(ref _counts[bucket]);
        }
    }

    private static int BucketOf(int length) =>
        length <= 1 << MinShift ? 0 : BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)length)) - MinShift;
}

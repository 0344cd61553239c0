using System.Numerics;

namespace Strata.Blocks;

/// <summary>
/// Byte arrays on the pinned object heap, in power-of-two sizes from 4 KiB, reused instead of allocated per
/// I/O. Pinned, so sockets and file I/O use them without pinning handles or copies. What it keeps for reuse is
/// bounded in bytes (and per size), so a burst of large commands does not keep its memory forever. Renting and
/// returning allocate nothing.
/// </summary>
public sealed class PinnedBufferPool
{
    private const int MinShift = 12;
    private readonly Bucket[] _buckets;
    private long _cachedBytes;

    public PinnedBufferPool(int maxBufferSize = 16 << 20, int maxPerBucket = 256, long maxCachedBytes = 256L << 20)
    {
        MaxBufferSize = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(maxBufferSize, 1 << MinShift));
        int buckets = BitOperations.Log2((uint)MaxBufferSize) - MinShift + 1;
        _buckets = new Bucket[buckets];
        for (int i = 0; i < buckets; i++)
        {
            // Each size keeps at most 1/13 of the byte bound (and at least 4 arrays), so big buffers left over
            // from a burst cannot crowd out the sizes the steady load uses.
            int size = 1 << (i + MinShift);
            _buckets[i] = new Bucket((int)Math.Max(4, Math.Min(maxPerBucket, maxCachedBytes / buckets / size)));
        }
    }

    /// <summary>The pool shared by the data path of this process.</summary>
    public static PinnedBufferPool Shared { get; } = new();

    public int MaxBufferSize { get; }

    /// <summary>Bytes held for reuse now (bounded per size; about the pool's byte bound in all).</summary>
    public long CachedBytes => Interlocked.Read(ref _cachedBytes);

    /// <summary>An array of at least <paramref name="minimumLength"/> bytes; its contents are undefined.</summary>
    public byte[] Rent(int minimumLength)
    {
        if (minimumLength > MaxBufferSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minimumLength), $"{minimumLength} bytes exceeds the pool's {MaxBufferSize}");
        }

        int bucket = BucketOf(minimumLength);
        if (_buckets[bucket].TryPop() is { } array)
        {
            Interlocked.Add(ref _cachedBytes, -array.Length);
            return array;
        }

        return GC.AllocateUninitializedArray<byte>(1 << (bucket + MinShift), pinned: true);
    }

    public void Return(byte[] array)
    {
        int bucket = BucketOf(array.Length);
        if (bucket >= _buckets.Length || 1 << (bucket + MinShift) != array.Length)
        {
            throw new ArgumentException("the array was not rented from this pool", nameof(array));
        }

        if (_buckets[bucket].TryPush(array))
        {
            Interlocked.Add(ref _cachedBytes, array.Length);
        }
    }

    private static int BucketOf(int length) =>
        length <= 1 << MinShift ? 0 : BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)length)) - MinShift;

    /// <summary>A bounded LIFO stack under a lock: the most recently used (cache-warm) array goes out first.</summary>
    private sealed class Bucket(int capacity)
    {
        private readonly byte[]?[] _items = new byte[capacity][];
        private int _count;

        public byte[]? TryPop()
        {
            lock (_items)
            {
                if (_count == 0)
                {
                    return null;
                }

                var item = _items[--_count];
                _items[_count] = null;
                return item;
            }
        }

        public bool TryPush(byte[] array)
        {
            lock (_items)
            {
                if (_count == _items.Length)
                {
                    return false;
                }

                _items[_count++] = array;
                return true;
            }
        }
    }
}

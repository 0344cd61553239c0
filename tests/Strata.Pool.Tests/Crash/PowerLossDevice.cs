using Strata.Blocks;

namespace Strata.Pool.Tests.Crash;

/// <summary>
/// A vdev with a volatile write cache that loses power: every 512-byte sector written since the last completed
/// flush may, after the cut, hold its content at that flush or the content of any write to it since, chosen at
/// random per sector (a disk may persist its cache in any order and tear any write). What completed before a
/// completed flush is kept.
/// </summary>
internal sealed class PowerLossDevice(FileBlockDevice inner, PowerSupply power) : IBlockDevice
{
    private const int Sector = 512;
    private readonly object _lock = new();

    /// <summary>Per sector written since the last flush: its content at the flush, then each write's, with the write's completion number.</summary>
    private readonly Dictionary<long, List<(byte[] Data, long Completed)>> _unflushed = [];
    private long _completions;

    public int BlockSize => inner.BlockSize;

    public long BlockCount => inner.BlockCount;

    public async ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        power.Check();
        await inner.ReadAsync(lba, buffer, ct);
    }

    public async ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        power.Tick();
        var old = await RememberAsync(lba, data.Length);
        await inner.WriteAsync(lba, data, flags & ~WriteFlags.Fua, ct);
        Record(lba, data.ToArray(), old);
        if ((flags & WriteFlags.Fua) != 0)
        {
            await FlushAsync(ct);
        }
    }

    public async ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
    {
        power.Tick();
        var old = await RememberAsync(lba, (int)(blockCount * BlockSize));
        await inner.UnmapAsync(lba, blockCount, ct);
        Record(lba, new byte[blockCount * BlockSize], old);
    }

    public async ValueTask FlushAsync(CancellationToken ct = default)
    {
        power.Tick();
        long before;
        lock (_lock)
        {
            before = _completions;
        }

        await inner.FlushAsync(ct);
        power.Check();
        lock (_lock)
        {
            // Durable: every write that completed before this flush began; it becomes the sector's base content,
            // and a sector with nothing newer is forgotten.
            foreach (var (sector, versions) in _unflushed.ToArray())
            {
                int last = versions.FindLastIndex(v => v.Completed <= before);
                if (last == versions.Count - 1)
                {
                    _unflushed.Remove(sector);
                }
                else if (last > 0)
                {
                    versions.RemoveRange(0, last);
                    versions[0] = (versions[0].Data, 0);
                }
            }
        }
    }

    /// <summary>After the cut: each unflushed sector gets one of its possible contents.</summary>
    public async Task ApplyCutAsync(Random random)
    {
        List<(long Sector, byte[] Data)> chosen;
        lock (_lock)
        {
            chosen = _unflushed.Select(kv => (kv.Key, kv.Value[random.Next(kv.Value.Count)].Data)).ToList();
        }

        foreach (var (sector, data) in chosen)
        {
            await inner.WriteAsync(sector * Sector / inner.BlockSize, data, WriteFlags.None);
        }

        await inner.FlushAsync();
    }

    /// <summary>The pool closing its vdev: the file stays open for <see cref="ApplyCutAsync"/>; <see cref="CloseAsync"/> closes it.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public ValueTask CloseAsync() => inner.DisposeAsync();

    /// <summary>Before a write: the flushed content of each sector not yet remembered (also returned).</summary>
    private async Task<byte[]> RememberAsync(long lba, int bytes)
    {
        long first = lba * BlockSize / Sector;
        var old = new byte[bytes];
        await inner.ReadAsync(lba, old);
        lock (_lock)
        {
            for (int i = 0; i < bytes / Sector; i++)
            {
                if (!_unflushed.ContainsKey(first + i))
                {
                    _unflushed[first + i] = [(old.AsSpan(i * Sector, Sector).ToArray(), 0)];
                }
            }
        }

        return old;
    }

    private void Record(long lba, byte[] data, byte[] old)
    {
        long first = lba * BlockSize / Sector;
        lock (_lock)
        {
            long n = ++_completions;
            for (int i = 0; i < data.Length / Sector; i++)
            {
                if (!_unflushed.TryGetValue(first + i, out var versions))
                {
                    // A flush forgot the sector while this write ran: what it made durable is what was there before.
                    versions = [(old.AsSpan(i * Sector, Sector).ToArray(), 0)];
                    _unflushed[first + i] = versions;
                }

                versions.Add((data.AsSpan(i * Sector, Sector).ToArray(), n));
            }
        }
    }
}

/// <summary>The power of every vdev of a pool: cut after a given number of I/O calls, then every call fails.</summary>
internal sealed class PowerSupply(int cutAfter)
{
    private int _calls;

    public bool IsCut => Volatile.Read(ref _calls) > cutAfter;

    public void Tick()
    {
        if (Interlocked.Increment(ref _calls) > cutAfter)
        {
            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "power cut");
        }
    }

    public void Check()
    {
        if (IsCut)
        {
            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "power cut");
        }
    }
}

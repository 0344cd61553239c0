using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Pool.OnDisk;

namespace Strata.Pool.Vdevs;

/// <summary>
/// Physical chunks on vdevs. Vdevs form groups (one vdev when striped, a pair when mirrored); chunk p lives in
/// group p mod G at row p / G while every group has rows left, then in the larger groups' leftover rows in turn,
/// so capacity is the sum and sequential chunks spread over the groups. A mirror writes both vdevs and reads
/// either; a vdev that fails is faulted and the pair goes on with the other (the pool is then Degraded).
/// </summary>
internal sealed class ChunkStore
{
    private readonly Vdev[][] _groups;
    private readonly long[] _groupChunks;
    private readonly long _stripeRows;
    private readonly long[] _leftoverStart;

    public ChunkStore(IReadOnlyList<Vdev> vdevs, PoolLayout layout, int chunkSize, long dataOffset, IReadOnlyList<long> vdevChunks)
    {
        Vdevs = vdevs;
        ChunkSize = chunkSize;
        DataOffset = dataOffset;
        int width = layout == PoolLayout.Mirrored ? 2 : 1;
        _groups = Enumerable.Range(0, vdevs.Count / width).Select(g => vdevs.Skip(g * width).Take(width).ToArray()).ToArray();
        _groupChunks = _groups.Select(g => g.Min(v => vdevChunks[v.Index])).ToArray();
        _stripeRows = _groupChunks.Min();
        _leftoverStart = new long[_groups.Length];
        long next = _stripeRows * _groups.Length;
        for (int g = 0; g < _groups.Length; g++)
        {
            _leftoverStart[g] = next;
            next += _groupChunks[g] - _stripeRows;
        }

        CapacityChunks = next;
    }

    public IReadOnlyList<Vdev> Vdevs { get; }

    public int ChunkSize { get; }

    public long DataOffset { get; }

    public long CapacityChunks { get; }

    /// <summary>Called once when a vdev fails and the pool goes on without it.</summary>
    public Action<Vdev, Exception>? VdevFaulted { get; set; }

    public IEnumerable<Vdev[]> Groups => _groups;

    public ValueTask ReadAsync(uint chunk, int offset, Memory<byte> buffer)
    {
        var (group, at) = Locate(chunk, offset);
        if (group.Length == 1)
        {
            return Online(group[0]).Device!.ReadAsync(Vdev.Lba(at), buffer);
        }

        return ReadMirrorAsync(group, (int)(chunk & 1), at, buffer);
    }

    public ValueTask WriteAsync(uint chunk, int offset, ReadOnlyMemory<byte> data)
    {
        var (group, at) = Locate(chunk, offset);
        if (group.Length == 1)
        {
            return Online(group[0]).Device!.WriteAsync(Vdev.Lba(at), data, WriteFlags.None);
        }

        return WriteMirrorAsync(group, at, data);
    }

    /// <summary>
    /// Makes chunks read as zeros again (a hole punched in a file, zeroed on a device) on every vdev of their
    /// group, one call per run of chunks that are adjacent on disk.
    /// </summary>
    public async ValueTask ScrubAsync(IEnumerable<uint> chunks)
    {
        var located = chunks.Select(c => Locate(c, 0)).OrderBy(l => Array.IndexOf(_groups, l.Group)).ThenBy(l => l.Offset).ToList();
        int i = 0;
        while (i < located.Count)
        {
            var (group, start) = located[i];
            int run = 1;
            while (i + run < located.Count && located[i + run].Group == group && located[i + run].Offset == start + (long)run * ChunkSize)
            {
                run++;
            }

            foreach (var v in group)
            {
                if (v.IsOnline)
                {
                    await GuardAsync(v, v.Device!.UnmapAsync(Vdev.Lba(start), (long)run * ChunkSize >> 9), group).ConfigureAwait(false);
                }
            }

            i += run;
        }
    }

    /// <summary>fdatasync of every online vdev: data written before this call is durable after it.</summary>
    public async ValueTask SyncAsync()
    {
        var online = Vdevs.Where(v => v.IsOnline).ToArray();
        var tasks = new ValueTask[online.Length];
        for (int i = 0; i < online.Length; i++)
        {
            tasks[i] = online[i].Device!.FlushAsync();
        }

        for (int i = 0; i < online.Length; i++)
        {
            await GuardAsync(online[i], tasks[i], GroupOf(online[i])).ConfigureAwait(false);
        }

        ThrowIfAGroupIsLost();
    }

    /// <summary>Writes a metadata region at the same offset on every online vdev.</summary>
    public async ValueTask WriteMetadataAsync(long offset, ReadOnlyMemory<byte> data)
    {
        foreach (var v in Vdevs.Where(v => v.IsOnline).ToArray())
        {
            await GuardAsync(v, v.Device!.WriteAsync(Vdev.Lba(offset), data, WriteFlags.None), GroupOf(v)).ConfigureAwait(false);
        }

        ThrowIfAGroupIsLost();
    }

    public (Vdev[] Group, long Offset) Locate(uint chunk, int offset)
    {
        long row;
        int g;
        if (chunk < _stripeRows * _groups.Length)
        {
            g = (int)(chunk % (uint)_groups.Length);
            row = chunk / (uint)_groups.Length;
        }
        else
        {
            g = _groups.Length - 1;
            while (chunk < _leftoverStart[g])
            {
                g--;
            }

            row = _stripeRows + (chunk - _leftoverStart[g]);
        }

        return (_groups[g], DataOffset + row * ChunkSize + offset);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadMirrorAsync(Vdev[] group, int preferred, long at, Memory<byte> buffer)
    {
        var first = group[preferred].IsOnline ? group[preferred] : group[1 - preferred];
        var second = first == group[0] ? group[1] : group[0];
        try
        {
            await Online(first).Device!.ReadAsync(Vdev.Lba(at), buffer).ConfigureAwait(false);
            return;
        }
        catch (IOException e)
        {
            if (!TryFault(first, group, e))
            {
                throw;
            }
        }

        await Online(second).Device!.ReadAsync(Vdev.Lba(at), buffer).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteMirrorAsync(Vdev[] group, long at, ReadOnlyMemory<byte> data)
    {
        ValueTask a = group[0].IsOnline ? group[0].Device!.WriteAsync(Vdev.Lba(at), data, WriteFlags.None) : ValueTask.CompletedTask;
        ValueTask b = group[1].IsOnline ? group[1].Device!.WriteAsync(Vdev.Lba(at), data, WriteFlags.None) : ValueTask.CompletedTask;
        await GuardAsync(group[0], a, group).ConfigureAwait(false);
        await GuardAsync(group[1], b, group).ConfigureAwait(false);
        ThrowIfLost(group);
    }

    /// <summary>
    /// Awaits an I/O on <paramref name="vdev"/>; a failure faults the vdev when its group can go on without it,
    /// and is thrown otherwise.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask GuardAsync(Vdev vdev, ValueTask io, Vdev[] group)
    {
        try
        {
            await io.ConfigureAwait(false);
        }
        catch (IOException e)
        {
            if (!TryFault(vdev, group, e))
            {
                throw;
            }
        }
    }

    private Vdev[] GroupOf(Vdev v) => _groups.First(g => g.Contains(v));

    /// <summary>
    /// After a failed I/O on <paramref name="vdev"/>: faults it and returns true when another vdev of its group is
    /// still online (the I/O counts as done on that one); returns false, faulting nothing, when it is the group's
    /// last one, and the caller throws. One decision at a time per group: two halves of a mirror failing at once
    /// must not each see the other online and both be faulted, or the pool would go on writing to, and syncing,
    /// no copy at all and acknowledge it.
    /// </summary>
    private bool TryFault(Vdev vdev, Vdev[] group, Exception e)
    {
        lock (group)
        {
            if (!group.Any(o => o != vdev && o.IsOnline))
            {
                return false;
            }

            if (vdev.State == VdevState.Faulted)
            {
                return true; // an I/O that was in flight when another one faulted it
            }

            vdev.State = VdevState.Faulted;
            vdev.FaultReason = e.Message;
        }

        VdevFaulted?.Invoke(vdev, e);
        return true;
    }

    /// <summary>A sync or metadata write that reached no vdev of some group made nothing durable there.</summary>
    private void ThrowIfAGroupIsLost()
    {
        foreach (var group in _groups)
        {
            ThrowIfLost(group);
        }
    }

    /// <summary>An I/O that reached no vdev of <paramref name="group"/> did not happen. A plain loop: every mirrored write asks.</summary>
    private static void ThrowIfLost(Vdev[] group)
    {
        foreach (var v in group)
        {
            if (v.IsOnline)
            {
                return;
            }
        }

        throw new BlockDeviceException(BlockDeviceErrorKind.Medium,
            $"every vdev of {(group.Length == 1 ? "a stripe" : "a mirror")} has failed ({string.Join(", ", group.Select(v => $"{v.Path}: {v.FaultReason ?? "missing"}"))})");
    }

    private static Vdev Online(Vdev v) =>
        v.IsOnline ? v : throw new BlockDeviceException(BlockDeviceErrorKind.Medium, $"vdev {v.Path} is faulted");
}

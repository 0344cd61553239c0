using Strata.Pool.Check;
using Strata.Pool.OnDisk;
using Strata.Pool.Space;
using Strata.Pool.Vdevs;

namespace Strata.Pool;

/// <summary><c>pool check</c>: every invariant of the pool, verified against what is on disk and in the maps.</summary>
public sealed partial class StoragePool
{
    /// <summary>
    /// Checks labels and superblocks on every vdev, the volume table, that maps and reference counts agree
    /// (no chunk both free and mapped, none mapped at two logical places, accounting exact), that free chunks
    /// read as zeros, and that mirror halves agree. Run it on an idle pool.
    /// </summary>
    public async Task<PoolCheckReport> CheckAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var report = new PoolCheckReport();
        await CheckVdevsAsync(report).ConfigureAwait(false);
        List<uint> free;
        lock (_meta)
        {
            CheckVolumeTable(report);
            free = CheckMaps(report);
        }

        await CheckFreeChunksAsync(report, free).ConfigureAwait(false);
        if (Layout == PoolLayout.Mirrored)
        {
            await CheckMirrorsAsync(report).ConfigureAwait(false);
        }

        return report;
    }

    private async Task CheckVdevsAsync(PoolCheckReport report)
    {
        foreach (var v in _vdevs)
        {
            if (!v.IsOnline)
            {
                report.Warn($"vdev {v.Index} ({v.Path}) is {v.State}: {v.FaultReason}");
                continue;
            }

            var block = new byte[DiskLayout.MetadataBlock];
            var damaged = new List<string>();
            foreach (var (offset, what) in new[] { (DiskLayout.LabelOffsetA, "label A"), (DiskLayout.LabelOffsetB, "label B") })
            {
                await v.Device!.ReadAsync(Vdev.Lba(offset), block).ConfigureAwait(false);
                if (VdevLabel.TryDecode(block) is not { } label || label.PoolId != Id || label.VdevIndex != v.Index)
                {
                    damaged.Add(what);
                }
            }

            var superblocks = await ReadSuperblocksAsync(v.Device!, Id).ConfigureAwait(false);
            if (damaged.Count == 2)
            {
                report.Fail($"vdev {v.Index} ({v.Path}): both labels are damaged");
            }
            else if (damaged.Count == 1)
            {
                report.Warn($"vdev {v.Index} ({v.Path}): {damaged[0]} is damaged, the other copy is intact");
            }

            if (superblocks.Count == 0)
            {
                report.Fail($"vdev {v.Index} ({v.Path}): no valid superblock");
            }
            else
            {
                report.Pass($"vdev {v.Index} ({v.Path}): labels {2 - damaged.Count}/2 valid, superblock {superblocks[0].Sequence} (slots valid: {superblocks.Count}/2)");
            }
        }
    }

    private void CheckVolumeTable(PoolCheckReport report)
    {
        var problems = new List<string>();
        foreach (var v in _state.Volumes)
        {
            var origin = v.OriginId == 0 ? null : _state.Find(v.OriginId);
            if (v.Kind == VolumeKind.Snapshot && origin is not { Kind: VolumeKind.Volume })
            {
                problems.Add($"snapshot '{v.Name}' has no volume (origin id {v.OriginId})");
            }

            if (v.Kind == VolumeKind.Volume && v.OriginId != 0 && origin is not { Kind: VolumeKind.Snapshot })
            {
                problems.Add($"clone '{v.Name}' has no snapshot (origin id {v.OriginId})");
            }

            if (v.SizeBytes <= 0 || v.SizeBytes % v.BlockSize != 0 || v.Map.LogicalChunks < _state.ChunksOf(v.SizeBytes))
            {
                problems.Add($"'{v.Name}' has an inconsistent size ({v.SizeBytes} bytes, {v.BlockSize}-byte blocks, map of {v.Map.LogicalChunks} chunks)");
            }
        }

        report.FailEach(problems);
        if (problems.Count == 0)
        {
            report.Pass($"volume table: {_state.Volumes.Count(v => v.Kind == VolumeKind.Volume)} volume(s), {_state.Volumes.Count(v => v.Kind == VolumeKind.Snapshot)} snapshot(s), every origin present");
        }
    }

    /// <summary>Recounts every reference from the maps and compares; returns the chunks that should be free.</summary>
    private List<uint> CheckMaps(PoolCheckReport report)
    {
        long capacity = _store.CapacityChunks;
        var counts = new int[capacity];
        var logicalOf = new long[capacity];
        Array.Fill(logicalOf, -1);
        var owner = new string?[capacity];
        var problems = new List<string>();
        long entries = 0;
        foreach (var v in _state.Volumes)
        {
            long logicalChunks = _state.ChunksOf(v.SizeBytes);
            foreach (var (l, p) in v.Map.Entries())
            {
                entries++;
                if (p >= capacity)
                {
                    problems.Add($"'{v.Name}' maps logical chunk {l} past the pool's end (chunk {p})");
                    continue;
                }

                if (l >= logicalChunks)
                {
                    problems.Add($"'{v.Name}' maps logical chunk {l}, past its size");
                }

                if (logicalOf[p] >= 0 && logicalOf[p] != l)
                {
                    problems.Add($"chunk {p} is mapped at two places: logical {logicalOf[p]} of '{owner[p]}' and logical {l} of '{v.Name}'");
                }

                logicalOf[p] = l;
                owner[p] = v.Name;
                counts[p]++;
            }
        }

        long allocated = 0;
        var free = new List<uint>();
        for (long p = 0; p < capacity; p++)
        {
            int live = _state.RefCount((uint)p);
            if (counts[p] != live)
            {
                problems.Add($"chunk {p}: {counts[p]} map(s) point at it, but its reference count is {live}");
            }

            if (counts[p] > 0)
            {
                allocated++;
                if (!ReadOnly && _allocator.IsAvailable((uint)p))
                {
                    problems.Add($"chunk {p} is both mapped (by '{owner[p]}') and free to allocate");
                }
            }
            else
            {
                free.Add((uint)p);
            }
        }

        if (allocated != _state.AllocatedChunks)
        {
            problems.Add($"ALLOCATED says {_state.AllocatedChunks} chunks, the maps use {allocated}");
        }

        if (entries != _state.TotalEntries)
        {
            problems.Add($"the pool counts {_state.TotalEntries} mappings, the maps hold {entries}");
        }

        report.FailEach(problems);
        if (problems.Count == 0)
        {
            report.Pass($"maps and reference counts agree: {entries} mapping(s), no chunk mapped at two places or both free and mapped");
            report.Pass($"space: CAPACITY {capacity} chunks = ALLOCATED {allocated} + FREE {capacity - allocated} (chunk size {ChunkSize} bytes)");
        }

        return free;
    }

    /// <summary>A free chunk must read as zeros: the next first write of part of it relies on that.</summary>
    private async Task CheckFreeChunksAsync(PoolCheckReport report, List<uint> free)
    {
        if (ReadOnly && !_superblock.Clean)
        {
            report.Warn($"the pool was not closed cleanly: its {free.Count} free chunk(s) are scrubbed at the next read-write open, not checked now");
            return;
        }

        List<uint> pending;
        lock (_meta)
        {
            pending = [.. _pendingFree];
        }

        var pendingSet = pending.ToHashSet();
        var buffer = new byte[ChunkSize];
        var dirty = new List<string>();
        foreach (var c in free)
        {
            if (pendingSet.Contains(c) || (!ReadOnly && !_allocator.IsAvailable(c)))
            {
                continue; // freed since the last commit: scrubbed when that commit is durable
            }

            await _store.ReadAsync(c, 0, buffer).ConfigureAwait(false);
            if (buffer.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
            {
                dirty.Add($"chunk {c} is free but holds data (it was not scrubbed)");
            }
        }

        report.FailEach(dirty);
        if (dirty.Count == 0)
        {
            report.Pass($"free chunks read as zeros ({free.Count} checked)");
        }
    }

    private async Task CheckMirrorsAsync(PoolCheckReport report)
    {
        List<uint> mapped = [];
        lock (_meta)
        {
            for (long p = 0; p < _store.CapacityChunks; p++)
            {
                if (_state.RefCount((uint)p) > 0)
                {
                    mapped.Add((uint)p);
                }
            }
        }

        var a = new byte[ChunkSize];
        var b = new byte[ChunkSize];
        var differ = new List<string>();
        int compared = 0;
        foreach (var p in mapped)
        {
            var (group, offset) = _store.Locate(p, 0);
            if (!group.All(v => v.IsOnline))
            {
                continue;
            }

            await group[0].Device!.ReadAsync(Vdev.Lba(offset), a).ConfigureAwait(false);
            await group[1].Device!.ReadAsync(Vdev.Lba(offset), b).ConfigureAwait(false);
            compared++;
            if (!a.AsSpan().SequenceEqual(b))
            {
                differ.Add($"chunk {p}: the halves of the mirror differ ({group[0].Path}, {group[1].Path})");
            }
        }

        foreach (var d in differ.Take(10))
        {
            report.Warn(d);
        }

        if (differ.Count == 0)
        {
            report.Pass($"mirror halves agree ({compared} chunk(s) compared)");
        }
    }
}

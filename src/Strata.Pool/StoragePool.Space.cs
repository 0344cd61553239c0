using Strata.Blocks;
using Strata.Pool.Metadata;
using Strata.Pool.Space;

namespace Strata.Pool;

/// <summary>The metadata side of the data path: mapping new chunks, publishing copies, unmapping.</summary>
public sealed partial class StoragePool
{
    internal enum MapOutcome
    {
        Mapped,
        AlreadyMapped,
        NoSpace,
    }

    /// <summary>Maps a fresh (zeroed) chunk at <paramref name="logical"/> unless a concurrent writer did first.</summary>
    internal MapOutcome TryMapNew(VolumeRecord volume, uint logical, out uint physical)
    {
        lock (_meta)
        {
            if (volume.Map.TryGet(logical, out physical))
            {
                return MapOutcome.AlreadyMapped;
            }

            if (_state.CheckpointBytes + 8 > MaxCheckpointBytes)
            {
                throw new BlockDeviceException(BlockDeviceErrorKind.NoSpace,
                    $"pool '{Name}': its metadata ring is full ({_state.TotalEntries} mappings); delete snapshots or volumes");
            }

            if (!_allocator.TryAllocate(out physical))
            {
                return MapOutcome.NoSpace;
            }

            _state.ApplyMap(volume.Id, logical, physical);
            LogRecords.WriteMap(_pending, volume.Id, logical, physical);
            return MapOutcome.Mapped;
        }
    }

    /// <summary>A fresh chunk for a copy-on-write, not yet mapped anywhere; null when the pool is full.</summary>
    internal uint? TryAllocateUnmapped()
    {
        lock (_meta)
        {
            return _allocator.TryAllocate(out uint c) ? c : null;
        }
    }

    /// <summary>
    /// Maps the finished copy <paramref name="copy"/> in place of <paramref name="original"/>, unless the map
    /// changed meanwhile (an unmap): then the copy is dropped and the caller writes again.
    /// </summary>
    internal bool TryPublishCopy(VolumeRecord volume, uint logical, uint original, uint copy)
    {
        lock (_meta)
        {
            if (!volume.Map.TryGet(logical, out uint now) || now != original)
            {
                _pendingFree.Add(copy);
                return false;
            }

            if (_state.CheckpointBytes + 8 > MaxCheckpointBytes)
            {
                _pendingFree.Add(copy);
                throw new BlockDeviceException(BlockDeviceErrorKind.NoSpace, $"pool '{Name}': its metadata ring is full; delete snapshots or volumes");
            }

            _state.ApplyMap(volume.Id, logical, copy);
            LogRecords.WriteMap(_pending, volume.Id, logical, copy);
            return true;
        }
    }

    /// <summary>Returns an allocated chunk that was never mapped (a copy-on-write that failed).</summary>
    internal void ReleaseUnmapped(uint chunk)
    {
        lock (_meta)
        {
            _pendingFree.Add(chunk);
        }
    }

    /// <summary>Unmaps a whole logical chunk; returns a copy-on-write to wait for first, if one is running.</summary>
    internal Task? TryUnmapChunk(VolumeRecord volume, VolumeRuntime runtime, uint logical)
    {
        lock (_meta)
        {
            if (runtime.CopyOnWrites.TryGetValue(logical, out var cow))
            {
                return cow.Task;
            }

            if (volume.Map.TryGet(logical, out _))
            {
                _state.ApplyUnmap(volume.Id, logical);
                LogRecords.WriteUnmap(_pending, volume.Id, logical);
            }

            return null;
        }
    }

    /// <summary>True when only <paramref name="physical"/>'s own volume maps it, so it may be written in place.</summary>
    internal bool IsExclusive(uint physical) => Volatile.Read(ref _state.RefCountSlot(physical)) == 1;

    /// <summary>When the pool is full: commits, so chunks freed since the last commit become reusable. False if none were.</summary>
    internal async ValueTask<bool> ReclaimAsync()
    {
        if (!HasPendingFrees)
        {
            return false;
        }

        await CommitAsync().ConfigureAwait(false);
        return true;
    }

    internal BlockDeviceException PoolFull() =>
        new(BlockDeviceErrorKind.NoSpace, $"pool '{Name}' is full: all {CapacityChunks} chunks of {ChunkSize} bytes are in use");
}

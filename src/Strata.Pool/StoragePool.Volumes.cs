using System.Text;
using Strata.Pool.Concurrency;
using Strata.Pool.Metadata;
using Strata.Pool.OnDisk;
using Strata.Pool.Space;

namespace Strata.Pool;

/// <summary>Volume, snapshot and clone management. Each change is committed before the call returns.</summary>
public sealed partial class StoragePool
{
    public IReadOnlyList<VolumeInfo> ListVolumes()
    {
        lock (_meta)
        {
            return _state.Volumes.OrderBy(v => v.Name, StringComparer.Ordinal).Select(Describe).ToArray();
        }
    }

    public VolumeInfo? FindVolume(string name)
    {
        lock (_meta)
        {
            return _state.Find(name) is { } v ? Describe(v) : null;
        }
    }

    public async Task<VolumeInfo> CreateVolumeAsync(string name, long sizeBytes, int blockSize = 512)
    {
        ThrowIfReadOnly();
        CheckName(name, snapshot: false);
        if (blockSize is not (512 or 4096))
        {
            throw new PoolException($"the block size must be 512 or 4096, not {blockSize}");
        }

        if (sizeBytes <= 0 || sizeBytes % blockSize != 0 || sizeBytes / ChunkSize >= uint.MaxValue)
        {
            throw new PoolException($"the size of volume '{name}' must be a positive multiple of its {blockSize}-byte blocks and under {(long)uint.MaxValue * ChunkSize} bytes, not {sizeBytes}");
        }

        lock (_meta)
        {
            CheckFree(name);
            CheckOvercommit(sizeBytes, $"creating volume '{name}'");
            CheckMetadata(64 + Encoding.UTF8.GetByteCount(name), $"creating volume '{name}'");
            uint id = _state.NextId;
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            _state.ApplyCreate(id, name, sizeBytes, blockSize, now);
            LogRecords.WriteCreate(_pending, id, name, sizeBytes, blockSize, now);
        }

        await CommitAsync().ConfigureAwait(false);
        return FindVolume(name)!;
    }

    /// <summary>Takes a read-only snapshot <c>volume@snapshot</c> of every write completed before the call.</summary>
    public async Task<VolumeInfo> SnapshotAsync(string volume, string snapshot)
    {
        ThrowIfReadOnly();
        CheckName(snapshot, snapshot: true);
        string full = $"{volume}@{snapshot}";
        var v = Get(volume, VolumeKind.Volume);
        using (await RuntimeOf(v.Id).Gate.FreezeAsync().ConfigureAwait(false))
        {
            lock (_meta)
            {
                CheckFree(full);
                CheckMetadata(v.Map.Count * 8 + v.CheckpointOverhead + snapshot.Length + 1, $"snapshotting '{volume}'");
                uint id = _state.NextId;
                long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                _state.ApplySnapshot(id, v.Id, full, now);
                LogRecords.WriteSnapshot(_pending, id, v.Id, full, now);
            }

            await CommitAsync().ConfigureAwait(false);
        }

        // Not Describe: counting unique chunks walks every mapping, and a new snapshot has none of its own.
        return new VolumeInfo(full, VolumeKind.Snapshot, v.SizeBytes, v.BlockSize, v.Map.Count, 0, volume, DateTimeOffset.UtcNow);
    }

    /// <summary>Makes a writable volume <paramref name="name"/> from <paramref name="snapshot"/> (<c>volume@snapshot</c>).</summary>
    public async Task<VolumeInfo> CloneAsync(string snapshot, string name)
    {
        ThrowIfReadOnly();
        CheckName(name, snapshot: false);
        var s = Get(snapshot, VolumeKind.Snapshot);
        lock (_meta)
        {
            CheckFree(name);
            CheckOvercommit(s.SizeBytes, $"cloning '{snapshot}'");
            CheckMetadata(s.Map.Count * 8 + 64 + Encoding.UTF8.GetByteCount(name), $"cloning '{snapshot}'");
            uint id = _state.NextId;
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            _state.ApplyClone(id, s.Id, name, now);
            LogRecords.WriteClone(_pending, id, s.Id, name, now);
        }

        await CommitAsync().ConfigureAwait(false);
        return new VolumeInfo(name, VolumeKind.Volume, s.SizeBytes, s.BlockSize, s.Map.Count, 0, snapshot, DateTimeOffset.UtcNow); // shares everything yet
    }

    /// <summary>Sets the volume's contents back to its snapshot's (the volume keeps its size).</summary>
    public async Task RevertAsync(string volume, string snapshot)
    {
        ThrowIfReadOnly();
        var v = Get(volume, VolumeKind.Volume);
        var s = Get(snapshot, VolumeKind.Snapshot);
        if (s.OriginId != v.Id)
        {
            throw new PoolException($"'{snapshot}' is not a snapshot of '{volume}'");
        }

        using (await RuntimeOf(v.Id).Gate.FreezeAsync().ConfigureAwait(false))
        {
            lock (_meta)
            {
                CheckMetadata((s.Map.Count - v.Map.Count) * 8, $"reverting '{volume}'");
                _state.ApplyRevert(v.Id, s.Id);
                LogRecords.WriteRevert(_pending, v.Id, s.Id);
            }

            await CommitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Grows a volume; the new blocks read as zeros. Volumes never shrink.</summary>
    public async Task GrowAsync(string volume, long sizeBytes)
    {
        ThrowIfReadOnly();
        var v = Get(volume, VolumeKind.Volume);
        lock (_meta)
        {
            if (sizeBytes < v.SizeBytes || sizeBytes % v.BlockSize != 0 || sizeBytes / ChunkSize >= uint.MaxValue)
            {
                throw new PoolException($"'{volume}' can grow to a larger multiple of its {v.BlockSize}-byte blocks, not from {v.SizeBytes} to {sizeBytes} bytes");
            }

            CheckOvercommit(sizeBytes - v.SizeBytes, $"growing '{volume}'");
            _state.ApplyGrow(v.Id, sizeBytes);
            LogRecords.WriteGrow(_pending, v.Id, sizeBytes);
        }

        await CommitAsync().ConfigureAwait(false);
    }

    /// <summary>Deletes a volume (it must have no snapshots) or a snapshot (it must have no clones), freeing the chunks only it held.</summary>
    public async Task DeleteAsync(string name)
    {
        ThrowIfReadOnly();
        lock (_meta)
        {
            var v = _state.Find(name) ?? throw new PoolException($"pool '{Name}' has no volume or snapshot '{name}'");
            var children = _state.Volumes.Where(c => c.OriginId == v.Id).Select(c => c.Name).Order(StringComparer.Ordinal).ToArray();
            if (children.Length > 0)
            {
                throw new PoolException(v.Kind == VolumeKind.Volume
                    ? $"volume '{name}' has snapshots ({string.Join(", ", children)}); delete them first"
                    : $"snapshot '{name}' has clones ({string.Join(", ", children)}); delete them first");
            }

            if (_runtimes.TryGetValue(v.Id, out var rt) && rt.OpenHandles > 0)
            {
                throw new PoolException($"'{name}' is open ({rt.OpenHandles} handle(s)); close it first");
            }

            _runtimes.Remove(v.Id);
            _state.ApplyDelete(v.Id);
            LogRecords.WriteDelete(_pending, v.Id);
        }

        await CommitAsync().ConfigureAwait(false);
    }

    /// <summary>Opens a volume (read-write) or a snapshot (read-only) as a block device.</summary>
    public PoolVolume OpenVolume(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_meta)
        {
            var v = _state.Find(name) ?? throw new PoolException($"pool '{Name}' has no volume or snapshot '{name}'");
            var rt = RuntimeOf(v.Id);
            rt.OpenHandles++;
            return new PoolVolume(this, v, rt, readOnly: ReadOnly || v.Kind == VolumeKind.Snapshot);
        }
    }

    internal void CloseVolume(VolumeRuntime runtime)
    {
        lock (_meta)
        {
            runtime.OpenHandles--;
        }
    }

    internal VolumeRuntime RuntimeOf(uint id)
    {
        lock (_meta)
        {
            if (!_runtimes.TryGetValue(id, out var rt))
            {
                rt = new VolumeRuntime();
                _runtimes.Add(id, rt);
            }

            return rt;
        }
    }

    private VolumeInfo Describe(VolumeRecord v)
    {
        long unique = 0;
        foreach (var (_, p) in v.Map.Entries())
        {
            if (_state.RefCount(p) == 1)
            {
                unique++;
            }
        }

        return new VolumeInfo(v.Name, v.Kind, v.SizeBytes, v.BlockSize, v.Map.Count, unique,
            v.OriginId == 0 ? null : _state.Find(v.OriginId)?.Name, DateTimeOffset.FromUnixTimeMilliseconds(v.CreatedUnixMs));
    }

    private VolumeRecord Get(string name, VolumeKind kind)
    {
        lock (_meta)
        {
            var v = _state.Find(name);
            if (v is null || v.Kind != kind)
            {
                throw new PoolException($"pool '{Name}' has no {(kind == VolumeKind.Volume ? "volume" : "snapshot")} '{name}'");
            }

            return v;
        }
    }

    private void CheckFree(string name)
    {
        if (_state.Find(name) is not null)
        {
            throw new PoolException($"pool '{Name}' already has '{name}'");
        }
    }

    private void CheckOvercommit(long addedBytes, string what)
    {
        if (OvercommitLimitBytes is not { } limit)
        {
            return;
        }

        long logical = _state.Volumes.Where(v => v.Kind == VolumeKind.Volume).Sum(v => v.SizeBytes);
        if (logical + addedBytes > limit)
        {
            throw new PoolException($"{what} would make the volumes of pool '{Name}' {logical + addedBytes} bytes, over its overcommit limit of {limit}");
        }
    }

    /// <summary>Refuses a change that would make a checkpoint too large for the log ring.</summary>
    private void CheckMetadata(long addedBytes, string what)
    {
        if (_state.CheckpointBytes + addedBytes > MaxCheckpointBytes)
        {
            throw new PoolException($"{what} needs {addedBytes} more bytes of metadata, and pool '{Name}' has {MaxCheckpointBytes - _state.CheckpointBytes} left (its mappings fill the metadata ring; delete snapshots, or create the pool with a larger --metadata-size)");
        }
    }

    private static void CheckName(string name, bool snapshot)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('@') || name.Contains('/') || name.Any(char.IsControl)
            || Encoding.UTF8.GetByteCount(name) > DiskLayout.MaxNameBytes / 2)
        {
            throw new PoolException($"'{name}' is not a valid {(snapshot ? "snapshot" : "volume")} name: give 1 to {DiskLayout.MaxNameBytes / 2} bytes of printable text without '@' or '/'");
        }
    }
}

/// <summary>A volume's live I/O state: its freeze gate, open handles, and the chunks being copied on write.</summary>
internal sealed class VolumeRuntime
{
    public VolumeGate Gate { get; } = new();

    public int OpenHandles { get; set; }

    /// <summary>Logical chunks with a copy-on-write in progress; other writers and unmaps of them wait.</summary>
    public Dictionary<uint, TaskCompletionSource> CopyOnWrites { get; } = [];
}

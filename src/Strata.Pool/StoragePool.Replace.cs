using Strata.Blocks;
using Strata.Pool.OnDisk;
using Strata.Pool.Vdevs;

namespace Strata.Pool;

/// <summary><c>pool replace</c>: a new vdev takes a slot and is resilvered from its mirror partner.</summary>
public sealed partial class StoragePool
{
    /// <summary>
    /// Puts the file or device at <paramref name="newPath"/> (created sparse with the old vdev's size when it does
    /// not exist) in place of vdev <paramref name="index"/>, copies every allocated chunk onto it from the other
    /// half of its mirror (or from itself, when replacing an online vdev of a striped pool), and commits it with
    /// the next generation: the vdev it replaces is stale from then on. Volumes must be closed.
    /// </summary>
    public async Task ReplaceVdevAsync(int index, string newPath, IProgress<(long Done, long Total)>? progress = null)
    {
        ThrowIfReadOnly();
        if (index < 0 || index >= _vdevs.Length)
        {
            throw new PoolException($"pool '{Name}' has vdevs 0 to {_vdevs.Length - 1}, not {index}");
        }

        lock (_meta)
        {
            if (_runtimes.Values.Any(r => r.OpenHandles > 0))
            {
                throw new PoolException($"pool '{Name}' has open volumes; close them before replacing a vdev");
            }
        }

        var old = _vdevs[index];
        var group = _store.Groups.First(g => g.Contains(old));
        var source = group.FirstOrDefault(v => v != old && v.IsOnline) ?? (old.IsOnline ? old : null)
            ?? throw new PoolException($"vdev {index} of pool '{Name}' cannot be rebuilt: nothing else holds its chunks (a striped pool's lost vdev is lost)");
        string fullPath = Path.GetFullPath(newPath);
        if (_vdevs.Any(v => v.Device is not null && v.Path == fullPath))
        {
            throw new PoolException($"{newPath} is already vdev {_vdevs.First(v => v.Path == fullPath).Index} of pool '{Name}'");
        }

        var lead = _vdevs.First(v => v.Label is not null).Label!;
        long needed = lead.DataOffset + lead.VdevChunks[index] * ChunkSize;
        bool existed = File.Exists(newPath);
        if (existed && await TryReadLabelAsync(newPath).ConfigureAwait(false) is { } other && other.PoolId != Id)
        {
            throw new PoolException($"{newPath} already holds vdev {other.VdevIndex} of pool '{other.PoolName}' ({other.PoolId}); delete it or choose another path");
        }

        IBlockDevice device;
        try
        {
            device = FileBlockDevice.Open(newPath, existed ? null : DiskLayout.AlignUp(needed, 1 << 20), 512);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new PoolException($"cannot open {newPath}: {e.Message}", e);
        }

        try
        {
            if (device.BlockCount * device.BlockSize < needed)
            {
                throw new PoolException($"{newPath} is too small: {device.BlockCount * device.BlockSize} bytes, and vdev {index} needs {needed}");
            }

            uint generation = CurrentGeneration(index) + 1;
            var paths = lead.VdevPaths.ToArray();
            paths[index] = fullPath;
            var label = lead with { VdevIndex = index, Generation = generation, VdevPaths = paths };
            await device.UnmapAsync(Vdev.Lba(DiskLayout.SuperblockOffset0), device.BlockCount - Vdev.Lba(DiskLayout.SuperblockOffset0)).ConfigureAwait(false);
            await ResilverAsync(source, device, progress).ConfigureAwait(false);
            var bytes = label.Encode();
            await device.WriteAsync(Vdev.Lba(DiskLayout.LabelOffsetA), bytes, WriteFlags.None).ConfigureAwait(false);
            await device.WriteAsync(Vdev.Lba(DiskLayout.LabelOffsetB), bytes, WriteFlags.None).ConfigureAwait(false);
            await device.FlushAsync().ConfigureAwait(false);

            var replaced = old.Device;
            old.Attach(fullPath, device, label);
            if (replaced is not null)
            {
                await replaced.DisposeAsync().ConfigureAwait(false);
            }

            // A checkpoint on every vdev (the new one too) and a superblock naming the new generation.
            await _commitLock.WaitAsync().ConfigureAwait(false);
            try
            {
                _superblockDirty = true;
                await CommitCoreAsync(forceCheckpoint: true).ConfigureAwait(false);
            }
            finally
            {
                _commitLock.Release();
            }
        }
        catch
        {
            if (old.Device != device)
            {
                await device.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    private uint CurrentGeneration(int index) => _vdevs[index].Label?.Generation ?? _superblock.Vdevs[index].Generation;

    /// <summary>Copies every allocated chunk of <paramref name="source"/>'s group onto <paramref name="target"/>.</summary>
    private async Task ResilverAsync(Vdev source, IBlockDevice target, IProgress<(long Done, long Total)>? progress)
    {
        List<long> offsets = [];
        lock (_meta)
        {
            for (long p = 0; p < _store.CapacityChunks; p++)
            {
                var (group, offset) = _store.Locate((uint)p, 0);
                if (group.Contains(source) && _state.RefCount((uint)p) > 0)
                {
                    offsets.Add(offset);
                }
            }
        }

        var buffer = new byte[ChunkSize];
        long done = 0;
        progress?.Report((0, offsets.Count * (long)ChunkSize));
        foreach (var offset in offsets)
        {
            await source.Device!.ReadAsync(Vdev.Lba(offset), buffer).ConfigureAwait(false);
            await target.WriteAsync(Vdev.Lba(offset), buffer, WriteFlags.None).ConfigureAwait(false);
            done += ChunkSize;
            progress?.Report((done, offsets.Count * (long)ChunkSize));
        }

        await target.FlushAsync().ConfigureAwait(false);
    }
}

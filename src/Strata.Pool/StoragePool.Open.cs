using System.Text;
using Strata.Blocks;
using Strata.Pool.Metadata;
using Strata.Pool.OnDisk;
using Strata.Pool.Space;
using Strata.Pool.Vdevs;

namespace Strata.Pool;

public sealed partial class StoragePool
{
    private const long MinRingBytes = 256 * 1024;

    /// <summary>How vdevs are opened: a path and, to create a sparse file, a size. Tests put fault injection here.</summary>
    internal delegate IBlockDevice VdevOpener(string path, long? createSize);

    private static IBlockDevice OpenFile(string path, long? createSize) => FileBlockDevice.Open(path, createSize, 512);

    /// <summary>Creates a pool on the given vdevs (new sparse files, or existing files and block devices) and opens it.</summary>
    public static Task<StoragePool> CreateAsync(PoolCreateOptions options) => CreateAsync(options, OpenFile);

    internal static async Task<StoragePool> CreateAsync(PoolCreateOptions options, VdevOpener openVdev)
    {
        Validate(options);
        var devices = new List<IBlockDevice>();
        try
        {
            foreach (var spec in options.Vdevs)
            {
                bool existed = File.Exists(spec.Path);
                if (existed && await TryReadLabelAsync(spec.Path).ConfigureAwait(false) is { } other)
                {
                    throw new PoolException($"{spec.Path} already holds vdev {other.VdevIndex} of pool '{other.PoolName}' ({other.PoolId}); delete it or choose another path");
                }

                if (!existed && spec.SizeBytes is null)
                {
                    throw new PoolException($"{spec.Path} does not exist; give a size to create it as a sparse file");
                }

                try
                {
                    devices.Add(openVdev(spec.Path, existed ? null : spec.SizeBytes));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    throw new PoolException($"cannot open {spec.Path}: {e.Message}", e);
                }
            }

            long smallest = devices.Min(d => d.BlockCount * d.BlockSize);
            long ring = options.MetadataBytes ?? Math.Max(8L << 20, smallest / options.ChunkSize * devices.Count * 512);
            ring = Math.Max(MinRingBytes, DiskLayout.AlignUp(ring, DiskLayout.MetadataBlock));
            long dataOffset = DiskLayout.DataOffset(ring, options.ChunkSize);
            var chunks = new long[devices.Count];
            for (int i = 0; i < devices.Count; i++)
            {
                long size = devices[i].BlockCount * devices[i].BlockSize;
                chunks[i] = (size - dataOffset) / options.ChunkSize;
                if (chunks[i] < 1)
                {
                    throw new PoolException($"{options.Vdevs[i].Path} is too small: {size} bytes, and a vdev needs {dataOffset + options.ChunkSize} (its metadata ring is {ring} bytes)");
                }
            }

            var poolId = Guid.NewGuid();
            long created = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var paths = options.Vdevs.Select(v => Path.GetFullPath(v.Path)).ToArray();
            for (int i = 0; i < devices.Count; i++)
            {
                var label = new VdevLabel(poolId, options.Name, options.Layout, options.ChunkSize, i, 1, paths, chunks, ring, dataOffset, created, options.OvercommitLimitBytes ?? 0);
                var bytes = label.Encode();
                // A reused file or device must read as zeros where chunks are handed out and where the ring is read.
                await devices[i].UnmapAsync(Vdev.Lba(DiskLayout.SuperblockOffset0), devices[i].BlockCount - Vdev.Lba(DiskLayout.SuperblockOffset0)).ConfigureAwait(false);
                await devices[i].WriteAsync(Vdev.Lba(DiskLayout.LabelOffsetA), bytes, WriteFlags.None).ConfigureAwait(false);
                await devices[i].WriteAsync(Vdev.Lba(DiskLayout.LabelOffsetB), bytes, WriteFlags.None).ConfigureAwait(false);
                await devices[i].FlushAsync().ConfigureAwait(false);
            }

            var first = new VdevLabel(poolId, options.Name, options.Layout, options.ChunkSize, 0, 1, paths, chunks, ring, dataOffset, created, options.OvercommitLimitBytes ?? 0);
            var vdevs = devices.Select((d, i) => new Vdev(i, paths[i], d, first with { VdevIndex = i }, VdevState.Online)).ToArray();
            var store = new ChunkStore(vdevs, options.Layout, options.ChunkSize, dataOffset, chunks);
            var state = new PoolState(store.CapacityChunks, options.ChunkSize);
            var superblock = new Superblock(poolId, 0, 0, false, vdevs.Select(_ => new VdevSlot(VdevState.Online, 1)).ToArray());
            var pool = new StoragePool(first, vdevs, store, state, new MetadataLog(store, poolId, ring, 0), superblock, readOnly: false);
            await pool.StartAsync(scrubFree: false).ConfigureAwait(false);
            devices.Clear();
            return pool;
        }
        finally
        {
            foreach (var d in devices)
            {
                await d.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Opens the pool whose vdevs are at <paramref name="paths"/> (in any order). A mirror missing a vdev opens
    /// Degraded; a striped pool missing one, vdevs of different pools, or two copies of one vdev are errors.
    /// </summary>
    public static Task<StoragePool> OpenAsync(IReadOnlyList<string> paths, bool readOnly = false) => OpenAsync(paths, readOnly, OpenFile);

    /// <summary>Whether <paramref name="path"/> carries a vdev label, valid or damaged (a pool must never be created over one).</summary>
    public static bool HasLabel(string path) => VdevLabel.IsPresent(path);

    internal static async Task<StoragePool> OpenAsync(IReadOnlyList<string> paths, bool readOnly, VdevOpener openVdev)
    {
        if (paths.Count == 0)
        {
            throw new PoolException("no vdev paths given");
        }

        var opened = new List<(string Path, IBlockDevice Device, VdevLabel Label)>();
        var unlabeled = new List<string>(); // zeroed, or never a vdev: the pool may still open without it
        try
        {
            foreach (var path in paths)
            {
                if (!File.Exists(path))
                {
                    throw new PoolException($"{path} does not exist");
                }

                IBlockDevice device;
                try
                {
                    device = openVdev(path, null);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    throw new PoolException($"cannot open {path}: {e.Message}", e);
                }

                var label = await ReadLabelAsync(device).ConfigureAwait(false);
                if (label is null)
                {
                    await device.DisposeAsync().ConfigureAwait(false);
                    unlabeled.Add(path);
                    continue;
                }

                opened.Add((Path.GetFullPath(path), device, label));
            }

            if (opened.Count == 0)
            {
                throw new PoolException($"{string.Join(", ", unlabeled)}: not a Strata pool vdev (neither of its two labels is valid)");
            }

            var lead = opened[0].Label;
            foreach (var (path, _, label) in opened)
            {
                if (label.PoolId != lead.PoolId)
                {
                    throw new PoolException($"{path} belongs to pool '{label.PoolName}' ({label.PoolId}), but {opened[0].Path} belongs to pool '{lead.PoolName}' ({lead.PoolId})");
                }
            }

            var superblock = await ReadNewestSuperblockAsync(opened.Select(o => o.Device), lead.PoolId).ConfigureAwait(false)
                ?? throw new PoolException($"pool '{lead.PoolName}': no valid superblock on any vdev given");
            int count = lead.VdevPaths.Count;
            var vdevs = new Vdev?[count];
            foreach (var (path, device, label) in opened.OrderByDescending(o => o.Label.Generation))
            {
                int i = label.VdevIndex;
                var slot = superblock.Vdevs[i];
                if (vdevs[i] is { Device: not null } taken && taken.Label!.Generation == label.Generation)
                {
                    throw new PoolException($"{path} and {taken.Path} are both vdev {i} of pool '{lead.PoolName}' (is one a copy of the other?)");
                }

                if (vdevs[i] is not null || label.Generation != slot.Generation)
                {
                    vdevs[i] ??= new Vdev(i, path, null, label, VdevState.Faulted) { FaultReason = "stale: replaced by a newer vdev" };
                    await device.DisposeAsync().ConfigureAwait(false);
                    continue;
                }

                if (slot.State == VdevState.Faulted)
                {
                    await device.DisposeAsync().ConfigureAwait(false);
                    vdevs[i] = new Vdev(i, path, null, label, VdevState.Faulted) { FaultReason = "faulted: it failed or was missing, and has missed writes since; replace it" };
                }
                else
                {
                    vdevs[i] = new Vdev(i, path, device, label, VdevState.Online);
                }
            }

            opened.Clear();
            for (int i = 0; i < count; i++)
            {
                vdevs[i] ??= new Vdev(i, lead.VdevPaths[i], null, null, VdevState.Faulted)
                {
                    FaultReason = unlabeled.Count == 0
                        ? "missing: not among the paths given"
                        : $"missing: not among the paths given with a valid label ({string.Join(", ", unlabeled)} had none: zeroed, or not a vdev)",
                };
            }

            return await OpenVdevsAsync(lead, vdevs!, superblock, readOnly).ConfigureAwait(false);
        }
        finally
        {
            foreach (var o in opened)
            {
                await o.Device.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task<StoragePool> OpenVdevsAsync(VdevLabel lead, Vdev[] vdevs, Superblock superblock, bool readOnly)
    {
        try
        {
            int width = lead.Layout == PoolLayout.Mirrored ? 2 : 1;
            for (int g = 0; g < vdevs.Length / width; g++)
            {
                var group = vdevs.Skip(g * width).Take(width).ToArray();
                if (!group.Any(v => v.IsOnline))
                {
                    var lost = group.First(v => !v.IsOnline);
                    throw new PoolException(width == 1
                        ? $"pool '{lead.PoolName}' cannot open: vdev {lost.Index} ({lost.Path}) is {lost.FaultReason}; a striped pool needs every vdev"
                        : $"pool '{lead.PoolName}' cannot open: both vdevs of mirror {g} are unavailable ({string.Join("; ", group.Select(v => $"{v.Path}: {v.FaultReason}"))})");
                }
            }

            var store = new ChunkStore(vdevs, lead.Layout, lead.ChunkSize, lead.DataOffset, lead.VdevChunks);
            var (state, head) = await ReplayAsync(vdevs, lead, store, superblock).ConfigureAwait(false);
            var pool = new StoragePool(lead, vdevs, store, state, new MetadataLog(store, lead.PoolId, lead.RingBytes, head), superblock, readOnly);
            if (!readOnly)
            {
                bool faultedSinceLastSuperblock = vdevs.Any(v => v.State == VdevState.Faulted && superblock.Vdevs[v.Index].State == VdevState.Online);
                pool._superblockDirty = faultedSinceLastSuperblock;
                await pool.StartAsync(scrubFree: !superblock.Clean).ConfigureAwait(false);
            }

            return pool;
        }
        catch
        {
            foreach (var v in vdevs)
            {
                if (v.Device is not null)
                {
                    await v.Device.DisposeAsync().ConfigureAwait(false);
                }
            }

            throw;
        }
    }

    /// <summary>
    /// Rebuilds the state: the checkpoint the superblock names, then every valid batch after it. Tries each online
    /// vdev in turn, and the older superblock slot's checkpoint when the newest one's cannot be read.
    /// </summary>
    private static async Task<(PoolState State, ulong Head)> ReplayAsync(Vdev[] vdevs, VdevLabel lead, ChunkStore store, Superblock superblock)
    {
        var errors = new List<string>();
        var candidates = new List<(Vdev Vdev, Superblock Superblock)>();
        foreach (var v in vdevs.Where(v => v.IsOnline))
        {
            foreach (var found in await ReadSuperblocksAsync(v.Device!, lead.PoolId).ConfigureAwait(false))
            {
                if (found.Sequence <= superblock.Sequence)
                {
                    candidates.Add((v, found));
                }
            }
        }

        // The newest committed state first: the newest superblock on any vdev, then the older slot.
        foreach (var (vdev, sb) in candidates.OrderByDescending(c => c.Superblock.Sequence).ThenBy(c => c.Vdev.Index))
        {
            var cp = await MetadataLog.ReadAsync(vdev, lead.PoolId, lead.RingBytes, sb.CheckpointLsn).ConfigureAwait(false);
            if (cp is not { Kind: BatchKind.Checkpoint })
            {
                errors.Add($"{vdev.Path}: the checkpoint at LSN {sb.CheckpointLsn} (superblock {sb.Sequence}) is unreadable");
                continue;
            }

            try
            {
                var state = Checkpoint.Read(cp.Value.Payload, store.CapacityChunks, lead.ChunkSize);
                ulong lsn = sb.CheckpointLsn + (ulong)cp.Value.Bytes;
                while (lsn - sb.CheckpointLsn < (ulong)lead.RingBytes
                    && await MetadataLog.ReadAsync(vdev, lead.PoolId, lead.RingBytes, lsn).ConfigureAwait(false) is { } batch)
                {
                    if (batch.Kind == BatchKind.Checkpoint)
                    {
                        state = Checkpoint.Read(batch.Payload, store.CapacityChunks, lead.ChunkSize);
                    }
                    else
                    {
                        LogRecords.Replay(batch.Payload, state);
                    }

                    lsn += (ulong)batch.Bytes;
                }

                return (state, lsn);
            }
            catch (FormatException e)
            {
                errors.Add($"{vdev.Path}: replay from LSN {sb.CheckpointLsn} failed: {e.Message}");
            }
        }

        throw new PoolException($"pool '{lead.PoolName}': its metadata cannot be recovered ({string.Join("; ", errors)})");
    }

    private static async Task<VdevLabel?> TryReadLabelAsync(string path)
    {
        try
        {
            var device = FileBlockDevice.Open(path, null, 512);
            await using (device.ConfigureAwait(false))
            {
                return await ReadLabelAsync(device).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    private static async Task<VdevLabel?> ReadLabelAsync(IBlockDevice device)
    {
        if (device.BlockCount * device.BlockSize < DiskLayout.RingOffset)
        {
            return null;
        }

        var block = new byte[DiskLayout.MetadataBlock];
        foreach (long offset in new[] { DiskLayout.LabelOffsetA, DiskLayout.LabelOffsetB })
        {
            await device.ReadAsync(Vdev.Lba(offset), block).ConfigureAwait(false);
            if (VdevLabel.TryDecode(block) is { } label)
            {
                return label;
            }
        }

        return null;
    }

    private static async Task<Superblock?> ReadNewestSuperblockAsync(IEnumerable<IBlockDevice> devices, Guid poolId)
    {
        Superblock? newest = null;
        foreach (var d in devices)
        {
            foreach (var sb in await ReadSuperblocksAsync(d, poolId).ConfigureAwait(false))
            {
                if (newest is null || sb.Sequence > newest.Sequence)
                {
                    newest = sb;
                }
            }
        }

        return newest;
    }

    /// <summary>The valid superblocks of a vdev, newest first.</summary>
    internal static async Task<List<Superblock>> ReadSuperblocksAsync(IBlockDevice device, Guid poolId)
    {
        var found = new List<Superblock>();
        var block = new byte[DiskLayout.MetadataBlock];
        foreach (long offset in new[] { DiskLayout.SuperblockOffset0, DiskLayout.SuperblockOffset1 })
        {
            await device.ReadAsync(Vdev.Lba(offset), block).ConfigureAwait(false);
            if (Superblock.TryDecode(block) is { } sb && sb.PoolId == poolId && sb.SlotOffset == offset)
            {
                found.Add(sb);
            }
        }

        return found.OrderByDescending(s => s.Sequence).ToList();
    }

    private static void Validate(PoolCreateOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.Name) || Encoding.UTF8.GetByteCount(o.Name) > DiskLayout.MaxNameBytes || o.Name.Any(char.IsControl))
        {
            throw new PoolException($"'{o.Name}' is not a pool name: give 1 to {DiskLayout.MaxNameBytes} bytes of printable text");
        }

        if (o.Vdevs.Count == 0 || o.Vdevs.Count > DiskLayout.MaxVdevs)
        {
            throw new PoolException($"a pool needs 1 to {DiskLayout.MaxVdevs} vdevs, not {o.Vdevs.Count}");
        }

        if (o.Layout == PoolLayout.Mirrored && o.Vdevs.Count % 2 != 0)
        {
            throw new PoolException($"a mirrored pool takes vdevs in pairs; {o.Vdevs.Count} were given");
        }

        if (o.Layout is not (PoolLayout.Striped or PoolLayout.Mirrored))
        {
            throw new PoolException($"unknown layout {o.Layout}");
        }

        if (o.ChunkSize < 4096 || o.ChunkSize > 1 << 20 || (o.ChunkSize & (o.ChunkSize - 1)) != 0)
        {
            throw new PoolException($"the chunk size must be a power of two from 4 KiB to 1 MiB, not {o.ChunkSize}");
        }

        var dup = o.Vdevs.GroupBy(v => Path.GetFullPath(v.Path)).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new PoolException($"{dup.Key} is given twice");
        }

        foreach (var v in o.Vdevs)
        {
            if (v.SizeBytes is { } s && (s <= 0 || s % 4096 != 0))
            {
                throw new PoolException($"the size of {v.Path} must be a positive multiple of 4 KiB, not {s}");
            }
        }

        if (o.MetadataBytes is { } m && m < MinRingBytes)
        {
            throw new PoolException($"the metadata ring must be at least {MinRingBytes} bytes, not {m}");
        }
    }
}

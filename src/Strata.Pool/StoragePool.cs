using Strata.Blocks;
using Strata.Pool.Concurrency;
using Strata.Pool.Metadata;
using Strata.Pool.OnDisk;
using Strata.Pool.Space;
using Strata.Pool.Vdevs;

namespace Strata.Pool;

/// <summary>
/// A storage pool: vdevs holding chunks, thin volumes mapping onto them, snapshots and clones sharing them
/// copy-on-write, and a metadata log that commits every change atomically (docs/pool-engine.md).
/// </summary>
/// <remarks>
/// Crash safety rests on three rules. (1) Metadata reaches disk only after the data it makes reachable: a commit
/// syncs the vdevs' data, then writes and syncs the log batch. (2) A chunk is reused only after the commit that
/// freed it is durable, after every I/O that could still touch it has finished, and after it has been scrubbed
/// to zeros; so a mapping can never point at another volume's data, and a partial first write needs no zero
/// fill. (3) Nothing durable is overwritten in place: log batches go to fresh ring space, superblocks alternate
/// slots, and the older superblock's checkpoint is kept until a newer one replaces it.
/// </remarks>
public sealed partial class StoragePool : IAsyncDisposable
{
    private readonly object _meta = new();
    private readonly Vdev[] _vdevs;
    private readonly ChunkStore _store;
    private readonly MetadataLog _log;
    private readonly ChunkAllocator _allocator;
    private readonly Dictionary<uint, VolumeRuntime> _runtimes = [];
    private readonly IoEpoch _epoch = new();
    private readonly PoolState _state;
    private bool _disposed;

    private StoragePool(VdevLabel label, Vdev[] vdevs, ChunkStore store, PoolState state, MetadataLog log, Superblock superblock, bool readOnly)
    {
        Id = label.PoolId;
        Name = label.PoolName;
        Layout = label.Layout;
        ChunkSize = label.ChunkSize;
        CreatedUnixMs = label.CreatedUnixMs;
        OvercommitLimitBytes = label.OvercommitLimitBytes == 0 ? null : label.OvercommitLimitBytes;
        _vdevs = vdevs;
        _store = store;
        _state = state;
        _log = log;
        _superblock = superblock;
        _cpLsn = superblock.CheckpointLsn;
        _prevCpLsn = superblock.CheckpointLsn;
        ReadOnly = readOnly;
        _allocator = new ChunkAllocator(store.CapacityChunks);
        _store.VdevFaulted = OnVdevFaulted;
        MaxCheckpointBytes = log.RingBytes / 4 - DiskLayout.MetadataBlock;
    }

    public Guid Id { get; }

    public string Name { get; }

    public PoolLayout Layout { get; }

    public int ChunkSize { get; }

    public long CreatedUnixMs { get; }

    public long? OvercommitLimitBytes { get; }

    /// <summary>Opened for inspection only (<c>pool check</c>, <c>pool status</c> of a pool in use): nothing is written.</summary>
    public bool ReadOnly { get; }

    public PoolHealth Health => _vdevs.All(v => v.IsOnline) ? PoolHealth.Online : PoolHealth.Degraded;

    public long CapacityBytes => _store.CapacityChunks * ChunkSize;

    public long CapacityChunks => _store.CapacityChunks;

    public long AllocatedChunks
    {
        get
        {
            lock (_meta)
            {
                return _state.AllocatedChunks;
            }
        }
    }

    public long AllocatedBytes => AllocatedChunks * ChunkSize;

    public long FreeBytes => CapacityBytes - AllocatedBytes;

    /// <summary>The largest checkpoint the log ring can hold (a quarter of it): the bound on mappings.</summary>
    public long MaxCheckpointBytes { get; }

    public long MetadataUsedBytes
    {
        get
        {
            lock (_meta)
            {
                return _state.CheckpointBytes;
            }
        }
    }

    public IReadOnlyList<VdevInfo> Vdevs =>
        _vdevs.Select(v => new VdevInfo(v.Index, v.Path, v.State, v.FaultReason, v.SizeBytes)).ToArray();

    internal ChunkStore Store => _store;

    internal IoEpoch Epoch => _epoch;

    internal PoolState State => _state;

    internal object MetaLock => _meta;

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            if (!ReadOnly)
            {
                await CloseCleanlyAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var v in _vdevs)
            {
                if (v.Device is not null)
                {
                    await v.Device.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Closes as if the process died now: what was committed stays, nothing more is written (crash tests).</summary>
    internal async ValueTask AbandonAsync()
    {
        _disposed = true;
        foreach (var v in _vdevs)
        {
            if (v.Device is not null)
            {
                await v.Device.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private void ThrowIfReadOnly()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ReadOnly)
        {
            throw new PoolException($"pool '{Name}' is open read-only");
        }
    }

    private void OnVdevFaulted(Vdev vdev, Exception e)
    {
        lock (_meta)
        {
            _superblockDirty = true;
        }
    }
}

/// <summary>A vdev as <c>pool status</c> shows it.</summary>
public sealed record VdevInfo(int Index, string Path, VdevState State, string? FaultReason, long SizeBytes);

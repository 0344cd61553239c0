using Strata.Blocks;
using Strata.Pool.Metadata;
using Strata.Pool.OnDisk;
using Strata.Pool.Space;
using Strata.Pool.Vdevs;

namespace Strata.Pool;

/// <summary>Group commit of metadata, checkpoints, superblocks, and the release of freed chunks.</summary>
public sealed partial class StoragePool
{
    private readonly SemaphoreSlim _commitLock = new(1, 1);
    private readonly MetadataWriter _pending = new();
    private readonly MetadataWriter _batch = new();
    private List<uint> _pendingFree = [];
    private Superblock _superblock;
    private ulong _cpLsn;
    private ulong _prevCpLsn;
    private bool _superblockDirty;
    private long _commitRequests;
    private long _commitsDone;
    private int _releasing;
    private long _writesSinceCommit = 1; // the first commit syncs whatever creation or recovery wrote
    private Exception? _commitFailure;

    /// <summary>
    /// Makes every write completed before this call durable, with the metadata that maps it: one commit serves
    /// every caller that arrived before it started (group commit).
    /// </summary>
    public async ValueTask CommitAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed && !_closing, this);
        if (ReadOnly)
        {
            return;
        }

        long ticket = Interlocked.Increment(ref _commitRequests);
        await _commitLock.WaitAsync().ConfigureAwait(false);
        try
        {
            ThrowIfCommitFailed();
            if (Interlocked.Read(ref _commitsDone) >= ticket)
            {
                return; // a commit that started after we asked has finished
            }

            long upTo = Interlocked.Read(ref _commitRequests);
            try
            {
                await CommitCoreAsync(forceCheckpoint: false).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A failed sync or log write leaves it unknown what reached the disk: no later commit may claim
                // durability for it ("fsyncgate"), so the pool refuses to commit again until it is reopened.
                _commitFailure = e;
                throw;
            }

            Interlocked.Exchange(ref _commitsDone, upTo);
        }
        finally
        {
            _commitLock.Release();
        }
    }

    private void ThrowIfCommitFailed()
    {
        if (_commitFailure is { } e)
        {
            throw new BlockDeviceException(BlockDeviceErrorKind.Medium,
                $"pool '{Name}' could not commit ({e.Message}); nothing more is acknowledged until it is reopened", e);
        }
    }

    /// <summary>Counts a write (or unmap) that the next commit must sync; called once its data went out.</summary>
    internal void NoteWrite() => Interlocked.Increment(ref _writesSinceCommit);

    /// <summary>A chunk that lost its last reference, or was allocated and not used: reusable after the next commit.</summary>
    internal void AddPendingFree(uint chunk) => _pendingFree.Add(chunk);

    internal bool HasPendingFrees
    {
        get
        {
            lock (_meta)
            {
                return _pendingFree.Count > 0 || _releasing > 0;
            }
        }
    }

    private bool _closing;

    private async Task CloseCleanlyAsync()
    {
        _closing = true;
        await _commitLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await CommitCoreAsync(forceCheckpoint: true, clean: true).ConfigureAwait(false);
        }
        finally
        {
            _commitLock.Release();
        }
    }

    /// <summary>Makes the pool ready to write: the allocator from the reference counts, a first checkpoint.</summary>
    private async Task StartAsync(bool scrubFree)
    {
        _state.ChunkFreed = AddPendingFree;
        var free = new List<uint>();
        for (long c = 0; c < _store.CapacityChunks; c++)
        {
            if (_state.RefCount((uint)c) == 0)
            {
                free.Add((uint)c);
            }
        }

        if (scrubFree)
        {
            // After a crash, a free chunk may hold data written before its mapping was committed.
            await ScrubAsync(free).ConfigureAwait(false);
        }

        foreach (var c in free)
        {
            _allocator.MakeAvailable(c);
        }

        await _commitLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await CommitCoreAsync(forceCheckpoint: true).ConfigureAwait(false);
        }
        finally
        {
            _commitLock.Release();
        }
    }

    /// <summary>
    /// One commit; the caller holds the commit lock. A superblock is only ever written with a new checkpoint, so
    /// the two slots always name two different checkpoints and the older one is still intact in the ring.
    /// </summary>
    private async Task CommitCoreAsync(bool forceCheckpoint, bool clean = false)
    {
        BatchKind? kind = null;
        List<uint> frees;
        bool superblockDirty = false;
        lock (_meta)
        {
            MetadataLog.BeginBatch(_batch);
            long used = (long)(_log.Head - _cpLsn);
            long quarter = _log.RingBytes / 4;
            if (forceCheckpoint || _superblockDirty || (_pending.Length > 0 && used + MetadataLog.BatchBytes(_pending.Length) > quarter))
            {
                Checkpoint.Write(_batch, _state);
                kind = BatchKind.Checkpoint;
            }
            else if (_pending.Length > 0)
            {
                _batch.Bytes(_pending.Written);
                kind = BatchKind.Delta;
            }

            _pending.Reset();
            frees = _pendingFree;
            _pendingFree = [];
            _releasing += frees.Count;
            _superblockDirty = false;
        }

        // Rule 1: the data first, so no mapping committed below can point at data that is not on disk. A flush
        // with nothing written since the last commit has nothing to sync.
        bool dataWritten = Interlocked.Exchange(ref _writesSinceCommit, 0) != 0;
        if (dataWritten || kind is not null || frees.Count > 0)
        {
            await _store.SyncAsync().ConfigureAwait(false);
        }
        if (kind is { } k)
        {
            long free = _log.RingBytes - (long)(_log.Head - _prevCpLsn);
            if (MetadataLog.BatchBytes(_batch.Length - MetadataLog.HeaderBytes) > free)
            {
                // Cannot happen while checkpoints stay under a quarter of the ring (the mapping limit enforces it).
                throw new InvalidOperationException($"pool '{Name}': metadata ring overflow ({_batch.Length} bytes, {free} free)");
            }

            ulong lsn = await _log.WriteAsync(_batch, k).ConfigureAwait(false);
            await _store.SyncAsync().ConfigureAwait(false);
            if (k == BatchKind.Checkpoint)
            {
                _prevCpLsn = _cpLsn;
                _cpLsn = lsn;
                superblockDirty = true;
            }
        }

        if (superblockDirty)
        {
            await WriteSuperblockAsync(clean).ConfigureAwait(false);
        }

        bool faultedMeanwhile;
        lock (_meta)
        {
            faultedMeanwhile = _superblockDirty;
        }

        if (faultedMeanwhile)
        {
            // A vdev failed during this commit: what it acknowledges must not rest on the failed vdev, so the
            // superblock that marks it faulted goes out before the commit returns.
            await CommitCoreAsync(forceCheckpoint: true, clean).ConfigureAwait(false);
        }

        if (frees.Count > 0)
        {
            // Rule 2: no I/O that looked the freed chunks up may still be running, and they must read as zeros.
            await _epoch.DrainAsync().ConfigureAwait(false);
            await ScrubAsync(frees).ConfigureAwait(false);
            lock (_meta)
            {
                foreach (var c in frees)
                {
                    _allocator.MakeAvailable(c);
                }

                _releasing -= frees.Count;
            }
        }
    }

    private async Task WriteSuperblockAsync(bool clean)
    {
        var sb = new Superblock(Id, _superblock.Sequence + 1, _cpLsn, clean,
            _vdevs.Select(v => new VdevSlot(v.State, v.Label?.Generation ?? _superblock.Vdevs[v.Index].Generation)).ToArray());
        await _store.WriteMetadataAsync(sb.SlotOffset, sb.Encode()).ConfigureAwait(false);
        await _store.SyncAsync().ConfigureAwait(false);
        // After this, the older slot names _cpLsn's predecessor at best: the ring is kept from _prevCpLsn on.
        _superblock = sb;
    }

    private async Task ScrubAsync(List<uint> chunks) => await _store.ScrubAsync(chunks).ConfigureAwait(false);
}

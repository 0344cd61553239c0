using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Pool.Space;

namespace Strata.Pool;

/// <summary>
/// A thin volume (or a read-only snapshot) of a pool as an <see cref="IBlockDevice"/>: the device the iSCSI
/// target serves. Reads of unmapped chunks are zeros without touching a vdev; overwrites of chunks only this
/// volume maps go in place; the first write to a chunk maps a fresh one; a write to a shared chunk copies it.
/// Metadata changes are committed at <see cref="FlushAsync"/> (or with a FUA write), never per write.
/// </summary>
public sealed class PoolVolume : IBlockDevice, IAllocationMap
{
    private static readonly byte[] Zeros = new byte[1 << 20];

    private readonly StoragePool _pool;
    private readonly VolumeRecord _record;
    private readonly VolumeRuntime _runtime;
    private readonly int _chunkSize;
    private int _disposed;

    internal PoolVolume(StoragePool pool, VolumeRecord record, VolumeRuntime runtime, bool readOnly)
    {
        _pool = pool;
        _record = record;
        _runtime = runtime;
        _chunkSize = pool.ChunkSize;
        IsReadOnly = readOnly;
    }

    private enum ChunkWrite
    {
        Done,
        Retry,
        PoolFull,
    }

    public string Name => _record.Name;

    public bool IsReadOnly { get; }

    public int BlockSize => _record.BlockSize;

    public long BlockCount => _record.SizeBytes / _record.BlockSize;

    public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        CheckRange(lba, buffer.Length);
        return buffer.Length == 0 ? ValueTask.CompletedTask : ReadCoreAsync(lba * BlockSize, buffer);
    }

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        CheckWritable();
        CheckRange(lba, data.Length);
        return data.Length == 0 && (flags & WriteFlags.Fua) == 0
            ? ValueTask.CompletedTask
            : WriteCoreAsync(lba * BlockSize, data, null, (flags & WriteFlags.Fua) != 0);
    }

    public ValueTask FlushAsync(CancellationToken ct = default) => _pool.CommitAsync();

    public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
    {
        CheckWritable();
        if (lba < 0 || blockCount < 0 || lba > BlockCount || blockCount > BlockCount - lba)
        {
            throw BlockDeviceException.OutOfRange(lba, blockCount, BlockCount);
        }

        return blockCount == 0 ? ValueTask.CompletedTask : WriteCoreAsync(lba * BlockSize, default, blockCount * BlockSize, fua: false);
    }

    /// <summary>
    /// Whether <paramref name="lba"/> lies in a mapped chunk, and how many blocks from it (at least 1, at most
    /// <paramref name="maxBlocks"/>) share that state: GET LBA STATUS and replica rebuilds ask this, through
    /// <see cref="IAllocationMap"/>. The resolution is the pool's chunk.
    /// </summary>
    public (bool Mapped, long Blocks) GetExtent(long lba, long maxBlocks)
    {
        long blocksPerChunk = _chunkSize / BlockSize;
        long end = lba + Math.Clamp(maxBlocks, 1, Math.Max(1, BlockCount - lba)); // no overflow for a huge maxBlocks
        bool mapped = _record.Map.TryGet((uint)(lba / blocksPerChunk), out _);
        long next = (lba / blocksPerChunk + 1) * blocksPerChunk;
        while (next < end && _record.Map.TryGet((uint)(next / blocksPerChunk), out _) == mapped)
        {
            next += blocksPerChunk;
        }

        return (mapped, Math.Max(1, Math.Min(next, end) - lba));
    }

    /// <inheritdoc cref="GetExtent"/>
    public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default) =>
        ValueTask.FromResult(GetExtent(lba, maxBlocks));

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _pool.CloseVolume(_runtime);
        }

        return ValueTask.CompletedTask;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadCoreAsync(long offset, Memory<byte> buffer)
    {
        await EnterAsync().ConfigureAwait(false);
        int epoch = _pool.Epoch.Enter();
        try
        {
            var store = _pool.Store;
            for (int done = 0; done < buffer.Length;)
            {
                long pos = offset + done;
                uint logical = (uint)(pos / _chunkSize);
                int inChunk = (int)(pos % _chunkSize);
                int n = Math.Min(buffer.Length - done, _chunkSize - inChunk);
                var segment = buffer.Slice(done, n);
                if (_record.Map.TryGet(logical, out uint physical))
                {
                    await store.ReadAsync(physical, inChunk, segment).ConfigureAwait(false);
                }
                else
                {
                    segment.Span.Clear();
                }

                done += n;
            }
        }
        finally
        {
            _pool.Epoch.Exit(epoch);
            _runtime.Gate.Exit();
        }
    }

    /// <summary>
    /// Writes <paramref name="data"/>, or unmaps <paramref name="unmapBytes"/> when given (whole chunks are
    /// unmapped, partial ones written with zeros). When the pool is full it steps out of the volume's I/O, lets
    /// a commit make freed chunks reusable, and goes on where it stopped.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> data, long? unmapBytes, bool fua)
    {
        long length = unmapBytes ?? data.Length;
        long done = 0;
        while (true)
        {
            bool full = false;
            await EnterAsync().ConfigureAwait(false);
            int epoch = _pool.Epoch.Enter();
            try
            {
                while (done < length)
                {
                    long pos = offset + done;
                    uint logical = (uint)(pos / _chunkSize);
                    int inChunk = (int)(pos % _chunkSize);
                    int n = (int)Math.Min(length - done, _chunkSize - inChunk);
                    ChunkWrite result;
                    if (unmapBytes is null)
                    {
                        result = await WriteChunkAsync(logical, inChunk, data.Slice((int)done, n)).ConfigureAwait(false);
                    }
                    else if (n == _chunkSize)
                    {
                        while (_pool.TryUnmapChunk(_record, _runtime, logical) is { } copying)
                        {
                            await copying.ConfigureAwait(false);
                        }

                        result = ChunkWrite.Done;
                    }
                    else
                    {
                        result = _record.Map.TryGet(logical, out _)
                            ? await WriteChunkAsync(logical, inChunk, Zeros.AsMemory(0, n)).ConfigureAwait(false)
                            : ChunkWrite.Done; // unmapped already reads as zeros
                    }

                    if (result == ChunkWrite.PoolFull)
                    {
                        full = true;
                        break;
                    }

                    done += n;
                }
            }
            finally
            {
                _pool.Epoch.Exit(epoch);
                _runtime.Gate.Exit();
                _pool.NoteWrite(); // after the data went out, so a flush that starts later syncs it
            }

            if (!full)
            {
                break;
            }

            if (!await _pool.ReclaimAsync().ConfigureAwait(false))
            {
                throw _pool.PoolFull();
            }
        }

        if (fua)
        {
            await _pool.CommitAsync().ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ChunkWrite> WriteChunkAsync(uint logical, int inChunk, ReadOnlyMemory<byte> data)
    {
        while (true)
        {
            if (_record.Map.TryGet(logical, out uint physical))
            {
                if (_pool.IsExclusive(physical))
                {
                    await _pool.Store.WriteAsync(physical, inChunk, data).ConfigureAwait(false);
                    return ChunkWrite.Done;
                }

                var copied = await CopyOnWriteAsync(logical, physical, inChunk, data).ConfigureAwait(false);
                if (copied != ChunkWrite.Retry)
                {
                    return copied;
                }

                continue;
            }

            switch (_pool.TryMapNew(_record, logical, out uint fresh))
            {
                case StoragePool.MapOutcome.Mapped:
                    await _pool.Store.WriteAsync(fresh, inChunk, data).ConfigureAwait(false);
                    return ChunkWrite.Done;
                case StoragePool.MapOutcome.NoSpace:
                    return ChunkWrite.PoolFull;
            }
        }
    }

    /// <summary>
    /// Copies a shared chunk with the new data laid over it into a fresh chunk, then maps the copy. One copy per
    /// logical chunk at a time; other writers of the chunk wait for it and then write in place.
    /// </summary>
    private async ValueTask<ChunkWrite> CopyOnWriteAsync(uint logical, uint original, int inChunk, ReadOnlyMemory<byte> data)
    {
        TaskCompletionSource mine;
        lock (_pool.MetaLock)
        {
            if (_runtime.CopyOnWrites.TryGetValue(logical, out var other))
            {
                mine = other;
                goto wait;
            }

            mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _runtime.CopyOnWrites.Add(logical, mine);
        }

        byte[]? buffer = null;
        try
        {
            if (!_record.Map.TryGet(logical, out uint now) || now != original || _pool.IsExclusive(original))
            {
                return ChunkWrite.Retry;
            }

            if (_pool.TryAllocateUnmapped() is not { } copy)
            {
                return ChunkWrite.PoolFull;
            }

            buffer = PinnedBufferPool.Shared.Rent(_chunkSize);
            var chunk = buffer.AsMemory(0, _chunkSize);
            try
            {
                await _pool.Store.ReadAsync(original, 0, chunk).ConfigureAwait(false);
                data.CopyTo(chunk[inChunk..]);
                await _pool.Store.WriteAsync(copy, 0, chunk).ConfigureAwait(false);
            }
            catch
            {
                _pool.ReleaseUnmapped(copy);
                throw;
            }

            return _pool.TryPublishCopy(_record, logical, original, copy) ? ChunkWrite.Done : ChunkWrite.Retry;
        }
        finally
        {
            lock (_pool.MetaLock)
            {
                _runtime.CopyOnWrites.Remove(logical);
            }

            mine.TrySetResult();
            if (buffer is not null)
            {
                PinnedBufferPool.Shared.Return(buffer);
            }
        }

    wait:
        await mine.Task.ConfigureAwait(false);
        return ChunkWrite.Retry;
    }

    private ValueTask EnterAsync() => _runtime.Gate.TryEnter() ? ValueTask.CompletedTask : EnterSlowAsync();

    private async ValueTask EnterSlowAsync()
    {
        do
        {
            await _runtime.Gate.WaitThawedAsync().ConfigureAwait(false);
        }
        while (!_runtime.Gate.TryEnter());
    }

    private void CheckRange(long lba, int bytes)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (bytes % BlockSize != 0)
        {
            throw new ArgumentException($"{bytes} bytes is not a whole number of {BlockSize}-byte blocks");
        }

        long blocks = bytes / BlockSize;
        if (lba < 0 || lba > BlockCount || blocks > BlockCount - lba)
        {
            throw BlockDeviceException.OutOfRange(lba, blocks, BlockCount);
        }
    }

    private void CheckWritable()
    {
        if (IsReadOnly)
        {
            throw new NotSupportedException($"'{Name}' is read-only (a snapshot, or a pool opened read-only)");
        }
    }
}

using System.Buffers;
using System.Diagnostics;

namespace Strata.Replication.Volume;

// Bringing replicas back: reconnecting, copying what they miss while I/O goes on, joining the set.
public sealed partial class ReplicatedVolume
{
    private readonly Dictionary<string, Task> _restoring = new(StringComparer.Ordinal);
    private int _rebuildsRunning;
    private Task _enabling = Task.CompletedTask;

    /// <summary>
    /// Until the volume is closed: restores every replica that is out of the set (one task each), and flushes every
    /// replica when writes have waited <see cref="ReplicatedVolumeOptions.BackgroundFlushInterval"/> for one.
    /// </summary>
    private async Task SuperviseAsync(CancellationToken ct)
    {
        var lastFlush = Stopwatch.GetTimestamp();
        int idleTicks = 0;
        while (!ct.IsCancellationRequested && _fenced is null)
        {
            var changed = Changed;
            lock (_gate)
            {
                foreach (var member in _members)
                {
                    bool needsWork = member.Device is null || member.Role == ReplicaRole.Rebuilding && !member.WantInSync;
                    if (needsWork && !_restoring.ContainsKey(member.Name))
                    {
                        // Its own cancellation: a replica removed from the volume stops reconnecting or rebuilding.
                        var restoring = CancellationTokenSource.CreateLinkedTokenSource(ct);
                        member.Restoring = restoring;
                        _restoring[member.Name] = Task.Run(async () =>
                        {
                            try
                            {
                                await RestoreAsync(member, restoring.Token).ConfigureAwait(false);
                            }
                            finally
                            {
                                lock (_gate)
                                {
                                    if (member.Restoring == restoring)
                                    {
                                        member.Restoring = null;
                                    }
                                }

                                restoring.Dispose();
                            }
                        }, CancellationToken.None);
                    }
                }

                foreach (var done in _restoring.Where(r => r.Value.IsCompleted).Select(r => r.Key).ToList())
                {
                    _restoring.Remove(done);
                }
            }

            if (Stopwatch.GetElapsedTime(lastFlush) >= _options.BackgroundFlushInterval)
            {
                lastFlush = Stopwatch.GetTimestamp();

                // With writes pending, a flush bounds what a replica's crash can take; without, one now and then
                // finds a replica that died while the volume was idle (its state shows it, not the next write).
                // A flush already running (an initiator's, which may wait for the in-sync count) does the same work:
                // the supervisor does not queue behind it, it has replicas to restore.
                if ((_unflushed.HasUnsealed || ++idleTicks >= 5) && _view.InSync.Length > 0 && _flushGate.CurrentCount > 0)
                {
                    idleTicks = 0;
                    try
                    {
                        await FlushAsync(ct).ConfigureAwait(false);
                    }
                    catch (BlockDeviceException e)
                    {
                        _options.Log($"volume {VolumeId}: background flush failed: {e.Message}");
                    }
                }
            }

            try
            {
                await changed.WaitAsync(_options.ReconnectInterval, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Reopens <paramref name="member"/> (retrying with backoff), copies what it misses, and asks for it to join the set.</summary>
    private async Task RestoreAsync(ReplicaMember member, CancellationToken ct)
    {
        try
        {
            if (member.Device is null && !await ReconnectAsync(member, ct).ConfigureAwait(false))
            {
                return;
            }

            if (member.Device is { } device)
            {
                await AddOwnIntentAsync(member, device, ct).ConfigureAwait(false);
            }

            await RebuildAsync(member, ct).ConfigureAwait(false);
            lock (_gate)
            {
                if (member.Role != ReplicaRole.Rebuilding || member.Device is null)
                {
                    return;
                }

                member.WantInSync = true;
                member.Reason = "rebuilt; joining the in-sync set";
                member.LastRebuild = new RebuildSummary(member.RebuildFull, Interlocked.Read(ref member.RebuildBytesCopied),
                    Interlocked.Read(ref member.RebuildGrainsDone), Stopwatch.GetElapsedTime(Interlocked.Read(ref member.RebuildStartTicks)));
                Publish();
            }

            _options.Log($"volume {VolumeId}: replica {member.Name} rebuilt ({Interlocked.Read(ref member.RebuildBytesCopied) >> 10} KiB copied); joining the in-sync set");
            KickRecorder();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (BlockDeviceException e)
        {
            Failed(member, e, 0, 0);
        }
    }

    private async Task<bool> ReconnectAsync(ReplicaMember member, CancellationToken ct)
    {
        var delay = _options.ReconnectInterval;
        if (member.ConsecutiveFailures > 1)
        {
            // It failed again after coming back (a full pool, a flapping link): back off before trying once more.
            await Task.Delay(TimeSpan.FromTicks(_options.ReconnectInterval.Ticks << Math.Min(member.ConsecutiveFailures, 6)), ct).ConfigureAwait(false);
        }

        while (!ct.IsCancellationRequested && _fenced is null)
        {
            IBlockDevice device;
            try
            {
                device = await _connector.ConnectAsync(member.Name, ct).ConfigureAwait(false);
            }
            catch (BlockDeviceException e) when (e.Kind != BlockDeviceErrorKind.Fenced)
            {
                lock (_gate)
                {
                    member.Reason = $"{e.Kind}: {e.Message}";
                }

                await Task.Delay(delay, ct).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectInterval.Ticks * 8));
                continue;
            }

            if (Mismatch(device) is { } mismatch)
            {
                await CloseQuietlyAsync(device).ConfigureAwait(false);
                lock (_gate)
                {
                    member.Reason = mismatch;
                }

                await Task.Delay(delay, ct).ConfigureAwait(false);
                continue;
            }

            lock (_gate)
            {
                if (member.Removed)
                {
                    _ = CloseQuietlyAsync(device); // removed from the volume while it was being opened
                    return false;
                }

                member.Device = device;
                member.Reason = null;
                if (_view.InSync.Length == 0 && _recorded.Contains(member.Name))
                {
                    // Every replica failed at once and the store still holds this one in sync: it has every
                    // acknowledged write, as any of them does. It serves again; the others catch up from it.
                    member.Role = ReplicaRole.InSync;
                    member.WantInSync = true;
                    member.Missing.Reset();
                    _options.Log($"volume {VolumeId}: replica {member.Name} is back and serves again (recorded in sync)");
                }
                else
                {
                    member.Role = ReplicaRole.Rebuilding;
                    member.Reason = "rebuilding";
                }

                Publish();
            }

            KickRecorder();
            return member.Role == ReplicaRole.Rebuilding;
        }

        return false;
    }

    /// <summary>
    /// Copies every grain <paramref name="member"/> misses from an in-sync replica, while writes go on to both: each
    /// copy holds its range against writes, so no write is overwritten by older data. Unmapped ranges of the source
    /// are unmapped on the member instead of copied. Ends when nothing is missing.
    /// </summary>
    private async Task RebuildAsync(ReplicaMember member, CancellationToken ct)
    {
        // Every rebuild waits for the range lock to be on (the writes that did not take it drained), also one that
        // starts while another is turning it on.
        Task enabling;
        lock (_gate)
        {
            if (_rebuildsRunning++ == 0)
            {
                _enabling = _ranges.EnableAsync(CancellationToken.None);
            }

            enabling = _enabling;
        }

        try
        {
            await enabling.WaitAsync(ct).ConfigureAwait(false);
            RecopyUnflushed(member);
            member.RebuildFull = member.NeedsFullCopy;
            Interlocked.Exchange(ref member.RebuildGrainsTotal, member.Missing.Count());
            Interlocked.Exchange(ref member.RebuildGrainsDone, 0);
            Interlocked.Exchange(ref member.RebuildBytesCopied, 0);
            Interlocked.Exchange(ref member.RebuildStartTicks, Stopwatch.GetTimestamp());
            Interlocked.Exchange(ref member.CopiesFlushedAt, Stopwatch.GetTimestamp());
            _options.Log($"volume {VolumeId}: rebuilding replica {member.Name} ({(member.RebuildFull ? "full copy" : "incremental")}, {member.RebuildGrainsTotal} grains to go over)");

            long chunkGrains = Math.Max(1, _options.RebuildChunkBytes / (_grainBlocks * (long)BlockSize));
            while (!member.Missing.IsEmpty)
            {
                long cursor = 0;
                bool Claim(out long first, out long count)
                {
                    // Under the copy lock: a claimed copy is in Copying from the moment it leaves Missing, so the
                    // checkpoint (RecordCheckpoint) never passes over it.
                    lock (member.CopyLock)
                    {
                        first = member.Missing.NextSet(cursor);
                        if (first < 0)
                        {
                            count = 0;
                            return false;
                        }

                        count = member.Missing.RunLength(first, chunkGrains);
                        member.Missing.Clear(first, count);
                        member.Copying.Add(first);
                        cursor = first + count;
                        return true;
                    }
                }

                var workers = Enumerable.Range(0, Math.Max(1, _options.RebuildDepth)).Select(async _ =>
                {
                    while (Claim(out long first, out long count))
                    {
                        await CopyAsync(member, first, count, ct).ConfigureAwait(false);
                    }
                });
                await Task.WhenAll(workers).ConfigureAwait(false);
            }

            await FlushCopiesAsync(member, ct).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                if (--_rebuildsRunning == 0)
                {
                    _ranges.Disable();
                }
            }
        }
    }

    /// <summary>Copies grains [<paramref name="firstGrain"/>, +<paramref name="grains"/>) to <paramref name="member"/>.</summary>
    private async Task CopyAsync(ReplicaMember member, long firstGrain, long grains, CancellationToken ct)
    {
        long lba = firstGrain * _grainBlocks;
        long end = Math.Min(BlockCount, (firstGrain + grains) * _grainBlocks);
        using (await _ranges.EnterExclusiveAsync(lba, end - lba, ct).ConfigureAwait(false))
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent((int)((end - lba) * BlockSize));
            try
            {
                for (long pos = lba; pos < end;)
                {
                    var target = member.Device ?? throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "the replica went away during its rebuild");
                    var source = await SourceForAsync(member, ct).ConfigureAwait(false);
                    bool mapped;
                    long n;
                    try
                    {
                        (mapped, n) = await ReadExtentAsync(source.Device ?? throw Closed(source), pos, end, buffer, ct).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is BlockDeviceException { Kind: not BlockDeviceErrorKind.OutOfRange } or ObjectDisposedException && !ct.IsCancellationRequested)
                    {
                        // The source failed (or was removed, its connection closed): out of the set it goes, and the
                        // copy goes on from another in-sync replica.
                        Failed(source, e as BlockDeviceException ?? Closed(source, e), pos, end - pos);
                        continue;
                    }

                    await ApplyExtentAsync(target, pos, n, mapped, buffer, ct).ConfigureAwait(false);
                    if (mapped)
                    {
                        Interlocked.Add(ref member.RebuildBytesCopied, n * BlockSize);
                    }

                    pos += n;
                }
            }
            catch
            {
                // Not copied after all: still missing, for the next rebuild.
                lock (member.CopyLock)
                {
                    member.Missing.Set(firstGrain, grains);
                    member.Copying.Remove(firstGrain);
                }

                throw;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        lock (member.CopyLock)
        {
            member.CopiedUnflushed.Set(firstGrain, grains);
            member.Copying.Remove(firstGrain);
        }

        Interlocked.Add(ref member.RebuildGrainsDone, grains);
        if (Interlocked.Add(ref member.CopiedSinceFlush, (end - lba) * BlockSize) >= _options.RebuildFlushBytes
            || Stopwatch.GetElapsedTime(Interlocked.Read(ref member.CopiesFlushedAt)) >= _options.RebuildFlushInterval)
        {
            await FlushCopiesAsync(member, ct).ConfigureAwait(false);
        }

        await ThrottleAsync(member, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Flushes <paramref name="member"/>: the grains copied to it before now become durable there, so a failure after
    /// this does not copy them again. One flush at a time; a copy that crosses the threshold while one runs goes on.
    /// </summary>
    private async Task FlushCopiesAsync(ReplicaMember member, CancellationToken ct)
    {
        SparseBitmap flushing;
        lock (member.CopyLock)
        {
            if (member.CopiesFlushing is not null)
            {
                return;
            }

            flushing = member.CopiedUnflushed;
            member.CopiesFlushing = flushing;
            member.CopiedUnflushed = new SparseBitmap(Grains);
            Interlocked.Exchange(ref member.CopiedSinceFlush, 0);
            Interlocked.Exchange(ref member.CopiesFlushedAt, Stopwatch.GetTimestamp());
        }

        var device = member.Device ?? throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "the replica went away during its rebuild");

        // One flush at a time, as every flush whose Settle follows (FlushAndSettleAsync): the replica's Settle refers
        // to the last flush it completed, which must be this one.
        await _flushGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await device.FlushAsync(ct).ConfigureAwait(false);
            lock (member.CopyLock)
            {
                // Only on success: after a failed flush the grains stay recorded, for the next rebuild to copy again.
                member.CopiesFlushing = null;
            }

            // Its regions the flush made durable are settled once the changes sent before it reached every replica:
            // left set, they would make a target that resumes this rebuild copy them all again.
            await _drain.DrainAsync().ConfigureAwait(false);
            if (device is IWriteIntent intent && member.Device == device && member.Role == ReplicaRole.Rebuilding)
            {
                try
                {
                    await intent.SettleAsync(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is BlockDeviceException or ObjectDisposedException)
                {
                    // An optimisation only: a replica that cannot be reached fails at its next change.
                }
            }
        }
        finally
        {
            _flushGate.Release();
        }

        RecordCheckpoint(member);
    }

    /// <summary>
    /// After a flush of the copies: the lowest grain <paramref name="member"/> may still lack durably (missing, being
    /// copied, copied since the flush) bounds what it holds; asked of the store as its checkpoint, for a target that
    /// takes over to resume from (docs/replication.md, "Resuming a rebuild"). Copies go in ascending order and every
    /// write reaches a rebuilding replica, so below it the replica holds what the in-sync ones hold.
    /// </summary>
    private void RecordCheckpoint(ReplicaMember member)
    {
        long grain;
        lock (member.CopyLock)
        {
            grain = Lowest(member.Missing.NextSet(0), member.CopiedUnflushed.NextSet(0), member.CopiesFlushing?.NextSet(0) ?? -1,
                member.Copying.Count > 0 ? member.Copying.Min : -1);
        }

        long bytes = Math.Min(grain * GrainBytes, BlockCount * BlockSize);
        lock (_gate)
        {
            if (member.Role != ReplicaRole.Rebuilding || member.Device is null || member.WantInSync || member.Removed
                || member.CheckpointWanted >= bytes)
            {
                return;
            }

            member.CheckpointWanted = bytes;
        }

        KickRecorder();

        long Lowest(params ReadOnlySpan<long> firsts)
        {
            long lowest = Grains;
            foreach (long f in firsts)
            {
                if (f >= 0 && f < lowest)
                {
                    lowest = f;
                }
            }

            return lowest;
        }
    }

    /// <summary>What the last rebuild copied without a flush after it may be gone (the replica failed since): missing again.</summary>
    private static void RecopyUnflushed(ReplicaMember member)
    {
        lock (member.CopyLock)
        {
            member.Missing.Union(member.CopiedUnflushed);
            if (member.CopiesFlushing is { } flushing)
            {
                member.Missing.Union(flushing);
            }

            member.CopiedUnflushed.Reset();
            member.CopiesFlushing = null;
            member.Copying.Clear();
            Interlocked.Exchange(ref member.CopiedSinceFlush, 0);
        }
    }

    /// <summary>
    /// How far from <paramref name="pos"/> (up to <paramref name="end"/>) <paramref name="source"/> is mapped or not,
    /// with the data read into <paramref name="buffer"/> when mapped (a device without an allocation map is all mapped).
    /// </summary>
    private async ValueTask<(bool Mapped, long Blocks)> ReadExtentAsync(IBlockDevice source, long pos, long end, byte[] buffer, CancellationToken ct)
    {
        var (mapped, n) = source is IAllocationMap map
            ? await map.GetExtentAsync(pos, end - pos, ct).ConfigureAwait(false)
            : (true, end - pos);
        n = Math.Min(n, end - pos);
        if (mapped)
        {
            await source.ReadAsync(pos, buffer.AsMemory(0, (int)(n * BlockSize)), ct).ConfigureAwait(false);
        }

        return (mapped, n);
    }

    /// <summary>Makes [<paramref name="pos"/>, +<paramref name="n"/>) of <paramref name="target"/> what <see cref="ReadExtentAsync"/> read: the data, or unmapped.</summary>
    private ValueTask ApplyExtentAsync(IBlockDevice target, long pos, long n, bool mapped, byte[] buffer, CancellationToken ct) =>
        mapped
            ? target.WriteAsync(pos, buffer.AsMemory(0, (int)(n * BlockSize)), WriteFlags.None, ct)
            : target.UnmapAsync(pos, n, ct);

    private async ValueTask<ReplicaMember> SourceForAsync(ReplicaMember member, CancellationToken ct)
    {
        var view = await InSyncViewAsync(ct).ConfigureAwait(false);
        return Array.Find(view.InSync, m => m != member)
            ?? throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"no in-sync replica to copy from besides {member.Name}");
    }

    private async Task ThrottleAsync(ReplicaMember member, CancellationToken ct)
    {
        long rate = _options.RebuildBytesPerSecond;
        if (rate <= 0)
        {
            return;
        }

        var elapsed = Stopwatch.GetElapsedTime(Interlocked.Read(ref member.RebuildStartTicks));
        var due = TimeSpan.FromSeconds((double)Interlocked.Read(ref member.RebuildBytesCopied) / rate);
        if (due > elapsed)
        {
            await Task.Delay(due - elapsed, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The rebuild's progress in bytes of the volume gone over (grains), its copy rate and what is left. Under <see cref="_gate"/>.</summary>
    private RebuildProgress? ProgressOf(ReplicaMember member)
    {
        if (member.Role != ReplicaRole.Rebuilding || Interlocked.Read(ref member.RebuildStartTicks) == 0)
        {
            return null;
        }

        long grainBytes = (long)_grainBlocks * BlockSize;
        long total = Interlocked.Read(ref member.RebuildGrainsTotal) * grainBytes;
        long done = Math.Min(total, Interlocked.Read(ref member.RebuildGrainsDone) * grainBytes);
        long copied = Interlocked.Read(ref member.RebuildBytesCopied);
        double seconds = Math.Max(1e-3, Stopwatch.GetElapsedTime(Interlocked.Read(ref member.RebuildStartTicks)).TotalSeconds);
        double rate = done / seconds;
        TimeSpan? eta = rate > 0 ? TimeSpan.FromSeconds((total - done) / rate) : null;
        return new RebuildProgress(member.RebuildFull, done, total, copied, copied / seconds, eta);
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _supervisor.ConfigureAwait(false);
            Task[] restoring;
            lock (_gate)
            {
                restoring = [.. _restoring.Values];
            }

            await Task.WhenAll(restoring).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        List<IBlockDevice> devices;
        lock (_gate)
        {
            devices = _members.Where(m => m.Device is not null).Select(m => m.Device!).ToList();
            foreach (var m in _members)
            {
                m.Device = null;
                m.Role = ReplicaRole.Offline;
                m.Reason = "the volume is closed";
            }

            _view = View.Empty;
        }

        await Task.WhenAll(devices.Select(CloseQuietlyAsync)).ConfigureAwait(false);
        _stop.Dispose();
    }
}

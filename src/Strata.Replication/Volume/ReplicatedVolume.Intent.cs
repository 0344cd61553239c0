using System.Buffers;

namespace Strata.Replication.Volume;

// The replicas' write-intent logs: settling them after flushes, and reading them when a new target opens the volume
// (docs/replication.md, "The write-intent log").
public sealed partial class ReplicatedVolume
{
    /// <summary>One flush at a time: a replica's Settle refers to the last flush it completed, which must be this one.</summary>
    private readonly SemaphoreSlim _flushGate = new(1, 1);

    /// <summary>Changes count themselves in here until they have reached every replica: a Settle waits for those sent before it.</summary>
    private readonly IoEpoch _drain = new();

    /// <summary>
    /// Flushes every replica; then, when nothing changed in the set meanwhile, waits for the changes already sent to
    /// have reached every replica and settles the in-sync ones' write-intent regions.
    /// </summary>
    private async ValueTask FlushAndSettleAsync(CancellationToken ct)
    {
        await _flushGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var before = _view;
            await FanOutAsync(Operation.Flush, 0, 0, default, WriteFlags.None, ct).ConfigureAwait(false);
            await SettleAsync(before, ct).ConfigureAwait(false);
        }
        finally
        {
            _flushGate.Release();
        }
    }

    /// <summary>
    /// Settles the in-sync and rebuilding replicas of <paramref name="flushed"/>, which the flush just reached. A change sent before
    /// the flush may have reached one replica and not yet another: its region must stay set on the one it reached, so
    /// the changes in flight are waited for first. A change sent after that reaches every replica after the flush, so
    /// it keeps its regions set. When the view changed (a replica failed, joined, was added or removed), nothing is
    /// settled: the next flush does it.
    /// </summary>
    private async Task SettleAsync(View flushed, CancellationToken ct)
    {
        if (flushed.InSync.Length == 0)
        {
            return;
        }

        await _drain.DrainAsync().ConfigureAwait(false);
        if (!ReferenceEquals(_view, flushed) || _fenced is not null)
        {
            return;
        }

        // Rebuilding replicas too: their regions bound where they may differ, for a rebuild resumed by another target
        // (ReplicatedVolume.RecordCheckpoint); unsettled, they would cover all that was copied.
        foreach (var member in flushed.Writable)
        {
            if (member.Device is not IWriteIntent intent)
            {
                continue;
            }

            try
            {
                await intent.SettleAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is BlockDeviceException or ObjectDisposedException)
            {
                // Settling is an optimisation: a replica that cannot be reached fails at its next change.
                _options.Log($"volume {VolumeId}: replica {member.Name} was not settled: {e.Message}");
            }
        }
    }

    /// <summary>
    /// Before the volume serves, at a new epoch: reads the write-intent regions of every reachable in-sync replica; their
    /// union U covers every region the previous target may have left different (a change in flight, or unflushed on a
    /// replica that crashed). The in-sync replicas are made identical over U, copied from one source; in-sync replicas
    /// out of reach now are given U to catch up (and their own regions once they are reached) instead of a full copy.
    /// </summary>
    private async Task ReconcileAtOpenAsync(CancellationToken ct)
    {
        var union = new SparseBitmap(Grains);
        var recovered = new HashSet<ReplicaMember>();
        bool known = true;
        foreach (var member in _view.InSync)
        {
            if (member.Device is not IWriteIntent log)
            {
                known = false; // a replica that keeps no write-intent log: nothing bounds where it differs
                continue;
            }

            try
            {
                var intent = await log.GetIntentAsync(ct).ConfigureAwait(false);
                intent.MarkGrains(union, GrainBytes);
                if (intent.Recovered)
                {
                    recovered.Add(member);
                }
            }
            catch (Exception e) when (e is BlockDeviceException { Kind: not BlockDeviceErrorKind.Fenced } or ObjectDisposedException)
            {
                // What it may differ in is unknown: out of the set, and a full copy when it returns.
                member.NeedsFullCopy = true;
                member.Missing.Set(0, Grains);
                Failed(member, e as BlockDeviceException ?? Closed(member, e), 0, 0);
            }
        }

        ThrowIfFenced();
        lock (_gate)
        {
            foreach (var member in _members.Where(m => m.IntentUnread))
            {
                if (!known)
                {
                    member.IntentUnread = false; // nothing bounds what it lacks: the full copy it was given stays
                }
                else
                {
                    // In sync when the last target stopped, out of reach now (or rebuilt by it up to a checkpoint): it
                    // holds every acknowledged write except where the others may differ (U), what it failed now, and
                    // its own unsettled regions (read when it is reached). Writes from now on are marked as they come.
                    member.Missing.Reset();
                    member.Missing.Union(union);
                    if (member.ResumeFromGrain is { } resume)
                    {
                        // Out of the set, its rebuild recorded this far: the rest is missing as well.
                        member.Missing.Set(resume, Grains - resume);
                    }

                    member.NeedsFullCopy = false;
                    member.IntentUnread = true;
                }
            }
        }

        long grains = union.Count();
        if (grains == 0 || !known)
        {
            return;
        }

        long copied = await ResyncAsync(union, recovered, ct).ConfigureAwait(false);
        _options.Log($"volume {VolumeId}: the in-sync replicas were made identical over {grains} grains left unsettled by the last target ({copied >> 10} KiB copied)");
    }

    /// <summary>
    /// Copies <paramref name="regions"/> from one in-sync replica to the others: a replica that did not restart with
    /// regions unsettled (it kept its cache) first, the preferred (local) one before others. A target that fails leaves the
    /// set (it misses the regions); a source that fails leaves it too, and the copy starts over from another.
    /// </summary>
    private async Task<long> ResyncAsync(SparseBitmap regions, HashSet<ReplicaMember> recovered, CancellationToken ct)
    {
        long chunkGrains = Math.Max(1, _options.RebuildChunkBytes / GrainBytes);
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)(chunkGrains * GrainBytes));
        long copied = 0;
        try
        {
            while (true)
            {
                var inSync = _view.InSync;
                if (inSync.Length == 0)
                {
                    throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"volume {VolumeId}: no in-sync replica is left to copy the unsettled regions from: {Why()}");
                }

                var source = inSync.OrderBy(m => recovered.Contains(m)).ThenBy(m => m.Name != _options.PreferredReplica).First();
                var targets = inSync.Where(m => m != source).ToList();
                if (targets.Count == 0)
                {
                    return copied;
                }

                bool sourceFailed = false;
                for (long grain = regions.NextSet(0); grain >= 0 && !sourceFailed; grain = regions.NextSet(grain))
                {
                    long count = regions.RunLength(grain, chunkGrains);
                    long lba = grain * _grainBlocks;
                    long end = Math.Min(BlockCount, (grain + count) * _grainBlocks);
                    for (long pos = lba; pos < end && !sourceFailed;)
                    {
                        (bool Mapped, long Blocks) extent;
                        try
                        {
                            extent = await ReadExtentAsync(source.Device ?? throw Closed(source), pos, end, buffer, ct).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is BlockDeviceException { Kind: not BlockDeviceErrorKind.OutOfRange } or ObjectDisposedException && !ct.IsCancellationRequested)
                        {
                            source.Missing.Union(regions);
                            Failed(source, e as BlockDeviceException ?? Closed(source, e), 0, 0);
                            sourceFailed = true;
                            break;
                        }

                        foreach (var target in targets)
                        {
                            await CopyToAsync(target, pos, extent, buffer, regions, ct).ConfigureAwait(false);
                        }

                        copied += extent.Mapped ? extent.Blocks * BlockSize * targets.Count : 0;
                        pos += extent.Blocks;
                    }

                    grain += count;
                }

                ThrowIfFenced();
                if (!sourceFailed)
                {
                    return copied;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One extent of the open resync to <paramref name="target"/>; a target that fails leaves the set, missing the regions.</summary>
    private async Task CopyToAsync(ReplicaMember target, long pos, (bool Mapped, long Blocks) extent, byte[] buffer, SparseBitmap regions, CancellationToken ct)
    {
        if (target.Device is not { } device)
        {
            return; // failed earlier in this resync
        }

        try
        {
            await ApplyExtentAsync(device, pos, extent.Blocks, extent.Mapped, buffer, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is BlockDeviceException { Kind: not BlockDeviceErrorKind.OutOfRange } or ObjectDisposedException && !ct.IsCancellationRequested)
        {
            target.Missing.Union(regions);
            Failed(target, e as BlockDeviceException ?? Closed(target, e), 0, 0);
        }
    }

    /// <summary>
    /// A replica in sync at open but out of reach then is back: its own unsettled regions (where it may lack what its
    /// cache held, or hold a change the others never got) are added to what it misses. When they cannot be read,
    /// nothing bounds them: a full copy.
    /// </summary>
    private async Task AddOwnIntentAsync(ReplicaMember member, IBlockDevice device, CancellationToken ct)
    {
        if (!member.IntentUnread)
        {
            return;
        }

        member.IntentUnread = false;
        try
        {
            if (device is not IWriteIntent log)
            {
                throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "it keeps no write-intent log");
            }

            var intent = await log.GetIntentAsync(ct).ConfigureAwait(false);
            intent.MarkGrains(member.Missing, GrainBytes);
            _options.Log($"volume {VolumeId}: replica {member.Name} is back with {intent.Set.Count()} unsettled write-intent regions; it catches up incrementally");
        }
        catch (BlockDeviceException e) when (e.Kind != BlockDeviceErrorKind.Fenced)
        {
            _options.Log($"volume {VolumeId}: the write-intent regions of replica {member.Name} cannot be read ({e.Message}); it gets a full copy");
            member.NeedsFullCopy = true;
            member.Missing.Set(0, Grains);
        }
    }
}

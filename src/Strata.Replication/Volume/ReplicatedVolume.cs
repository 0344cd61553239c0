using System.Buffers;
using System.Runtime.CompilerServices;

namespace Strata.Replication.Volume;

/// <summary>
/// A volume kept on several replicas, as the one <see cref="IBlockDevice"/> its iSCSI target serves. Writes, unmaps and
/// flushes go to every replica in the in-sync set (and to those rebuilding) and complete when all of them have them;
/// reads go to one in-sync replica, and to another when it fails. A replica that fails is taken out of the in-sync
/// set, recorded in the store by compare-and-swap before any later write is acknowledged, and the grains it misses
/// from then on are tracked so that it catches up with exactly those when it returns (docs/replication.md).
/// </summary>
/// <remarks>
/// The rules are those of docs/architecture.md, "Replication rules". While a removal is being recorded, I/O waits
/// rather than fails; below <see cref="ReplicatedVolumeOptions.MinInSync"/> in-sync replicas, writes wait a bounded
/// time and then fail with <see cref="BlockDeviceErrorKind.Unavailable"/>; once a replica reports that a newer epoch
/// reached it, the volume is fenced and every call fails with <see cref="BlockDeviceErrorKind.Fenced"/>.
/// </remarks>
public sealed partial class ReplicatedVolume : IBlockDevice, IAllocationMap
{
    private readonly ReplicatedVolumeOptions _options;
    private readonly IReplicaConnector _connector;
    private readonly IMembershipStore _store;
    /// <summary>The volume's replicas; replaced whole under <see cref="_gate"/> when one is added or removed, never changed in place.</summary>
    private volatile ReplicaMember[] _members;
    private readonly Lock _gate = new();
    private readonly UnflushedWrites _unflushed;
    private readonly RangeLock _ranges = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly int _grainBlocks;
    private volatile View _view = View.Empty;
    private volatile string? _fenced;
    private int _readCursor;

    private ReplicatedVolume(ReplicatedVolumeOptions options, IReplicaConnector connector, IMembershipStore store, int blockSize, long blockCount)
    {
        _options = options;
        _connector = connector;
        _store = store;
        BlockSize = blockSize;
        BlockCount = blockCount;
        _grainBlocks = Math.Max(1, options.GrainBytes / blockSize);
        Grains = (blockCount + _grainBlocks - 1) / _grainBlocks;
        _members = options.Replicas.Select(name => new ReplicaMember(name, Grains)).ToArray();
        _unflushed = new UnflushedWrites(Grains);
        _recorded = [.. options.InSync];
    }

    public string VolumeId => _options.VolumeId;

    public long Epoch => _options.Epoch;

    public int BlockSize { get; }

    public long BlockCount { get; }

    /// <summary>Bytes of one grain: the unit of tracking what a replica misses.</summary>
    public long GrainBytes => (long)_grainBlocks * BlockSize;

    /// <summary>Grains of the volume: the unit its missing-data maps and rebuilds count in.</summary>
    public long Grains { get; }

    /// <summary>Why the volume is fenced, or null.</summary>
    public string? FencedReason => _fenced;

    /// <summary>Raised once, when a newer target instance has taken the volume over.</summary>
    public event Action<string>? Fenced;

    /// <summary>Every replica, its role, why, and its rebuild's progress.</summary>
    public IReadOnlyList<ReplicaState> Replicas
    {
        get
        {
            lock (_gate)
            {
                return _members.Select(m => new ReplicaState(m.Name, m.Role, m.Reason, m.LastError, ProgressOf(m), m.LastRebuild, Interlocked.Read(ref m.Failures))).ToList();
            }
        }
    }

    /// <summary>The names of the replicas the store records in sync, as this target last wrote or read it.</summary>
    public IReadOnlyList<string> RecordedInSync
    {
        get
        {
            lock (_gate)
            {
                return [.. _recorded];
            }
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        long blocks = CheckRange(lba, buffer.Length);
        while (true)
        {
            ThrowIfFenced();
            var member = PickReader(await InSyncViewAsync(ct).ConfigureAwait(false));
            try
            {
                await (member.Device ?? throw Closed(member)).ReadAsync(lba, buffer, ct).ConfigureAwait(false);
                return;
            }
            catch (BlockDeviceException e) when (e.Kind != BlockDeviceErrorKind.OutOfRange && !ct.IsCancellationRequested)
            {
                Failed(member, e, lba, blocks);
            }
            catch (ObjectDisposedException e) when (!ct.IsCancellationRequested)
            {
                Failed(member, Closed(member, e), lba, blocks);
            }
        }
    }

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default) =>
        FanOutAsync(Operation.Write, lba, CheckRange(lba, data.Length), data, flags, ct);

    public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
    {
        if (lba < 0 || blockCount < 0 || lba > BlockCount - blockCount)
        {
            throw BlockDeviceException.OutOfRange(lba, blockCount, BlockCount);
        }

        return blockCount == 0 ? ValueTask.CompletedTask : FanOutAsync(Operation.Unmap, lba, blockCount, default, WriteFlags.None, ct);
    }

    /// <summary>Flushes every replica, then settles their write-intent regions (<see cref="FlushAndSettleAsync"/>).</summary>
    public ValueTask FlushAsync(CancellationToken ct = default) => FlushAndSettleAsync(ct);

    /// <summary>Asks an in-sync replica that can tell (a pool volume can); without one, every block is mapped.</summary>
    public async ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default)
    {
        CheckRange(lba, (int)Math.Min(maxBlocks, 1) * BlockSize);
        while (true)
        {
            ThrowIfFenced();
            var view = await InSyncViewAsync(ct).ConfigureAwait(false);
            var member = Array.Find(view.InSync, m => m.Device is IAllocationMap);
            if (member is null)
            {
                return (true, Math.Min(maxBlocks, BlockCount - lba));
            }

            try
            {
                return await ((IAllocationMap)(member.Device ?? throw Closed(member))).GetExtentAsync(lba, maxBlocks, ct).ConfigureAwait(false);
            }
            catch (BlockDeviceException e) when (e.Kind != BlockDeviceErrorKind.OutOfRange && !ct.IsCancellationRequested)
            {
                Failed(member, e, lba, 0);
            }
            catch (ObjectDisposedException e) when (!ct.IsCancellationRequested)
            {
                Failed(member, Closed(member, e), lba, 0);
            }
        }
    }

    private enum Operation
    {
        Write,
        Unmap,
        Flush,
    }

    /// <summary>
    /// Sends one write, unmap or flush to every writable replica and completes when all have it, after any replica
    /// that failed it is recorded out of the in-sync set.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FanOutAsync(Operation op, long lba, long blocks, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        ThrowIfFenced();
        bool flush = op == Operation.Flush;
        using var lease = flush ? default : await _ranges.EnterSharedAsync(lba, blocks, ct).ConfigureAwait(false);
        // A flush seals before it reads the view: a write marked in what it seals completed before, so every replica
        // that write reached is in this flush's view (or was taken out, which copied what is unflushed).
        long sealedId = flush ? _unflushed.Seal() : 0;
        var view = await InSyncViewAsync(ct).ConfigureAwait(false);
        if (!flush && view.Offline.Length > 0)
        {
            // Replicas that will not see this change miss its grains; marked before it is sent, so a rebuild that
            // passed them already goes over them again.
            foreach (var away in view.Offline)
            {
                away.Missing.Set(lba / _grainBlocks, GrainSpan(lba, blocks));
            }
        }

        var writable = view.Writable;
        var legs = ArrayPool<ValueTask>.Shared.Rent(writable.Length);

        // A change counts itself until it has reached every replica (or they failed it): a Settle waits for that.
        int changing = flush ? 0 : _drain.Enter();
        try
        {
            for (int i = 0; i < writable.Length; i++)
            {
                legs[i] = Start(op, writable[i], lba, blocks, data, flags, ct);
            }

            List<(ReplicaMember Member, BlockDeviceException Error)>? failures = null;
            for (int i = 0; i < writable.Length; i++)
            {
                try
                {
                    await legs[i].ConfigureAwait(false);
                }
                catch (BlockDeviceException e)
                {
                    (failures ??= []).Add((writable[i], e));
                }
                catch (ObjectDisposedException e)
                {
                    (failures ??= []).Add((writable[i], Closed(writable[i], e)));
                }
            }

            if (failures is not null)
            {
                ResolveFailures(op, view, failures, lba, blocks);
            }
        }
        finally
        {
            ArrayPool<ValueTask>.Shared.Return(legs, clearArray: true);
            if (!flush)
            {
                _drain.Exit(changing);
            }
        }

        if (flush)
        {
            _unflushed.Flushed(sealedId);
        }
        else
        {
            _unflushed.Mark(lba / _grainBlocks, GrainSpan(lba, blocks));

            // A replica taken out while this change was in flight may hold it or not, and may lose it from its cache
            // (its removal copied what was unflushed then, before this mark): it gets these grains again.
            foreach (var member in writable)
            {
                if (member.Role == ReplicaRole.Offline)
                {
                    member.Missing.Set(lba / _grainBlocks, GrainSpan(lba, blocks));
                }
            }
        }

        // Before acknowledging: every replica that failed a change is recorded out of the set, and enough remain.
        await AcknowledgeableAsync(ct).ConfigureAwait(false);
    }

    private static ValueTask Start(Operation op, ReplicaMember member, long lba, long blocks, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        try
        {
            // The member may have failed or been removed since the view was read: its device is gone or closed.
            var device = member.Device ?? throw Closed(member);
            return op switch
            {
                Operation.Write => device.WriteAsync(lba, data, flags, ct),
                Operation.Unmap => device.UnmapAsync(lba, blocks, ct),
                _ => device.FlushAsync(ct),
            };
        }
        catch (BlockDeviceException e)
        {
            return ValueTask.FromException(e);
        }
        catch (ObjectDisposedException e)
        {
            return ValueTask.FromException(Closed(member, e));
        }
    }

    /// <summary>The error of a call to a replica whose connection was closed under it (it failed or was removed meanwhile).</summary>
    private static BlockDeviceException Closed(ReplicaMember member, Exception? inner = null) =>
        new(BlockDeviceErrorKind.Unavailable, $"the connection to replica {member.Name} was closed", inner);

    /// <summary>
    /// Replicas that failed are taken out of the set. When no in-sync replica took the change, the caller gets the
    /// error and the set stays as it is: there is nothing better to keep.
    /// </summary>
    private void ResolveFailures(Operation op, View view, List<(ReplicaMember Member, BlockDeviceException Error)> failures, long lba, long blocks)
    {
        var first = failures[0].Error;
        if (first.Kind == BlockDeviceErrorKind.OutOfRange)
        {
            throw first;
        }

        if (failures.Find(f => f.Error.Kind == BlockDeviceErrorKind.Fenced) is { Member: not null } fenced)
        {
            Fence($"replica {fenced.Member.Name} has seen a newer epoch than this target's {Epoch}: {fenced.Error.Message}");
            ThrowIfFenced();
        }

        // A replica removed from the volume meanwhile (RemoveReplica) does not count, whatever it answered: its copy is
        // forgotten. A rebuilding one that has joined the set since the change was sent counts: it had the change.
        bool anyInSyncSucceeded = view.Writable.Any(m => !m.Removed && failures.TrueForAll(f => f.Member != m)
            && (Array.IndexOf(view.InSync, m) >= 0 || m.Role == ReplicaRole.InSync));
        if (!anyInSyncSucceeded)
        {
            foreach (var (member, _) in failures.Where(f => f.Member.Role == ReplicaRole.Rebuilding))
            {
                Failed(member, failures.First(f => f.Member == member).Error, lba, blocks);
            }

            string what = op switch { Operation.Write => "write", Operation.Unmap => "unmap", _ => "flush" };
            throw new BlockDeviceException(first.Kind,
                $"volume {VolumeId}: the {what} failed on every in-sync replica: " + string.Join("; ", failures.Select(f => $"{f.Member.Name}: {f.Error.Message}")), first);
        }

        foreach (var (member, error) in failures)
        {
            Failed(member, error, lba, op == Operation.Flush ? 0 : blocks);
        }
    }

    private ReplicaMember PickReader(View view)
    {
        var inSync = view.InSync;
        if (_options.PreferredReplica is { } preferred)
        {
            foreach (var m in inSync)
            {
                if (m.Name == preferred)
                {
                    return m;
                }
            }
        }

        return inSync[(int)((uint)Interlocked.Increment(ref _readCursor) % (uint)inSync.Length)];
    }

    private long CheckRange(long lba, int bytes)
    {
        if (bytes % BlockSize != 0)
        {
            throw new ArgumentException($"a buffer of {bytes} bytes is not a whole number of {BlockSize}-byte blocks", nameof(bytes));
        }

        long blocks = bytes / BlockSize;
        if (lba < 0 || lba > BlockCount - blocks)
        {
            throw BlockDeviceException.OutOfRange(lba, blocks, BlockCount);
        }

        return blocks;
    }

    private long GrainSpan(long lba, long blocks) => blocks == 0 ? 0 : ((lba + blocks - 1) / _grainBlocks) - (lba / _grainBlocks) + 1;

    private void ThrowIfFenced()
    {
        if (_fenced is { } reason)
        {
            throw new BlockDeviceException(BlockDeviceErrorKind.Fenced, $"volume {VolumeId}: this target (epoch {Epoch}) is fenced: {reason}");
        }
    }

    /// <summary>The replicas as I/O sees them at one moment; replaced whole, never changed.</summary>
    private sealed class View(ReplicaMember[] inSync, ReplicaMember[] writable, ReplicaMember[] offline)
    {
        public static readonly View Empty = new([], [], []);

        /// <summary>Reads go to these; every change must reach all of them.</summary>
        public ReplicaMember[] InSync { get; } = inSync;

        /// <summary>In sync and rebuilding: every change is sent to these.</summary>
        public ReplicaMember[] Writable { get; } = writable;

        /// <summary>Changes do not reach these: they are marked missing.</summary>
        public ReplicaMember[] Offline { get; } = offline;
    }
}

using Strata.Replication.Server;
using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>
/// A replica as its node holds it, in memory: its blocks, which are mapped, the newest epoch that reached it, its
/// write-intent log (a replica server's, kept in memory: it survives <see cref="Kill"/> as the file would), and
/// whether it is up. Connections to it (<see cref="Connect"/>) behave like <see cref="ReplicaClient"/>s: once the
/// replica goes down a connection is dead for good, and one of an older epoch than the newest is fenced.
/// </summary>
public sealed class ReplicaDisk(string name, int blockSize, long blockCount, int regionBlocks = 16)
{
    private readonly byte[] _data = new byte[blockSize * blockCount];
    private readonly bool[] _mapped = new bool[blockCount];
    private int _generation;
    private long _epoch;

    public string Name { get; } = name;

    public int BlockSize => blockSize;

    public long BlockCount => blockCount;

    public bool Up { get; private set; } = true;

    /// <summary>Writes fail with this kind (NoSpace: a full pool) while set.</summary>
    public BlockDeviceErrorKind? FailWrites { get; set; }

    /// <summary>Each read waits this long (to widen races with a rebuild).</summary>
    public TimeSpan ReadDelay { get; set; }

    public long BytesWritten;
    public long Reads;
    public long IntentReads;
    public long Unmaps;

    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>The replica's write-intent log: regions of 16 blocks by default, so a small volume has many.</summary>
    internal WriteIntentLog Intent { get; } = WriteIntentLog.Open(null, blockSize, blockCount, regionBlocks * blockSize);

    /// <summary>
    /// A change of the previous target that reached this replica alone before that target died (never acknowledged):
    /// applied with its write-intent regions set, as the replica server applies any change.
    /// </summary>
    public void ApplyInterrupted(long lba, byte[] data)
    {
        long blocks = data.Length / blockSize;
        Assert.True(Intent.Begin(lba, blocks).IsCompletedSuccessfully);
        lock (_data)
        {
            data.CopyTo(_data.AsSpan((int)(lba * blockSize)));
            _mapped.AsSpan((int)lba, (int)blocks).Fill(true);
        }

        Intent.End(lba, blocks);
    }

    /// <summary>Goes down: every connection fails from now on, new ones are refused until <see cref="Revive"/>.</summary>
    public void Kill()
    {
        Up = false;
        Interlocked.Increment(ref _generation);
    }

    public void Revive() => Up = true;

    public byte[] Snapshot()
    {
        lock (_data)
        {
            return (byte[])_data.Clone();
        }
    }

    public long MappedBlocks()
    {
        lock (_data)
        {
            return _mapped.Count(m => m);
        }
    }

    public IBlockDevice Connect(long epoch)
    {
        if (!Up)
        {
            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"replica {Name} is down");
        }

        lock (_data)
        {
            if (epoch < _epoch)
            {
                throw new BlockDeviceException(BlockDeviceErrorKind.Fenced, $"replica {Name} has seen epoch {_epoch}");
            }

            _epoch = epoch;
        }

        return new Connection(this, Volatile.Read(ref _generation), epoch);
    }

    private void Check(int generation, long epoch)
    {
        if (!Up || generation != Volatile.Read(ref _generation))
        {
            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"the connection to replica {Name} was lost");
        }

        if (epoch < Epoch)
        {
            throw new BlockDeviceException(BlockDeviceErrorKind.Fenced, $"replica {Name} has seen epoch {Epoch}");
        }
    }

    private sealed class Connection(ReplicaDisk disk, int generation, long epoch) : IBlockDevice, IAllocationMap, IWriteIntent
    {
        private int _flushed = 1;

        public int BlockSize => disk.BlockSize;

        public long BlockCount => disk.BlockCount;

        public async ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
        {
            if (disk.ReadDelay > TimeSpan.Zero)
            {
                await Task.Delay(disk.ReadDelay, ct);
            }

            disk.Check(generation, epoch);
            Range(lba, buffer.Length / BlockSize);
            Interlocked.Increment(ref disk.Reads);
            lock (disk._data)
            {
                disk._data.AsSpan((int)(lba * BlockSize), buffer.Length).CopyTo(buffer.Span);
            }
        }

        public async ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
        {
            await Task.Yield();
            disk.Check(generation, epoch);
            Range(lba, data.Length / BlockSize);
            if (disk.FailWrites is { } kind)
            {
                throw new BlockDeviceException(kind, $"replica {disk.Name}: {kind}");
            }

            await disk.Intent.Begin(lba, data.Length / BlockSize);
            try
            {
                lock (disk._data)
                {
                    data.Span.CopyTo(disk._data.AsSpan((int)(lba * BlockSize)));
                    disk._mapped.AsSpan((int)lba, data.Length / BlockSize).Fill(true);
                }
            }
            finally
            {
                disk.Intent.End(lba, data.Length / BlockSize);
            }

            Interlocked.Add(ref disk.BytesWritten, data.Length);
        }

        public ValueTask FlushAsync(CancellationToken ct = default)
        {
            int flushing = disk.Intent.FlushStarting();
            disk.Check(generation, epoch);
            _flushed = Math.Max(_flushed, flushing);
            return ValueTask.CompletedTask;
        }

        public Task<WriteIntent> GetIntentAsync(CancellationToken ct = default)
        {
            disk.Check(generation, epoch);
            Interlocked.Increment(ref disk.IntentReads);
            return Task.FromResult(disk.Intent.ToIntent());
        }

        public ValueTask SettleAsync(CancellationToken ct = default)
        {
            disk.Check(generation, epoch);
            disk.Intent.Settle(_flushed);
            return ValueTask.CompletedTask;
        }

        public async ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
        {
            await Task.Yield();
            disk.Check(generation, epoch);
            Range(lba, blockCount);
            Interlocked.Increment(ref disk.Unmaps);
            await disk.Intent.Begin(lba, blockCount);
            try
            {
                lock (disk._data)
                {
                    disk._data.AsSpan((int)(lba * BlockSize), (int)(blockCount * BlockSize)).Clear();
                    disk._mapped.AsSpan((int)lba, (int)blockCount).Clear();
                }
            }
            finally
            {
                disk.Intent.End(lba, blockCount);
            }
        }

        public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default)
        {
            disk.Check(generation, epoch);
            Range(lba, 1);
            lock (disk._data)
            {
                bool mapped = disk._mapped[lba];
                long n = 1;
                while (n < maxBlocks && lba + n < BlockCount && disk._mapped[lba + n] == mapped)
                {
                    n++;
                }

                return ValueTask.FromResult((mapped, n));
            }
        }

        private void Range(long lba, long blocks)
        {
            if (lba < 0 || blocks < 0 || lba + blocks > BlockCount)
            {
                throw BlockDeviceException.OutOfRange(lba, blocks, BlockCount);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>Opens <see cref="ReplicaDisk"/>s by name at one epoch.</summary>
public sealed class DiskConnector(long epoch, params ReplicaDisk[] disks) : IReplicaConnector
{
    public Task<IBlockDevice> ConnectAsync(string replica, CancellationToken ct) =>
        Task.FromResult(disks.Single(d => d.Name == replica).Connect(epoch));
}

/// <summary>The store's membership record for one volume, in memory; it can be made to hang or be unreachable.</summary>
public sealed class MemoryMembership(long epoch, params string[] inSync) : IMembershipStore
{
    private readonly Lock _gate = new();
    private TaskCompletionSource? _hold;

    public long Epoch { get; set; } = epoch;

    public List<string> InSync { get; private set; } = [.. inSync];

    /// <summary>Every in-sync set written, in order.</summary>
    public List<string> History { get; } = [];

    public bool Unreachable { get; set; }

    public int Calls;

    /// <summary>Compare-and-swaps wait until <see cref="Release"/>.</summary>
    public void Hold() => _hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _hold?.TrySetResult();

    public async Task<IReadOnlyList<string>> CompareAndSetInSyncAsync(long epoch, IReadOnlyList<string> expected, IReadOnlyList<string> inSync, CancellationToken ct)
    {
        Interlocked.Increment(ref Calls);
        await ReachAsync(_hold, epoch, ct);
        lock (_gate)
        {
            if (expected.Count != InSync.Count || !expected.All(InSync.Contains))
            {
                return [.. InSync];
            }

            // A replica whose membership changes loses its rebuild checkpoint (as the control plane's store does).
            foreach (string changed in InSync.Except(inSync).Concat(inSync.Except(InSync)))
            {
                Checkpoints.Remove(changed);
            }

            InSync = [.. inSync];
            History.Add(string.Join(",", inSync.Order()));
            return [.. InSync];
        }
    }

    /// <summary>Rebuild checkpoints by replica, as targets recorded them.</summary>
    public Dictionary<string, long> Checkpoints { get; } = [];

    /// <summary>Every checkpoint write, in order: "replica=bytes" or "replica=cleared".</summary>
    public List<string> CheckpointHistory { get; } = [];

    /// <summary>While set, checkpoint writes wait for it (a slow store).</summary>
    public TaskCompletionSource? HoldCheckpoints { get; set; }

    /// <summary>Checkpoint writes asked for so far (counted before <see cref="HoldCheckpoints"/> holds them).</summary>
    public int CheckpointCalls;

    public async Task SetRebuildCheckpointAsync(long epoch, string replica, long? copiedBytes, CancellationToken ct)
    {
        Interlocked.Increment(ref CheckpointCalls);
        await ReachAsync(HoldCheckpoints, epoch, ct);
        lock (_gate)
        {
            CheckpointHistory.Add($"{replica}={(copiedBytes is { } b ? b.ToString(System.Globalization.CultureInfo.InvariantCulture) : "cleared")}");
            if (copiedBytes is { } bytes && !InSync.Contains(replica))
            {
                Checkpoints[replica] = bytes;
            }
            else
            {
                Checkpoints.Remove(replica);
            }
        }
    }

    /// <summary>What every call meets first: the hold, if any, an unreachable store, and a newer epoch.</summary>
    private async Task ReachAsync(TaskCompletionSource? hold, long epoch, CancellationToken ct)
    {
        if (hold is not null)
        {
            await hold.Task.WaitAsync(ct);
        }

        if (Unreachable)
        {
            throw new MembershipUnavailableException("the store is unreachable");
        }

        lock (_gate)
        {
            if (epoch != Epoch)
            {
                throw new MembershipFencedException($"the volume's epoch is {Epoch}, not {epoch}");
            }
        }
    }
}

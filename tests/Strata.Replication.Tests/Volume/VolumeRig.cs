using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>A replicated volume over in-memory replicas "r0", "r1", …, with its membership record, for one test.</summary>
public sealed class VolumeRig : IAsyncDisposable
{
    private readonly List<ReplicatedVolume> _opened = [];

    public VolumeRig(int replicas, int blockSize = 4096, long blockCount = 1024, string[]? inSync = null)
    {
        Disks = Enumerable.Range(0, replicas).Select(i => new ReplicaDisk($"r{i}", blockSize, blockCount)).ToArray();
        Store = new MemoryMembership(1, inSync ?? Disks.Select(d => d.Name).ToArray());
    }

    public ReplicaDisk[] Disks { get; }

    public MemoryMembership Store { get; }

    public List<string> Log { get; } = [];

    public ReplicaDisk this[int i] => Disks[i];

    public ReplicatedVolumeOptions Options(long epoch, Func<ReplicatedVolumeOptions, ReplicatedVolumeOptions>? tune = null)
    {
        var options = new ReplicatedVolumeOptions
        {
            VolumeId = "pvc-test",
            Epoch = epoch,
            Replicas = Disks.Select(d => d.Name).ToList(),
            InSync = Store.InSync.ToList(),
            RebuildCheckpoints = new Dictionary<string, long>(Store.Checkpoints),
            MinInSync = Disks.Length >= 3 ? 2 : 1,
            ReconnectInterval = TimeSpan.FromMilliseconds(20),
            OpenWait = TimeSpan.FromSeconds(5),
            MembershipWait = TimeSpan.FromSeconds(10),
            MinInSyncWait = TimeSpan.FromSeconds(10),
            BackgroundFlushInterval = TimeSpan.FromHours(1),
            Log = m =>
            {
                lock (Log)
                {
                    Log.Add(m);
                }
            },
        };
        return tune is null ? options : tune(options);
    }

    /// <summary>Opens the volume as a new target instance: the store's epoch goes up by one, as the control plane hands it out.</summary>
    public async Task<ReplicatedVolume> OpenAsync(Func<ReplicatedVolumeOptions, ReplicatedVolumeOptions>? tune = null)
    {
        long epoch = ++Store.Epoch;
        var volume = await ReplicatedVolume.OpenAsync(Options(epoch, tune), new DiskConnector(epoch, Disks), Store);
        _opened.Add(volume);
        return volume;
    }

    public static async Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"waited {seconds} s for {what}");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>Waits until every replica is in sync, in the volume and in the store.</summary>
    public async Task WaitAllInSyncAsync(ReplicatedVolume volume, int seconds = 20) =>
        await WaitUntilAsync(() => volume.Replicas.All(r => r.Role == ReplicaRole.InSync) && Store.InSync.Count == Disks.Length,
            "every replica in sync: " + string.Join(", ", volume.Replicas.Select(r => $"{r.Name} {r.Role} {r.Reason}")), seconds);

    public void AssertReplicasIdentical()
    {
        var first = Disks[0].Snapshot();
        foreach (var disk in Disks.Skip(1))
        {
            var other = disk.Snapshot();
            int at = first.AsSpan().CommonPrefixLength(other);
            Assert.True(at == first.Length, $"replica {disk.Name} differs from {Disks[0].Name} at byte {at} (block {at / disk.BlockSize})");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var v in _opened)
        {
            await v.DisposeAsync();
        }
    }
}

/// <summary>Writes of 4 random blocks at random places, and what the volume must hold after them.</summary>
public sealed class RandomWrites(IBlockDevice volume, int blockCount, int seed)
{
    private readonly Random _rnd = new(seed);

    public byte[] Expected { get; } = new byte[blockCount * volume.BlockSize];

    public async Task WriteAsync(int count)
    {
        for (int i = 0; i < count; i++)
        {
            long lba = _rnd.Next(blockCount - 4);
            var data = new byte[4 * volume.BlockSize];
            _rnd.NextBytes(data);
            await volume.WriteAsync(lba, data, WriteFlags.None);
            data.CopyTo(Expected, (int)(lba * volume.BlockSize));
        }
    }
}

namespace Strata.Pool.Space;

/// <summary>
/// The pool's metadata as one in-memory state machine: the volume table, every chunk map, and a reference count
/// per physical chunk (how many maps point at it; zero is free). The live pool and log replay change it through
/// the same <c>Apply</c> methods, so what a replay rebuilds is exactly what was live.
/// </summary>
/// <remarks>
/// Reference counts are never stored: a checkpoint holds the maps, and loading it counts them again, so counts
/// and maps cannot disagree on disk. Not thread-safe: the pool holds its metadata lock.
/// </remarks>
internal sealed class PoolState
{
    private readonly int[] _refCounts;
    private readonly Dictionary<uint, VolumeRecord> _volumes = [];
    private long _overheadBytes;

    public PoolState(long capacityChunks, int chunkSize)
    {
        CapacityChunks = capacityChunks;
        ChunkSize = chunkSize;
        _refCounts = new int[capacityChunks];
        NextId = 1;
    }

    public long CapacityChunks { get; }

    public int ChunkSize { get; }

    public uint NextId { get; set; }

    /// <summary>Chunks some map references.</summary>
    public long AllocatedChunks { get; private set; }

    /// <summary>Map entries over all volumes and snapshots: 8 bytes each in a checkpoint.</summary>
    public long TotalEntries { get; private set; }

    /// <summary>Called when a chunk's last reference goes (live pool: the chunk waits for commit, then a scrub).</summary>
    public Action<uint>? ChunkFreed { get; set; }

    public IReadOnlyCollection<VolumeRecord> Volumes => _volumes.Values;

    /// <summary>The size of a checkpoint of this state.</summary>
    public long CheckpointBytes => 64 + _overheadBytes + 8 * TotalEntries;

    public int RefCount(uint physical) => _refCounts[physical];

    /// <summary>For the data path's unlocked read of one count.</summary>
    public ref int RefCountSlot(uint physical) => ref _refCounts[physical];

    public VolumeRecord? Find(uint id) => _volumes.GetValueOrDefault(id);

    public VolumeRecord? Find(string name) => _volumes.Values.FirstOrDefault(v => v.Name == name);

    public long ChunksOf(long sizeBytes) => (sizeBytes + ChunkSize - 1) / ChunkSize;

    public void ApplyCreate(uint id, string name, long sizeBytes, int blockSize, long createdUnixMs)
    {
        var v = new VolumeRecord(id, name, VolumeKind.Volume, 0, sizeBytes, blockSize, createdUnixMs, new ChunkMap(ChunksOf(sizeBytes)));
        _volumes.Add(id, v);
        _overheadBytes += v.CheckpointOverhead;
        NextId = Math.Max(NextId, id + 1);
    }

    /// <summary>Adds a volume whose map was read from a checkpoint (reference counts are taken here).</summary>
    public void AddLoaded(VolumeRecord volume)
    {
        _volumes.Add(volume.Id, volume);
        _overheadBytes += volume.CheckpointOverhead;
        foreach (var (_, p) in volume.Map.Entries())
        {
            AddRef(p);
        }

        TotalEntries += volume.Map.Count;
    }

    public void ApplyMap(uint id, uint logical, uint physical)
    {
        var v = Get(id);
        if (physical >= CapacityChunks)
        {
            throw new FormatException($"a mapping of '{v.Name}' points past the pool's {CapacityChunks} chunks (chunk {physical})");
        }

        AddRef(physical);
        if (v.Map.Set(logical, physical) is { } old)
        {
            DropRef(old);
        }
        else
        {
            TotalEntries++;
        }
    }

    public void ApplyUnmap(uint id, uint logical)
    {
        if (Get(id).Map.Clear(logical) is { } old)
        {
            DropRef(old);
            TotalEntries--;
        }
    }

    public void ApplySnapshot(uint newId, uint volumeId, string name, long createdUnixMs)
    {
        var v = Get(volumeId);
        AddShared(new VolumeRecord(newId, name, VolumeKind.Snapshot, volumeId, v.SizeBytes, v.BlockSize, createdUnixMs, v.Map.Share()));
    }

    public void ApplyClone(uint newId, uint snapshotId, string name, long createdUnixMs)
    {
        var s = Get(snapshotId);
        AddShared(new VolumeRecord(newId, name, VolumeKind.Volume, snapshotId, s.SizeBytes, s.BlockSize, createdUnixMs, s.Map.Share()));
    }

    public void ApplyRevert(uint volumeId, uint snapshotId)
    {
        var v = Get(volumeId);
        var s = Get(snapshotId);
        var old = v.Map;
        var map = s.Map.Share();
        map.Grow(ChunksOf(v.SizeBytes));
        AddRefs(map);

        TotalEntries += map.Count - old.Count;
        v.Map = map;
        foreach (var (_, p) in old.Entries())
        {
            DropRef(p);
        }

        old.Release();
    }

    public void ApplyGrow(uint id, long sizeBytes)
    {
        var v = Get(id);
        v.SizeBytes = sizeBytes;
        v.Map.Grow(ChunksOf(sizeBytes));
    }

    public void ApplyDelete(uint id)
    {
        var v = Get(id);
        _volumes.Remove(id);
        _overheadBytes -= v.CheckpointOverhead;
        TotalEntries -= v.Map.Count;
        foreach (var (_, p) in v.Map.Entries())
        {
            DropRef(p);
        }

        v.Map.Release();
    }

    private void AddShared(VolumeRecord record)
    {
        _volumes.Add(record.Id, record);
        _overheadBytes += record.CheckpointOverhead;
        NextId = Math.Max(NextId, record.Id + 1);
        AddRefs(record.Map);
        TotalEntries += record.Map.Count;
    }

    /// <summary>One more reference to every chunk of <paramref name="map"/> (a snapshot or clone of it): a tight loop
    /// over the page arrays, since this runs while the volume's I/O is held.</summary>
    private void AddRefs(ChunkMap map)
    {
        var counts = _refCounts;
        long newlyAllocated = 0;
        foreach (var entries in map.PageEntries())
        {
            foreach (uint e in entries)
            {
                if (e != 0 && counts[e - 1]++ == 0)
                {
                    newlyAllocated++;
                }
            }
        }

        AllocatedChunks += newlyAllocated;
    }

    private VolumeRecord Get(uint id) =>
        _volumes.GetValueOrDefault(id) ?? throw new FormatException($"the metadata log refers to volume id {id}, which does not exist");

    private void AddRef(uint physical)
    {
        if (_refCounts[physical]++ == 0)
        {
            AllocatedChunks++;
        }
    }

    private void DropRef(uint physical)
    {
        if (--_refCounts[physical] == 0)
        {
            AllocatedChunks--;
            ChunkFreed?.Invoke(physical);
        }
    }
}

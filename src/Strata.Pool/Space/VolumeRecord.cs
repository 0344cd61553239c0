namespace Strata.Pool.Space;

public enum VolumeKind : byte
{
    /// <summary>A writable thin volume (a clone is one too, with the snapshot it came from as origin).</summary>
    Volume = 1,

    /// <summary>A read-only, point-in-time copy of a volume.</summary>
    Snapshot = 2,
}

/// <summary>A volume or snapshot in the pool's table, with its chunk map.</summary>
internal sealed class VolumeRecord
{
    public VolumeRecord(uint id, string name, VolumeKind kind, uint originId, long sizeBytes, int blockSize, long createdUnixMs, ChunkMap map)
    {
        Id = id;
        Name = name;
        Kind = kind;
        OriginId = originId;
        SizeBytes = sizeBytes;
        BlockSize = blockSize;
        CreatedUnixMs = createdUnixMs;
        Map = map;
    }

    public uint Id { get; }

    /// <summary>Volumes by their name; snapshots as <c>volume@snapshot</c>, like ZFS.</summary>
    public string Name { get; }

    public VolumeKind Kind { get; }

    /// <summary>A snapshot's volume, or a clone's snapshot; 0 for a volume made from nothing.</summary>
    public uint OriginId { get; }

    public long SizeBytes { get; set; }

    public int BlockSize { get; }

    public long CreatedUnixMs { get; }

    /// <summary>Replaced whole on revert (under the volume's I/O freeze).</summary>
    public ChunkMap Map { get; set; }

    /// <summary>Bytes this record takes in a checkpoint besides its 8-byte entries.</summary>
    public int CheckpointOverhead => 48 + System.Text.Encoding.UTF8.GetByteCount(Name);
}

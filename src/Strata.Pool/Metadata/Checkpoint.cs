using Strata.Pool.OnDisk;
using Strata.Pool.Space;

namespace Strata.Pool.Metadata;

/// <summary>
/// The whole <see cref="PoolState"/> as one log entry: the volume table and every map as (logical, physical)
/// pairs, 8 bytes each. Replay starts from the newest checkpoint the superblock names.
/// </summary>
internal static class Checkpoint
{
    public static void Write(MetadataWriter w, PoolState state)
    {
        w.U32(state.NextId);
        w.U32((uint)state.Volumes.Count);
        foreach (var v in state.Volumes.OrderBy(v => v.Id))
        {
            w.U32(v.Id);
            w.String(v.Name);
            w.U8((byte)v.Kind);
            w.U32(v.OriginId);
            w.I64(v.SizeBytes);
            w.U32((uint)v.BlockSize);
            w.I64(v.CreatedUnixMs);
            w.I64(v.Map.Count);
            foreach (var (l, p) in v.Map.Entries())
            {
                var s = w.Take(8);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(s, l);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(s[4..], p);
            }
        }
    }

    /// <summary>A new state holding what the checkpoint says (reference counts counted from the maps).</summary>
    public static PoolState Read(ReadOnlySpan<byte> payload, long capacityChunks, int chunkSize)
    {
        var state = new PoolState(capacityChunks, chunkSize);
        var r = new MetadataReader(payload);
        state.NextId = r.U32();
        uint count = r.U32();
        for (uint i = 0; i < count; i++)
        {
            uint id = r.U32();
            string name = r.String();
            var kind = (VolumeKind)r.U8();
            uint origin = r.U32();
            long size = r.I64();
            int blockSize = (int)r.U32();
            long created = r.I64();
            long entries = r.I64();
            var map = new ChunkMap(state.ChunksOf(size));
            for (long e = 0; e < entries; e++)
            {
                uint l = r.U32();
                uint p = r.U32();
                if (p >= capacityChunks || l >= map.LogicalChunks)
                {
                    throw new FormatException($"checkpoint entry {l}->{p} of '{name}' is out of range");
                }

                map.Set(l, p);
            }

            state.AddLoaded(new VolumeRecord(id, name, kind, origin, size, blockSize, created, map));
        }

        // Snapshots and clones shared their origin's pages while live; share them again.
        foreach (var v in state.Volumes)
        {
            if (v.OriginId != 0 && state.Find(v.OriginId) is { } o)
            {
                v.Map.ShareIdenticalPagesWith(o.Map);
            }
        }

        return state;
    }
}

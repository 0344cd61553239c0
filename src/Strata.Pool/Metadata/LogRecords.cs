using Strata.Pool.OnDisk;
using Strata.Pool.Space;

namespace Strata.Pool.Metadata;

/// <summary>
/// The metadata changes the log carries: each is one <see cref="PoolState"/> Apply call, encoded as a type byte
/// and fixed little-endian fields. A batch of them is committed atomically (one checksummed log entry).
/// </summary>
internal static class LogRecords
{
    private const byte Create = 1;
    private const byte Map = 2;
    private const byte Unmap = 3;
    private const byte Snapshot = 4;
    private const byte Clone = 5;
    private const byte Revert = 6;
    private const byte Grow = 7;
    private const byte Delete = 8;

    public static void WriteCreate(MetadataWriter w, uint id, string name, long sizeBytes, int blockSize, long createdUnixMs)
    {
        w.U8(Create);
        w.U32(id);
        w.String(name);
        w.I64(sizeBytes);
        w.U32((uint)blockSize);
        w.I64(createdUnixMs);
    }

    public static void WriteMap(MetadataWriter w, uint id, uint logical, uint physical)
    {
        var s = w.Take(13);
        s[0] = Map;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(s[1..], id);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(s[5..], logical);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(s[9..], physical);
    }

    public static void WriteUnmap(MetadataWriter w, uint id, uint logical)
    {
        w.U8(Unmap);
        w.U32(id);
        w.U32(logical);
    }

    public static void WriteSnapshot(MetadataWriter w, uint newId, uint volumeId, string name, long createdUnixMs)
    {
        w.U8(Snapshot);
        w.U32(newId);
        w.U32(volumeId);
        w.String(name);
        w.I64(createdUnixMs);
    }

    public static void WriteClone(MetadataWriter w, uint newId, uint snapshotId, string name, long createdUnixMs)
    {
        w.U8(Clone);
        w.U32(newId);
        w.U32(snapshotId);
        w.String(name);
        w.I64(createdUnixMs);
    }

    public static void WriteRevert(MetadataWriter w, uint volumeId, uint snapshotId)
    {
        w.U8(Revert);
        w.U32(volumeId);
        w.U32(snapshotId);
    }

    public static void WriteGrow(MetadataWriter w, uint id, long sizeBytes)
    {
        w.U8(Grow);
        w.U32(id);
        w.I64(sizeBytes);
    }

    public static void WriteDelete(MetadataWriter w, uint id)
    {
        w.U8(Delete);
        w.U32(id);
    }

    /// <summary>Applies every record of a committed batch, in order; returns how many.</summary>
    public static int Replay(ReadOnlySpan<byte> batch, PoolState state)
    {
        var r = new MetadataReader(batch);
        int n = 0;
        while (r.Remaining > 0)
        {
            byte type = r.U8();
            switch (type)
            {
                case Create:
                    state.ApplyCreate(r.U32(), r.String(), r.I64(), (int)r.U32(), r.I64());
                    break;
                case Map:
                    state.ApplyMap(r.U32(), r.U32(), r.U32());
                    break;
                case Unmap:
                    state.ApplyUnmap(r.U32(), r.U32());
                    break;
                case Snapshot:
                    state.ApplySnapshot(r.U32(), r.U32(), r.String(), r.I64());
                    break;
                case Clone:
                    state.ApplyClone(r.U32(), r.U32(), r.String(), r.I64());
                    break;
                case Revert:
                    state.ApplyRevert(r.U32(), r.U32());
                    break;
                case Grow:
                    state.ApplyGrow(r.U32(), r.I64());
                    break;
                case Delete:
                    state.ApplyDelete(r.U32());
                    break;
                default:
                    throw new FormatException($"unknown metadata record type {type} at byte {r.Position - 1} of a batch");
            }

            n++;
        }

        return n;
    }
}

using System.Buffers.Binary;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>READ CAPACITY (10) and (16) (SBC-3 5.15, 5.16). A thin LU reports LBPME and LBPRZ.</summary>
internal static class ReadCapacity
{
    public static ValueTask Execute10(BlockLogicalUnit unit, ScsiTask task)
    {
        Span<byte> data = stackalloc byte[8];
        long last = unit.BlockCount - 1;
        // SBC-3 5.15: a capacity beyond 32 bits reports FFFFFFFFh, sending the initiator to READ CAPACITY (16).
        BinaryPrimitives.WriteUInt32BigEndian(data, last > uint.MaxValue ? uint.MaxValue : (uint)last);
        BinaryPrimitives.WriteUInt32BigEndian(data[4..], (uint)unit.BlockSize);
        BlockLogicalUnit.Respond(task, data, 8);
        return default;
    }

    public static ValueTask Execute16(BlockLogicalUnit unit, ScsiTask task)
    {
        int allocation = (int)Math.Min(BlockLogicalUnit.Field(task.Cdb.Span, 10, 4), int.MaxValue);
        Span<byte> data = stackalloc byte[32];
        data.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(data, (ulong)(unit.BlockCount - 1));
        BinaryPrimitives.WriteUInt32BigEndian(data[8..], (uint)unit.BlockSize);
        data[13] = (byte)unit.Limits.PhysicalBlockExponent;
        if (unit.Identity.ThinProvisioned)
        {
            data[14] = 0x80 | 0x40; // LBPME, LBPRZ
        }

        BlockLogicalUnit.Respond(task, data, allocation);
        return default;
    }
}

using System.Buffers.Binary;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.ExtendedCopy;

/// <summary>RECEIVE COPY RESULTS (LID1) (SPC-4 6.18): COPY STATUS (00h) and OPERATING PARAMETERS (03h).</summary>
internal static class ReceiveCopyResults
{
    public const byte CopyStatusAction = 0x00;
    public const byte OperatingParametersAction = 0x03;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        int serviceAction = cdb[1] & 0x1F;
        byte listId = cdb[2];
        int allocation = (int)Math.Min(BlockLogicalUnit.Field(cdb, 10, 4), int.MaxValue);
        Span<byte> data = stackalloc byte[48];
        data.Clear();
        if (serviceAction == CopyStatusAction)
        {
            if (unit.CopyResults.Take(task.Nexus, listId) is not { } status)
            {
                unit.Fail(task, SenseData.InvalidFieldInCdb(2)); // no copy with that LIST IDENTIFIER
                return default;
            }

            BinaryPrimitives.WriteUInt32BigEndian(data, 8);
            data[4] = status.Status;
            BinaryPrimitives.WriteUInt16BigEndian(data[5..], status.SegmentsProcessed);
            bool kib = status.BytesTransferred > uint.MaxValue;
            data[7] = kib ? (byte)0x01 : (byte)0x00; // TRANSFER COUNT UNITS: bytes, or KiB when large
            BinaryPrimitives.WriteUInt32BigEndian(data[8..], (uint)(kib ? status.BytesTransferred >> 10 : status.BytesTransferred));
            BlockLogicalUnit.Respond(task, data[..12], allocation);
            return default;
        }

        // OPERATING PARAMETERS (SPC-4 6.18.5).
        BinaryPrimitives.WriteUInt32BigEndian(data, 44 + 2 - 4);
        data[4] = 0x01; // SNLID: held data is per LIST IDENTIFIER
        BinaryPrimitives.WriteUInt16BigEndian(data[8..], CopyLimits.MaxCscdDescriptors);
        BinaryPrimitives.WriteUInt16BigEndian(data[10..], CopyLimits.MaxSegmentDescriptors);
        BinaryPrimitives.WriteUInt32BigEndian(data[12..], CopyLimits.MaxDescriptorListLength);
        BinaryPrimitives.WriteUInt32BigEndian(data[16..], CopyLimits.MaxSegmentBytes);
        BinaryPrimitives.WriteUInt32BigEndian(data[20..], 0);   // MAXIMUM INLINE DATA LENGTH
        BinaryPrimitives.WriteUInt32BigEndian(data[24..], 0);   // HELD DATA LIMIT
        BinaryPrimitives.WriteUInt16BigEndian(data[34..], 1);   // TOTAL CONCURRENT COPIES
        data[36] = 1;                                           // MAXIMUM CONCURRENT COPIES
        data[37] = 9;                                           // DATA SEGMENT GRANULARITY: 2^9 bytes
        data[43] = 2;                                           // IMPLEMENTED DESCRIPTOR LIST LENGTH
        data[44] = CopyLimits.BlockToBlockSegment;
        data[45] = CopyLimits.IdentificationCscd;
        BlockLogicalUnit.Respond(task, data[..46], allocation);
        return default;
    }
}

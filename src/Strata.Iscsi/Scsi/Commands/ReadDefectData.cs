using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>READ DEFECT DATA (10) and (12) (SBC-3 5.17, 5.18): a volume has no defects; the lists are empty.</summary>
internal static class ReadDefectData
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool twelve = cdb[0] == ScsiOpcode.ReadDefectData12;
        byte flags = twelve ? cdb[1] : cdb[2];
        int format = flags & 0x07;
        // SBC-3 6.2: address descriptor formats 000b, 011b-110b; 001b, 010b, 111b are reserved.
        if (format is 1 or 2 or 7)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(twelve ? 1 : 2, 2));
            return default;
        }

        int allocation = twelve ? (int)Math.Min(BlockLogicalUnit.Field(cdb, 6, 4), int.MaxValue) : (int)BlockLogicalUnit.Field(cdb, 7, 2);
        Span<byte> data = stackalloc byte[8];
        data.Clear();
        data[1] = (byte)(flags & 0x1F); // PLISTV, GLISTV and the format echo what was asked
        int length = twelve ? 8 : 4;
        BlockLogicalUnit.Respond(task, data[..length], allocation);
        return default;
    }
}

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 6.40): what the iSCSI transport implements: ABORT
/// TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET RESET (RFC 7143 11.5).</summary>
internal static class ReportSupportedTaskManagementFunctions
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool extended = (cdb[2] & 0x80) != 0; // REPD
        int allocation = (int)Math.Min(BlockLogicalUnit.Field(cdb, 6, 4), int.MaxValue);
        Span<byte> data = stackalloc byte[16];
        data.Clear();
        data[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x02; // ATS, ATSS, CTSS, LURS, TRS
        if (extended)
        {
            data[3] = 0x0C;
        }

        BlockLogicalUnit.Respond(task, data[..(extended ? 16 : 4)], allocation);
        _ = unit;
        return default;
    }
}

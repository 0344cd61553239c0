namespace Strata.Iscsi.Scsi.Commands;

/// <summary>PRE-FETCH (10) and (16) (SBC-3 5.6, 5.7): there is no cache to load; after the range check the
/// command completes with GOOD (IMMED=1 or not: nothing is left to do in the background).</summary>
internal static class PreFetch
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool sixteen = cdb[0] == ScsiOpcode.PreFetch16;
        ulong lba = sixteen ? BlockLogicalUnit.Field(cdb, 2, 8) : BlockLogicalUnit.Field(cdb, 2, 4);
        ulong blocks = sixteen ? BlockLogicalUnit.Field(cdb, 10, 4) : BlockLogicalUnit.Field(cdb, 7, 2);
        if (unit.CheckRange(task, lba, blocks))
        {
            BlockLogicalUnit.Good(task, 0);
        }

        return default;
    }
}

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>TEST UNIT READY (SPC-4 6.47): the medium is always present; unit attentions and reservation
/// conflicts are reported before this runs.</summary>
internal static class TestUnitReady
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        BlockLogicalUnit.Good(task, 0);
        return default;
    }
}

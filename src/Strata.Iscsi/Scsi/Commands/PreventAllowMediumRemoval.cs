using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>PREVENT ALLOW MEDIUM REMOVAL (SBC-3 5.13): remembers which I_T nexuses prevent removal; released by
/// ALLOW, by the nexus going away and by resets.</summary>
internal static class PreventAllowMediumRemoval
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        int prevent = task.Cdb.Span[4] & 0x03;
        if (prevent > 1)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(4, 1)); // 10b/11b: obsolete for SBC
            return default;
        }

        lock (unit.PreventingRemoval)
        {
            if (prevent == 1)
            {
                unit.PreventingRemoval.Add(task.Nexus);
            }
            else
            {
                unit.PreventingRemoval.Remove(task.Nexus);
            }
        }

        BlockLogicalUnit.Good(task, 0);
        return default;
    }
}

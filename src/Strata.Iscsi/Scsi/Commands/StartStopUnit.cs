using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// START STOP UNIT (SBC-3 5.20). A volume has no spindle and no tray: START and power conditions are accepted
/// without effect; LOEJ with START=0 (eject) is refused with MEDIUM REMOVAL PREVENTED while a nexus prevents
/// removal, and otherwise accepted (the medium is not removable, RMB=0, so nothing is ejected).
/// </summary>
internal static class StartStopUnit
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        int powerCondition = cdb[4] >> 4;
        bool loadEject = (cdb[4] & 0x02) != 0;
        bool start = (cdb[4] & 0x01) != 0;
        // SBC-3 table 50: power conditions 0h, 1h-3h, 7h, Ah, Bh are defined.
        if (powerCondition is not (0x0 or 0x1 or 0x2 or 0x3 or 0x7 or 0xA or 0xB))
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(4, 7));
            return default;
        }

        if (powerCondition == 0 && loadEject && !start)
        {
            lock (unit.PreventingRemoval)
            {
                if (unit.PreventingRemoval.Count > 0)
                {
                    unit.Fail(task, SenseData.IllegalRequest(AdditionalSense.MediumRemovalPrevented));
                    return default;
                }
            }
        }

        BlockLogicalUnit.Good(task, 0);
        return default;
    }
}

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>RESERVE (6/10) and RELEASE (6/10) (SPC-2 7.21-7.24): the whole LU, for one I_T nexus; third-party
/// and extent reservations are obsolete and refused by the CDB usage masks.</summary>
internal static class ReserveRelease
{
    public static ValueTask Reserve(BlockLogicalUnit unit, ScsiTask task)
    {
        if (unit.Reservations.TryReserve(task.Nexus))
        {
            BlockLogicalUnit.Good(task, 0);
        }
        else
        {
            task.Status = ScsiStatus.ReservationConflict;
        }

        return default;
    }

    public static ValueTask Release(BlockLogicalUnit unit, ScsiTask task)
    {
        // SPC-2 7.22: releasing another nexus' reservation, or none, is not an error and changes nothing.
        unit.Reservations.Release(task.Nexus);
        BlockLogicalUnit.Good(task, 0);
        return default;
    }
}

using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Session;

/// <summary>
/// The two CHECK CONDITIONs the transport itself gives, for commands that never reach the SCSI layer or that
/// failed inside it. Fixed-format sense data (SPC-4 4.5.3).
/// </summary>
internal static class TransportSense
{
    /// <summary>ILLEGAL REQUEST, INVALID FIELD IN CDB: e.g. a transfer longer than the block limits allow.</summary>
    public static void SetInvalidFieldInCdb(ScsiTask task) => Set(task, 0x05, 0x24, 0x00);

    /// <summary>HARDWARE ERROR, INTERNAL TARGET FAILURE.</summary>
    public static void SetInternalTargetFailure(ScsiTask task) => Set(task, 0x04, 0x44, 0x00);

    /// <summary>TASK SET FULL, or BUSY, without sense data (SAM-5 5.3): no resources for the task now.</summary>
    public static void SetTaskSetFull(ScsiTask task, bool busy)
    {
        task.SetSenseLength(0);
        task.Status = busy ? ScsiStatus.Busy : ScsiStatus.TaskSetFull;
        task.TransferLength = 0;
    }

    private static void Set(ScsiTask task, byte senseKey, byte asc, byte ascq)
    {
        var sense = task.SenseBuffer;
        sense[..18].Clear();
        sense[0] = 0x70; // current error, fixed format
        sense[2] = senseKey;
        sense[7] = 10; // additional sense length
        sense[12] = asc;
        sense[13] = ascq;
        task.SetSenseLength(18);
        task.Status = ScsiStatus.CheckCondition;
        task.TransferLength = 0;
    }
}

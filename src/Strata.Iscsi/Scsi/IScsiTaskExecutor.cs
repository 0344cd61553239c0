namespace Strata.Iscsi.Scsi;

/// <summary>
/// What the iSCSI transport sees of the SCSI layer: a SCSI target device (SAM-5 4.6.2) that executes tasks
/// for its logical units and takes task management functions. The transport knows nothing else of SCSI.
/// </summary>
public interface IScsiTaskExecutor
{
    /// <summary>
    /// Executes <paramref name="task"/>, setting its status, sense data and transfer length. Never throws for a
    /// SCSI-level failure: those become CHECK CONDITION with sense data. May complete asynchronously.
    /// </summary>
    ValueTask ExecuteAsync(ScsiTask task);

    /// <summary>True when <paramref name="lun"/> names a logical unit of this device.</summary>
    bool HasLun(ulong lun);

    /// <summary>LOGICAL UNIT RESET (SAM-5 7.8), after the transport aborted the LU's tasks.</summary>
    void LogicalUnitReset(ulong lun, ItNexus requester);

    /// <summary>TARGET WARM RESET (RFC 7143 11.5.1): every LU is reset.</summary>
    void TargetReset(ItNexus requester);

    /// <summary>Tasks of <paramref name="requester"/> in this LU's task set were aborted by another nexus'
    /// CLEAR TASK SET or by a reset: later commands of other nexuses see a unit attention.</summary>
    void TasksAborted(ulong lun, ItNexus requester);

    /// <summary>The I_T nexus is gone (session closed or reinstated): release what SPC-4 ties to it.</summary>
    void NexusLost(ItNexus nexus);
}

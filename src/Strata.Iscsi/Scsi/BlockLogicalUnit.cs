using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Iscsi.Scsi.ExtendedCopy;
using Strata.Iscsi.Scsi.ModePages;
using Strata.Iscsi.Scsi.PersistentReservations;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// An SBC-3 direct-access logical unit over an <see cref="IBlockDevice"/>: the SCSI state of one volume (mode
/// pages, unit attentions, reservations, copy results, the LBA range lock) and the commands it executes. A
/// <see cref="ScsiTargetDevice"/> maps LUNs to these.
/// </summary>
public sealed class BlockLogicalUnit
{
    /// <param name="device">The volume.</param>
    /// <param name="identity">What INQUIRY reports; identifiers derive from its volume id.</param>
    /// <param name="allocationMap">What GET LBA STATUS reports; when null and <paramref name="device"/> implements
    /// <see cref="IAllocationMap"/> that is used, else every block is reported mapped.</param>
    public BlockLogicalUnit(IBlockDevice device, LogicalUnitIdentity identity, IAllocationMap? allocationMap = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(identity);
        Device = device;
        Identity = identity;
        AllocationMap = allocationMap ?? device as IAllocationMap;
        BlockSize = device.BlockSize;
        BlockCount = device.BlockCount;
        Limits = new BlockLimits(BlockSize);
        NaaDesignator = identity.NaaDesignator;
    }

    public IBlockDevice Device { get; }

    public LogicalUnitIdentity Identity { get; }

    public int BlockSize { get; }

    public long BlockCount { get; }

    internal IAllocationMap? AllocationMap { get; }

    internal byte[] NaaDesignator { get; }

    internal BlockLimits Limits { get; }

    internal ModeParameters Mode { get; } = new();

    internal UnitAttentions UnitAttentions { get; } = new();

    internal ReservationState Reservations { get; } = new();

    internal LbaRangeLock RangeLock { get; } = new();

    internal CopyResults CopyResults { get; } = new();

    /// <summary>The target device serving this LU (set when added): for REPORT LUNS data and EXTENDED COPY.</summary>
    internal ScsiTargetDevice? Target { get; set; }

    /// <summary>The LUN this LU has in <see cref="Target"/>.</summary>
    internal ulong Lun { get; set; }

    /// <summary>Set while a SANITIZE runs; media access commands then report NOT READY, SANITIZE IN PROGRESS.</summary>
    internal volatile bool Sanitizing;

    /// <summary>I_T nexuses that sent PREVENT ALLOW MEDIUM REMOVAL with PREVENT set (SBC-3 5.13).</summary>
    internal HashSet<ItNexus> PreventingRemoval { get; } = [];

    internal ValueTask ExecuteAsync(ScsiTask task)
    {
        ReadOnlySpan<byte> cdb = task.Cdb.Span;
        if (cdb.IsEmpty)
        {
            Fail(task, SenseData.InvalidOpcode);
            return default;
        }

        var command = CommandSet.Find(cdb, out bool serviceActionUnknown);
        if (command is null || !command.IgnoresUnitAttention)
        {
            var attentions = UnitAttentions.For(task.Nexus);
            if (attentions.HasPending && attentions.TryTake(out var attention))
            {
                Fail(task, SenseData.Of(SenseKey.UnitAttention, attention));
                return default;
            }
        }

        if (command is null)
        {
            // SPC-4 4.5.6: an unknown service action of a known opcode is an invalid field (byte 1, bits 4-0).
            Fail(task, serviceActionUnknown ? SenseData.InvalidFieldInCdb(1, 4) : SenseData.InvalidOpcode);
            return default;
        }

        if (!CheckReservedBits(task, command, cdb))
        {
            return default;
        }

        if (Reservations.Conflicts(task.Nexus, command))
        {
            task.Status = ScsiStatus.ReservationConflict;
            return default;
        }

        if (command.WritesMedium && Mode.SoftwareWriteProtect)
        {
            Fail(task, SenseData.Of(SenseKey.DataProtect, AdditionalSense.SoftwareWriteProtected));
            return default;
        }

        // SBC-3 5.19.1: while a sanitize runs only INQUIRY, REPORT LUNS, REQUEST SENSE and the like are served.
        if (Sanitizing && !command.AllowedUnderReserve)
        {
            Fail(task, SenseData.Of(SenseKey.NotReady, AdditionalSense.LogicalUnitNotReadySanitizeInProgress));
            return default;
        }

        ValueTask run;
        try
        {
            run = command.Handler(this, task);
        }
        catch (Exception e) when (IsHandled(e))
        {
            Fail(task, e, command);
            return default;
        }

        // Even a completed ValueTask goes through the completion: its GetResult returns pooled sources to their pool.
        return task.HandlerCompletion.Await(run, this, task, command.WritesMedium, sharedLock: 0, transferLength: -1);
    }

    private static bool IsHandled(Exception e) => e is BlockDeviceException or OperationCanceledException;

    private void Fail(ScsiTask task, Exception e, CommandDescriptor command) => Fail(task, e, command.WritesMedium);

    /// <summary>Ends the task for a device failure (its sense) or an abort (TASK ABORTED).</summary>
    internal void Fail(ScsiTask task, Exception e, bool writing)
    {
        if (e is OperationCanceledException)
        {
            // SAM-5 5.6: an aborted task ends with TASK ABORTED (TAS=1 in the control page).
            task.Status = ScsiStatus.TaskAborted;
            task.SetSenseLength(0);
            task.TransferLength = 0;
            return;
        }

        Fail(task, SenseFor((BlockDeviceException)e, writing));
    }

    /// <summary>How a device failure reads to an initiator.</summary>
    internal static SenseData SenseFor(BlockDeviceException e, bool writing) => e.Kind switch
    {
        BlockDeviceErrorKind.OutOfRange => SenseData.LbaOutOfRange,
        // SBC-3 4.7.3.6: a thin LU out of space refuses the write as write protected.
        BlockDeviceErrorKind.NoSpace => SenseData.Of(SenseKey.DataProtect, AdditionalSense.SpaceAllocationFailedWriteProtect),
        BlockDeviceErrorKind.Medium => SenseData.Of(
            SenseKey.MediumError, writing ? AdditionalSense.WriteError : AdditionalSense.UnrecoveredReadError),
        // Transient: initiators retry NOT READY, ASYMMETRIC ACCESS STATE TRANSITION (SPC-4 5.15.2.5).
        BlockDeviceErrorKind.Unavailable => SenseData.Of(SenseKey.NotReady, AdditionalSense.LogicalUnitNotAccessibleTransitioning),
        // Fenced by a newer target instance: TARGET PORT IN UNAVAILABLE STATE (04h/0Ch) makes multipath
        // initiators fail this path over instead of retrying it; this target will never write again.
        BlockDeviceErrorKind.Fenced => SenseData.Of(SenseKey.NotReady, new AdditionalSense(0x04, 0x0C)),
        _ => SenseData.Of(SenseKey.HardwareError, AdditionalSense.InternalTargetFailure),
    };

    /// <summary>Ends <paramref name="task"/> with CHECK CONDITION and <paramref name="sense"/>, in the format the
    /// control mode page's D_SENSE asks for.</summary>
    internal void Fail(ScsiTask task, in SenseData sense)
    {
        task.Status = ScsiStatus.CheckCondition;
        task.TransferLength = 0;
        task.SetSenseLength(sense.WriteTo(task.SenseBuffer, Mode.DescriptorSense));
    }

    /// <summary>GOOD, with <paramref name="transferLength"/> bytes of data-in.</summary>
    internal static void Good(ScsiTask task, int transferLength)
    {
        task.Status = ScsiStatus.Good;
        task.TransferLength = transferLength;
    }

    /// <summary>Checks [lba, lba + blocks) lies on the medium (SBC-3 4.5: LOGICAL BLOCK ADDRESS OUT OF RANGE).</summary>
    internal bool CheckRange(ScsiTask task, ulong lba, ulong blocks)
    {
        ulong count = (ulong)BlockCount;
        if (lba > count || blocks > count - lba)
        {
            Fail(task, SenseData.LbaOutOfRange);
            return false;
        }

        return true;
    }

    /// <summary>
    /// What a write that needs all its data checks before it moves any: the range, its own transfer limit (the sense
    /// names the CDB's TRANSFER LENGTH byte, <paramref name="lengthField"/>), and Data-Out for every block. False when
    /// the command has been answered: an error, or GOOD for no blocks.
    /// </summary>
    internal bool AcceptsWholeWrite(ScsiTask task, ulong lba, uint blocks, long maxBlocks, int lengthField)
    {
        if (!CheckRange(task, lba, blocks))
        {
            return false;
        }

        if (blocks > maxBlocks || (blocks > 0 && task.DataOut.Length < (long)blocks * BlockSize))
        {
            Fail(task, SenseData.InvalidFieldInCdb(lengthField));
            return false;
        }

        if (blocks == 0)
        {
            Good(task, 0);
            return false;
        }

        return true;
    }

    /// <summary>Copies <paramref name="data"/> into the task's data-in, limited by the allocation length.</summary>
    internal static void Respond(ScsiTask task, ReadOnlySpan<byte> data, int allocationLength)
    {
        int n = Math.Min(data.Length, allocationLength);
        int copy = Math.Min(n, task.DataIn.Length);
        data[..copy].CopyTo(task.DataIn.Span);
        Good(task, n);
    }

    private bool CheckReservedBits(ScsiTask task, CommandDescriptor command, ReadOnlySpan<byte> cdb)
    {
        // SPC-4 4.3.2: a reserved bit set, or a field the LU does not support, is an invalid field in the CDB.
        var usage = command.CdbUsage;
        int length = Math.Min(usage.Length, cdb.Length);
        for (int i = 1; i < length; i++)
        {
            byte allowed = usage[i];
            if (i == 1 && command.HasServiceAction)
            {
                allowed |= 0x1F;
            }

            int bad = cdb[i] & ~allowed;
            if (bad != 0)
            {
                Fail(task, SenseData.InvalidFieldInCdb(i, 31 - int.LeadingZeroCount(bad)));
                return false;
            }
        }

        return true;
    }

    /// <summary>Reads a big-endian unsigned field of <paramref name="bytes"/> bytes at <paramref name="offset"/>.</summary>
    internal static ulong Field(ReadOnlySpan<byte> cdb, int offset, int bytes) => bytes switch
    {
        1 => cdb[offset],
        2 => BinaryPrimitives.ReadUInt16BigEndian(cdb[offset..]),
        3 => (ulong)((cdb[offset] << 16) | (cdb[offset + 1] << 8) | cdb[offset + 2]),
        4 => BinaryPrimitives.ReadUInt32BigEndian(cdb[offset..]),
        8 => BinaryPrimitives.ReadUInt64BigEndian(cdb[offset..]),
        _ => throw new ArgumentOutOfRangeException(nameof(bytes)),
    };

    /// <summary>A LOGICAL UNIT RESET (SAM-5 7.8) or TARGET RESET: mode pages keep their values (none are saved,
    /// so current = default would also be right; keeping them is what Linux LIO does), SPC-2 reservations and
    /// prevent-removal are released, persistent reservations stay, every nexus sees the reset.</summary>
    internal void Reset()
    {
        Reservations.ReleaseReserve();
        lock (PreventingRemoval)
        {
            PreventingRemoval.Clear();
        }

        UnitAttentions.Reset(AdditionalSense.BusDeviceResetFunctionOccurred);
    }

    internal void NexusLost(ItNexus nexus)
    {
        Reservations.NexusLost(nexus);
        lock (PreventingRemoval)
        {
            PreventingRemoval.Remove(nexus);
        }

        CopyResults.Forget(nexus);
        UnitAttentions.Forget(nexus);
    }
}

using Strata.Blocks;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// One SCSI command as the transport hands it to the SCSI layer, and its outcome. The transport owns a pool
/// of these per session and reuses them, so nothing is allocated per command.
/// </summary>
/// <remarks>
/// Data-out is gathered completely (immediate, unsolicited and R2T-solicited data) into <see cref="DataOut"/>
/// before <see cref="IScsiTaskExecutor.ExecuteAsync"/> runs. For a command that reads, the executor writes into
/// <see cref="DataIn"/> (sized to the initiator's expected length) and sets <see cref="TransferLength"/> to the
/// bytes the command itself wanted to move; the transport derives the iSCSI residual from that.
/// </remarks>
public sealed class ScsiTask
{
    public const int MaxCdbLength = 260;
    public const int MaxSenseLength = 252;

    private readonly byte[] _cdb = new byte[MaxCdbLength];
    private readonly byte[] _sense = new byte[MaxSenseLength];
    private CancellationTokenSource _abort = new();
    private CommandCompletion? _handlerCompletion;
    private CommandCompletion? _deviceCompletion;

    public ItNexus Nexus { get; set; } = null!;

    /// <summary>The LUN, decoded from the 8-byte LUN field (SAM-5 4.7; flat and peripheral addressing).</summary>
    public ulong Lun { get; set; }

    /// <summary>The initiator task tag (ITT).</summary>
    public uint Tag { get; set; }

    public ScsiTaskAttribute Attribute { get; set; }

    public ReadOnlyMemory<byte> Cdb => _cdb.AsMemory(0, CdbLength);

    public int CdbLength { get; private set; }

    /// <summary>The R bit: the initiator expects data in.</summary>
    public bool ReadExpected { get; set; }

    /// <summary>The W bit: the initiator sends data out.</summary>
    public bool WriteExpected { get; set; }

    /// <summary>The Expected Data Transfer Length of the SCSI Command PDU, in bytes.</summary>
    public int ExpectedDataTransferLength { get; set; }

    /// <summary>The data-out the initiator sent (at most <see cref="ExpectedDataTransferLength"/> bytes).</summary>
    public ReadOnlyMemory<byte> DataOut { get; set; }

    /// <summary>Where a reading command puts its data: <see cref="ExpectedDataTransferLength"/> bytes.</summary>
    public Memory<byte> DataIn { get; set; }

    /// <summary>
    /// Set by the executor: the bytes the command itself transfers (its allocation or transfer length). Less
    /// than <see cref="ExpectedDataTransferLength"/> is an underflow, more an overflow (RFC 7143 11.4.5).
    /// For a reading command, min(TransferLength, DataIn.Length) bytes of <see cref="DataIn"/> are sent.
    /// </summary>
    public int TransferLength { get; set; }

    public ScsiStatus Status { get; set; }

    public ReadOnlyMemory<byte> Sense => _sense.AsMemory(0, SenseLength);

    public int SenseLength { get; private set; }

    /// <summary>Cancelled when the task is aborted (ABORT TASK, ABORT TASK SET, LUN RESET, session loss).</summary>
    public CancellationToken Aborted => _abort.Token;

    /// <summary>The pool the transport uses for this task's data buffers.</summary>
    public PinnedBufferPool Buffers { get; set; } = PinnedBufferPool.Shared;

    public void SetCdb(ReadOnlySpan<byte> cdb)
    {
        if (cdb.Length > MaxCdbLength)
        {
            throw new ArgumentException($"a CDB holds at most {MaxCdbLength} bytes", nameof(cdb));
        }

        cdb.CopyTo(_cdb);
        CdbLength = cdb.Length;
    }

    /// <summary>Writable sense buffer for the executor; call <see cref="SetSenseLength"/> after filling it.</summary>
    public Span<byte> SenseBuffer => _sense;

    public void SetSenseLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxSenseLength);
        SenseLength = length;
    }

    public void Abort() => _abort.Cancel();

    /// <summary>Finishes the command handler's pending work (reused by every command of this task).</summary>
    internal CommandCompletion HandlerCompletion => _handlerCompletion ??= new CommandCompletion();

    /// <summary>Finishes a READ's or WRITE's pending device call (reused by every command of this task).</summary>
    internal CommandCompletion DeviceCompletion => _deviceCompletion ??= new CommandCompletion();

    /// <summary>Makes the task ready for reuse by another command.</summary>
    public void Reset()
    {
        Nexus = null!;
        Lun = 0;
        Tag = 0;
        Attribute = ScsiTaskAttribute.Simple;
        CdbLength = 0;
        ReadExpected = false;
        WriteExpected = false;
        ExpectedDataTransferLength = 0;
        DataOut = default;
        DataIn = default;
        TransferLength = 0;
        Status = ScsiStatus.Good;
        SenseLength = 0;
        if (!_abort.TryReset())
        {
            _abort.Dispose();
            _abort = new CancellationTokenSource();
        }
    }
}

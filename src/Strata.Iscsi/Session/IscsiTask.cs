using System.Runtime.CompilerServices;
using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Session;

/// <summary>
/// The iSCSI side of one SCSI command: its tags and sequence numbers, its data-out progress (immediate,
/// unsolicited and R2T-solicited data), and its buffer. Pooled per connection with its <see cref="ScsiTask"/>.
/// </summary>
internal sealed class IscsiTask
{
    private readonly Action _onExecuted;
    private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _execution;

    public IscsiTask(IscsiConnection connection)
    {
        Connection = connection;
        _onExecuted = OnExecuted;
    }

    public IscsiConnection Connection { get; }

    public ScsiTask Scsi { get; } = new();

    public uint Itt { get; set; }

    public uint CmdSN { get; set; }

    public bool Immediate { get; set; }

    /// <summary>The buffer rented for data-out or data-in, or null.</summary>
    public byte[]? Buffer { get; set; }

    /// <summary>What <see cref="Buffer"/> was charged to the session's task buffer budget.</summary>
    public long BufferCharge { get; set; }

    /// <summary>The transport decided the status itself (no buffer, a transfer too long): not executed.</summary>
    public bool AnsweredByTransport { get; set; }

    /// <summary>Bytes of data-out received so far; with DataPDUInOrder and DataSequenceInOrder (both Yes,
    /// which we always answer) data arrives in increasing offsets, so this is also the next expected offset.</summary>
    public int ReceivedDataOut { get; set; }

    /// <summary>Where the unsolicited data (immediate plus unsolicited Data-Out) ends.</summary>
    public int UnsolicitedEnd { get; set; }

    /// <summary>True once the unsolicited sequence is complete (F bit seen, or none expected).</summary>
    public bool UnsolicitedDone { get; set; }

    /// <summary>Offset up to which R2Ts have been sent.</summary>
    public int SolicitedEnd { get; set; }

    public uint NextR2TSN { get; set; }

    /// <summary>The Target Transfer Tag of this task's R2Ts.</summary>
    public uint TargetTransferTag { get; set; }

    /// <summary>The DataSN expected on the next Data-Out of the current sequence.</summary>
    public uint NextDataOutSN { get; set; }

    /// <summary>Its CmdSN's turn has come (or it is immediate): it may execute once its data is here.</summary>
    public bool Admitted { get; set; }

    /// <summary>Set by task management: the task ends without a response.</summary>
    public bool Aborted { get; set; }

    /// <summary>True from execution start until its response was queued.</summary>
    public bool Executing { get; set; }

    public TaskCompletionSource? ExecutionFinished { get; set; }

    public int ExpectedDataOut => Scsi.WriteExpected ? Scsi.ExpectedDataTransferLength : 0;

    /// <summary>Starts SCSI execution; the response is queued on the connection when it completes.</summary>
    public void Execute(IScsiTaskExecutor executor)
    {
        Executing = true;
        ValueTask execution;
        try
        {
            execution = executor.ExecuteAsync(Scsi);
        }
        catch (Exception e)
        {
            execution = ValueTask.FromException(e);
        }

        _execution = execution.ConfigureAwait(false).GetAwaiter();
        if (_execution.IsCompleted)
        {
            OnExecuted();
        }
        else
        {
            _execution.UnsafeOnCompleted(_onExecuted);
        }
    }

    private void OnExecuted()
    {
        try
        {
            _execution.GetResult();
        }
        catch (Exception e)
        {
            Connection.ExecutionFailed(this, e);
        }

        _execution = default;
        Connection.Executed(this);
    }

    public void Reset()
    {
        Scsi.Reset();
        Itt = 0;
        CmdSN = 0;
        Immediate = false;
        Buffer = null;
        BufferCharge = 0;
        AnsweredByTransport = false;
        ReceivedDataOut = 0;
        UnsolicitedEnd = 0;
        UnsolicitedDone = false;
        SolicitedEnd = 0;
        NextR2TSN = 0;
        TargetTransferTag = 0;
        NextDataOutSN = 0;
        Aborted = false;
        Admitted = false;
        Executing = false;
        ExecutionFinished = null;
    }
}

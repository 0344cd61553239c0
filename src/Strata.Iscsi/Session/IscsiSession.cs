using Strata.Blocks;
using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;

namespace Strata.Iscsi.Session;

/// <summary>
/// One iSCSI session (RFC 7143 3.4): an I_T nexus between an initiator port (name + ISID) and a target, with
/// its TSIH. At ERL 0 it has one connection and ends with it.
/// </summary>
internal sealed class IscsiSession
{
    private readonly SessionTable _table;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IscsiSession(SessionTable table, IscsiConnection connection, ulong isid, ushort tsih, IscsiTarget? target, ushort tpgt)
    {
        _table = table;
        _bufferBudget = new TaskBufferBudget(table.Server.Options.MaxTaskBufferBytesPerSession);
        Connection = connection;
        Isid = isid;
        Tsih = tsih;
        Target = target;
        var p = connection.Parameters;
        InitiatorName = p.InitiatorName ?? string.Empty;
        Nexus = new ItNexus(InitiatorName, isid, target?.Name ?? string.Empty, tpgt);
    }

    public IscsiConnection Connection { get; }

    public ulong Isid { get; }

    public ushort Tsih { get; }

    public string InitiatorName { get; }

    /// <summary>The target of a normal session; null for a discovery session.</summary>
    public IscsiTarget? Target { get; }

    public ItNexus Nexus { get; }

    public IScsiTaskExecutor? Executor => Target?.Executor;

    public PinnedBufferPool Buffers => PinnedBufferPool.Shared;

    private readonly TaskBufferBudget _bufferBudget;

    /// <summary>Charges a task buffer of <paramref name="bytes"/> to this session and to the portal; false when
    /// either bound would be passed.</summary>
    public bool TryChargeBuffer(long bytes)
    {
        if (!_bufferBudget.TryTake(bytes))
        {
            return false;
        }

        if (!_table.BufferBudget.TryTake(bytes))
        {
            _bufferBudget.Give(bytes);
            return false;
        }

        return true;
    }

    public void CreditBuffer(long bytes)
    {
        _bufferBudget.Give(bytes);
        _table.BufferBudget.Give(bytes);
    }

    /// <summary>The longest data transfer of one command: what one task buffer holds.</summary>
    public int MaxTransferLength => Buffers.MaxBufferSize;

    /// <summary>Completes when the session has ended and its tasks have stopped.</summary>
    public Task Ended => _ended.Task;

    public bool IsDiscovery => Target is null;

    /// <summary>
    /// The initiator logged out: the I_T nexus is gone for the logical units (RESERVE/RELEASE reservations are
    /// released, SPC-4 5.13) before the Logout Response goes out; the session ends when the connection closes.
    /// </summary>
    public void LoggedOut() => Executor?.NexusLost(Nexus);

    public void ConnectionClosed(IscsiConnection connection)
    {
        _ = connection;
        _table.Remove(this);
        Executor?.NexusLost(Nexus);
        _ended.TrySetResult();
    }
}

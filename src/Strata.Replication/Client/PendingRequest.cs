using System.Threading.Tasks.Sources;
using Strata.Replication.Protocol;

namespace Strata.Replication.Client;

/// <summary>
/// One slot of a <see cref="ReplicaClient"/>'s table of requests in flight: the request's fields, and the completion
/// source the caller's ValueTask awaits. Slots are reused (the request id carries the slot and a generation), so a
/// request allocates nothing; the slot goes back to the table when the caller takes the result. A GetExtent's
/// caller awaits it as the source of its answer.
/// </summary>
internal sealed class PendingRequest : IValueTaskSource, IValueTaskSource<(bool Mapped, long Blocks)>
{
    private const int Idle = 0;
    private const int Pending = 1;
    private const int Completed = 2;

    private readonly ReplicaClient _client;

    // Continuations run on the thread pool, not on the client's receive loop: a caller's code after the await must
    // not hold up the responses of every other request.
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _state;
    private ulong _generation;

    public PendingRequest(ReplicaClient client, int slot)
    {
        _client = client;
        Slot = slot;
    }

    public int Slot { get; }

    public ulong RequestId { get; private set; }

    public Opcode Opcode { get; private set; }

    public FrameFlags Flags { get; private set; }

    public long Lba { get; private set; }

    public uint BlockCount { get; private set; }

    /// <summary>A Write's data (the caller's memory, valid while the request is pending) and its CRC32C.</summary>
    public ReadOnlyMemory<byte> WriteData { get; private set; }

    public uint WriteCrc { get; private set; }

    /// <summary>Where a Read's data goes (the caller's memory).</summary>
    public Memory<byte> ReadBuffer { get; private set; }

    /// <summary>A GetExtent's answer, set before the request completes.</summary>
    public ExtentPayload Extent { get; set; }

    public short Version => _core.Version;

    /// <summary>When the request was queued (<see cref="Environment.TickCount64"/>): how long it has waited for its answer.</summary>
    public long QueuedAt { get; private set; }

    public bool IsPending => Volatile.Read(ref _state) == Pending;

    /// <summary>Makes the slot a new request (under the client's lock; the slot is idle).</summary>
    public void Prepare(Opcode opcode, FrameFlags flags, long lba, uint blockCount, Memory<byte> read, ReadOnlyMemory<byte> write, uint writeCrc)
    {
        _generation++;
        RequestId = (_generation << ReplicaClient.SlotBits) | (uint)Slot;
        Opcode = opcode;
        Flags = flags;
        Lba = lba;
        BlockCount = blockCount;
        ReadBuffer = read;
        WriteData = write;
        WriteCrc = writeCrc;
        Extent = default;
        QueuedAt = Environment.TickCount64;
        Volatile.Write(ref _state, Pending);
    }

    /// <summary>Completes the request once; false when it was completed already.</summary>
    public bool TryComplete(Exception? error)
    {
        if (Interlocked.CompareExchange(ref _state, Completed, Pending) != Pending)
        {
            return false;
        }

        ReadBuffer = default;
        WriteData = default;
        if (error is null)
        {
            _core.SetResult(true);
        }
        else
        {
            _core.SetException(error);
        }

        return true;
    }

    public void GetResult(short token)
    {
        if (token != _core.Version)
        {
            throw new InvalidOperationException("a replica request's ValueTask was awaited twice");
        }

        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Volatile.Write(ref _state, Idle);
            _client.Release(this);
        }
    }

    /// <summary>A GetExtent's answer; the slot goes back as with the other requests.</summary>
    (bool Mapped, long Blocks) IValueTaskSource<(bool Mapped, long Blocks)>.GetResult(short token)
    {
        // Read before the slot goes back (and may be reused); only returned when the request succeeded.
        var extent = Extent;
        GetResult(token);
        return (extent.Mapped, extent.Blocks);
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

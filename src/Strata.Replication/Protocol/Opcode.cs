namespace Strata.Replication.Protocol;

/// <summary>What a frame is (the header's byte 6). docs/replication-protocol.md has the payload of each.</summary>
public enum Opcode : byte
{
    /// <summary>Client to server, first frame: protocol version, epoch, volume id.</summary>
    Hello = 1,

    /// <summary>Server to client, the answer to an accepted Hello: the volume's block size and count.</summary>
    HelloOk = 2,

    /// <summary>Read <c>block count</c> blocks at <c>lba</c>; the Response carries the data.</summary>
    Read = 3,

    /// <summary>Write the payload (<c>block count</c> whole blocks) at <c>lba</c>; flag <see cref="FrameFlags.Fua"/>.</summary>
    Write = 4,

    /// <summary>Make every write that completed before it durable.</summary>
    Flush = 5,

    /// <summary>Deallocate <c>block count</c> blocks at <c>lba</c>.</summary>
    Unmap = 6,

    /// <summary>Server to client: the outcome of a request (the header's byte 7 is its <see cref="ReplicaStatus"/>).</summary>
    Response = 7,

    /// <summary>Client to server: no more requests; the server answers those in flight, then closes.</summary>
    Goodbye = 8,

    /// <summary>
    /// Whether <c>lba</c> is mapped, and how many blocks from it (1 to <c>block count</c>) share that state: the
    /// Response carries an <see cref="ExtentPayload"/>. A device that keeps no allocation map answers mapped, all of them.
    /// </summary>
    GetExtent = 9,

    /// <summary>
    /// Protocol 2: the write-intent regions from region <c>lba</c>, for at most <c>block count</c> (at least 1) regions:
    /// the Response carries an <see cref="IntentPayload"/> and the bitmap.
    /// </summary>
    GetIntent = 10,

    /// <summary>
    /// Protocol 2: the target's flush that completed last on this connection had completed on every replica: the
    /// server clears the write-intent regions that had no change in flight and none since that flush was received.
    /// </summary>
    Settle = 11,
}

/// <summary>Flag bits of a request (the header's byte 7).</summary>
[Flags]
public enum FrameFlags : byte
{
    None = 0,

    /// <summary>On a Write: durable when it completes (<see cref="WriteFlags.Fua"/>).</summary>
    Fua = 1,
}

/// <summary>
/// The outcome a Response carries in the header's byte 7: Ok, or a <see cref="BlockDeviceErrorKind"/> (kind + 1),
/// or <see cref="ProtocolError"/>. An error's payload is its message in UTF-8.
/// </summary>
public enum ReplicaStatus : byte
{
    Ok = 0,
    OutOfRange = (byte)BlockDeviceErrorKind.OutOfRange + 1,
    NoSpace = (byte)BlockDeviceErrorKind.NoSpace + 1,
    Medium = (byte)BlockDeviceErrorKind.Medium + 1,
    Fenced = (byte)BlockDeviceErrorKind.Fenced + 1,
    Unavailable = (byte)BlockDeviceErrorKind.Unavailable + 1,

    /// <summary>The request broke the protocol (bad CRC, bad length, no Hello first …): nothing of it was applied,
    /// and the server closes the connection after this response.</summary>
    ProtocolError = 0xFF,
}

public static class ReplicaStatusExtensions
{
    public static ReplicaStatus ToStatus(this BlockDeviceErrorKind kind) => (ReplicaStatus)((byte)kind + 1);

    /// <summary>The kind a client reports for an error status; a protocol error is the connection failing: Unavailable.</summary>
    public static BlockDeviceErrorKind ToErrorKind(this ReplicaStatus status) => status switch
    {
        ReplicaStatus.OutOfRange => BlockDeviceErrorKind.OutOfRange,
        ReplicaStatus.NoSpace => BlockDeviceErrorKind.NoSpace,
        ReplicaStatus.Medium => BlockDeviceErrorKind.Medium,
        ReplicaStatus.Fenced => BlockDeviceErrorKind.Fenced,
        ReplicaStatus.Unavailable or ReplicaStatus.ProtocolError => BlockDeviceErrorKind.Unavailable,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not an error status"),
    };

    public static bool IsDefined(this ReplicaStatus status) =>
        status is ReplicaStatus.Ok or ReplicaStatus.ProtocolError || (byte)status is >= 1 and <= (byte)BlockDeviceErrorKind.Unavailable + 1;
}

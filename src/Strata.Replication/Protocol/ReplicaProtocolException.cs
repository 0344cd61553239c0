namespace Strata.Replication.Protocol;

/// <summary>
/// A frame broke the replica protocol: bad magic, version, header or payload CRC32C, an oversize or inconsistent
/// length, an unknown opcode or flag, a request before Hello. The stream cannot be trusted after it: the side that
/// sees it answers (when it is the server) and closes the connection. Nothing of the offending frame is applied.
/// </summary>
public sealed class ReplicaProtocolException : Exception
{
    public ReplicaProtocolException(string message, ulong? requestId = null)
        : base(message)
    {
        RequestId = requestId;
    }

    public ReplicaProtocolException()
        : this("the replica protocol was broken")
    {
    }

    public ReplicaProtocolException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The offending frame's request id, when its header could be trusted.</summary>
    public ulong? RequestId { get; }
}

namespace Strata.Replication;

/// <summary>How a <see cref="ReplicaClient"/> judges its server.</summary>
public sealed record ReplicaClientOptions
{
    public static ReplicaClientOptions Default { get; } = new();

    /// <summary>
    /// How long a request may wait with nothing at all coming from the server before the server is taken as gone
    /// and every request in flight fails as Unavailable (the volume then drops the replica and tracks what it
    /// misses). Longhorn's engine uses the same 8 s by default; the kernel initiator's SCSI command timeout is 30 s.
    /// </summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(8);
}

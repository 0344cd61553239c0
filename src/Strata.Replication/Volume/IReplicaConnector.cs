namespace Strata.Replication.Volume;

/// <summary>
/// Opens a replica of the volume at the target's epoch: a <see cref="ReplicaClient"/> to the replica server of the
/// replica's node, or a <see cref="LocalReplica"/> in process when the replica lives on the target's own node.
/// </summary>
public interface IReplicaConnector
{
    /// <summary>
    /// Opens <paramref name="replica"/>. Throws <see cref="BlockDeviceException"/>: Unavailable when it cannot be
    /// reached now, Fenced when it has seen a newer epoch than this target's.
    /// </summary>
    Task<IBlockDevice> ConnectAsync(string replica, CancellationToken ct);
}

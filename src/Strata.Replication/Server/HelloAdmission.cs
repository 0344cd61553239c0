using Strata.Replication.Protocol;

namespace Strata.Replication.Server;

/// <summary>
/// What a replica server answers a Hello, over TCP or in process: the session and the device it serves when
/// <see cref="Status"/> is Ok, else the refusal (Fenced, Unavailable, Medium) and why.
/// </summary>
internal readonly record struct HelloAdmission(FenceSession? Session, IBlockDevice? Device, ReplicaStatus Status, string? Message)
{
    public static HelloAdmission Refused(ReplicaStatus status, string message) => new(null, null, status, message);
}

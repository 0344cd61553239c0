using Strata.Replication.Protocol;

namespace Strata.Replication.Server;

/// <summary>
/// What a replica server answers a Hello, over TCP or in process: the session, the device it serves and the volume's write-intent log when
/// <see cref="Status"/> is Ok, else the refusal (Fenced, Unavailable, Medium) and why.
/// </summary>
internal readonly record struct HelloAdmission(FenceSession? Session, IBlockDevice? Device, WriteIntentLog? Intent, ReplicaStatus Status, string? Message)
{
    public static HelloAdmission Refused(ReplicaStatus status, string message) => new(null, null, null, status, message);
}

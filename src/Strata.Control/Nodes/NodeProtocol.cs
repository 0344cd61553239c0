using Strata.Control.Resources;

namespace Strata.Control.Nodes;

// What node agents and the control plane say to each other over the REST API (/api/v1/nodes/{name}/...).

/// <summary>A node agent announcing itself; answered with the lease its heartbeats renew.</summary>
public sealed record NodeRegistration(string Address, string IscsiPortal, long SparseFileBytes, string Version, string? ReplicaEndpoint = null);

public sealed record NodeLease(long Lease, int TtlSeconds, int HeartbeatSeconds);

/// <summary>Everything placed on one node, read at one store revision: the node makes what it hosts match.</summary>
/// <param name="ReplicaEndpoints">Every node's replica server (node name → address:port), for the targets it serves.</param>
public sealed record NodeAssignments(long Revision, List<StoragePool> Pools, List<VolumeReplica> Replicas, List<Volume> Targets, Dictionary<string, string>? ReplicaEndpoints = null);

/// <summary>What a node found true, sent after every change it makes and periodically.</summary>
public sealed record NodeReport(
    List<PoolReport> Pools,
    List<ReplicaReport> Replicas,
    List<TargetReport> Targets,
    List<BlockDeviceSpec>? BlockDevices);

public sealed record PoolReport(string Name, string Phase, long CapacityBytes, long AllocatedBytes, long FreeBytes, List<string> Vdevs, string? Message);

public sealed record ReplicaReport(string Name, string Phase, long UsedBytes, long AllocatedBytes, string? Message);

/// <param name="Epoch">The epoch of the target instance serving (0 when none).</param>
/// <param name="Replicas">Each replica as the serving target sees it.</param>
/// <param name="Io">What the serving instance counted of its LUN's I/O (null when not serving, and from agents that do not count).</param>
public sealed record TargetReport(string Volume, bool Ready, string Portal, string? Message, long Epoch = 0, List<ReplicaSyncReport>? Replicas = null, IoCounters? Io = null);

/// <summary>
/// A target instance's I/O since it opened, cumulative: a lost report loses nothing, and rates come from any two
/// samples. <paramref name="Seconds"/> is the node's monotonic clock since the instance opened, so rates between two
/// samples of one instance depend on neither machine's wall clock.
/// </summary>
/// <param name="Errors">Operations that failed or were aborted.</param>
public sealed record IoCounters(double Seconds, IoOpCounts Reads, IoOpCounts Writes, IoOpCounts Flushes, IoOpCounts Unmaps, long Errors);

/// <summary>Completed operations of one kind: how many, their bytes (deallocated ones for unmaps), and the seconds they took added up.</summary>
public sealed record IoOpCounts(long Count, long Bytes, double Seconds);

public sealed record ReplicaSyncReport(string Name, ReplicaSync Sync);

/// <summary>A target instance's epoch, just taken, and what it needs to open the replicas.</summary>
/// <param name="RebuildCheckpoints">Bytes a previous target's rebuild had made whole on replicas out of the set, by replica: resumed there.</param>
public sealed record VolumeEpoch(long Epoch, List<string> InSync, List<ReplicaEndpoint> Replicas, int MinInSync, Dictionary<string, long>? RebuildCheckpoints = null);

/// <summary>Where a replica is served: its node's replica server.</summary>
public sealed record ReplicaEndpoint(string Name, string Node, string? Endpoint);

/// <summary>A target asking to change the in-sync set from <paramref name="Expected"/> to <paramref name="InSync"/> at its epoch.</summary>
public sealed record InSyncChange(long Epoch, List<string> Expected, List<string> InSync);

/// <summary>A target recording, at its epoch, how far its rebuild of a replica has made it whole and durable (bytes), or clearing that (null).</summary>
public sealed record RebuildCheckpointChange(long Epoch, string Replica, long? CopiedBytes);

/// <summary>The in-sync set the store holds after a change was asked (the one asked for when it was made).</summary>
public sealed record InSyncResult(List<string> InSync);

/// <summary>The node has released what a resource being deleted held (a pool's files, a replica's volume): the record may go.</summary>
public sealed record NodeFinalization(string Kind, string Name);

using Strata.Control.Resources;

namespace Strata.Control.Nodes;

// What node agents and the control plane say to each other over the REST API (/api/v1/nodes/{name}/...).

/// <summary>A node agent announcing itself; answered with the lease its heartbeats renew.</summary>
public sealed record NodeRegistration(string Address, string IscsiPortal, long SparseFileBytes, string Version);

public sealed record NodeLease(long Lease, int TtlSeconds, int HeartbeatSeconds);

/// <summary>Everything placed on one node, read at one store revision: the node makes what it hosts match.</summary>
public sealed record NodeAssignments(long Revision, List<StoragePool> Pools, List<VolumeReplica> Replicas, List<Volume> Targets);

/// <summary>What a node found true, sent after every change it makes and periodically.</summary>
public sealed record NodeReport(
    List<PoolReport> Pools,
    List<ReplicaReport> Replicas,
    List<TargetReport> Targets,
    List<BlockDeviceSpec>? BlockDevices);

public sealed record PoolReport(string Name, string Phase, long CapacityBytes, long AllocatedBytes, long FreeBytes, List<string> Vdevs, string? Message);

public sealed record ReplicaReport(string Name, string Phase, long UsedBytes, long AllocatedBytes, string? Message);

public sealed record TargetReport(string Volume, bool Ready, string Portal, string? Message);

/// <summary>The node has released what a resource being deleted held (a pool's files, a replica's volume): the record may go.</summary>
public sealed record NodeFinalization(string Kind, string Name);

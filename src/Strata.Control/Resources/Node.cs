namespace Strata.Control.Resources;

/// <summary>A node agent: where it can be reached and whether its lease is alive.</summary>
public sealed class Node : Resource<NodeSpec, NodeStatus>
{
    public override ResourceKind Descriptor => ResourceKind.Node;
}

public sealed class NodeSpec
{
    /// <summary>The address initiators and peers reach this node at.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>The node's iSCSI portal, address:port.</summary>
    public string IscsiPortal { get; set; } = "";

    /// <summary>Where the node's replica server listens (address:port): targets on other nodes reach its replicas there.</summary>
    public string? ReplicaEndpoint { get; set; }

    /// <summary>Default size of a sparse pool's file on this node.</summary>
    public long SparseFileBytes { get; set; }
}

public sealed class NodeStatus
{
    /// <summary>Ready or NotReady.</summary>
    public string? Phase { get; set; }

    /// <summary>The store lease the node's heartbeats keep alive.</summary>
    public long Lease { get; set; }

    /// <summary>When the agent last registered (started, or came back after its lease lapsed).</summary>
    public DateTimeOffset? RegisteredAt { get; set; }

    public string? Version { get; set; }

    public List<Condition>? Conditions { get; set; }
}

using System.Net;
using Strata.Node.Discovery;

namespace Strata.Node;

public sealed class NodeAgentOptions
{
    public required string Name { get; init; }

    /// <summary>The control plane's REST API.</summary>
    public required Uri Control { get; init; }

    public string? Token { get; init; }

    /// <summary>Where this node keeps its sparse pools' files.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>The node's iSCSI portal: every target this node serves, by IQN. Port 0 picks a free port.</summary>
    public IPEndPoint IscsiPortal { get; init; } = new(IPAddress.Loopback, 3260);

    /// <summary>The node's replica server, which targets (on this node and others) reach its replicas at. Port 0 picks a free port.</summary>
    public IPEndPoint ReplicaListen { get; init; } = new(IPAddress.Loopback, 6060);

    /// <summary>
    /// The address initiators reach this node's portal at (and targets its replica server). Null: the portal's own address, or, when the portal
    /// listens on every address, this host's first non-loopback IPv4 address.
    /// </summary>
    public IPAddress? AdvertiseAddress { get; init; }

    /// <summary>The size of each file of a sparse pool (the seed's pools are 10 GiB).</summary>
    public long SparseFileBytes { get; init; } = 10L << 30;

    /// <summary>Bytes per second each rebuild of a target served here may copy; 0: as fast as it goes.</summary>
    public long RebuildBytesPerSecond { get; init; }

    public DiscoveryOptions Discovery { get; init; } = new();

    /// <summary>
    /// Whether this node publishes the machine's block devices. `strata up` runs several nodes on one machine and lets
    /// only the first publish them, so no disk is offered twice.
    /// </summary>
    public bool DiscoverDisks { get; init; } = true;

    /// <summary>How often the node reports what it hosts even when nothing changed.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often open pools commit what was written without a flush.</summary>
    public TimeSpan CommitInterval { get; init; } = TimeSpan.FromSeconds(5);

    public Action<string> Log { get; init; } = _ => { };
}

using System.Net;
using Strata.Blocks;
using Strata.Replication;
using Strata.Replication.Volume;

namespace Strata.Node.Hosting;

/// <summary>
/// Opens a volume's replicas for its target at the target's epoch: the replica on this node in process, through this
/// node's replica server (<see cref="ReplicaServer.OpenLocalAsync"/>: the same epoch rules without the loopback
/// socket), and every other one with a <see cref="ReplicaClient"/> to the replica server of its node, at that node's
/// endpoint as last registered (it may move when the node restarts).
/// </summary>
/// <param name="localNode">This node's name: its replicas are opened with <paramref name="openLocal"/>.</param>
/// <param name="openLocal">Opens a replica of this node's at an epoch (<see cref="ReplicaService.OpenLocalAsync"/>).</param>
internal sealed class ReplicaConnector(
    string volume,
    long epoch,
    IReadOnlyDictionary<string, string> replicaNodes,
    Func<string, string?> endpointOf,
    string localNode,
    Func<string, long, CancellationToken, Task<IBlockDevice>> openLocal) : IReplicaConnector
{
    public async Task<IBlockDevice> ConnectAsync(string replica, CancellationToken ct)
    {
        string node = replicaNodes.TryGetValue(replica, out var n) ? n : throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"replica {replica} is not one of volume {volume}'s");
        if (node == localNode)
        {
            return await openLocal(volume, epoch, ct).ConfigureAwait(false);
        }

        string endpoint = endpointOf(node) ?? throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"node {node} has not registered a replica endpoint");
        if (!IPEndPoint.TryParse(endpoint, out var ip))
        {
            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"node {node}'s replica endpoint '{endpoint}' is not an address:port");
        }

        return await ReplicaClient.ConnectAsync(ip, volume, epoch, ct).ConfigureAwait(false);
    }
}

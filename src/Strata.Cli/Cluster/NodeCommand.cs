using System.CommandLine;
using Strata.Control;
using Strata.Node;
using Strata.Node.Discovery;

namespace Strata.Cli.Cluster;

/// <summary><c>strata node</c>: one node agent, hosting the pools, replicas and targets the control plane places on it.</summary>
internal static class NodeCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "The node's name (default: the host name).", DefaultValueFactory = _ => Environment.MachineName.ToLowerInvariant() };
        var control = new Option<string>("--control") { Description = "The control plane's API (default $STRATA_SERVER, else http://127.0.0.1:5656).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("STRATA_SERVER") ?? "http://127.0.0.1:5656" };
        var data = new Option<string>("--data") { Description = "Where this node keeps its sparse pools (default $STRATA_DATA/nodes/NAME, else ~/.local/share/strata/nodes/NAME).", };
        var address = new Option<string?>("--address") { Description = "The address initiators reach the portal at (default: the portal's address; for 0.0.0.0, this host's first non-loopback IPv4 address)." };
        var portal = new Option<string>("--iscsi-portal") { Description = "The node's iSCSI portal, address:port.", DefaultValueFactory = _ => "127.0.0.1:3260" };
        var replicaListen = new Option<string>("--replica-listen") { Description = "The replica server's address:port, which volume targets reach this node's replicas at.", DefaultValueFactory = _ => "127.0.0.1:6060" };
        var sparse = new Option<string>("--sparse-size") { Description = "Size of each sparse pool file.", DefaultValueFactory = _ => "10Gi" };
        var rebuild = new Option<string>("--rebuild-rate") { Description = "Bytes per second each rebuild of a volume served here may copy (0: unlimited).", DefaultValueFactory = _ => "0" };
        var token = new Option<string?>("--token") { Description = "Bearer token of the control plane's API (default $STRATA_TOKEN).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("STRATA_TOKEN") };
        var include = new Option<string[]>("--include-device") { Description = "Only publish block devices matching these patterns (/dev/sd*, nvme*). Repeatable.", AllowMultipleArgumentsPerToken = true };
        var exclude = new Option<string[]>("--exclude-device") { Description = "Never publish block devices matching these patterns. Repeatable.", AllowMultipleArgumentsPerToken = true };
        var loops = new Option<bool>("--include-loop") { Description = "Publish attached loop devices too (excluded by default, like NDM)." };
        var command = new Command("node", "Run a node agent: disk discovery, and the pools, replicas and iSCSI targets placed on this node.")
        {
            name, control, data, portal, replicaListen, address, sparse, rebuild, token, include, exclude, loops,
        };
        command.SetAction(async (parse, ct) =>
        {
            string nodeName = parse.GetValue(name)!;
            if (!System.Text.RegularExpressions.Regex.IsMatch(nodeName, "^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$"))
            {
                Console.Error.WriteLine($"strata: --name: '{nodeName}' is not a valid node name (lowercase letters, digits, '-' and '.')");
                return 2;
            }

            if (!Uri.TryCreate(parse.GetValue(control), UriKind.Absolute, out var controlUri))
            {
                Console.Error.WriteLine($"strata: --control: '{parse.GetValue(control)}' is not a URL such as http://127.0.0.1:5656");
                return 2;
            }

            if (!Roles.TryEndPoint(parse.GetValue(portal)!, out var endPoint))
            {
                Console.Error.WriteLine($"strata: --iscsi-portal: '{parse.GetValue(portal)}' is not an address:port such as 127.0.0.1:3260");
                return 2;
            }

            if (!Roles.TryEndPoint(parse.GetValue(replicaListen)!, out var replicaEndPoint))
            {
                Console.Error.WriteLine($"strata: --replica-listen: '{parse.GetValue(replicaListen)}' is not an address:port such as 127.0.0.1:6060");
                return 2;
            }

            System.Net.IPAddress? advertise = null;
            if (parse.GetValue(address) is { } a && !System.Net.IPAddress.TryParse(a, out advertise))
            {
                Console.Error.WriteLine($"strata: --address: '{a}' is not an IP address");
                return 2;
            }

            if (!Quantity.TryParse(parse.GetValue(sparse)!, out long sparseBytes) || sparseBytes < 64L << 20)
            {
                Console.Error.WriteLine($"strata: --sparse-size: '{parse.GetValue(sparse)}' is not a size of at least 64Mi");
                return 2;
            }

            long rebuildRate = 0;
            if (parse.GetValue(rebuild) != "0" && !Quantity.TryParse(parse.GetValue(rebuild)!, out rebuildRate))
            {
                Console.Error.WriteLine($"strata: --rebuild-rate: '{parse.GetValue(rebuild)}' is not a size per second such as 100Mi, or 0");
                return 2;
            }

            var agent = new NodeAgent(new NodeAgentOptions
            {
                Name = nodeName,
                Control = controlUri,
                Token = parse.GetValue(token),
                DataDirectory = Path.GetFullPath(parse.GetValue(data) ?? Path.Combine(Roles.DefaultDataDirectory, "nodes", nodeName)),
                IscsiPortal = endPoint,
                ReplicaListen = replicaEndPoint,
                AdvertiseAddress = advertise,
                SparseFileBytes = sparseBytes,
                RebuildBytesPerSecond = rebuildRate,
                Discovery = new DiscoveryOptions { Include = parse.GetValue(include) ?? [], Exclude = parse.GetValue(exclude) ?? [], IncludeLoop = parse.GetValue(loops) },
                Log = Roles.Log,
            });
            try
            {
                agent.Start();
            }
            catch (System.Net.Sockets.SocketException e)
            {
                Console.Error.WriteLine($"strata: cannot listen on the iSCSI portal {endPoint} or the replica server's {replicaEndPoint}: {e.Message}");
                await agent.DisposeAsync();
                return 1;
            }

            await using var _ = agent;
            Console.WriteLine($"strata: node {nodeName}: iSCSI portal {agent.Portal}, replica server {agent.ReplicaEndpoint}, control plane {controlUri}");
            await Roles.WaitForStopAsync(ct);
            Console.Error.WriteLine("strata: stopping");
            return 0;
        });
        return command;
    }
}

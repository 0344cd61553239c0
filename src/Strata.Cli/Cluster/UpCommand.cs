using System.CommandLine;
using System.Diagnostics;
using System.Net;
using Strata.Control;
using Strata.Node;
using Strata.State;

namespace Strata.Cli.Cluster;

/// <summary>
/// <c>strata up</c>: the all-in-one default. The control plane with its state in an embedded SQLite file, and N node
/// agents in the same process, each with its own data directory and iSCSI portal; runs until SIGTERM or Ctrl-C.
/// </summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var nodes = new Option<int>("--nodes") { Description = "How many node agents to run (each a pool-holding node with its own portal).", DefaultValueFactory = _ => 3 };
        var data = new Option<string>("--data") { Description = "Where state.db and every node's pools live (default $STRATA_DATA, else ~/.local/share/strata).", DefaultValueFactory = _ => Roles.DefaultDataDirectory };
        var listen = new Option<string>("--listen") { Description = "The REST API's address:port.", DefaultValueFactory = _ => "127.0.0.1:5656" };
        var iscsiPort = new Option<int>("--iscsi-port") { Description = "The first node's iSCSI port; node N listens on this + N - 1.", DefaultValueFactory = _ => 3260 };
        var replicaPort = new Option<int>("--replica-port") { Description = "The first node's replica server port (0: free ports); node N listens on this + N - 1.", DefaultValueFactory = _ => 6060 };
        var sparse = new Option<string>("--sparse-size") { Description = "Size of each sparse pool file (sparse: takes no space until written).", DefaultValueFactory = _ => "10Gi" };
        var rebuild = new Option<string>("--rebuild-rate") { Description = "Bytes per second each rebuild of a volume served here may copy (0: unlimited).", DefaultValueFactory = _ => "0" };
        var token = new Option<string?>("--token") { Description = "Bearer token the API requires (needed when --listen is not loopback; default $STRATA_TOKEN).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("STRATA_TOKEN") };
        var replaceAfter = Roles.ReplaceReplicaOption();
        var command = new Command("up", "Run everything in one process: control plane (state in SQLite), N node agents and their iSCSI targets.")
        {
            nodes, data, listen, iscsiPort, replicaPort, sparse, rebuild, token, replaceAfter,
        };
        command.SetAction(async (parse, ct) =>
        {
            int count = parse.GetValue(nodes);
            if (count is < 1 or > 64)
            {
                Console.Error.WriteLine($"strata: --nodes must be 1 to 64, not {count}");
                return 2;
            }

            if (!Roles.TryEndPoint(parse.GetValue(listen)!, out var api))
            {
                Console.Error.WriteLine($"strata: --listen: '{parse.GetValue(listen)}' is not an address:port such as 127.0.0.1:5656");
                return 2;
            }

            if (!Quantity.TryParse(parse.GetValue(sparse)!, out long sparseBytes) || sparseBytes < 64L << 20)
            {
                Console.Error.WriteLine($"strata: --sparse-size: '{parse.GetValue(sparse)}' is not a size of at least 64Mi (examples: 10Gi, 500Gi)");
                return 2;
            }

            long rebuildRate = 0;
            if (parse.GetValue(rebuild) != "0" && !Quantity.TryParse(parse.GetValue(rebuild)!, out rebuildRate))
            {
                Console.Error.WriteLine($"strata: --rebuild-rate: '{parse.GetValue(rebuild)}' is not a size per second such as 100Mi, or 0");
                return 2;
            }

            int firstPort = parse.GetValue(iscsiPort);
            if (firstPort is < 0 or > 65535 || (firstPort > 0 && firstPort + count - 1 > 65535))
            {
                Console.Error.WriteLine($"strata: --iscsi-port: {firstPort} leaves no room for {count} node portals");
                return 2;
            }

            int firstReplicaPort = parse.GetValue(replicaPort);
            if (firstReplicaPort is < 0 or > 65535 || (firstReplicaPort > 0 && firstReplicaPort + count - 1 > 65535))
            {
                Console.Error.WriteLine($"strata: --replica-port: {firstReplicaPort} leaves no room for {count} replica servers");
                return 2;
            }

            if (!Roles.TryReplaceReplicaAfter(parse.GetValue(replaceAfter), out var replaceReplicaAfter))
            {
                return 2;
            }

            var clock = Stopwatch.StartNew();
            string dir = Path.GetFullPath(parse.GetValue(data)!);
            Directory.CreateDirectory(dir);
            await using var store = await StoreFactory.OpenAsync($"sqlite:{Path.Combine(dir, "state.db")}");
            ControlPlaneHost control;
            try
            {
                control = await ControlPlaneHost.StartAsync(store, new ControlPlaneOptions { Listen = api, Token = parse.GetValue(token), ReplaceReplicaAfter = replaceReplicaAfter, Log = Roles.Log });
            }
            catch (Exception e) when (e is IOException or ArgumentException)
            {
                Console.Error.WriteLine($"strata: cannot serve the API on {api}: {e.Message}");
                return 1;
            }

            await using var _ = control;
            var agents = new List<NodeAgent>();
            try
            {
                for (int i = 1; i <= count; i++)
                {
                    var agent = new NodeAgent(new NodeAgentOptions
                    {
                        Name = $"node-{i}",
                        Control = control.Url,
                        Token = parse.GetValue(token),
                        DataDirectory = Path.Combine(dir, "nodes", $"node-{i}"),
                        IscsiPortal = new IPEndPoint(api.Address, firstPort == 0 ? 0 : firstPort + i - 1),
                        ReplicaListen = new IPEndPoint(api.Address, firstReplicaPort == 0 ? 0 : firstReplicaPort + i - 1),
                        SparseFileBytes = sparseBytes,
                        RebuildBytesPerSecond = rebuildRate,
                        DiscoverDisks = i == 1, // one machine: its disks belong to one node
                        Log = Roles.Log,
                    });
                    agents.Add(agent);
                    agent.Start();
                }
            }
            catch (System.Net.Sockets.SocketException e)
            {
                Console.Error.WriteLine($"strata: cannot listen on node-{agents.Count}'s iSCSI portal or replica server: {e.Message} (--iscsi-port and --replica-port pick others)");
                foreach (var a in agents)
                {
                    await a.DisposeAsync();
                }

                return 1;
            }

            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (agents.Any(a => !a.Registered) && DateTime.UtcNow < deadline && !ct.IsCancellationRequested)
            {
                await Task.Delay(20, CancellationToken.None);
            }

            Console.WriteLine($"strata: control plane at {control.Url} (state sqlite:{Path.Combine(dir, "state.db")})");
            foreach (var a in agents)
            {
                Console.WriteLine($"strata: node {a.Name}: iSCSI portal {a.Portal}, data {Path.Combine(dir, "nodes", a.Name)}");
            }

            Console.WriteLine($"strata: ready in {clock.Elapsed.TotalSeconds:0.00} s; stop with Ctrl-C");
            await Roles.WaitForStopAsync(ct);
            Console.Error.WriteLine("strata: stopping");
            foreach (var a in agents)
            {
                await a.DisposeAsync();
            }

            return 0;
        });
        return command;
    }
}

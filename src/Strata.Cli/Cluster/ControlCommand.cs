using System.CommandLine;
using Strata.Control;
using Strata.State;

namespace Strata.Cli.Cluster;

/// <summary><c>strata control</c>: the control plane alone (REST API and reconcilers), its state in SQLite or etcd.</summary>
internal static class ControlCommand
{
    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "Where the state lives: sqlite:PATH, or etcd://HOST:PORT[,HOST:PORT...] for a cluster.", Required = true };
        var listen = new Option<string>("--listen") { Description = "The REST API's address:port.", DefaultValueFactory = _ => "127.0.0.1:5656" };
        var token = new Option<string?>("--token") { Description = "Bearer token the API requires (needed when --listen is not loopback; default $STRATA_TOKEN).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("STRATA_TOKEN") };
        var leaseTtl = new Option<int>("--node-lease-seconds") { Description = "A node whose heartbeats stop for this long is NotReady.", DefaultValueFactory = _ => 6 };
        var replaceAfter = Roles.ReplaceReplicaOption();
        var command = new Command("control", "Run the control plane: the REST API, the reconcilers and placement, with state in SQLite or etcd.") { store, listen, token, leaseTtl, replaceAfter };
        command.SetAction(async (parse, ct) =>
        {
            if (!Roles.TryEndPoint(parse.GetValue(listen)!, out var api))
            {
                Console.Error.WriteLine($"strata: --listen: '{parse.GetValue(listen)}' is not an address:port such as 127.0.0.1:5656");
                return 2;
            }

            if (parse.GetValue(leaseTtl) is < 2 or > 300)
            {
                Console.Error.WriteLine("strata: --node-lease-seconds must be 2 to 300");
                return 2;
            }

            if (!Roles.TryReplaceReplicaAfter(parse.GetValue(replaceAfter), out var replaceReplicaAfter))
            {
                return 2;
            }

            if (!System.Net.IPAddress.IsLoopback(api.Address) && string.IsNullOrEmpty(parse.GetValue(token)))
            {
                Console.Error.WriteLine($"strata: the API would listen on {api}, beyond this machine: give it a bearer token (--token or STRATA_TOKEN)");
                return 2;
            }

            IStore state;
            try
            {
                state = await StoreFactory.OpenAsync(parse.GetValue(store)!);
            }
            catch (Exception e) when (e is ArgumentException or StoreException)
            {
                Console.Error.WriteLine($"strata: {e.Message}");
                return e is ArgumentException ? 2 : 1;
            }

            await using var _ = state;
            ControlPlaneHost host;
            try
            {
                host = await ControlPlaneHost.StartAsync(state, new ControlPlaneOptions
                {
                    Listen = api,
                    Token = parse.GetValue(token),
                    NodeLeaseTtl = TimeSpan.FromSeconds(parse.GetValue(leaseTtl)),
                    ReplaceReplicaAfter = replaceReplicaAfter,
                    Log = Roles.Log,
                });
            }
            catch (Exception e) when (e is IOException or ArgumentException)
            {
                Console.Error.WriteLine($"strata: cannot serve the API on {api}: {e.Message}");
                return 1;
            }

            await using var __ = host;
            Console.WriteLine($"strata: control plane at {host.Url} (state {state.Description})");
            await Roles.WaitForStopAsync(ct);
            Console.Error.WriteLine("strata: stopping");
            return 0;
        });
        return command;
    }
}

using System.Globalization;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>
/// Puts chosen nodes of a <see cref="StrataCluster"/> each in a network namespace of its own, linked to the root
/// namespace by a veth pair whose root end the test can take down (<see cref="CutAsync"/>) and up again
/// (<see cref="HealAsync"/>): a node cut off from the network, its process running on. The control plane and the
/// nodes not isolated listen on an address added to the root namespace's loopback (<see cref="RootAddress"/>), which
/// every namespace reaches (an isolated node through its link): a target that moved to an isolated node reaches the
/// replicas of the others. Only loopback and these namespaces carry traffic.
/// </summary>
public sealed class NodeNetwork : IAsyncDisposable
{
    private readonly Action<string> _log;
    private readonly int _net;
    private readonly Dictionary<int, string> _namespaces = [];
    private bool _controlAddressAdded;

    private NodeNetwork(int net, Action<string> log)
    {
        _net = net;
        _log = log;
    }

    /// <summary>Where the control plane and the nodes not isolated listen: 10.N.0.1 on the root namespace's loopback.</summary>
    public string RootAddress => $"10.{_net}.0.1";

    /// <summary>A random 10.N.0.0/16 that no interface of this machine uses yet (other runs may hold others).</summary>
    public static async Task<NodeNetwork> CreateAsync(Action<string> log)
    {
        Libc.RequireRoot("network namespaces");
        string used = (await Tool.RunCheckedAsync("ip", ["-4", "-o", "addr"], TimeSpan.FromSeconds(10))).Stdout;
        int net;
        do
        {
            net = Random.Shared.Next(100, 250);
        }
        while (net == 99 || used.Contains($" 10.{net}.", StringComparison.Ordinal));

        var network = new NodeNetwork(net, log);
        try
        {
            await network.RunAsync("ip", "addr", "add", network.RootAddress + "/32", "dev", "lo");
            network._controlAddressAdded = true;
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
        return network;
    }

    public bool IsIsolated(int node) => _namespaces.ContainsKey(node);

    /// <summary>The address node <paramref name="node"/> listens on: its end of the link when isolated, else <see cref="RootAddress"/>.</summary>
    public string AddressOf(int node) => IsIsolated(node) ? $"10.{_net}.{node + 1}.2" : RootAddress;

    private string RootEnd(int node) => $"sv{_net}r{node}";

    private string NamespaceEnd(int node) => $"sv{_net}n{node}";

    /// <summary>Node <paramref name="node"/>'s own namespace, its link to the root namespace (10.N.(node+1).0/24) and a default route over it.</summary>
    public async Task IsolateAsync(int node)
    {
        string ns = string.Create(CultureInfo.InvariantCulture, $"strata-e2e-{Environment.ProcessId}-{_net}-{node}");
        await RunAsync("ip", "netns", "add", ns);
        _namespaces[node] = ns;
        string root = $"10.{_net}.{node + 1}.1";
        await RunAsync("ip", "link", "add", RootEnd(node), "type", "veth", "peer", "name", NamespaceEnd(node));
        await RunAsync("ip", "link", "set", NamespaceEnd(node), "netns", ns);
        await RunAsync("ip", "addr", "add", root + "/24", "dev", RootEnd(node));
        await RunAsync("ip", "link", "set", RootEnd(node), "up");
        await RunAsync("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
        await RunAsync("ip", "netns", "exec", ns, "ip", "addr", "add", AddressOf(node) + "/24", "dev", NamespaceEnd(node));
        await RunAsync("ip", "netns", "exec", ns, "ip", "link", "set", NamespaceEnd(node), "up");
        await RunAsync("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", root);
    }

    /// <summary>The command line that runs <paramref name="file"/> in node <paramref name="node"/>'s namespace (`ip netns exec` execs it: same pid).</summary>
    public (string File, string[] Args) Wrap(int node, string file, IEnumerable<string> args) =>
        IsIsolated(node) ? ("ip", ["netns", "exec", _namespaces[node], file, .. args]) : (file, args.ToArray());

    /// <summary>The link goes down: nothing passes either way, no connection is told (no RST, no FIN).</summary>
    public Task CutAsync(int node) => RunAsync("ip", "link", "set", RootEnd(node), "down");

    public Task HealAsync(int node) => RunAsync("ip", "link", "set", RootEnd(node), "up");

    private Task RunAsync(string file, params string[] args) => Tool.RunCheckedAsync(file, args, TimeSpan.FromSeconds(30), log: _log);

    public async ValueTask DisposeAsync()
    {
        foreach (var (node, ns) in _namespaces)
        {
            // Whatever still runs inside is the cluster's: kill it before deleting the namespace (that takes the veth pair with it).
            await Netns.KillEverythingInAsync(ns);
            await Tool.RunAsync("ip", ["link", "del", RootEnd(node)], TimeSpan.FromSeconds(10));
            var del = await Tool.RunAsync("ip", ["netns", "del", ns], TimeSpan.FromSeconds(30));
            if (!del.Succeeded) _log("could not delete a network namespace:\n" + del.Describe());
        }
        if (_controlAddressAdded)
            await Tool.RunAsync("ip", ["addr", "del", RootAddress + "/32", "dev", "lo"], TimeSpan.FromSeconds(10));
    }
}

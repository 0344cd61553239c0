using System.Globalization;
using System.Text.Json.Nodes;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>
/// A Strata cluster of real processes on loopback: either `strata up` (all in one, SQLite), or a real etcd,
/// `strata control --store etcd://…` and one `strata node` per node, each with its own data directory and ports.
/// The CLI talks to it the way a user does.
/// </summary>
public sealed class StrataCluster : IAsyncDisposable
{
    private static readonly TimeSpan s_start = TimeSpan.FromSeconds(60);
    private readonly Action<string> _log;
    private readonly Scratch _scratch;
    private readonly int _apiPort;
    private readonly int[] _nodePorts;
    private readonly int[] _replicaPorts;
    private readonly string _sparseSize;
    private BackgroundProcess? _up;
    private BackgroundProcess? _etcd;
    private BackgroundProcess? _control;
    private readonly BackgroundProcess?[] _nodes;

    private Func<int, string[]> _nodeArguments = _ => [];
    private string[] _controlArguments = [];
    private NodeNetwork? _network;

    /// <summary>An API beyond loopback (the isolated nodes' network) requires a bearer token: the same for every process and CLI call.</summary>
    private string[] TokenArguments => _network is null ? [] : ["--token", $"e2e-{_apiPort}"];

    private StrataCluster(string mode, int nodes, string sparseSize, Action<string> log)
    {
        Mode = mode;
        _log = log;
        _scratch = new Scratch($"cluster-{mode}");
        _apiPort = Ports.Free();
        _nodePorts = Enumerable.Range(0, nodes).Select(_ => Ports.Free()).ToArray();
        _replicaPorts = Enumerable.Range(0, nodes).Select(_ => Ports.Free()).ToArray();
        _nodes = new BackgroundProcess?[nodes];
        _sparseSize = sparseSize;
    }

    /// <summary>"up" (all in one, SQLite) or "etcd" (etcd, strata control and strata node processes).</summary>
    public string Mode { get; }

    public string Server => $"http://{ControlHost}:{_apiPort}";

    private string ControlHost => _network?.RootAddress ?? "127.0.0.1";

    public int NodeCount => _nodes.Length;

    public string DataDirectory => _scratch.Path;

    public static string NodeName(int index) => $"node-{index + 1}";

    /// <summary>`strata up --nodes N`: ready when its "ready in" line is out and every node is Ready.</summary>
    public static async Task<StrataCluster> UpAsync(int nodes, Action<string> log, string sparseSize = "4Gi")
    {
        var cluster = new StrataCluster("up", nodes, sparseSize, log);
        try
        {
            cluster._up = Tool.Start("strata up", Repo.StrataExe,
                ["up", "--nodes", nodes.ToString(CultureInfo.InvariantCulture), "--data", cluster._scratch.Path, "--listen", $"127.0.0.1:{cluster._apiPort}", "--iscsi-port", "0", "--replica-port", "0", "--sparse-size", sparseSize], log: log);
            await Wait.UntilAsync(() => cluster._up.StdoutLines.Any(l => l.Contains("ready in", StringComparison.Ordinal)) || cluster._up.HasExited, s_start, "strata up to be ready", cluster.Describe);
            if (cluster._up.HasExited)
                throw new InvalidOperationException("strata up exited:\n" + cluster.Describe());
            await cluster.WaitForNodesReadyAsync();
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    /// <summary>
    /// A real etcd, `strata control` on it (with <paramref name="controlArguments"/> added) and N `strata node`
    /// processes; the nodes in <paramref name="isolatedNodes"/> each in a network namespace of its own, on a link
    /// the test can cut (<see cref="CutNodeAsync"/>).
    /// </summary>
    public static async Task<StrataCluster> EtcdAsync(int nodes, Action<string> log, string sparseSize = "4Gi", Func<int, string[]>? nodeArguments = null,
        string[]? controlArguments = null, IReadOnlyCollection<int>? isolatedNodes = null)
    {
        var cluster = new StrataCluster("etcd", nodes, sparseSize, log) { _nodeArguments = nodeArguments ?? (_ => []), _controlArguments = controlArguments ?? [] };
        try
        {
            if (isolatedNodes is { Count: > 0 })
            {
                cluster._network = await NodeNetwork.CreateAsync(log);
                foreach (int i in isolatedNodes)
                    await cluster._network.IsolateAsync(i);
            }
            await cluster.StartEtcdAsync();
            await cluster.StartControlAsync();
            for (int i = 0; i < nodes; i++)
                cluster.StartNode(i);
            await cluster.WaitForNodesReadyAsync();
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    private int _etcdPort;

    private async Task StartEtcdAsync()
    {
        _etcdPort = Ports.Free();
        int peer = Ports.Free();
        string dir = _scratch.File("etcd");
        string etcd = File.Exists("/usr/bin/etcd") ? "/usr/bin/etcd" : throw new InvalidOperationException("/usr/bin/etcd is missing: apt-get install etcd-server (bin/test does)");
        _etcd = Tool.Start("etcd", etcd,
        [
            "--name", "strata-test", "--data-dir", dir,
            "--listen-client-urls", $"http://127.0.0.1:{_etcdPort}", "--advertise-client-urls", $"http://127.0.0.1:{_etcdPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
            "--initial-cluster", $"strata-test=http://127.0.0.1:{peer}",
        ], log: _log);
        await Wait.UntilAsync(async () => _etcd.HasExited || await Ports.CanConnectAsync("127.0.0.1", _etcdPort), s_start, "etcd to listen", Describe);
        if (_etcd.HasExited)
            throw new InvalidOperationException("etcd exited:\n" + Describe());
    }

    /// <summary>Starts (or restarts) `strata control` on the same port and store.</summary>
    public async Task StartControlAsync()
    {
        _control = Tool.Start("strata control", Repo.StrataExe,
            ["control", "--store", $"etcd://127.0.0.1:{_etcdPort}", "--listen", $"{ControlHost}:{_apiPort}", .. TokenArguments, .. _controlArguments], log: _log);
        await Wait.UntilAsync(() => _control.StdoutLines.Any(l => l.Contains("control plane at", StringComparison.Ordinal)) || _control.HasExited, s_start, "strata control to serve", Describe);
        if (_control.HasExited)
            throw new InvalidOperationException("strata control exited:\n" + Describe());
    }

    /// <summary>Starts (or restarts) node <paramref name="index"/> on its own data directory and iSCSI port.</summary>
    public void StartNode(int index)
    {
        if (Mode != "etcd")
            throw new InvalidOperationException("nodes are separate processes only in etcd mode");
        string address = _network?.AddressOf(index) ?? "127.0.0.1";
        string[] extra = _nodeArguments(index);
        string[] args =
        [
            "node", "--name", NodeName(index), "--control", Server, "--data", _scratch.File(NodeName(index)),
            "--iscsi-portal", $"{address}:{_nodePorts[index]}", "--replica-listen", $"{address}:{_replicaPorts[index]}",
            .. extra.Contains("--sparse-size") ? [] : new[] { "--sparse-size", _sparseSize }, .. TokenArguments, .. extra,
        ];
        var (file, command) = _network?.Wrap(index, Repo.StrataExe, args) ?? (Repo.StrataExe, args);
        _nodes[index] = Tool.Start($"strata node {NodeName(index)}", file, command, log: _log);
    }

    public async Task KillNodeAsync(int index)
    {
        _log($"kill -9 {NodeName(index)} (pid {_nodes[index]?.Pid})");
        await (_nodes[index] ?? throw new InvalidOperationException("not running")).KillAsync();
    }

    public bool IsNodeRunning(int index) => _nodes[index] is { HasExited: false };

    /// <summary>What node <paramref name="index"/>'s process printed so far (stderr lines prefixed with "!").</summary>
    public string NodeOutput(int index) => _nodes[index]?.Output ?? "";

    /// <summary>SIGSTOP: the node process freezes (a paused VM, a stalled host): its sockets stay open, nothing answers.</summary>
    public void PauseNode(int index)
    {
        _log($"kill -STOP {NodeName(index)} (pid {_nodes[index]?.Pid})");
        (_nodes[index] ?? throw new InvalidOperationException("not running")).Signal(Libc.SIGSTOP);
    }

    /// <summary>SIGCONT: a paused node goes on where it stopped, unaware of the time that passed.</summary>
    public void ResumeNode(int index)
    {
        _log($"kill -CONT {NodeName(index)} (pid {_nodes[index]?.Pid})");
        (_nodes[index] ?? throw new InvalidOperationException("not running")).Signal(Libc.SIGCONT);
    }

    /// <summary>SIGTERM: the node stops cleanly (and gives its lease back).</summary>
    public async Task StopNodeAsync(int index)
    {
        var node = _nodes[index] ?? throw new InvalidOperationException("not running");
        _log($"kill -TERM {NodeName(index)} (pid {node.Pid})");
        node.Signal(Libc.SIGTERM);
        if (!await node.WaitForExitAsync(TimeSpan.FromSeconds(30)))
            throw new InvalidOperationException($"{NodeName(index)} did not stop on SIGTERM\n{node.Describe()}");
    }

    /// <summary>Takes node <paramref name="index"/>'s link down (it must be one of the isolated nodes): its process runs on, unreachable.</summary>
    public Task CutNodeAsync(int index)
    {
        _log($"cut {NodeName(index)} off the network");
        return Isolated(index).CutAsync(index);
    }

    public Task HealNodeAsync(int index)
    {
        _log($"heal {NodeName(index)}'s link");
        return Isolated(index).HealAsync(index);
    }

    private NodeNetwork Isolated(int index) =>
        _network is { } n && n.IsIsolated(index) ? n : throw new InvalidOperationException($"{NodeName(index)} is not in a network namespace of its own (EtcdAsync's isolatedNodes)");

    public async Task KillControlAsync()
    {
        _log($"kill -9 strata control (pid {_control?.Pid})");
        await (_control ?? throw new InvalidOperationException("not running")).KillAsync();
    }

    public async Task WaitForNodesReadyAsync(TimeSpan? timeout = null) =>
        await Wait.UntilAsync(async () =>
        {
            var nodes = await TryListAsync("nodes");
            return nodes is not null && nodes.Count == NodeCount && nodes.All(n => Field(n, "status.phase") == "Ready");
        }, timeout ?? s_start, $"{NodeCount} nodes Ready", Describe);

    /// <summary>Runs `strata ARGS --server URL`.</summary>
    public Task<ToolResult> CliAsync(params string[] args) =>
        Tool.RunAsync(Repo.StrataExe, [.. args, "--server", Server, .. TokenArguments], TimeSpan.FromSeconds(60), log: _log);

    public async Task<ToolResult> CliCheckedAsync(params string[] args)
    {
        var result = await CliAsync(args);
        if (!result.Succeeded)
            throw new InvalidOperationException($"strata {string.Join(' ', args)} failed:\n{result.Describe()}\n{Describe()}");
        _log(result.Stdout.TrimEnd());
        return result;
    }

    /// <summary>`strata get KIND -o json`'s items.</summary>
    public async Task<IReadOnlyList<JsonNode>> ListAsync(string kind) =>
        await TryListAsync(kind) ?? throw new InvalidOperationException($"GET /api/v1/{kind} failed\n{Describe()}");

    /// <summary>
    /// The list straight from the REST API (`GET /api/v1/KIND`, the same items `strata get KIND -o json` prints), or
    /// null when the control plane does not answer. Waits poll this many times a second: a CLI process per poll would
    /// take a good part of a core of a 2-core machine from the processes under test. The CLI's own `get` and
    /// `describe` are run by <see cref="GetAsync"/> and the walkthrough tests.
    /// </summary>
    private async Task<IReadOnlyList<JsonNode>?> TryListAsync(string kind)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{Server}/api/v1/{kind}");
        if (_network is not null)
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TokenArguments[1]);
        try
        {
            using var response = await s_api.SendAsync(request);
            if (!response.IsSuccessStatusCode) return null;
            return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["items"]!.AsArray().Select(i => i!).ToList();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    private static readonly HttpClient s_api = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task<JsonNode> GetAsync(string kind, string name)
    {
        var result = await CliCheckedAsync("get", kind, name, "-o", "json");
        return JsonNode.Parse(result.Stdout)!;
    }

    /// <summary>A value by dotted path ("status.phase"), or null.</summary>
    public static string? Field(JsonNode node, string path)
    {
        JsonNode? n = node;
        foreach (string part in path.Split('.')) n = n?[part];
        return n is JsonValue v ? Convert.ToString(v.GetValue<object>(), CultureInfo.InvariantCulture) : n?.ToJsonString();
    }

    public static long Long(JsonNode node, string path) => long.Parse(Field(node, path) ?? "0", CultureInfo.InvariantCulture);

    /// <summary>The message of the condition of that type, or null.</summary>
    public static string? Condition(JsonNode node, string type, out string? status)
    {
        var c = node["status"]?["conditions"]?.AsArray().FirstOrDefault(c => (string?)c?["type"] == type);
        status = (string?)c?["status"];
        return (string?)c?["message"];
    }

    public async Task WaitForAsync(string kind, Func<IReadOnlyList<JsonNode>, bool> condition, TimeSpan timeout, string what) =>
        await Wait.UntilAsync(async () => await TryListAsync(kind) is { } items && condition(items), timeout, what,
            () => $"{Tool.RunAsync(Repo.StrataExe, ["get", kind, "-o", "wide", "--server", Server, .. TokenArguments], TimeSpan.FromSeconds(30)).Result.Stdout}\n{Describe()}");

    public string Describe()
    {
        var parts = new[] { _up, _etcd, _control }.Concat(_nodes).Where(p => p is not null).Select(p => Text.Tail(p!.Describe(), 6000));
        return string.Join("\n", parts);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in new[] { _up, _control }.Concat(_nodes).Append(_etcd))
        {
            if (p is null) continue;
            if (!p.HasExited)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                p.Signal(Libc.SIGTERM);
                bool stopped = await p.WaitForExitAsync(TimeSpan.FromSeconds(20));
                _log($"{p.Name} {(stopped ? "stopped" : "did not stop")} on SIGTERM in {clock.Elapsed.TotalSeconds:F1} s");
            }
            await p.DisposeAsync();
        }
        var teardown = System.Diagnostics.Stopwatch.StartNew();
        if (_network is not null) await _network.DisposeAsync();
        _scratch.Dispose();
        _log($"network and data directory removed in {teardown.Elapsed.TotalSeconds:F1} s");
    }
}

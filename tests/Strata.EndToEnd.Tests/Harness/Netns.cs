using System.Globalization;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>A network namespace of the test's own with a tap device (10.99.0.1/24) for a qemu guest
/// (10.99.0.2). Those addresses exist only inside it. Disposing kills what still runs in it and deletes it.</summary>
public sealed class Netns : IAsyncDisposable
{
    public const string HostAddress = "10.99.0.1";
    public const string GuestAddress = "10.99.0.2";
    public const string Tap = "tap0";
    private readonly Action<string> _log;

    private Netns(string name, Action<string> log)
    {
        Name = name;
        _log = log;
    }

    public string Name { get; }

    public static async Task<Netns> CreateAsync(Action<string> log)
    {
        Libc.RequireRoot("a network namespace");
        string name = string.Create(CultureInfo.InvariantCulture, $"strata-e2e-{Environment.ProcessId}-{Random.Shared.Next(1 << 20):x}");
        await Tool.RunCheckedAsync("ip", ["netns", "add", name], TimeSpan.FromSeconds(30), log: log);
        var ns = new Netns(name, log);
        try
        {
            await ns.RunCheckedAsync("ip", ["link", "set", "lo", "up"]);
            await ns.RunCheckedAsync("ip", ["tuntap", "add", Tap, "mode", "tap"]);
            await ns.RunCheckedAsync("ip", ["link", "set", Tap, "up"]);
            await ns.RunCheckedAsync("ip", ["addr", "add", HostAddress + "/24", "dev", Tap]);
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }
        return ns;
    }

    public Task<ToolResult> RunAsync(string file, IEnumerable<string> args, TimeSpan? timeout = null) =>
        Tool.RunAsync("ip", ["netns", "exec", Name, file, .. args], timeout ?? TimeSpan.FromSeconds(30));

    public Task<ToolResult> RunCheckedAsync(string file, IEnumerable<string> args, TimeSpan? timeout = null) =>
        Tool.RunCheckedAsync("ip", ["netns", "exec", Name, file, .. args], timeout ?? TimeSpan.FromSeconds(30), log: _log);

    /// <summary>`ip netns exec` execs the command, so the process's pid is the command's own.</summary>
    public BackgroundProcess Start(string name, string file, IEnumerable<string> args, Action<string>? log = null) =>
        Tool.Start(name, "ip", ["netns", "exec", Name, file, .. args], log: log ?? _log);

    public async Task<bool> CanConnectAsync(string host, int port) =>
        (await RunAsync("bash", ["-c", $"exec 3<>/dev/tcp/{host}/{port}"], TimeSpan.FromSeconds(5))).Succeeded;

    /// <summary>SIGKILL to every process in network namespace <paramref name="name"/>.</summary>
    public static async Task KillEverythingInAsync(string name)
    {
        var pids = await Tool.RunAsync("ip", ["netns", "pids", name], TimeSpan.FromSeconds(10));
        foreach (string line in pids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (int.TryParse(line, CultureInfo.InvariantCulture, out int pid)) Libc.Kill(pid, Libc.SIGKILL);
    }

    public async ValueTask DisposeAsync()
    {
        // Whatever still runs inside is ours (the namespace is): kill it by pid before deleting the namespace.
        await KillEverythingInAsync(Name);
        var del = await Tool.RunAsync("ip", ["netns", "del", Name], TimeSpan.FromSeconds(30));
        if (!del.Succeeded) _log("could not delete the network namespace:\n" + del.Describe());
    }
}

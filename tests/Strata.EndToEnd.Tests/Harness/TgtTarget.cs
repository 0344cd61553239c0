using System.Globalization;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>Debian's tgt, the peer target: tgtd on its own portal and control port, configured with tgtadm.
/// tgtd ignores SIGTERM while targets exist, so it is always stopped with SIGKILL.</summary>
public sealed class TgtTarget : IIscsiTarget
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(30);
    private readonly TargetOptions _options;
    private readonly Action<string> _log;
    private readonly int _controlPort;
    private readonly List<string> _history = [];
    private BackgroundProcess? _process;

    private TgtTarget(TargetOptions options, int port, int controlPort, Action<string> log)
    {
        _options = options;
        Port = port;
        _controlPort = controlPort;
        _log = log;
        Iqn = options.Iqn ?? "iqn.2026-11.peer.tgt:" + Path.GetFileNameWithoutExtension(options.File);
    }

    public string Name => "tgt";
    public string Host => _options.Host;
    public int Port { get; }
    public string Iqn { get; }
    public int Lun => 1;
    public string BackingFile => _options.File;

    public static async Task<TgtTarget> StartAsync(TargetOptions options, Action<string> log)
    {
        Libc.RequireRoot("tgtd");
        int port = options.Port ?? (options.Netns is null ? Ports.Free(options.Host) : 3260);
        var target = new TgtTarget(options, port, UnusedControlPort(), log);
        TargetExtensions.CreateSparse(options.File, options.SizeBytes);
        try
        {
            await target.StartProcessAsync();
        }
        catch
        {
            await target.DisposeAsync();
            throw;
        }
        return target;
    }

    /// <summary>The control port only names tgtd's unix socket (/var/run/tgtd/socket.N, N below 32768): pick a
    /// number no tgtd on this machine uses.</summary>
    private static int UnusedControlPort()
    {
        while (true)
        {
            int n = Random.Shared.Next(10_000, 32_000);
            if (!File.Exists($"/var/run/tgtd/socket.{n}") && !File.Exists($"/var/run/tgtd/socket.{n}.lock")) return n;
        }
    }

    private async Task StartProcessAsync()
    {
        string[] args = ["-f", "--iscsi", $"portal={Host}:{Port}", "--control-port", _controlPort.ToString(CultureInfo.InvariantCulture)];
        _process = _options.Netns is null ? Tool.Start("tgtd", "tgtd", args, log: _log) : _options.Netns.Start("tgtd", "tgtd", args, _log);
        var process = _process;
        await Wait.UntilAsync(async () =>
            {
                if (process.HasExited) throw new InvalidOperationException($"tgtd exited at start:\n{process.Describe()}");
                return (await Tool.RunAsync("tgtadm", ["-C", $"{_controlPort}", "--lld", "iscsi", "--op", "show", "--mode", "sys"],
                    TimeSpan.FromSeconds(10))).Succeeded;
            },
            s_startTimeout, "tgtd's control socket", process.Describe);

        await Adm("--op", "new", "--mode", "target", "--tid", "1", "-T", Iqn);
        string[] lun = ["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", _options.File,
            "--blocksize", _options.BlockSize.ToString(CultureInfo.InvariantCulture)];
        // Direct: tgt's rdwr backing store opens the file with O_DIRECT, as strata --direct does.
        await Adm(_options.Direct ? [.. lun, "--bsoflags", "direct"] : lun);
        // Thin provisioning makes tgt advertise UNMAP (LBPME, Block Limits VPD), as Strata's thin volumes do.
        await Adm("--op", "update", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "--params", "thin_provisioning=1");
        if (_options.AllowInitiators.Count == 0)
            await Adm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL");
        foreach (string iqn in _options.AllowInitiators)
            await Adm("--op", "bind", "--mode", "target", "--tid", "1", "--initiator-name", iqn);
        if (_options.Chap is { } chap)
        {
            await Adm("--op", "new", "--mode", "account", "--user", chap.User, "--password", chap.Secret);
            await Adm("--op", "bind", "--mode", "account", "--tid", "1", "--user", chap.User);
        }
        if (_options.MutualChap is { } mutual)
        {
            await Adm("--op", "new", "--mode", "account", "--user", mutual.User, "--password", mutual.Secret);
            await Adm("--op", "bind", "--mode", "account", "--tid", "1", "--user", mutual.User, "--outgoing");
        }
        await Wait.UntilAsync(() => TargetExtensions.PortalAcceptsAsync(_options.Netns, Host, Port), s_startTimeout,
            $"tgtd to accept TCP connections on {this.Portal()}", process.Describe);
    }

    private Task<ToolResult> Adm(params string[] args) =>
        Tool.RunCheckedAsync("tgtadm", ["-C", _controlPort.ToString(CultureInfo.InvariantCulture), "--lld", "iscsi", .. args],
            TimeSpan.FromSeconds(30), log: _log);

    public async Task KillAndRestartAsync()
    {
        var old = _process ?? throw new InvalidOperationException("not started");
        await old.KillAsync();
        _log($"tgtd (pid {old.Pid}) killed with SIGKILL");
        _history.Add(old.Describe());
        await old.DisposeAsync();
        _process = null;
        RemoveControlSocket();
        await StartProcessAsync();
    }

    private void RemoveControlSocket()
    {
        foreach (string suffix in new[] { "", ".lock" })
            File.Delete($"/var/run/tgtd/socket.{_controlPort}{suffix}");
    }

    public string Describe() =>
        string.Join("\n", _history.Select((h, i) => $"[earlier run {i + 1}] {h}").Append(_process?.Describe() ?? "tgtd: not started"));

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        RemoveControlSocket();
    }
}

using System.Globalization;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>`strata iscsi serve` as a real process: started on a free port, stopped with SIGTERM or SIGKILL,
/// restarted on the same file and port.</summary>
public sealed class StrataTarget : IIscsiTarget
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);
    private readonly TargetOptions _options;
    private readonly Action<string> _log;
    private readonly List<string> _history = [];
    private BackgroundProcess? _process;

    private StrataTarget(TargetOptions options, int port, Action<string> log)
    {
        _options = options;
        Port = port;
        _log = log;
        Iqn = options.Iqn ?? "iqn.2026-11.io.strata:" + Path.GetFileNameWithoutExtension(options.File);
    }

    public string Name => "strata";
    public string Host => _options.Host;
    public int Port { get; }
    public string Iqn { get; }
    public int Lun => 0;
    public string BackingFile => _options.File;
    public BackgroundProcess Process => _process ?? throw new InvalidOperationException("not started");

    public static async Task<StrataTarget> StartAsync(TargetOptions options, Action<string> log)
    {
        int port = options.Port ?? (options.Netns is null ? Ports.Free(options.Host) : 3260);
        var target = new StrataTarget(options, port, log);
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

    private List<string> Arguments()
    {
        var o = _options;
        var args = o.Pool
            ? new List<string> { "iscsi", "serve", "--pool", o.File, "--volume", VolumeName, "--portal", $"{o.Host}:{Port}", "--iqn", Iqn }
            : new List<string>
            {
                "iscsi", "serve", "--file", o.File, "--size", o.SizeBytes.ToString(CultureInfo.InvariantCulture),
                "--block-size", o.BlockSize.ToString(CultureInfo.InvariantCulture), "--portal", $"{o.Host}:{Port}",
            };
        if (o.Iqn is not null && !o.Pool) args.AddRange(["--iqn", o.Iqn]);
        if (o.Chap is not null) args.AddRange(["--chap-user", o.Chap.User, "--chap-secret", o.Chap.Secret]);
        if (o.MutualChap is not null) args.AddRange(["--mutual-chap-user", o.MutualChap.User, "--mutual-chap-secret", o.MutualChap.Secret]);
        foreach (string iqn in o.AllowInitiators) args.AddRange(["--allow-initiator", iqn]);
        if (o.Direct) args.Add("--direct");
        return args;
    }

    /// <summary>The pool volume a <see cref="TargetOptions.Pool"/> target serves.</summary>
    public string VolumeName => Path.GetFileNameWithoutExtension(_options.File) + "-vol";

    /// <summary>Creates the pool and its volume with the CLI, the first time.</summary>
    private async Task CreatePoolAsync()
    {
        if (File.Exists(_options.File))
        {
            return;
        }

        string exe = Repo.StrataExe;
        var timeout = TimeSpan.FromMinutes(1);
        // Room for the volume written full, the pool's metadata ring, and snapshots' copies.
        string vdevSize = (_options.SizeBytes * 2 + (256L << 20)).ToString(CultureInfo.InvariantCulture);
        await Tool.RunCheckedAsync(exe, ["pool", "create", "--pool", _options.File, "--size", vdevSize], timeout, log: _log);
        await Tool.RunCheckedAsync(exe, ["pool", "volume", "--pool", _options.File, VolumeName, "--size", _options.SizeBytes.ToString(CultureInfo.InvariantCulture), "--block-size", _options.BlockSize.ToString(CultureInfo.InvariantCulture)], timeout, log: _log);
    }

    /// <summary><c>strata pool check</c> on the pool (the target must be stopped): its output, and whether it passed.</summary>
    public async Task<ToolResult> CheckPoolAsync() =>
        await Tool.RunAsync(Repo.StrataExe, ["pool", "check", "--pool", _options.File], TimeSpan.FromMinutes(5), log: _log);

    private async Task StartProcessAsync()
    {
        if (_options.Pool)
        {
            await CreatePoolAsync();
        }

        string exe = Repo.StrataExe;
        var args = Arguments();
        _process = _options.Netns is null
            ? Tool.Start("strata", exe, args, log: _log)
            : _options.Netns.Start("strata", exe, args, _log);
        var process = _process;
        await Wait.UntilAsync(async () =>
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"strata exited before it listened on {this.Portal()}:\n{process.Describe()}");
                return await TargetExtensions.PortalAcceptsAsync(_options.Netns, Host, Port);
            },
            s_startTimeout, $"strata to accept TCP connections on {this.Portal()}", process.Describe);
    }

    /// <summary>SIGTERM, then waits for the exit; throws when it does not exit within the timeout.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        var process = Process;
        process.Signal(Libc.SIGTERM);
        if (!await process.WaitForExitAsync(timeout))
            throw new TimeoutException($"strata did not exit within {timeout.TotalSeconds:F0} s of SIGTERM:\n{process.Describe()}");
        return process.ExitCode!.Value;
    }

    public async Task Kill9Async()
    {
        await Process.KillAsync();
        _log($"strata (pid {Process.Pid}) killed with SIGKILL");
    }

    /// <summary>Starts a new process on the same file and port after the previous one exited.</summary>
    public async Task RestartAsync()
    {
        var old = Process;
        if (!old.HasExited) throw new InvalidOperationException("strata is still running");
        _history.Add(old.Describe());
        await old.DisposeAsync();
        _process = null;
        await StartProcessAsync();
    }

    public async Task KillAndRestartAsync()
    {
        await Kill9Async();
        await RestartAsync();
    }

    public string Describe() =>
        string.Join("\n", _history.Select((h, i) => $"[earlier run {i + 1}] {h}")
            .Append(_process?.Describe() ?? "strata: not started"));

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
    }
}

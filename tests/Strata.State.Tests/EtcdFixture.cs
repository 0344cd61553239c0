using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace Strata.State.Tests;

/// <summary>
/// A real single-member etcd (Debian's etcd-server, /usr/bin/etcd) on loopback with free ports and its own data
/// directory, started for a test class and killed and deleted after it. Default timing settings, so leases behave as
/// in production: the minimum TTL is 1.5 × the 1 s election timeout, rounded up: 2 s.
/// </summary>
public sealed class EtcdFixture : IAsyncLifetime
{
    public const string EtcdPath = "/usr/bin/etcd";

    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(30);

    private readonly StringBuilder _log = new();
    private string? _dir;
    private Process? _process;
    private int _peerPort;

    public int ClientPort { get; private set; }

    /// <summary>"http://127.0.0.1:PORT", as <see cref="Etcd.EtcdStore.ConnectAsync"/> takes it.</summary>
    public string Endpoint => $"http://127.0.0.1:{ClientPort}";

    public async Task InitializeAsync()
    {
        if (!File.Exists(EtcdPath))
        {
            throw new InvalidOperationException(
                $"{EtcdPath} is missing: the etcd store tests run against a real etcd. Install the Debian package etcd-server (bin/test does).");
        }
        _dir = Directory.CreateTempSubdirectory("strata-etcd-").FullName;
        ClientPort = FreePort();
        _peerPort = FreePort();
        await StartAsync();
    }

    /// <summary>Starts etcd on the fixture's ports and data directory and waits until it reports itself healthy.</summary>
    public async Task StartAsync()
    {
        var start = new ProcessStartInfo(EtcdPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string client = $"http://127.0.0.1:{ClientPort}", peer = $"http://127.0.0.1:{_peerPort}";
        foreach (string arg in new[]
        {
            "--name", "strata-test", "--data-dir", Path.Combine(_dir!, "data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"strata-test={peer}", "--initial-cluster-state", "new",
            "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
        })
        {
            start.ArgumentList.Add(arg);
        }
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Log(e.Data);
        process.ErrorDataReceived += (_, e) => Log(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                int code = process.ExitCode;
                await KillAsync();
                throw new InvalidOperationException($"etcd exited with {code} while starting:\n{Logged()}");
            }
            try
            {
                string health = await http.GetStringAsync($"{client}/health");
                if (health.Contains("\"health\":\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            if (clock.Elapsed > StartDeadline)
            {
                await KillAsync();
                throw new InvalidOperationException($"etcd was not healthy within {StartDeadline.TotalSeconds} s:\n{Logged()}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>SIGKILLs etcd and waits for it to be gone.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }
        _process?.Dispose();
        _process = null;
    }

    public async Task DisposeAsync()
    {
        await KillAsync();
        if (_dir is not null)
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Log(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            if (_log.Length < 64 * 1024)
            {
                _log.AppendLine(line);
            }
        }
    }

    private string Logged()
    {
        lock (_log)
        {
            return _log.ToString();
        }
    }
}

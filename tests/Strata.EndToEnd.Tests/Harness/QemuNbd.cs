using System.Net.Sockets;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>qemu-nbd serving an iSCSI LUN (through qemu's libiscsi, an initiator nobody here wrote) as an NBD
/// export on a Unix socket. Ready when the socket accepts; qemu-nbd opens the LUN before it listens, so that
/// also means the iSCSI login succeeded.</summary>
public sealed class QemuNbd : IAsyncDisposable
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);
    private readonly BackgroundProcess _process;

    private QemuNbd(string socketPath, BackgroundProcess process)
    {
        SocketPath = socketPath;
        _process = process;
    }

    public string SocketPath { get; }
    public bool HasExited => _process.HasExited;

    public static async Task<QemuNbd> StartAsync(string iscsiUrl, string socketPath, Action<string> log)
    {
        // A socket file left by an earlier qemu-nbd that was killed would refuse connections, not accept them.
        File.Delete(socketPath);
        // -t: keep serving after a client leaves (the readiness probe is one); --cache=none: every write goes to
        // the target, nothing is held in this machine's memory.
        var process = Tool.Start("qemu-nbd", "qemu-nbd", ["-t", "-f", "raw", "--cache=none", "-k", socketPath, iscsiUrl], log: log);
        var nbd = new QemuNbd(socketPath, process);
        try
        {
            await Wait.UntilAsync(() =>
                {
                    if (process.HasExited) throw new InvalidOperationException($"qemu-nbd exited:\n{process.Describe()}");
                    return File.Exists(socketPath) && CanConnect(socketPath);
                }, s_startTimeout, "qemu-nbd's socket", process.Describe);
        }
        catch
        {
            await nbd.DisposeAsync();
            throw;
        }
        return nbd;
    }

    public Task<NbdClient> ConnectAsync(CancellationToken cancellationToken = default) =>
        NbdClient.ConnectAsync(SocketPath, cancellationToken: cancellationToken);

    /// <summary>SIGKILL: the NBD connections and qemu's iSCSI session drop with whatever was in flight.</summary>
    public Task KillAsync() => _process.KillAsync();

    public string Describe() => _process.Describe();

    public async ValueTask DisposeAsync()
    {
        _process.Signal(Libc.SIGTERM);
        await _process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        await _process.DisposeAsync(); // SIGKILL if SIGTERM was not enough
    }

    private static bool CanConnect(string path)
    {
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

using System.Net;
using System.Net.Sockets;
using Strata.Iscsi.Login;
using Strata.Iscsi.Session;

namespace Strata.Iscsi.Target;

/// <summary>
/// An iSCSI portal (RFC 7143 3.4.1): listens on one address, serves any number of targets by name, and runs
/// each connection's receive loop and sender.
/// </summary>
public sealed class IscsiTargetServer : IAsyncDisposable
{
    private readonly Dictionary<string, IscsiTarget> _targets = new(StringComparer.Ordinal);
    private readonly Dictionary<IscsiConnection, Task> _connections = [];
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task? _acceptLoop;

    public IscsiTargetServer(IscsiTargetOptions options)
    {
        Options = options;
        Catalog = new TargetCatalog(this);
        Sessions = new SessionTable(this);
    }

    public IscsiTargetOptions Options { get; }

    public ITargetCatalog Catalog { get; }

    /// <summary>The address the portal listens on (with the real port when 0 was asked).</summary>
    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndPoint;

    public int SessionCount => Sessions.Count;

    internal SessionTable Sessions { get; }

    public void AddTarget(IscsiTarget target)
    {
        lock (_targets)
        {
            if (!_targets.TryAdd(target.Name, target))
            {
                throw new ArgumentException($"a target named {target.Name} already exists", nameof(target));
            }
        }
    }

    public IscsiTarget? FindTarget(string name)
    {
        lock (_targets)
        {
            return _targets.GetValueOrDefault(name);
        }
    }

    public void Start()
    {
        var listener = new Socket(Options.Portal.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(Options.Portal);
        listener.Listen(128);
        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener);
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            var connection = new IscsiConnection(this, socket);
            Log($"connection from {connection.RemoteEndPoint}");
            lock (_connections)
            {
                _connections[connection] = Task.Run(async () =>
                {
                    await connection.RunAsync().ConfigureAwait(false);
                    lock (_connections)
                    {
                        _connections.Remove(connection);
                    }
                });
            }
        }
    }

    internal void Log(string message) => Options.Log(message);

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        KeyValuePair<IscsiConnection, Task>[] running;
        lock (_connections)
        {
            running = [.. _connections];
        }

        foreach (var (connection, _) in running)
        {
            connection.Close("target stopping");
        }

        await Task.WhenAll(running.Select(r => r.Value)).ConfigureAwait(false);
    }

    private sealed class TargetCatalog(IscsiTargetServer server) : ITargetCatalog
    {
        public TargetLoginPolicy? Find(string targetName) => server.FindTarget(targetName)?.Policy;

        public IEnumerable<TargetLoginPolicy> Targets
        {
            get
            {
                lock (server._targets)
                {
                    return server._targets.Values.Select(t => t.Policy).ToArray();
                }
            }
        }

        public ChapCredentials? DiscoveryChap => server.Options.DiscoveryChap;
    }
}

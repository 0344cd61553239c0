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

    /// <summary>Connections open now, logged in or not.</summary>
    public int ConnectionCount
    {
        get
        {
            lock (_connections)
            {
                return _connections.Count;
            }
        }
    }

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

    /// <summary>
    /// Stops serving a target: new logins to it fail, and its sessions' connections close (their commands end with
    /// the connection). Returns when they are closed, so its device can be closed after. False when there is no such target.
    /// </summary>
    public async Task<bool> RemoveTargetAsync(string name)
    {
        lock (_targets)
        {
            if (!_targets.Remove(name))
            {
                return false;
            }
        }

        List<Task> closing = [];
        lock (_connections)
        {
            foreach (var (connection, task) in _connections)
            {
                if (connection.Session?.Target?.Name == name)
                {
                    connection.Close("target removed");
                    closing.Add(task);
                }
            }
        }

        await Task.WhenAll(closing).ConfigureAwait(false);
        return true;
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

    /// <summary>How long the accept loop waits before it retries when the process is out of descriptors.</summary>
    internal static readonly TimeSpan AcceptRetryDelay = TimeSpan.FromMilliseconds(100);

    private async Task AcceptLoopAsync(Socket listener)
    {
        bool outOfResources = false;
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (SocketException e) when (!_stopping.IsCancellationRequested && e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // Out of file descriptors (EMFILE, ENFILE) or memory: accept fails at once, again and again, while
                // the connection stays in the backlog. Retrying at once spun a core until descriptors freed up;
                // wait a little instead (connections end, the login timeout drops abandoned ones).
                if (!outOfResources)
                {
                    Log($"accept failed: {e.Message}; retrying every {AcceptRetryDelay.TotalMilliseconds:0} ms");
                    outOfResources = true;
                }

                try
                {
                    await Task.Delay(AcceptRetryDelay, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            if (outOfResources)
            {
                Log("accepting connections again");
                outOfResources = false;
            }

            IscsiConnection connection;
            try
            {
                connection = new IscsiConnection(this, socket);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Reset before we got to it: one connection lost, not the accept loop.
                socket.Dispose();
                continue;
            }

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

        Task[] running;
        IscsiConnection[] connections;
        lock (_connections)
        {
            running = [.. _connections.Values];
            connections = [.. _connections.Keys];
        }

        // Every connection, also those still logging in (which have no session yet and once kept this waiting).
        foreach (var connection in connections)
        {
            connection.Close("target stopping");
        }

        await Task.WhenAll(running).ConfigureAwait(false);
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

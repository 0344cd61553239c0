using System.Collections.Concurrent;
using System.Net;
using Strata.Blocks;
using Strata.Pool;
using Strata.Replication;

namespace Strata.Node.Hosting;

/// <summary>
/// This node's replica server (port 6060 by default): serves the volume replicas in its pools to their targets,
/// wherever those run, at the epoch each target instance took (docs/replication-protocol.md). Epochs are kept under
/// DATA/epochs, so a restart still refuses the targets it fenced before, and each volume's write-intent bitmap under
/// DATA/intent, so a target that takes the volume over after a crash knows which regions the replicas may differ in.
/// </summary>
internal sealed class ReplicaService(IPEndPoint listen, IPAddress? advertise, string dataDirectory, Action<string> log) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, (StoragePool Pool, PoolVolume Volume)> _served = new(StringComparer.Ordinal);
    private ReplicaServer? _server;

    /// <summary>address:port targets reach this node's replicas at.</summary>
    public string Endpoint { get; private set; } = "";

    public void Start()
    {
        _server = new ReplicaServer(listen, volume => _served.TryGetValue(volume, out var s) ? s.Volume : null,
            new FileEpochStore(Path.Combine(dataDirectory, "epochs")),
            new ReplicaServerOptions { IntentDirectory = Path.Combine(dataDirectory, "intent"), Log = log }).Start();
        var local = _server.LocalEndPoint!;
        Endpoint = $"{advertise ?? Addresses.Reachable(local.Address)}:{local.Port}";
    }

    /// <summary>
    /// Opens this node's replica of <paramref name="volume"/> in process for a target on this node, at its epoch
    /// (docs/replication.md, "The local replica"). Unavailable before <see cref="Start"/>.
    /// </summary>
    public async Task<IBlockDevice> OpenLocalAsync(string volume, long epoch, CancellationToken ct) =>
        _server is { } server
            ? await server.OpenLocalAsync(volume, epoch, ct).ConfigureAwait(false)
            : throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "this node's replica server is not started");

    public bool IsServing(string volume) => _served.ContainsKey(volume);

    public void Serve(string volume, StoragePool pool)
    {
        if (!_served.ContainsKey(volume))
        {
            _served[volume] = (pool, pool.OpenVolume(volume));
        }
    }

    /// <summary>Stops serving the replica (before it is deleted) and closes its volume.</summary>
    public async Task StopAsync(string volume)
    {
        if (_served.TryRemove(volume, out var served))
        {
            await served.Volume.FlushAsync().ConfigureAwait(false);
            await served.Volume.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var volume in _served.Keys.ToList())
        {
            await StopAsync(volume).ConfigureAwait(false);
        }
    }
}

using System.Net;
using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;
using Strata.Pool;

namespace Strata.Node.Hosting;

/// <summary>This node's iSCSI portal and the targets it serves on it, one per volume (its IQN, LUN 0).</summary>
internal sealed class TargetHost(IPEndPoint portal, IPAddress? advertise, Action<string> log) : IAsyncDisposable
{
    private readonly IscsiTargetServer _server = new(new IscsiTargetOptions { Portal = portal, Log = _ => { } });
    private readonly Dictionary<string, Served> _served = new(StringComparer.Ordinal);

    /// <summary>The portal's address:port, as initiators reach it.</summary>
    public string Portal { get; private set; } = "";

    public void Start()
    {
        _server.Start();
        var local = _server.LocalEndPoint!;
        Portal = $"{advertise ?? Reachable(local.Address)}:{local.Port}";
    }

    public IEnumerable<string> Volumes => _served.Keys;

    /// <summary>A portal bound to every address is reached at one of them: this host's first non-loopback IPv4 address.</summary>
    private static IPAddress Reachable(IPAddress bound)
    {
        if (!bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any))
        {
            return bound;
        }

        return System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            ?? IPAddress.Loopback;
    }

    public bool IsServing(string volume) => _served.ContainsKey(volume);

    /// <summary>Whether <paramref name="pool"/> has a volume open for a target (it cannot be deleted while it does).</summary>
    public bool Uses(StoragePool pool, string volume) => _served.TryGetValue(volume, out var s) && s.Pool == pool;

    public void Serve(string volume, string iqn, StoragePool pool)
    {
        if (_served.ContainsKey(volume))
        {
            return;
        }

        var device = pool.OpenVolume(volume);
        var policy = new TargetLoginPolicy { Name = iqn, Portals = [(Portal, 1)] };
        var unit = new BlockLogicalUnit(device, new LogicalUnitIdentity($"{pool.Id}/{volume}"));
        _server.AddTarget(new IscsiTarget(policy, new ScsiTargetDevice([(0UL, unit)])));
        _served[volume] = new Served(iqn, pool, device);
        log($"serving {iqn} LUN 0 at {Portal}");
    }

    public async Task StopAsync(string volume)
    {
        if (!_served.Remove(volume, out var served))
        {
            return;
        }

        await _server.RemoveTargetAsync(served.Iqn).ConfigureAwait(false);
        await served.Device.FlushAsync().ConfigureAwait(false);
        await served.Device.DisposeAsync().ConfigureAwait(false);
        log($"stopped serving {served.Iqn}");
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync().ConfigureAwait(false);
        foreach (var served in _served.Values)
        {
            await served.Device.DisposeAsync().ConfigureAwait(false);
        }

        _served.Clear();
    }

    private sealed record Served(string Iqn, StoragePool Pool, PoolVolume Device);
}

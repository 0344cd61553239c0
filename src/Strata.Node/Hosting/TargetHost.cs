using System.Net;
using Strata.Blocks;
using Strata.Control.Nodes;
using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;
using Strata.Replication.Volume;

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
        Portal = $"{advertise ?? Addresses.Reachable(local.Address)}:{local.Port}";
    }

    public IEnumerable<string> Volumes => _served.Keys;

    public bool IsServing(string volume) => _served.ContainsKey(volume);

    /// <summary>The replicated volume the target of <paramref name="volume"/> serves, or null.</summary>
    public ReplicatedVolume? DeviceOf(string volume) => _served.TryGetValue(volume, out var s) ? s.Device : null;

    /// <summary>What the target of <paramref name="volume"/> counted of its LUN's I/O since it began serving, or null.</summary>
    public IoCounters? IoOf(string volume) => _served.TryGetValue(volume, out var s) ? Report(s.Io.Counters) : null;

    /// <summary>
    /// Serves <paramref name="device"/> as LUN 0 of target <paramref name="iqn"/>. The LUN's identity (its NAA and serial)
    /// comes from the volume, not the node, so an initiator sees the same LUN wherever the target moves. The LUN
    /// counts its I/O on the way to the device (<see cref="MeasuredBlockDevice"/>, forwarding its allocation map).
    /// </summary>
    public void Serve(string volume, string iqn, ReplicatedVolume device)
    {
        if (_served.ContainsKey(volume))
        {
            throw new InvalidOperationException($"volume {volume} is served already");
        }

        var policy = new TargetLoginPolicy { Name = iqn, Portals = [(Portal, 1)] };
        var io = MeasuredBlockDevice.Over(device);
        var unit = new BlockLogicalUnit(io, new LogicalUnitIdentity($"strata/{volume}"));
        _server.AddTarget(new IscsiTarget(policy, new ScsiTargetDevice([(0UL, unit)])));
        _served[volume] = new Served(iqn, device, io);
        log($"serving {iqn} LUN 0 at {Portal} (epoch {device.Epoch})");
    }

    public async Task StopAsync(string volume)
    {
        if (!_served.Remove(volume, out var served))
        {
            return;
        }

        await _server.RemoveTargetAsync(served.Iqn).ConfigureAwait(false);
        try
        {
            await served.Device.FlushAsync().ConfigureAwait(false);
        }
        catch (BlockDeviceException e)
        {
            log($"{served.Iqn}: the last flush failed: {e.Message}");
        }

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

    private static IoCounters Report(BlockIoCounters c) =>
        new(c.Elapsed.TotalSeconds, Report(c.Reads), Report(c.Writes), Report(c.Flushes), Report(c.Unmaps), c.Errors);

    private static IoOpCounts Report(IoTotals t) => new(t.Count, t.Bytes, t.Time.TotalSeconds);

    /// <param name="Io">What the LUN serves: <paramref name="Device"/>, counted. The device is disposed directly.</param>
    private sealed record Served(string Iqn, ReplicatedVolume Device, MeasuredBlockDevice Io);
}

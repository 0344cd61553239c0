using System.Net;
using Strata.Blocks;
using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;

namespace Strata.Iscsi.Tests.Scsi;

/// <summary>
/// Serves a sparse file through the real iSCSI transport and <see cref="ScsiTargetDevice"/>, for libiscsi's
/// iscsi-test-cu. Runs only when STRATA_SCSI_SERVE is set to "file:port"; it serves until that file's
/// companion "file.stop" appears. (The CLI still wires the transport's provisional executor.)
/// </summary>
public sealed class LibiscsiServer
{
    [Fact]
    public async Task ServeForLibiscsi()
    {
        string? spec = Environment.GetEnvironmentVariable("STRATA_SCSI_SERVE");
        if (spec is null)
        {
            return;
        }

        string path = spec[..spec.LastIndexOf(':')];
        int port = int.Parse(spec[(spec.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        await using var device = FileBlockDevice.Open(path, 1L << 30);
        using var map = new SparseFileAllocationMap(path, device.BlockSize);
        var unit = new BlockLogicalUnit(device, new LogicalUnitIdentity(Path.GetFileName(path)), map);
        var scsi = new ScsiTargetDevice([(0UL, unit)]);
        string iqn = "iqn.2026-11.io.strata:scsi";
        var policy = new TargetLoginPolicy { Name = iqn, Portals = [($"127.0.0.1:{port}", 1)] };
        var server = new IscsiTargetServer(new IscsiTargetOptions
        {
            Portal = new IPEndPoint(IPAddress.Loopback, port),
            Log = m => File.AppendAllText(path + ".log", m + "\n"),
        });
        server.AddTarget(new IscsiTarget(policy, scsi));
        server.Start();
        while (!File.Exists(path + ".stop"))
        {
            await Task.Delay(200);
        }

        await server.DisposeAsync();
    }
}

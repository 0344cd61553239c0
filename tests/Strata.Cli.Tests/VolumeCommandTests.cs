using System.Net;
using System.Text.Json.Nodes;
using Strata.Control;
using Strata.Control.Api;
using Strata.Control.Nodes;
using Strata.Control.Resources;
using Strata.State.Sqlite;
using Xunit;

namespace Strata.Cli.Tests;

/// <summary><c>strata volume stats</c> as a user runs it, against a control plane in this process fed two node reports.</summary>
public sealed class VolumeCommandTests
{
    [Fact]
    public async Task Stats_show_the_target_the_rates_the_totals_and_the_replicas_or_say_why_not()
    {
        await using var store = await SqliteStore.OpenAsync(":memory:");
        await using var host = await ControlPlaneHost.StartAsync(store, new ControlPlaneOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0) });
        string server = host.Url.ToString();
        var (code, _, error) = await StrataCli.RunAsync("volume", "stats", "pvc-7", "--server", server);
        Assert.Equal((1, "strata: persistentvolumes \"pvc-7\" not found"), (code, error.Trim()));

        // A retained volume without a claim: the reconcilers leave it be (Released), and stats need only its record.
        using var client = new ControlClient(host.Url);
        await client.RegisterAsync("node-1", new NodeRegistration("127.0.0.1", "127.0.0.1:3260", 1L << 30, "test"));
        await host.Services.Resources.CreateAsync(new Volume
        {
            Metadata = { Name = "pvc-7" },
            Spec =
            {
                SizeBytes = 2L << 30, ReplicaCount = 1, TargetNode = "node-1", PersistentVolumeReclaimPolicy = "Retain",
                Iscsi = { Iqn = "iqn.2026-11.io.strata:pvc-7" }, Replicas = [new ReplicaPlacement { Name = "pvc-7-r1", Node = "node-1", Pool = "pool-1" }],
            },
            Status = { InSync = ["pvc-7-r1"] },
        });
        (code, _, error) = await StrataCli.RunAsync("volume", "stats", "pvc-7", "--server", server);
        Assert.Equal(1, code);
        Assert.Contains("no target serving volume pvc-7 has reported I/O counters yet", error, StringComparison.Ordinal);

        // 4 s apart: 800 writes of 64 KiB (2 ms each) and 400 reads of 4 KiB (1 ms each), a flush, an unmap of 1 MiB.
        var idle = new IoOpCounts(0, 0, 0);
        await ReportAsync(new IoCounters(30, idle, idle, idle, idle, 0));
        await ReportAsync(new IoCounters(34, new IoOpCounts(400, 400 * 4096, 0.4), new IoOpCounts(800, 800 * 65536, 1.6), new IoOpCounts(1, 0, 0.003), new IoOpCounts(1, 1 << 20, 0.001), 2));

        var (statsCode, output, _) = await StrataCli.RunAsync("volume", "stats", "pvc-7", "--server", server);
        Assert.Equal(0, statsCode);
        Assert.Matches(@"Volume\s+:\s+pvc-7\n", output);
        Assert.Matches(@"Portal\s+:\s+127\.0\.0\.1:3260\n", output);
        Assert.Matches(@"Target Node\s+:\s+node-1\n", output);
        Assert.Matches(@"Size\s+:\s+2 GiB\n", output);
        Assert.Matches(@"Replica Count\s+:\s+1 \(1 in sync\)\n", output);
        Assert.Contains("Performance Stats (rates over 4.0 s; totals since the target opened 34s ago; reported ", output, StringComparison.Ordinal);
        Assert.Matches(@"OP\s+IOPS\s+MiB/s\s+AVG LATENCY \(ms\)\s+TOTAL OPS\s+TOTAL BYTES\s+AVG LATENCY ALL \(ms\)", output);
        Assert.Matches(@"read\s+100\s+0\.391\s+1\.000\s+400\s+1\.6 MiB\s+1\.000", output);
        Assert.Matches(@"write\s+200\s+12\.500\s+2\.000\s+800\s+50 MiB\s+2\.000", output);
        Assert.Matches(@"flush\s+0\.3\s+-\s+3\.000\s+1\s+-\s+3\.000", output);
        Assert.Matches(@"unmap\s+0\.3\s+0\.250\s+1\.000\s+1\s+1 MiB", output);
        Assert.Matches(@"Errors\s+:\s+2 ", output);
        Assert.Matches(@"pvc-7-r1\s+node-1\s+pool-1\s+Pending\s+yes", output);

        (statsCode, output, _) = await StrataCli.RunAsync("volume", "stats", "pvc-7", "-o", "json", "--server", server);
        Assert.Equal(0, statsCode);
        var json = JsonNode.Parse(output)!;
        Assert.Equal(800, (long)json["totals"]!["writes"]!["count"]!);
        Assert.Equal(200.0, (double)json["rates"]!["writes"]!["perSecond"]!);
        Assert.Equal("pvc-7-r1", (string?)json["replicas"]![0]!["name"]);

        Task ReportAsync(IoCounters io) =>
            client.ReportAsync("node-1", new NodeReport([], [], [new TargetReport("pvc-7", true, "127.0.0.1:3260", null, 1, null, io)], null));
    }

    [Fact]
    public async Task Help_tells_the_cluster_volume_group_from_the_pool_one()
    {
        var (code, output, _) = await StrataCli.RunAsync("volume", "--help");
        Assert.Equal(0, code);
        Assert.Contains("stats", output, StringComparison.Ordinal);
        (code, output, _) = await StrataCli.RunAsync("volume", "stats", "--help");
        Assert.Equal(0, code);
        Assert.Contains("IOPS, throughput, average latency", output, StringComparison.Ordinal);
        Assert.Contains("--server", output, StringComparison.Ordinal);
    }
}

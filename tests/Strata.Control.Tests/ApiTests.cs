using System.Net;
using System.Net.Http.Headers;
using Strata.Control.Api;
using Strata.Control.Nodes;
using Strata.Control.Resources;
using Strata.State.Sqlite;
using Xunit;

namespace Strata.Control.Tests;

/// <summary>The REST API over a real socket: its OpenAPI document, the bearer token, and errors as one JSON line.</summary>
public sealed class ApiTests
{
    private static async Task<(ControlPlaneHost Host, SqliteStore Store)> StartAsync(string? token)
    {
        var store = await SqliteStore.OpenAsync(":memory:");
        var host = await ControlPlaneHost.StartAsync(store, new ControlPlaneOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Token = token });
        return (host, store);
    }

    [Fact]
    public async Task The_openapi_document_lists_the_resource_and_node_endpoints()
    {
        var (host, store) = await StartAsync(null);
        await using var _ = store;
        await using var __ = host;
        using var http = new HttpClient { BaseAddress = host.Url };
        string doc = await http.GetStringAsync(new Uri("openapi/v1.json", UriKind.Relative));
        foreach (string path in new[] { "/api/v1/apply", "/api/v1/{plural}", "/api/v1/{plural}/{name}", "/api/v1/watch/{plural}", "/api/v1/nodes/{name}/register", "/api/v1/nodes/{name}/assignments", "/api/v1/{plural}/{name}/stats" })
        {
            Assert.Contains($"\"{path}\"", doc, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_a_token_every_call_but_healthz_needs_it()
    {
        var (host, store) = await StartAsync("s3cret-token");
        await using var _ = store;
        await using var __ = host;
        using var http = new HttpClient { BaseAddress = host.Url };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("healthz", UriKind.Relative))).StatusCode);
        var refused = await http.GetAsync(new Uri("api/v1/nodes", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("bearer token", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri("api/v1/nodes", UriKind.Relative))).StatusCode);

        using var client = new ControlClient(host.Url, "s3cret-token");
        var nodes = await client.ListAsync("nodes");
        Assert.Empty(nodes["items"]!.AsArray());
        var lease = await client.RegisterAsync("node-a", new NodeRegistration("127.0.0.1", "127.0.0.1:3260", 1L << 30, "test"));
        Assert.True(await client.HeartbeatAsync("node-a", lease.Lease));
    }

    [Fact]
    public async Task Beyond_loopback_the_api_refuses_to_start_without_a_token()
    {
        await using var store = await SqliteStore.OpenAsync(":memory:");
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            ControlPlaneHost.StartAsync(store, new ControlPlaneOptions { Listen = new IPEndPoint(IPAddress.Any, 0) }));
        Assert.Contains("bearer token", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Errors_are_one_line_with_the_status_that_fits()
    {
        var (host, store) = await StartAsync(null);
        await using var _ = store;
        await using var __ = host;
        using var client = new ControlClient(host.Url);
        var missing = await Assert.ThrowsAsync<ControlClientException>(() => client.GetAsync("pvc", "nothing", "default"));
        Assert.Equal(404, missing.Status);
        Assert.Equal("persistentvolumeclaims \"nothing\" not found", missing.Message);
        var unknown = await Assert.ThrowsAsync<ControlClientException>(() => client.ListAsync("widgets"));
        Assert.Equal(404, unknown.Status);
        Assert.StartsWith("the server doesn't have a resource type \"widgets\"", unknown.Message, StringComparison.Ordinal);
        var bad = await Assert.ThrowsAsync<ControlClientException>(() => client.ApplyAsync("kind: [", "bad.yaml"));
        Assert.Equal(400, bad.Status);
        Assert.StartsWith("bad.yaml", bad.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', bad.Message);
    }
    [Fact]
    public async Task Volume_stats_come_from_the_targets_reports_and_say_why_when_there_are_none()
    {
        var (host, store) = await StartAsync(null);
        await using var _ = store;
        await using var __ = host;
        using var client = new ControlClient(host.Url);
        var unknown = await Assert.ThrowsAsync<ControlClientException>(() => client.VolumeStatsAsync("pvc-nothing"));
        Assert.Equal((404, "persistentvolumes \"pvc-nothing\" not found"), (unknown.Status, unknown.Message));

        await client.RegisterAsync("node-a", new NodeRegistration("127.0.0.1", "127.0.0.1:3260", 1L << 30, "test"));
        var resources = host.Services.Resources;
        var claim = new PersistentVolumeClaim { Metadata = { Name = "data", Namespace = "default" } };
        Assert.True(await resources.CreateAsync(claim));
        Assert.True(await resources.CreateAsync(new Volume
        {
            Metadata = { Name = "pvc-1" },
            Spec =
            {
                SizeBytes = 1L << 30, ReplicaCount = 2, TargetNode = "node-a", Iscsi = { Iqn = "iqn.2026-11.io.strata:pvc-1" },
                ClaimRef = new ClaimReference { Name = "data", Uid = claim.Metadata.Uid },
                Replicas = [new ReplicaPlacement { Name = "pvc-1-a", Node = "node-a", Pool = "pool-a" }, new ReplicaPlacement { Name = "pvc-1-b", Node = "node-b", Pool = "pool-b" }],
            },
            Status = { InSync = ["pvc-1-a"] },
        }));
        var none = await Assert.ThrowsAsync<ControlClientException>(() => client.VolumeStatsAsync("pvc-1"));
        Assert.Equal(409, none.Status);
        Assert.Contains("no target serving volume pvc-1 has reported I/O counters yet", none.Message, StringComparison.Ordinal);
        using var http = new HttpClient { BaseAddress = host.Url };
        var notVolume = await http.GetAsync(new Uri("api/v1/cstorpools/pool-a/stats", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, notVolume.StatusCode);
        Assert.Contains("only persistentvolumes have stats", await notVolume.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        TargetReport Serving(IoCounters io) => new("pvc-1", true, "127.0.0.1:3260", null, 1, null, io);
        Assert.True(await client.ReportAsync("node-a", new NodeReport([], [], [Serving(VolumeIoStatsTests.Sample(10, 1000))], null)));
        var first = await client.VolumeStatsAsync("pvc-1");
        Assert.Null(first.Rates);
        Assert.Equal(1000, first.Totals.Writes.Count);

        Assert.True(await client.ReportAsync("node-a", new NodeReport([], [], [Serving(VolumeIoStatsTests.Sample(12, 1400, errors: 3))], null)));
        var stats = await client.VolumeStatsAsync("pvc-1");
        Assert.Equal(("pvc-1", "node-a", "127.0.0.1:3260", 1L << 30, 1L), (stats.Volume, stats.TargetNode, stats.Portal, stats.SizeBytes, stats.Epoch));
        Assert.Equal((1400L, 1400L * 4096, 3L), (stats.Totals.Writes.Count, stats.Totals.Writes.Bytes, stats.Totals.Errors));
        Assert.Equal(200, stats.Rates!.Writes.PerSecond);
        Assert.Equal(0.5, stats.Rates.Writes.AverageMilliseconds, 9);
        Assert.Equal(
            [new VolumeStatsReplica("pvc-1-a", "node-a", "pool-a", "Pending", true), new VolumeStatsReplica("pvc-1-b", "node-b", "pool-b", "Pending", false)],
            stats.Replicas);

        // The target stops (fenced): no counters, and the reason it reported.
        Assert.True(await client.ReportAsync("node-a", new NodeReport([], [], [new TargetReport("pvc-1", false, "127.0.0.1:3260", "fenced by a newer target instance")], null)));
        var stopped = await Assert.ThrowsAsync<ControlClientException>(() => client.VolumeStatsAsync("pvc-1"));
        Assert.Equal(409, stopped.Status);
        Assert.Equal("no target serves volume pvc-1 on node node-a: fenced by a newer target instance", stopped.Message);
    }
}

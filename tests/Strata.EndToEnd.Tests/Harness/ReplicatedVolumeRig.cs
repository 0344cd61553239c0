using System.Globalization;
using System.Text.Json.Nodes;
using Xunit;
using static Strata.EndToEnd.Tests.Harness.StrataCluster;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>
/// What the replication end-to-end tests share: a replicated volume made through the seed's manifests on a
/// <see cref="StrataCluster"/>, qemu-nbd (libiscsi) attached to its portal, and the verifier's check.
/// </summary>
public sealed class ReplicatedVolumeRig(StrataCluster cluster, Scratch scratch, Action<string> log)
{
    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(90);
    private int _sockets;

    public StrataCluster Cluster => cluster;

    public static int Index(string node) => int.Parse(node["node-".Length..], CultureInfo.InvariantCulture) - 1;

    public static List<string> InSync(JsonNode volume) => volume["status"]?["inSync"]?.AsArray().Select(n => (string)n!).ToList() ?? [];

    /// <summary>The volume's replicas as (name, node, pool).</summary>
    public static List<(string Name, string Node, string Pool)> Replicas(JsonNode volume) =>
        volume["spec"]!["replicas"]!.AsArray().Select(r => ((string)r!["name"]!, (string)r["node"]!, (string)r["pool"]!)).ToList();

    public async Task VerifyCleanAsync(BlockVerifier verifier, NbdClient client, string when)
    {
        var report = await verifier.VerifyAsync(client);
        log($"verify {when}: {report}");
        Assert.True(report.Clean, $"{when}: {report}");
    }

    /// <summary>
    /// 3000 writes to start from (none may fail), then writes that go on until <paramref name="stop"/>: their run,
    /// returned once 500 more were acknowledged, so a fault injected next lands among them.
    /// </summary>
    public static async Task<Task<WriteRunResult>> WritesGoingOnAsync(BlockVerifier verifier, NbdClient client, CancellationToken stop)
    {
        var first = await verifier.RunWritesAsync(client, new WriteLoad { Writes = 3000, Depth = 16 });
        Assert.True(first.Failed == 0, string.Join("\n", verifier.ErrorLog));
        var run = verifier.RunWritesAsync(client, new WriteLoad { Writes = long.MaxValue, Depth = 16 }, stop);
        await Wait.UntilAsync(() => verifier.Acknowledged > first.Acknowledged + 500, StepTimeout, "writes to be going on");
        return run;
    }

    /// <summary>
    /// Every replica of <paramref name="volume"/> holds the same bytes: with every node stopped (SIGTERM: the target
    /// flushes and closes), each replica's pool volume is served from its node's pool files by `strata iscsi serve`
    /// and `qemu-img compare` reads the first against each other one, block for block.
    /// </summary>
    public async Task AssertReplicasIdenticalAsync(JsonNode volume)
    {
        for (int i = 0; i < cluster.NodeCount; i++)
            if (cluster.IsNodeRunning(i)) await cluster.StopNodeAsync(i);

        string pv = Field(volume, "metadata.name")!;
        var served = new List<(string Replica, string Url, BackgroundProcess Process)>();
        try
        {
            foreach (var (name, node, pool) in Replicas(volume))
            {
                string vdevs = string.Join(',', Directory.GetFiles(Path.Combine(cluster.DataDirectory, node, "pools", pool), "vdev-*.img").Order(StringComparer.Ordinal));
                int port = Ports.Free();
                string iqn = $"iqn.2026-11.io.strata:compare-{served.Count}";
                var process = Tool.Start($"strata iscsi serve {name}", Repo.StrataExe,
                    ["iscsi", "serve", "--pool", vdevs, "--volume", pv, "--portal", $"127.0.0.1:{port}", "--iqn", iqn], log: log);
                served.Add((name, $"iscsi://127.0.0.1:{port}/{iqn}/0", process));
                await Wait.UntilAsync(async () => process.HasExited || await Ports.CanConnectAsync("127.0.0.1", port), StepTimeout, $"{name} served for comparison", process.Describe);
                Assert.False(process.HasExited, process.Describe());
            }

            foreach (var other in served.Skip(1))
            {
                var compare = await Tool.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", served[0].Url, other.Url], TimeSpan.FromMinutes(5), log: log);
                log(compare.Stdout.Trim());
                Assert.True(compare.ExitCode == 0, $"replicas {served[0].Replica} and {other.Replica} differ:\n{compare.Describe()}");
            }
        }
        finally
        {
            foreach (var (_, _, process) in served)
            {
                process.Signal(Libc.SIGTERM);
                await process.WaitForExitAsync(TimeSpan.FromSeconds(20));
                await process.DisposeAsync();
            }
        }
    }

    public async Task<QemuNbd> AttachAsync(string portal, string iqn) =>
        await QemuNbd.StartAsync($"iscsi://{portal}/{iqn}/0", scratch.File($"nbd-{++_sockets}.sock"), log);

    /// <summary>
    /// A pool on every node (<paramref name="pools"/> of them), a StorageClass of <paramref name="replicas"/>
    /// replicas, and a claim of <paramref name="size"/>: its PV once Healthy, with every replica on its own node.
    /// <paramref name="overProvisioning"/> lets a pool take volumes larger than its free space.
    /// </summary>
    public async Task<(JsonNode Volume, string Portal, string Iqn)> MakeVolumeAsync(int replicas, string size = "256Mi", int? pools = null, bool overProvisioning = false)
    {
        string manifest = $"""
            apiVersion: openebs.io/v1alpha1
            kind: StoragePoolClaim
            metadata:
              name: cstor-pool
            spec:
              name: cstor-pool
              type: sparse
              maxPools: {pools ?? replicas}
              poolSpec:
                poolType: striped
                overProvisioning: {(overProvisioning ? "true" : "false")}
            ---
            apiVersion: storage.k8s.io/v1
            kind: StorageClass
            metadata:
              name: replicated
              annotations:
                openebs.io/cas-type: cstor
                cas.openebs.io/config: |
                  - name: StoragePoolClaim
                    value: "cstor-pool"
                  - name: ReplicaCount
                    value: "{replicas}"
            provisioner: openebs.io/provisioner-iscsi
            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: data
            spec:
              storageClassName: replicated
              accessModes: [ReadWriteOnce]
              resources:
                requests:
                  storage: {size}
            """;
        string file = scratch.File("volume.yaml");
        await File.WriteAllTextAsync(file, manifest);
        await cluster.CliCheckedAsync("apply", "-f", file);
        await cluster.WaitForAsync("pv", items => items.Count == 1 && Field(items[0], "status.state") == "Healthy"
            && items[0]["spec"]!["replicas"]!.AsArray().Count == replicas, StepTimeout, $"a Healthy volume of {replicas} replicas");
        var volume = (await cluster.ListAsync("pv"))[0];
        Assert.Equal(replicas, Replicas(volume).Select(r => r.Node).Distinct().Count());
        return (volume, Field(volume, "spec.iscsi.targetPortal")!, Field(volume, "spec.iscsi.iqn")!);
    }
}

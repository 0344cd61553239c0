using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;
using static Strata.EndToEnd.Tests.Harness.StrataCluster;

namespace Strata.EndToEnd.Tests;

/// <summary>
/// The control plane under concurrent applies: 100 PersistentVolumeClaims applied at once by concurrent `strata apply`
/// processes all become Bound, no byte of a pool is promised twice, and placement spreads the replicas over the pools;
/// claims beyond what the pools hold stay Pending saying why; deleting everything at once gives all the space back.
/// </summary>
public sealed class ClusterConcurrencyTests(ITestOutputHelper output) : IDisposable
{
    private const int Claims = 100;
    private const int Processes = 10;
    private const int Overflow = 30;
    private const string ClaimSize = "128Mi";
    private const long ClaimBytes = 128L << 20;
    private const long OverflowBytes = 1L << 30;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("concurrency");

    public void Dispose() => _scratch.Dispose();

    private static string Example(string name) => Path.Combine(Repo.Root, "deploy", "examples", name);

    // Three pools of 10Gi sparse files hold 3 × 9.92 GiB. 100 claims with 2 replicas each are 200 replicas: at 128Mi they
    // promise 25 GiB (about 8.4 GiB per pool), so all fit; at 256Mi (50 GiB) only 58 would.
    [Fact]
    public async Task A_hundred_claims_applied_at_once_all_bind_promise_no_space_twice_and_spread_over_the_pools()
    {
        await using var cluster = await StrataCluster.UpAsync(3, _log, sparseSize: "10Gi");
        await cluster.CliCheckedAsync("apply", "-f", Example("cstor-pool-config.yaml"));
        await cluster.WaitForAsync("csp", items => items.Count == 3 && items.All(p => Field(p, "status.phase") == "Healthy"), s_timeout, "three Healthy pools");
        await cluster.CliCheckedAsync("apply", "-f", Example("storageclass.yaml"));
        var pools = await cluster.ListAsync("csp");
        var capacity = pools.ToDictionary(p => Field(p, "metadata.name")!, p => Long(p, "status.capacityBytes"));
        var baseline = pools.ToDictionary(p => Field(p, "metadata.name")!, p => Long(p, "status.allocatedBytes"));
        Assert.All(capacity.Values, c => Assert.True(c > 9L << 30, $"a 10Gi sparse pool holds {c} bytes"));

        // 100 claims, 100 files, applied by 10 `strata apply` processes started together (10 files each, one request per file).
        var names = Enumerable.Range(1, Claims).Select(i => $"load-{i:D3}").ToList();
        var clock = Stopwatch.StartNew();
        await ApplyConcurrentlyAsync(cluster, names, ClaimSize);
        _log($"{Claims} claims applied by {Processes} concurrent processes in {clock.Elapsed.TotalSeconds:F1} s");
        await cluster.WaitForAsync("pvc", items => items.Count(c => Field(c, "status.phase") == "Bound") == Claims, s_timeout, $"all {Claims} claims Bound");
        _log($"{Claims} claims Bound {clock.Elapsed.TotalSeconds:F1} s after the applies started");
        await cluster.WaitForAsync("cvr", items => items.Count == 2 * Claims && items.All(r => Field(r, "status.phase") == "Healthy"), s_timeout, $"all {2 * Claims} replicas Healthy");

        var claims = await cluster.ListAsync("pvc");
        var volumes = await cluster.ListAsync("pv");
        var replicas = await cluster.ListAsync("cvr");
        Assert.Equal(Claims, claims.Count);
        Assert.Equal(Claims, volumes.Count);
        Assert.Equal(2 * Claims, replicas.Count);

        // Names and IQNs are unique; each claim is bound to the volume that refers to it.
        Assert.Equal(Claims, volumes.Select(v => Field(v, "metadata.name")).Distinct().Count());
        Assert.Equal(Claims, volumes.Select(v => Field(v, "spec.iscsi.iqn")).Distinct().Count());
        Assert.Equal(Claims, volumes.Select(v => Field(v, "spec.claimRef.name")).Distinct().Count());
        var volumeByName = volumes.ToDictionary(v => Field(v, "metadata.name")!);
        foreach (var claim in claims)
        {
            string name = Field(claim, "metadata.name")!;
            Assert.Contains(name, names);
            var volume = volumeByName[Field(claim, "spec.volumeName")!];
            Assert.Equal(name, Field(volume, "spec.claimRef.name"));
            Assert.Equal(Field(claim, "metadata.uid"), Field(volume, "spec.claimRef.uid"));
            Assert.Equal(ClaimBytes, Long(volume, "spec.sizeBytes"));
        }

        // Each volume's two replicas: on distinct nodes and distinct pools, and the replica records say the same.
        var replicasByVolume = replicas.GroupBy(r => Field(r, "spec.volume")!).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var volume in volumes)
        {
            string name = Field(volume, "metadata.name")!;
            var placed = volume["spec"]!["replicas"]!.AsArray().Select(r => (Name: (string)r!["name"]!, Pool: (string)r["pool"]!, Node: (string)r["node"]!)).ToList();
            Assert.Equal(2, placed.Count);
            Assert.Equal(2, placed.Select(p => p.Node).Distinct().Count());
            Assert.Equal(2, placed.Select(p => p.Pool).Distinct().Count());
            var records = replicasByVolume[name];
            Assert.Equal(placed.Select(p => $"{p.Name} {p.Pool} {p.Node}").Order(StringComparer.Ordinal),
                records.Select(r => $"{Field(r, "metadata.name")} {Field(r, "spec.pool")} {Field(r, "spec.node")}").Order(StringComparer.Ordinal));
            Assert.All(records, r => Assert.Equal(ClaimBytes, Long(r, "spec.sizeBytes")));
        }

        // No pool is promised more than it holds, counted both ways (the volumes' placements, the replica records).
        AssertWithinCapacity(capacity, volumes, replicas);

        // Spread. Placement takes, per volume, the roomiest pools (capacity minus what is promised). The three pools are
        // equal and every volume is the same size, so the roomiest are the ones holding the fewest replicas: each volume
        // goes to the two least-loaded pools, which keeps max - min <= 1 after every placement, i.e. 67/67/66 for 200.
        // The ±2 leaves room for pools whose capacities differ by a few chunks (not the case here, but not promised).
        var perPool = replicas.GroupBy(r => Field(r, "spec.pool")!).ToDictionary(g => g.Key, g => g.Count());
        _log("replicas per pool: " + string.Join(", ", perPool.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value}")));
        Assert.Equal(3, perPool.Count);
        double even = 2.0 * Claims / 3;
        Assert.All(perPool, p => Assert.InRange(p.Value, even - 2, even + 2));

        // Overflow: 30 claims of 1Gi (60 GiB of replicas) into the ~4.6 GiB left. Placed ones are Bound; the others stay
        // Pending saying why; no pool's promise exceeds its capacity; and no two pools on distinct nodes both keep 1Gi
        // unpromised (else a Pending claim would fit and placement would have placed it).
        var overflow = Enumerable.Range(1, Overflow).Select(i => $"big-{i:D2}").ToList();
        await ApplyConcurrentlyAsync(cluster, overflow, "1Gi");
        const string Why = "needs 2 pools of cstor-pool on distinct nodes with 1Gi free";
        await cluster.WaitForAsync("pvc", items =>
        {
            var big = items.Where(c => overflow.Contains(Field(c, "metadata.name")!)).ToList();
            return big.Count == Overflow && big.All(c =>
                Field(c, "status.phase") == "Bound"
                || Field(c, "status.phase") == "Pending" && (Condition(c, "Provisioned", out string? status) ?? "").Contains(Why, StringComparison.Ordinal) && status == "False");
        }, s_timeout, $"each of the {Overflow} 1Gi claims Bound, or Pending with a condition saying it {Why}");
        var pending = await AssertOverflowSettledAsync(cluster, capacity, overflow, Why, extra: 0);

        // They stay Pending: a small claim applied now is placed by a later pass, which also looks at the older Pending
        // claims first (claims go in creation order) and still finds no room for them.
        await ApplyConcurrentlyAsync(cluster, ["probe"], "64Mi");
        await cluster.WaitForAsync("pvc", items => items.Any(c => Field(c, "metadata.name") == "probe" && Field(c, "status.phase") == "Bound"), s_timeout, "the 64Mi probe claim Bound");
        Assert.Equal(pending, await AssertOverflowSettledAsync(cluster, capacity, overflow, Why, extra: 1));

        // Delete every claim at once (10 processes): every volume and replica goes, and every pool's ALLOCATED returns.
        clock.Restart();
        var all = names.Concat(overflow).Append("probe").ToList();
        var deletes = await Task.WhenAll(Chunks(all, Processes).Select(chunk => cluster.CliAsync(["delete", "pvc", .. chunk])));
        foreach (var d in deletes)
            Assert.True(d.Succeeded, d.Describe());
        Assert.Equal(all.Order(StringComparer.Ordinal), deletes.SelectMany(d => d.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            .Select(l => l.Replace("persistentvolumeclaim/", "", StringComparison.Ordinal).Replace(" deleted", "", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        await cluster.WaitForAsync("pv", items => items.Count == 0, s_timeout, "every volume deleted (reclaim policy Delete)");
        await cluster.WaitForAsync("cvr", items => items.Count == 0, s_timeout, "every replica deleted");
        await cluster.WaitForAsync("csp", items => items.Count == 3 && items.All(p => Long(p, "status.allocatedBytes") == baseline[Field(p, "metadata.name")!]),
            s_timeout, "every pool's ALLOCATED back to its baseline");
        Assert.Empty(await cluster.ListAsync("pvc"));
        _log($"{all.Count} claims deleted concurrently; everything gone {clock.Elapsed.TotalSeconds:F1} s later");

        // A claim made again under a deleted claim's name starts with no events of the old one (events are kept by name).
        await ApplyConcurrentlyAsync(cluster, ["load-001"], "64Mi");
        await cluster.WaitForAsync("pvc", items => items.Any(c => Field(c, "status.phase") == "Bound"), s_timeout, "load-001 made again and Bound");
        string again = Field(await cluster.GetAsync("pvc", "load-001"), "spec.volumeName")!;
        var events = new List<string>();
        await Wait.UntilAsync(async () =>
        {
            var describe = await cluster.CliAsync("describe", "pvc", "load-001");
            events = describe.Stdout.Split('\n').SkipWhile(l => !l.StartsWith("Events:", StringComparison.Ordinal)).ToList();
            return events.Any(l => l.Contains($"successfully provisioned volume {again}", StringComparison.Ordinal));
        }, s_timeout, "the new load-001's ProvisioningSucceeded event");
        Assert.All(events.Where(l => l.Contains("volume pvc-", StringComparison.Ordinal)), l => Assert.Contains(again, l, StringComparison.Ordinal));
        Assert.Single(events, l => l.Contains("ProvisioningSucceeded", StringComparison.Ordinal));
    }

    /// <summary>One file per claim; <see cref="Processes"/> `strata apply` processes started together, each with its share as repeated -f.</summary>
    private async Task ApplyConcurrentlyAsync(StrataCluster cluster, List<string> names, string size)
    {
        string template = File.ReadAllText(Example("pvc.yaml"));
        var files = names.Select(name =>
        {
            string file = _scratch.File($"{name}.yaml");
            File.WriteAllText(file, template.Replace("name: mongo-pvc", $"name: {name}", StringComparison.Ordinal).Replace("storage: 1Gi", $"storage: {size}", StringComparison.Ordinal));
            return file;
        }).ToList();
        var results = await Task.WhenAll(Chunks(files, Processes).Select(chunk => cluster.CliAsync(["apply", .. chunk.SelectMany(f => new[] { "-f", f })])));
        foreach (var r in results)
            Assert.True(r.Succeeded, r.Describe());
        var created = results.SelectMany(r => r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names.Select(n => $"persistentvolumeclaim/{n} created").Order(StringComparer.Ordinal), created);
    }

    /// <summary>Asserts the overflow claims are settled (see the test) and returns the Pending ones' names, sorted.</summary>
    private async Task<List<string>> AssertOverflowSettledAsync(StrataCluster cluster, Dictionary<string, long> capacity, List<string> overflow, string why, int extra)
    {
        var claims = await cluster.ListAsync("pvc");
        var volumes = await cluster.ListAsync("pv");
        var replicas = await cluster.ListAsync("cvr");
        var big = claims.Where(c => overflow.Contains(Field(c, "metadata.name")!)).ToList();
        var bound = big.Where(c => Field(c, "status.phase") == "Bound").ToList();
        var pending = big.Where(c => Field(c, "status.phase") == "Pending").ToList();
        _log($"overflow: {bound.Count} of {Overflow} 1Gi claims Bound, {pending.Count} Pending");
        Assert.Equal(Overflow, bound.Count + pending.Count);
        Assert.NotEmpty(pending);
        Assert.All(pending, c =>
        {
            Assert.Null(Field(c, "spec.volumeName"));
            Assert.Contains(why, Condition(c, "Provisioned", out _), StringComparison.Ordinal);
        });
        Assert.Equal(Claims + bound.Count + extra, volumes.Count);
        Assert.Equal(2 * (Claims + bound.Count + extra), replicas.Count);
        var promised = AssertWithinCapacity(capacity, volumes, replicas);

        // Work-conserving: fewer than two pools (they are on distinct nodes) can still take a 1Gi replica.
        var roomy = capacity.Where(p => p.Value - promised.GetValueOrDefault(p.Key) >= OverflowBytes).Select(p => p.Key).ToList();
        _log("unpromised per pool: " + string.Join(", ", capacity.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {(p.Value - promised.GetValueOrDefault(p.Key)) >> 20} MiB")));
        Assert.True(roomy.Count < 2, $"pools {string.Join(", ", roomy)} each have 1Gi unpromised, yet {pending.Count} 1Gi claims are Pending");
        return pending.Select(c => Field(c, "metadata.name")!).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Per pool, what its volumes were promised (by placement) and what its replica records hold are equal and within its capacity.</summary>
    private Dictionary<string, long> AssertWithinCapacity(Dictionary<string, long> capacity, IReadOnlyList<JsonNode> volumes, IReadOnlyList<JsonNode> replicas)
    {
        var promised = volumes
            .SelectMany(v => v["spec"]!["replicas"]!.AsArray().Select(r => (Pool: (string)r!["pool"]!, Bytes: Long(v, "spec.sizeBytes"))))
            .GroupBy(p => p.Pool).ToDictionary(g => g.Key, g => g.Sum(p => p.Bytes));
        var held = replicas.GroupBy(r => Field(r, "spec.pool")!).ToDictionary(g => g.Key, g => g.Sum(r => Long(r, "spec.sizeBytes")));
        foreach (var (pool, cap) in capacity)
        {
            long p = promised.GetValueOrDefault(pool), h = held.GetValueOrDefault(pool);
            _log($"{pool}: {p >> 20} MiB promised of {cap >> 20} MiB");
            Assert.Equal(p, h);
            Assert.True(p <= cap, $"{pool} is promised {p} bytes and holds {cap}");
        }

        Assert.Empty(promised.Keys.Except(capacity.Keys));
        return promised;
    }

    private static List<List<T>> Chunks<T>(List<T> items, int count) =>
        Enumerable.Range(0, count).Select(i => items.Where((_, j) => j % count == i).ToList()).Where(c => c.Count > 0).ToList();
}

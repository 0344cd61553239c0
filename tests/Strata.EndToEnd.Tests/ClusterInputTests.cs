using System.Globalization;
using System.Text.Json.Nodes;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;
using static Strata.EndToEnd.Tests.Harness.StrataCluster;

namespace Strata.EndToEnd.Tests;

/// <summary>
/// One `strata up --nodes 3` for <see cref="ClusterInputTests"/>: the seed's StoragePoolClaim and StorageClass applied,
/// and its PersistentVolumeClaim Bound to a Healthy volume, before any case runs.
/// </summary>
public sealed class SeededClusterFixture : IAsyncLifetime
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(90);

    public StrataCluster Cluster { get; private set; } = null!;

    public Scratch Scratch { get; } = new("input");

    /// <summary>The largest pool's capacity in bytes.</summary>
    public long LargestPool { get; private set; }

    /// <summary>Where the cluster's log lines go: the running case's output (none while the fixture is set up).</summary>
    public Action<string> Log { get; set; } = _ => { };

    public static string Example(string name) => Path.Combine(Repo.Root, "deploy", "examples", name);

    public async Task InitializeAsync()
    {
        // UpAsync's default sparse files (2Gi) make pools of a little less: the seed's 1Gi claim fits, 100Gi does not.
        Cluster = await UpAsync(3, Line);
        await Cluster.CliCheckedAsync("apply", "-f", Example("cstor-pool-config.yaml"));
        await Cluster.WaitForAsync("csp", items => items.Count == 3 && items.All(p => Field(p, "status.phase") == "Healthy"), s_timeout, "three Healthy pools");
        await Cluster.CliCheckedAsync("apply", "-f", Example("storageclass.yaml"));
        await Cluster.CliCheckedAsync("apply", "-f", Example("pvc.yaml"));
        await Cluster.WaitForAsync("pvc", items => items.Count == 1 && Field(items[0], "status.phase") == "Bound", s_timeout, "mongo-pvc Bound");
        await Cluster.WaitForAsync("pv", items => items.Count == 1 && Field(items[0], "status.state") == "Healthy" && Field(items[0], "spec.iscsi.targetPortal") is not null,
            s_timeout, "its volume Healthy and served");
        await Cluster.WaitForAsync("cvr", items => items.Count == 2 && items.All(r => Field(r, "status.phase") == "Healthy"), s_timeout, "its two replicas Healthy");
        LargestPool = (await Cluster.ListAsync("csp")).Max(p => Long(p, "status.capacityBytes"));
    }

    private void Line(string text) => Log(text);

    public async Task DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }

        Scratch.Dispose();
    }
}

/// <summary>
/// Bad input changes nothing and names the problem: every refused `strata apply`, `delete` or `get` exits non-zero with
/// one line on stderr, "strata: " and the file, the field and the value at fault, and every resource (kind, name, uid,
/// spec) is as it was.
/// </summary>
public sealed class ClusterInputTests : IClassFixture<SeededClusterFixture>, IDisposable
{
    private readonly SeededClusterFixture _fixture;
    private readonly StrataCluster _cluster;
    private readonly Action<string> _log;

    public ClusterInputTests(SeededClusterFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _cluster = fixture.Cluster;
        _log = new TestLog(output).Line;
        fixture.Log = _log;
    }

    public void Dispose() => _fixture.Log = _ => { };

    private const string Claim = """
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: NAME
          namespace: default
        spec:
          accessModes:
            - ReadWriteOnce
          storageClassName: openebs-sparse-sc
          resources:
            requests:
              storage: 1Gi
        """;

    private const string PoolClaim = """
        apiVersion: openebs.io/v1alpha1
        kind: StoragePoolClaim
        metadata:
          name: NAME
        spec:
          type: sparse
          maxPools: 3
          poolSpec:
            poolType: striped
        """;

    private const string StorageClass = """
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata:
          name: NAME
          annotations:
            openebs.io/cas-type: cstor
            cas.openebs.io/config: |
              - name: StoragePoolClaim
                value: "cstor-pool"
              - name: ReplicaCount
                value: "2"
        provisioner: openebs.io/provisioner-iscsi
        """;

    private static string Named(string manifest, string name) => manifest.Replace("name: NAME", $"name: {name}", StringComparison.Ordinal);

    private static string Swap(string manifest, string from, string to)
    {
        Assert.Contains(from, manifest, StringComparison.Ordinal);
        return manifest.Replace(from, to, StringComparison.Ordinal);
    }

    private string Write(string fileName, string manifest)
    {
        string path = _fixture.Scratch.File(fileName);
        File.WriteAllText(path, manifest);
        return path;
    }

    /// <summary>
    /// Every resource a user's input could touch, one line each: kind, name, uid and what was asked (the object without
    /// its status and resourceVersion; deletionTimestamp included).
    /// </summary>
    private async Task<string> SnapshotAsync()
    {
        var lines = new List<string>();
        foreach (string kind in new[] { "spc", "csp", "sc", "pvc", "pv", "cvr" })
        {
            foreach (var item in await _cluster.ListAsync(kind))
            {
                var desired = item.DeepClone().AsObject();
                desired.Remove("status");
                desired["metadata"]!.AsObject().Remove("resourceVersion");
                lines.Add($"{kind} {Field(item, "metadata.name")} {Field(item, "metadata.uid")} {desired.ToJsonString()}");
            }
        }

        return string.Join("\n", lines.Order(StringComparer.Ordinal));
    }

    /// <summary>Runs strata ARGS and asserts it is refused with one line naming every one of <paramref name="words"/>, and that nothing changed.</summary>
    private async Task<string> RefusedAsync(string[] args, params string[] words)
    {
        string before = await SnapshotAsync();
        var result = await _cluster.CliAsync(args);
        _log($"exit {result.ExitCode}: {result.Stderr.TrimEnd()}");
        Assert.False(result.TimedOut, result.Describe());
        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("", result.Stdout);
        string[] lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string line = Assert.Single(lines);
        Assert.StartsWith("strata: ", line, StringComparison.Ordinal);
        foreach (string word in words)
        {
            Assert.Contains(word, line, StringComparison.Ordinal);
        }

        string after = await SnapshotAsync();
        Assert.True(before == after, $"`strata {string.Join(' ', args)}` was refused but changed the cluster:\n--- before\n{before}\n--- after\n{after}");
        return line;
    }

    /// <summary>Writes <paramref name="manifest"/> to <paramref name="fileName"/>, applies it, and asserts it is refused naming the file and <paramref name="words"/>.</summary>
    private async Task<string> ApplyRefusedAsync(string fileName, string manifest, params string[] words)
    {
        string path = Write(fileName, manifest);
        return await RefusedAsync(["apply", "-f", path], [path, .. words]);
    }

    [Fact]
    public async Task Malformed_YAML_names_the_file_and_the_line()
    {
        // metadata.namespace indented by one space: neither metadata's key nor the document's.
        string indented = Named(Claim, "bad-indent").Replace("  namespace: default", " namespace: default", StringComparison.Ordinal);
        await ApplyRefusedAsync("indentation.yaml", indented, "line 5", "indentation");

        string unclosed = Swap(Named(Claim, "unclosed"), "name: unclosed", "name: \"unclosed");
        await ApplyRefusedAsync("unclosed-quote.yaml", unclosed, "line 4", "quoted value is not closed", "closing quote");
    }

    [Fact]
    public async Task An_unknown_kind_is_named_with_the_kinds_there_are()
    {
        string manifest = Swap(Named(Claim, "mongo-pvc-2"), "kind: PersistentVolumeClaim", "kind: PersistentVolumeClain");
        await ApplyRefusedAsync("unknown-kind.yaml", manifest, "unknown kind 'PersistentVolumeClain'", "PersistentVolumeClaim", "StoragePoolClaim");
    }

    [Fact]
    public async Task An_unknown_field_is_named_by_its_path()
    {
        await ApplyRefusedAsync("pvc-foo.yaml", Swap(Named(Claim, "foo-pvc"), "  storageClassName:", "  foo: bar\n  storageClassName:"),
            "PersistentVolumeClaim foo-pvc", "unknown field spec.foo");
        await ApplyRefusedAsync("spc-typo.yaml", Swap(Named(PoolClaim, "typo-pool"), "maxPools: 3", "maxPool: 3"),
            "StoragePoolClaim typo-pool", "unknown field spec.maxPool");
    }

    [Fact]
    public async Task A_missing_required_field_is_named_by_its_path()
    {
        await ApplyRefusedAsync("pvc-no-size.yaml", Swap(Named(Claim, "sizeless-pvc"), "    requests:\n      storage: 1Gi", "    requests: {}"),
            "PersistentVolumeClaim sizeless-pvc", "spec.resources.requests.storage", "is required");
        await ApplyRefusedAsync("spc-no-type.yaml", Swap(Named(PoolClaim, "typeless-pool"), "  type: sparse\n", ""),
            "StoragePoolClaim typeless-pool", "spec.type", "is required", "sparse or disk");
        await ApplyRefusedAsync("sc-no-claim.yaml", Swap(Named(StorageClass, "claimless-sc"), "  - name: StoragePoolClaim\n        value: \"cstor-pool\"\n      ", "  "),
            "StorageClass claimless-sc", "cas.openebs.io/config", "must name the StoragePoolClaim");
    }

    [Fact]
    public async Task More_replicas_or_pools_than_there_are_nodes_are_refused()
    {
        await ApplyRefusedAsync("sc-four-replicas.yaml", Swap(Named(StorageClass, "four-replica-sc"), "value: \"2\"", "value: \"4\""),
            "StorageClass four-replica-sc", "cas.openebs.io/config", "ReplicaCount 4", "cstor-pool makes at most 3");
        await ApplyRefusedAsync("spc-four-pools.yaml", Swap(Named(PoolClaim, "four-pool"), "maxPools: 3", "maxPools: 4"),
            "StoragePoolClaim four-pool", "spec.maxPools", "4 pools need 4 nodes", "3 nodes are registered (node-1, node-2, node-3)");
    }

    [Fact]
    public async Task A_claim_larger_than_any_pool_is_refused()
    {
        Assert.True(_fixture.LargestPool < 100L << 30, $"the largest pool holds {_fixture.LargestPool} bytes");
        string gib = (_fixture.LargestPool / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture);
        await ApplyRefusedAsync("pvc-100gi.yaml", Swap(Named(Claim, "huge-pvc"), "storage: 1Gi", "storage: 100Gi"),
            "PersistentVolumeClaim default/huge-pvc", "spec.resources.requests.storage", "100Gi is more than any pool of storage pool claim cstor-pool can hold",
            $"the largest holds about {gib}Gi");
    }

    [Theory]
    [InlineData("1GB", "'1GB' is not a quantity")]
    [InlineData("abc", "'abc' is not a quantity")]
    [InlineData("-1Gi", "'-1Gi' must be more than 0")]
    public async Task An_unparseable_quantity_is_named_with_its_value(string quantity, string problem)
    {
        await ApplyRefusedAsync("pvc-quantity.yaml", Swap(Named(Claim, "odd-size-pvc"), "storage: 1Gi", $"storage: {quantity}"),
            "PersistentVolumeClaim odd-size-pvc", "spec.resources.requests.storage", problem);
    }

    [Fact]
    public async Task An_invalid_name_is_named_with_the_rule_it_breaks()
    {
        await ApplyRefusedAsync("pvc-underscore.yaml", Named(Claim, "Mongo_PVC"),
            "metadata.name", "'Mongo_PVC' is not a valid name", "lowercase letters");
        string longName = new('a', 300);
        await ApplyRefusedAsync("pvc-long-name.yaml", Named(Claim, longName),
            "metadata.name", "is not a valid name", "300 characters long", "at most 253");
    }

    [Fact]
    public async Task A_file_whose_second_document_is_bad_creates_nothing_of_the_first()
    {
        string first = Named(StorageClass, "first-sc");
        // Refused by the schema, before the cluster is asked...
        await ApplyRefusedAsync("two-docs-schema.yaml", $"{first}\n---\n{Swap(Named(Claim, "second-pvc"), "storage: 1Gi", "storage: abc")}",
            "document 2", "PersistentVolumeClaim second-pvc", "spec.resources.requests.storage", "'abc'");
        // ...or by the cluster: the claim needs more than any pool holds.
        await ApplyRefusedAsync("two-docs-cluster.yaml", $"{first}\n---\n{Swap(Swap(Named(Claim, "second-pvc"), "storage: 1Gi", "storage: 100Gi"), "openebs-sparse-sc", "first-sc")}",
            "PersistentVolumeClaim default/second-pvc", "100Gi");
        // ...or because it gives the first's resource again.
        await ApplyRefusedAsync("two-docs-twice.yaml", $"{Named(Claim, "twice-pvc")}\n---\n{Swap(Named(Claim, "twice-pvc"), "storage: 1Gi", "storage: 2Gi")}",
            "PersistentVolumeClaim default/twice-pvc", "is given 2 times");
        Assert.DoesNotContain(await _cluster.ListAsync("sc"), s => Field(s, "metadata.name") == "first-sc");
        Assert.DoesNotContain(await _cluster.ListAsync("pvc"), c => Field(c, "metadata.name") is "second-pvc" or "twice-pvc");
    }

    [Fact]
    public async Task A_claim_of_a_storage_class_that_does_not_exist_is_refused_naming_the_ones_there_are()
    {
        await ApplyRefusedAsync("pvc-no-class.yaml", Swap(Named(Claim, "orphan-pvc"), "openebs-sparse-sc", "fast-sc"),
            "PersistentVolumeClaim default/orphan-pvc", "spec.storageClassName", "storage class 'fast-sc' does not exist", "(there are: openebs-sparse-sc)");
    }

    [Fact]
    public async Task Deleting_the_pool_claim_while_its_pools_hold_the_volume_is_refused_naming_them()
    {
        var volume = Assert.Single(await _cluster.ListAsync("pv"));
        string volumeName = Field(volume, "metadata.name")!;
        var pools = volume["spec"]!["replicas"]!.AsArray().Select(r => (string)r!["pool"]!).ToList();
        Assert.Equal(2, pools.Count);
        string line = await RefusedAsync(["delete", "spc", "cstor-pool"], ["storagepoolclaim cstor-pool cannot be deleted", "its pools hold volumes", .. pools, volumeName, "delete their claims first"]);
        foreach (string pool in pools)
        {
            Assert.Contains($"{pool}: {volumeName}", line, StringComparison.Ordinal);
        }

        // -f says the same.
        await RefusedAsync(["delete", "-f", SeededClusterFixture.Example("cstor-pool-config.yaml")], "storagepoolclaim cstor-pool cannot be deleted", volumeName);
    }

    [Fact]
    public async Task Deleting_what_does_not_exist_names_it()
    {
        await RefusedAsync(["delete", "pvc", "no-such-pvc"], "persistentvolumeclaims \"no-such-pvc\" not found");
        await RefusedAsync(["delete", "spc", "no-such-pool"], "storagepoolclaims \"no-such-pool\" not found");
    }

    [Fact]
    public async Task Getting_an_unknown_kind_names_it_and_the_kinds_there_are()
    {
        await RefusedAsync(["get", "foo"], "resource type \"foo\"", "storagepoolclaims (spc)", "persistentvolumeclaims (pvc)");
    }

    [Fact]
    public async Task Applying_the_same_files_twice_changes_nothing()
    {
        string[] files = [SeededClusterFixture.Example("cstor-pool-config.yaml"), SeededClusterFixture.Example("storageclass.yaml"), SeededClusterFixture.Example("pvc.yaml")];
        async Task<string> VersionsAsync()
        {
            var lines = new List<string>();
            foreach (var (kind, name) in new[] { ("spc", "cstor-pool"), ("sc", "openebs-sparse-sc"), ("pvc", "mongo-pvc") })
            {
                var item = await _cluster.GetAsync(kind, name);
                lines.Add($"{kind}/{name} uid={Field(item, "metadata.uid")} resourceVersion={Field(item, "metadata.resourceVersion")}");
            }

            return string.Join("\n", lines);
        }

        string before = await SnapshotAsync();
        string versions = await VersionsAsync();
        for (int round = 0; round < 2; round++)
        {
            var result = await _cluster.CliCheckedAsync(["apply", .. files.SelectMany(f => new[] { "-f", f })]);
            Assert.Equal(
                ["storagepoolclaim.openebs.io/cstor-pool unchanged", "storageclass.storage.k8s.io/openebs-sparse-sc unchanged", "persistentvolumeclaim/mongo-pvc unchanged"],
                result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal("", result.Stderr);
        }

        Assert.Equal(versions, await VersionsAsync());
        Assert.Equal(before, await SnapshotAsync());
    }
}
